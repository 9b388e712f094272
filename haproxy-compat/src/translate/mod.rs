//! Parsed haproxy.cfg sections into the balancer's native [`BalancerConfig`]: defaults are
//! inherited in order (or `from NAME`), frontends/backends/listen become native frontends
//! and backends, `listen stats` the stats listener, `global stats socket` the runtime API.

mod acl;
mod backend;
mod frontend;
mod global;
mod ids;
mod keywords;
mod listen;
mod proxy;
mod values;

use crate::diag::Diags;
use crate::parse::{Kind, Section};
use netpulse_config::BalancerConfig;
use proxy::{Proxy, Settings};
use std::collections::HashMap;

pub fn run(sections: &[Section], d: &mut Diags) -> BalancerConfig {
    let mut cfg = BalancerConfig::default();
    // Without a `stats` proxy the page still exists, on loopback only.
    cfg.stats.listen = "127.0.0.1:8404".into();
    let mut named: HashMap<String, Settings> = HashMap::new();
    let mut last = Settings::default();
    let mut proxies: Vec<Proxy> = vec![];
    // Every proxy section in order (its `id` line and number, if any), and which of them is
    // the stats listener: HAProxy numbers them all, used or not.
    let mut declared: Vec<Option<(usize, u32)>> = vec![];
    let mut stats_at = None;
    for s in sections {
        let inherited = match &s.from {
            Some(f) => match named.get(f) {
                Some(set) => set.clone(),
                None => {
                    d.error(s.line, format!("'from {f}': no defaults section named '{f}' above"));
                    last.clone()
                }
            },
            // A defaults section without `from` starts afresh (HAProxy resets everything).
            None if s.kind == Kind::Defaults => Settings::default(),
            None => last.clone(),
        };
        match &s.kind {
            Kind::Global => {
                global::global(s, &mut cfg, d);
                if let Some(dir) = s
                    .directives
                    .iter()
                    .find(|dir| dir.words[0] == "stats" && dir.arg(1) == Some("socket"))
                {
                    declared.push(Some((dir.line, 0)));
                }
            }
            Kind::Other(k) => d.warn(
                s.line,
                format!("section '{k}' is not used by netpulse-balancer and is ignored"),
            ),
            Kind::Defaults => {
                let mut p = Proxy {
                    set: inherited,
                    ..Proxy::default()
                };
                for dir in &s.directives {
                    p.apply(&s.kind, dir, d);
                }
                if let Some(n) = &s.name {
                    named.insert(n.clone(), p.set.clone());
                }
                last = p.set;
            }
            Kind::Frontend | Kind::Backend | Kind::Listen => {
                let mut p = proxy_section(s, inherited, d);
                p.seq = declared.len();
                declared.push(p.explicit_id);
                if !(p.set.stats.enable && p.servers.is_empty() && p.default_backend.is_none()) {
                    if p.set.stats.enable {
                        d.warn(
                            s.line,
                            "stats on a proxying section: netpulse serves stats on its own listener only",
                        );
                    }
                    proxies.push(p);
                } else if stats_at.is_some() {
                    d.warn(
                        s.line,
                        "a second stats proxy: netpulse serves one stats listener; this one is ignored",
                    );
                } else {
                    frontend::stats_listener(&p, &mut cfg, d);
                    stats_at = Some(p.seq);
                }
            }
        }
    }
    let ids = ids::haproxy_ids(&declared, d);
    cfg.stats.id = stats_at.map(|i| ids[i]);
    build(&proxies, &ids, &mut cfg, d);
    cfg
}

/// A frontend, backend or listen section with what it inherited.
fn proxy_section(s: &Section, inherited: Settings, d: &mut Diags) -> Proxy {
    let mut p = Proxy {
        name: s.name.clone().unwrap_or_default(),
        line: s.line,
        frontend: s.kind != Kind::Backend,
        backend: s.kind != Kind::Frontend,
        set: inherited,
        ..Proxy::default()
    };
    if let Some(a) = &s.addr {
        match values::bind(a) {
            Ok(a) => p.binds.push((s.line, a)),
            Err(e) => d.error(s.line, e),
        }
    }
    for dir in &s.directives {
        p.apply(&s.kind, dir, d);
    }
    p
}

/// `ids`: every proxy section's id, by `Proxy::seq`.
fn build(proxies: &[Proxy], ids: &[u32], cfg: &mut BalancerConfig, d: &mut Diags) {
    let backends: HashMap<&str, &Proxy> = proxies
        .iter()
        .filter(|p| p.backend)
        .map(|p| (p.name.as_str(), p))
        .collect();
    for p in proxies.iter().filter(|p| p.set.mode.as_deref() != Some("http")) {
        d.error(
            p.line,
            format!(
                "'{}' is in mode tcp (HAProxy's default without 'mode http'); netpulse-balancer proxies HTTP only",
                p.name
            ),
        );
    }
    for p in proxies.iter().filter(|p| p.backend) {
        cfg.backends.push(backend::backend(p, ids[p.seq], d));
    }
    for p in proxies.iter().filter(|p| p.frontend) {
        let f = frontend::frontend(p, ids[p.seq], &backends, d);
        cfg.frontends.push(f);
    }
}
