//! The collector's checks: concurrency and timing ranges, the API listener, outputs
//! (one API's keys each, unique names and queue folders) and targets (address, version and
//! the credentials it needs, unique names).

use super::sources::sources;
use super::{Problems, p, socket_addr};
use crate::collector::{CollectorConfig, InfluxApi, SnmpVersion, TargetAddress, TargetConfig};
use std::collections::HashSet;

pub(crate) fn validate(cfg: &CollectorConfig) -> Problems {
    let mut out = Problems::new();
    let c = &cfg.collector;
    for (key, v) in [
        ("max_concurrent_targets", c.max_concurrent_targets),
        ("max_concurrent_operations", c.max_concurrent_operations),
        ("batch_size", c.batch_size),
        ("worker_pool_size", c.worker_pool_size),
    ] {
        if v == 0 {
            out.push((p(&["collector", key]), "must be at least 1".into()));
        }
    }
    // The total bound on the outputs' requests (delivery's Endpoint::with_limit).
    if cfg.http_pool.max_connections == 0 {
        out.push((p(&["http_pool", "max_connections"]), "must be at least 1".into()));
    }
    if !(INTERVAL_MIN..=INTERVAL_MAX).contains(&c.interval.get()) {
        out.push((
            p(&["collector", "interval"]),
            format!("{}: must be between 100ms and 24h", c.interval),
        ));
    }
    if c.jitter.is_some_and(|j| j >= c.interval) && !c.interval.get().is_zero() {
        out.push((
            p(&["collector", "jitter"]),
            format!("must be shorter than the interval ({})", c.interval),
        ));
    }
    let s = &cfg.snmp;
    if s.timeout.get().is_zero() {
        out.push((p(&["snmp", "timeout"]), "must be longer than 0s".into()));
    }
    if !(1..=256).contains(&s.sockets) {
        out.push((p(&["snmp", "sockets"]), "must be between 1 and 256".into()));
    }
    if !(1..=10_000).contains(&s.max_repetitions) {
        out.push((p(&["snmp", "max_repetitions"]), "must be between 1 and 10000".into()));
    }
    if s.max_varbinds_per_request == 0 {
        out.push((p(&["snmp", "max_varbinds_per_request"]), "must be at least 1".into()));
    }
    let cb = &cfg.circuit_breaker;
    if cb.failure_threshold == 0 || cb.success_threshold == 0 {
        let key = if cb.failure_threshold == 0 {
            "failure_threshold"
        } else {
            "success_threshold"
        };
        out.push((p(&["circuit_breaker", key]), "must be at least 1".into()));
    }
    if !socket_addr(&cfg.api.listen) {
        out.push((
            p(&["api", "listen"]),
            format!("{:?} is not an IP:PORT listen address", cfg.api.listen),
        ));
    }
    outputs(cfg, &mut out);
    targets(&cfg.targets, &mut out);
    sources(&cfg.targets_from, &mut out);
    if let Some(d) = &cfg.discovery {
        super::sources::discovery(d, &mut out);
    }
    if let Some(c) = &cfg.cluster {
        cluster(c, &mut out);
    }
    if let Some(t) = &cfg.traps {
        super::traps::traps(t, &mut out);
    }
    out
}

fn cluster(c: &crate::collector::ClusterConfig, out: &mut Problems) {
    let url = c.redis_url.expose();
    if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://")) {
        out.push((p(&["cluster", "redis_url"]), "must be a redis:// URL".into()));
    }
    if c.heartbeat.get().is_zero() {
        out.push((p(&["cluster", "heartbeat"]), "must be longer than 0s".into()));
    }
    if c.member_ttl.get() < c.heartbeat.get() * 2 {
        out.push((
            p(&["cluster", "member_ttl"]),
            format!("must be at least twice the heartbeat ({})", c.heartbeat),
        ));
    }
    let t = c.redis_timeout.get();
    if t.is_zero() || t > std::time::Duration::from_secs(1) {
        out.push((p(&["cluster", "redis_timeout"]), "must be between 1ms and 1s".into()));
    }
    if c.replica_id
        .as_deref()
        .is_some_and(|id| id.is_empty() || id.contains(char::is_whitespace))
    {
        out.push((p(&["cluster", "replica_id"]), "a name without spaces".into()));
    }
    if c.key_prefix.is_empty() {
        out.push((p(&["cluster", "key_prefix"]), "must not be empty".into()));
    }
}

fn outputs(cfg: &CollectorConfig, out: &mut Problems) {
    let mut names = HashSet::new();
    for (i, o) in cfg.outputs.influxdb.iter().enumerate() {
        let i = i.to_string();
        let at = |k: &str| p(&["outputs", "influxdb", &i, k]);
        if o.name.is_empty() {
            out.push((
                at("name"),
                "required: a name for this replica (used for its queue and metrics)".into(),
            ));
        } else if !names.insert(o.name.as_str()) {
            out.push((at("name"), format!("duplicate output name {:?}", o.name)));
        } else if !o
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            out.push((
                at("name"),
                "may contain only letters, digits, '-', '_' and '.' (it names a queue directory)".into(),
            ));
        }
        if !(o.url.starts_with("http://") || o.url.starts_with("https://")) {
            out.push((at("url"), format!("{:?} is not an http:// or https:// URL", o.url)));
        }
        match o.api {
            InfluxApi::V1 if o.database.as_deref().unwrap_or("").is_empty() => {
                out.push((at("database"), "required with api = \"v1\"".into()))
            }
            InfluxApi::V2 => {
                for (k, v) in [("org", &o.org), ("bucket", &o.bucket)] {
                    if v.as_deref().unwrap_or("").is_empty() {
                        out.push((at(k), "required with api = \"v2\"".into()));
                    }
                }
            }
            _ => {}
        }
        if o.batch_size == 0 {
            out.push((at("batch_size"), "must be at least 1".into()));
        }
        if o.queue_max_bytes.0 < 4096 {
            out.push((at("queue_max_bytes"), "must be at least 4KiB".into()));
        }
    }
}

