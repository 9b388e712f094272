//! Prometheus HTTP service discovery as a target source: `GET url` answers
//! `[{"targets": ["HOST[:PORT]", …], "labels": {…}}]`. Labels `name`, `version`, `profile` and
//! `modules` (comma separated) set those keys; every other label not starting with `__` is a
//! tag. Credentials come only from `[targets_from] defaults`, never from the inventory.

use crate::metrics::METRICS;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use netpulse_config::{HttpSd, SnmpVersion, TargetConfig, TargetDefaults};
use std::collections::{BTreeMap, HashSet};

/// Largest answer taken (an inventory of 100,000 devices is a few MiB).
const MAX_BODY: usize = 32 * 1024 * 1024;

#[derive(serde::Deserialize)]
struct Group {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Fetches the list: the targets, and one sentence per entry left out (each names the entry).
/// `Err` when the list as a whole cannot be had: the caller keeps its last good one.
pub async fn fetch(sd: &HttpSd, defaults: &TargetDefaults) -> Result<(Vec<TargetConfig>, Vec<String>), String> {
    let body = match tokio::time::timeout(sd.timeout.get(), get(&sd.url, sd.refresh.get().as_secs())).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}", sd.timeout)),
    }
    .inspect_err(|_| METRICS.source_errors.with_label_values(&["http_sd"]).inc())?;
    let groups: Vec<Group> = serde_json::from_slice(&body).map_err(|e| {
        METRICS.source_errors.with_label_values(&["http_sd"]).inc();
        format!("not Prometheus HTTP SD JSON: {e}")
    })?;
    Ok(targets(&groups, defaults))
}

async fn get(url: &str, refresh_secs: u64) -> Result<Bytes, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = hyper::Request::get(uri)
        .header("accept", "application/json")
        .header("user-agent", concat!("netpulse-collector/", env!("CARGO_PKG_VERSION")))
        // Prometheus sends it; inventories may use it to size caches.
        .header("x-prometheus-refresh-interval-seconds", refresh_secs.to_string())
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let answer = client
        .request(request)
        .await
        .map_err(|e| format!("cannot fetch: {e}"))?;
    if answer.status() != hyper::StatusCode::OK {
        return Err(format!("answered {} (200 expected)", answer.status()));
    }
    let body = Limited::new(answer.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("answer cut short or over {} MiB: {e}", MAX_BODY >> 20))?;
    Ok(body.to_bytes())
}

/// The groups as targets: each entry checked as a `[[targets]]` entry; a bad or duplicate
/// one is left out and named, the rest kept.
fn targets(groups: &[Group], defaults: &TargetDefaults) -> (Vec<TargetConfig>, Vec<String>) {
    let (mut out, mut skipped, mut names) = (vec![], vec![], HashSet::new());
    for (g, group) in groups.iter().enumerate() {
        for (i, address) in group.targets.iter().enumerate() {
            let entry = format!("group {g} target {i} ({address:?})");
            let t = match target(address, &group.labels, defaults) {
                Ok(t) => t,
                Err(e) => {
                    skipped.push(format!("{entry}: {e}"));
                    continue;
                }
            };
            let mut problems = vec![];
            netpulse_config::check_targets(std::slice::from_ref(&t), &mut problems);
            if let Some((key, problem)) = problems.first() {
                skipped.push(format!("{entry}: `{}`: {problem}", key[2..].join(".")));
            } else if !names.insert(t.name.clone()) {
                skipped.push(format!("{entry}: duplicate target name {:?}", t.name));
            } else {
                out.push(t);
            }
        }
    }
    (out, skipped)
}

fn target(address: &str, labels: &BTreeMap<String, String>, defaults: &TargetDefaults) -> Result<TargetConfig, String> {
    let url = if address.contains("://") {
        address.to_string()
    } else {
        format!("udp://{address}")
    };
    let name = labels.get("name").cloned().unwrap_or_else(|| address.to_string());
    let mut t = TargetConfig {
        name,
        address: url,
        ..TargetConfig::default()
    };
    let version = labels.get("version");
    if let Some(v) = version {
        t.version = SnmpVersion::parse(v).ok_or_else(|| format!("label version {v:?} is not 1, 2c or 3"))?;
    }
    // The defaults' credentials of this target's version (a v3 label takes the v3 user).
    defaults.fill(&mut t, &|k| k == "version" && version.is_some());
    if let Some(p) = labels.get("profile") {
        t.profile = p.clone();
    }
    if let Some(m) = labels.get("modules") {
        t.modules = m
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
    }
    for (k, v) in labels {
        if !k.starts_with("__") && !matches!(k.as_str(), "name" | "version" | "profile" | "modules") {
            t.tags.insert(k.clone(), v.clone());
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_become_targets_with_labels_as_tags_and_defaults_as_credentials() {
        let json = r#"[{"targets": ["127.0.0.1:1161", "127.0.0.2"], "labels": {"site": "fra1", "__meta_netbox_id": "7", "modules": "system"}},
                       {"targets": ["127.0.0.3:161"], "labels": {"name": "core-1", "profile": "none"}},
                       {"targets": ["tcp://bad"]},
                       {"targets": ["127.0.0.1:1161"]}]"#;
        let groups: Vec<Group> = serde_json::from_str(json).unwrap();
        let defaults: TargetDefaults = toml::from_str("community = \"inv\"").unwrap();
        let (t, skipped) = targets(&groups, &defaults);
        assert_eq!(t.len(), 3, "{skipped:?}");
        assert_eq!(t[0].name, "127.0.0.1:1161");
        assert_eq!(t[0].address, "udp://127.0.0.1:1161");
        assert_eq!(t[0].tags.get("site").map(String::as_str), Some("fra1"));
        assert!(!t[0].tags.contains_key("__meta_netbox_id") && !t[0].tags.contains_key("modules"));
        assert_eq!(t[0].modules, ["system"]);
        assert_eq!(t[0].community.as_ref().unwrap().expose(), "inv");
        assert_eq!((t[2].name.as_str(), t[2].profile.as_str()), ("core-1", "none"));
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped[0].contains("group 2") && skipped[0].contains("address"),
            "{skipped:?}"
        );
        assert!(skipped[1].contains("duplicate"), "{skipped:?}");
    }
}
