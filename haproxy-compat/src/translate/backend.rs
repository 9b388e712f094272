//! Backends: balancing, retries and redispatch with HAProxy's defaults, timeouts, the sticky
//! cookie, servers with their `server`/`default-server` keywords, and one health check per
//! backend (the first checked server's; a differing one is warned about).

use super::keywords::server_words;
use super::proxy::Proxy;
use super::values;
use crate::diag::Diags;
use netpulse_config::{self as native, CheckKind};

pub fn backend(p: &Proxy, id: u32, d: &mut Diags) -> native::Backend {
    let set = &p.set;
    let defaults = native::Backend::default();
    let mut b = native::Backend {
        name: p.name.clone(),
        id: Some(id),
        balance: set.balance.unwrap_or_default(),
        // HAProxy's defaults: 3 retries, no redispatch.
        retries: set.retries.unwrap_or(defaults.retries),
        // HAProxy's default differs from the native one: no redispatch without `option redispatch`.
        redispatch: set.redispatch.unwrap_or(false),
        all_backups: set.allbackups.unwrap_or(false),
        sticky: set.cookie.clone().map(|c| native::Sticky {
            cookie: c,
            mode: native::StickyMode::Insert,
        }),
        ..Default::default()
    };
    if let Some(t) = set.t_connect {
        b.timeouts.connect = native::Duration(t);
    }
    if let Some(t) = set.t_server {
        b.timeouts.server = native::Duration(t);
    }
    b.timeouts.queue = set.t_queue.map(native::Duration);
    let mut check: Option<(usize, native::HealthCheck)> = None;
    for (line, name, addr, words) in &p.servers {
        let (s, hc) = server(set, *line, name, addr, words, d);
        if s.check {
            match &check {
                None => check = Some((*line, hc)),
                Some((first, c)) if !same_check(c, &hc) => d.warn(
                    *line,
                    format!("server {name}: check timing differs from the server on line {first}; netpulse uses one per backend (line {first})"),
                ),
                Some(_) => {}
            }
        }
        b.servers.push(s);
    }
    b.health_check = check.map(|(_, c)| c);
    if b.servers.is_empty() {
        d.error(p.line, format!("backend '{}' has no server", p.name));
    }
    b
}

/// One `server` line (after the `default-server` words): the server and the health check its
/// keywords describe.
fn server(
    set: &super::proxy::Settings,
    line: usize,
    name: &str,
    addr: &str,
    words: &[String],
    d: &mut Diags,
) -> (native::ServerConfig, native::HealthCheck) {
    let mut s = native::ServerConfig {
        name: name.to_string(),
        address: addr.to_string(),
        check: false,
        ..Default::default()
    };
    let mut hc = native::HealthCheck {
        kind: if set.httpchk.is_some() {
            CheckKind::Http
        } else {
            CheckKind::Tcp
        },
        ..Default::default()
    };
    if let Some((m, u)) = &set.httpchk {
        hc.method = m.clone();
        hc.path = u.clone();
    }
    hc.expect_status = set.expect_status;
    let mut inter = hc.interval.get();
    // `default-server` words first (their keywords were reported at their own line), then
    // the server's own, which override them.
    let mut reported = Diags {
        file: d.file.clone(),
        errors: vec![],
        warnings: vec![],
    };
    let mut all = server_words(&set.default_server, line, &mut reported);
    all.extend(server_words(words, line, d));
    for (k, v) in all {
        let v = v.unwrap_or_default();
        let at = line;
        let time = |d: &mut Diags| values::time(&v).map_err(|e| d.error(at, format!("{k}: {e}"))).ok();
        match k.as_str() {
            "check" => s.check = true,
            "no-check" => s.check = false,
            "backup" => s.backup = true,
            "no-backup" => s.backup = false,
            "disabled" => s.disabled = true,
            "enabled" => s.disabled = false,
            "cookie" => s.cookie = Some(v),
            "weight" => match values::number(&v, 0, 256) {
                Ok(n) => s.weight = n,
                Err(e) => d.error(at, format!("weight: {e}")),
            },
            "maxconn" => match values::number(&v, 0, u32::MAX) {
                Ok(n) => s.maxconn = (n > 0).then_some(n),
                Err(e) => d.error(at, format!("maxconn: {e}")),
            },
            "rise" | "fall" => match values::number(&v, 1, 1000) {
                Ok(n) if k == "rise" => hc.rise = n,
                Ok(n) => hc.fall = n,
                Err(e) => d.error(at, format!("{k}: {e}")),
            },
            "inter" => inter = time(d).unwrap_or(inter),
            "fastinter" => hc.fast_interval = time(d).map(native::Duration),
            "downinter" => hc.down_interval = time(d).map(native::Duration),
            _ => {}
        }
    }
    hc.interval = native::Duration(inter);
    hc.timeout = native::Duration(set.t_check.unwrap_or(inter));
    (s, hc)
}

fn same_check(a: &native::HealthCheck, b: &native::HealthCheck) -> bool {
    (
        a.interval.get(),
        a.fast_interval.map(|x| x.get()),
        a.down_interval.map(|x| x.get()),
        a.rise,
        a.fall,
    ) == (
        b.interval.get(),
        b.fast_interval.map(|x| x.get()),
        b.down_interval.map(|x| x.get()),
        b.rise,
        b.fall,
    )
}