/// The checks of `[[targets]]` entries, wherever they come from (the config, a targets file).
pub fn targets(targets: &[TargetConfig], out: &mut Problems) {
    let mut names = HashSet::new();
    for (i, t) in targets.iter().enumerate() {
        let i = i.to_string();
        let at = |k: &str| p(&["targets", &i, k]);
        if t.name.is_empty() {
            out.push((at("name"), "required: a unique name (the `target` tag)".into()));
        } else if !names.insert(t.name.as_str()) {
            out.push((at("name"), format!("duplicate target name {:?}", t.name)));
        }
        if t.address.is_empty() {
            out.push((at("address"), "required: udp://HOST[:PORT]".into()));
        } else if let Err(e) = TargetAddress::parse(&t.address) {
            out.push((at("address"), format!("{:?}: {e}", t.address)));
        }
        match t.version {
            SnmpVersion::V1 | SnmpVersion::V2c => {
                if t.community.as_ref().is_none_or(|c| c.expose().is_empty()) {
                    out.push((
                        at("community"),
                        format!("required with version = \"{}\"", t.version.as_str()),
                    ));
                }
                for (k, set) in [
                    ("user", t.user.is_some()),
                    ("auth", t.auth.is_some()),
                    ("priv", t.privacy.is_some()),
                ] {
                    if set {
                        out.push((at(k), "only used with version = \"3\"".into()));
                    }
                }
            }
            SnmpVersion::V3 => {
                if t.user.as_deref().unwrap_or("").is_empty() {
                    out.push((at("user"), "required with version = \"3\"".into()));
                }
                if t.community.is_some() {
                    out.push((
                        at("community"),
                        "not used with version = \"3\" (set user/auth/priv)".into(),
                    ));
                }
                if t.privacy.is_some() && t.auth.is_none() {
                    out.push((at("priv"), "privacy needs authentication: set auth too".into()));
                }
                for (k, key) in [
                    ("auth", t.auth.as_ref().map(|k| &k.password)),
                    ("priv", t.privacy.as_ref().map(|k| &k.password)),
                ] {
                    if key.is_some_and(|pw| pw.expose().len() < 8) {
                        out.push((
                            p(&["targets", &i, k, "password"]),
                            "must be at least 8 characters (RFC 3414)".into(),
                        ));
                    }
                }
            }
        }
        if t.modules.is_empty() {
            out.push((at("modules"), "lists no module".into()));
        }
        target_bounds(t, &at, out);
        for (k, v) in &t.tags {
            if k.is_empty() || v.is_empty() || matches!(k.as_str(), "target" | "agent_host") {
                out.push((
                    p(&["targets", &i, "tags", k]),
                    "tag keys and values must be non-empty and not `target` or `agent_host`".into(),
                ));
            }
        }
        if t.walk_limit == 0 {
            out.push((at("walk_limit"), "must be at least 1".into()));
        }
    }
}

/// Shortest and longest poll interval (global and per target): below it one agent is polled
/// many times a second; above it rates and dashboards lose their meaning.
pub const INTERVAL_MIN: std::time::Duration = std::time::Duration::from_millis(100);
pub const INTERVAL_MAX: std::time::Duration = std::time::Duration::from_secs(86_400);
/// Most modules a target lists (each is a set of walks of the agent).
pub const MODULES_MAX: usize = 64;

/// Per-target values that would flood an agent or never finish: each names its field.
fn target_bounds(t: &TargetConfig, at: &dyn Fn(&str) -> Vec<String>, out: &mut Problems) {
    if let Some(i) = t.interval
        && !(INTERVAL_MIN..=INTERVAL_MAX).contains(&i.get())
    {
        out.push((at("interval"), format!("{i}: must be between 100ms and 24h")));
    }
    if let Some(d) = t.timeout
        && (d.get().is_zero() || d.get() > std::time::Duration::from_secs(60))
    {
        out.push((at("timeout"), format!("{d}: must be longer than 0s and at most 60s")));
    }
    if t.retries.is_some_and(|r| r > 10) {
        out.push((at("retries"), "must be at most 10".into()));
    }
    if let Some(d) = t.poll_deadline
        && d.get().is_zero()
    {
        out.push((at("poll_deadline"), "must be longer than 0s".into()));
    }
    if t.max_repetitions.is_some_and(|m| !(1..=10_000).contains(&m)) {
        out.push((at("max_repetitions"), "must be between 1 and 10000".into()));
    }
    if t.modules.len() > MODULES_MAX {
        out.push((
            at("modules"),
            format!("{} modules: at most {MODULES_MAX}", t.modules.len()),
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = t.modules.iter().find(|m| !seen.insert(m.as_str())) {
        out.push((at("modules"), format!("module {twice:?} is listed more than once")));
    }
}
