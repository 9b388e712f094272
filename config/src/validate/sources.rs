//! Checks of where targets come from besides `[[targets]]`: `[targets_from]` (patterns that
//! can match, an HTTP SD address we can fetch, intervals in range) and `[discovery]` (ranges,
//! rate, credentials).

use super::{Problems, p};
use crate::cidr::Cidr;
use crate::collector::{DiscoveryConfig, SnmpVersion, TargetsFrom};
use std::time::Duration;

pub(crate) fn sources(s: &TargetsFrom, out: &mut Problems) {
    for (i, pattern) in s.files.iter().enumerate() {
        let i = i.to_string();
        if pattern.trim().is_empty() {
            out.push((
                p(&["targets_from", "files", &i]),
                "an empty pattern matches nothing".into(),
            ));
        } else if let Err(e) = glob::Pattern::new(pattern) {
            out.push((
                p(&["targets_from", "files", &i]),
                format!("{pattern:?} is not a glob pattern: {e}"),
            ));
        }
    }
    let check = s.check_interval.get();
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&check) {
        out.push((
            p(&["targets_from", "check_interval"]),
            "must be between 100ms and 1h".into(),
        ));
    }
    if let Some(sd) = &s.http_sd {
        if let Err(e) = http_url(&sd.url) {
            out.push((p(&["targets_from", "http_sd", "url"]), e));
        }
        if sd.refresh.get() < Duration::from_secs(1) {
            out.push((p(&["targets_from", "http_sd", "refresh"]), "must be at least 1s".into()));
        }
        if sd.timeout.get().is_zero() || sd.timeout.get() > sd.refresh.get().max(Duration::from_secs(1)) {
            out.push((
                p(&["targets_from", "http_sd", "timeout"]),
                "must be above 0 and at most `refresh`".into(),
            ));
        }
    }
}

/// `http://HOST[:PORT][/PATH]`: the one form the collector's HTTP client fetches.
fn http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("{url:?}: https is not supported here; use http:// (a local proxy can add TLS)")
        } else {
            format!("{url:?} is not an http:// address")
        });
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || host.contains(char::is_whitespace) {
        return Err(format!(
            "{url:?}: no HOST[:PORT] after http:// (credentials in the address are not taken)"
        ));
    }
    Ok(())
}

pub(crate) fn discovery(d: &DiscoveryConfig, out: &mut Problems) {
    if d.subnets.is_empty() {
        out.push((p(&["discovery", "subnets"]), "lists no range to sweep".into()));
    }
    for (key, list) in [("subnets", &d.subnets), ("exclude", &d.exclude)] {
        for (i, range) in list.iter().enumerate() {
            if let Err(e) = Cidr::parse(range) {
                out.push((p(&["discovery", key, &i.to_string()]), e));
            }
        }
    }
    if !(1..=100_000).contains(&d.rate) {
        out.push((
            p(&["discovery", "rate"]),
            "must be between 1 and 100000 requests per second".into(),
        ));
    }
    if d.port == 0 {
        out.push((p(&["discovery", "port"]), "must be a UDP port (1-65535)".into()));
    }
    if d.interval.get() < Duration::from_secs(60) {
        out.push((
            p(&["discovery", "interval"]),
            "must be at least 60s (a sweep is not a poll)".into(),
        ));
    }
    if d.timeout.get().is_zero() || d.timeout.get() > Duration::from_secs(30) {
        out.push((p(&["discovery", "timeout"]), "must be above 0 and at most 30s".into()));
    }
    if d.credentials.is_empty() {
        out.push((
            p(&["discovery", "credentials"]),
            "lists no credential (e.g. [{ community = \"public\" }])".into(),
        ));
    }
    for (i, c) in d.credentials.iter().enumerate() {
        let at = |k: &str| p(&["discovery", "credentials", &i.to_string(), k]);
        match c.version.unwrap_or_default() {
            SnmpVersion::V3 if c.user.as_deref().unwrap_or("").is_empty() => {
                out.push((at("user"), "required with version = \"3\"".into()))
            }
            SnmpVersion::V3 => {}
            _ if c.community.as_ref().is_none_or(|c| c.expose().is_empty()) => {
                out.push((at("community"), "required (or version = \"3\" with a user)".into()))
            }
            _ => {}
        }
    }
}
