//! Frontends: the default backend, `use_backend` rules as routes (one per term of the
//! condition's disjunctive normal form), binds, and the client and header timeouts; also the
//! stats-only `listen` section as the stats listener.

use super::proxy::Proxy;
use crate::diag::Diags;
use netpulse_config::{self as native, BalancerConfig, Route};
use std::collections::HashMap;

/// The native frontend of proxy `p` whose id is `id`; `backends` are the proxies that have one.
pub fn frontend(p: &Proxy, id: u32, backends: &HashMap<&str, &Proxy>, d: &mut Diags) -> native::Frontend {
    let default = match (&p.default_backend, p.backend) {
        (Some((l, b)), _) => {
            if !backends.contains_key(b.as_str()) {
                d.error(*l, format!("default_backend '{b}': no such backend"));
            }
            b.clone()
        }
        (None, true) => p.name.clone(),
        (None, false) => {
            d.error(
                p.line,
                format!("frontend '{}' has no default_backend (netpulse needs one)", p.name),
            );
            String::new()
        }
    };
    let mut routes = vec![];
    for (l, b, dnf) in &p.use_backends {
        if !backends.contains_key(b.as_str()) {
            d.error(*l, format!("use_backend '{b}': no such backend"));
        }
        if dnf.is_empty() {
            d.warn(
                *l,
                format!("use_backend '{b}' without a condition: it takes every request not routed above"),
            );
            routes.push(Route {
                path_prefix: "/".into(),
                when: vec![],
                backend: b.clone(),
            });
        }
        for term in dnf {
            routes.push(Route {
                path_prefix: String::new(),
                when: term.clone(),
                backend: b.clone(),
            });
        }
    }
    if p.binds.is_empty() && p.tls_binds.is_empty() {
        d.error(p.line, format!("'{}' has no bind", p.name));
    }
    let defaults = native::FrontendTimeouts::default();
    native::Frontend {
        name: p.name.clone(),
        id: Some(id),
        listen: p.binds.iter().map(|(_, a)| a.clone()).collect(),
        backend: default,
        routes,
        timeouts: native::FrontendTimeouts {
            client: p.set.t_client.map_or(defaults.client, native::Duration),
            // HAProxy: without `timeout http-request`, `timeout client` bounds the header.
            http_request: (p.set.t_http_request.or(p.set.t_client)).map_or(defaults.http_request, native::Duration),
            // HAProxy: without `timeout http-keep-alive`, `timeout http-request` applies.
            http_keep_alive: p.set.t_http_keep_alive.map(native::Duration),
        },
        max_body_size: None,
        tls: p.tls.as_ref().map(|(_, b)| native::Tls {
            cert: (&b.crt).into(),
            key: None,
            // HAProxy offers no ALPN without `alpn`: clients speak HTTP/1.1.
            alpn: b.alpn.clone().unwrap_or_else(|| vec!["http/1.1".into()]),
            listen: p.tls_binds.iter().map(|(_, a)| a.clone()).collect(),
            ticket_keys: b.ticket_keys.as_ref().map(Into::into),
        }),
        redirect_https: p.redirect_https,
        monitor_uri: p.monitor_uri.clone(),
    }
}

pub fn stats_listener(p: &Proxy, cfg: &mut BalancerConfig, d: &mut Diags) {
    let st = &p.set.stats;
    match p.binds.as_slice() {
        [] => d.error(p.line, format!("stats proxy '{}' has no bind", p.name)),
        [(_, a), rest @ ..] => {
            cfg.stats.listen = a.clone();
            for (l, _) in rest {
                d.warn(*l, "netpulse serves stats on the first bind address only");
            }
        }
    }
    cfg.stats.uri = st.uri.clone().unwrap_or_else(|| "/haproxy?stats".into());
    cfg.stats.proxy_name = Some(p.name.clone());
    cfg.stats.admin = st.admin;
    if let Some(r) = st.refresh {
        cfg.stats.refresh = native::Duration(r);
    }
    if let Some((u, pw)) = &st.auth {
        cfg.stats.auth = Some(native::BasicAuth {
            user: u.clone(),
            password: native::Secret::new(pw.clone()),
        });
    }
    if let Some(r) = &st.realm {
        cfg.stats.realm = r.clone();
    }
}
