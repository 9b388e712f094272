//! The balancer's checks: addresses, unique names, references between frontends and
//! backends, health-check and cookie values, the runtime socket, and proxy ids.

use super::{Problems, host_port, p, socket_addr};
use crate::balancer::{Backend, BalancerConfig, CheckKind, Frontend};
use std::collections::HashSet;

pub(crate) fn validate(cfg: &BalancerConfig) -> Problems {
    let mut out = Problems::new();
    if cfg.server.threads == Some(0) {
        out.push((p(&["server", "threads"]), "must be at least 1".into()));
    }
    if !socket_addr(&cfg.stats.listen) {
        out.push((
            p(&["stats", "listen"]),
            format!("{:?} is not an IP:PORT address", cfg.stats.listen),
        ));
    }
    if !cfg.stats.uri.starts_with('/') {
        out.push((p(&["stats", "uri"]), "must start with '/'".into()));
    }
    unique_names("backend", cfg.backends.iter().map(|b| b.name.as_str()), &mut out);
    for (i, b) in cfg.backends.iter().enumerate() {
        backend(&i.to_string(), b, &mut out);
    }
    unique_names("frontend", cfg.frontends.iter().map(|f| f.name.as_str()), &mut out);
    let backends: HashSet<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    for (i, f) in cfg.frontends.iter().enumerate() {
        frontend(&i.to_string(), f, &backends, &mut out);
    }
    if let Some(sock) = &cfg.runtime.socket {
        if sock.is_empty() {
            out.push((p(&["runtime", "socket"]), "an empty path".into()));
        }
        if u32::from_str_radix(&cfg.runtime.mode, 8).is_err() {
            out.push((
                p(&["runtime", "mode"]),
                format!("{:?} is not an octal file mode", cfg.runtime.mode),
            ));
        }
    }
    if cfg.frontends.is_empty() {
        out.push((p(&["frontends"]), "at least one frontend".into()));
    }
    out.extend(crate::proxy_ids::problems(cfg));
    out
}

/// Each `<kind>s[i].name` must be non-empty and not used before.
fn unique_names<'a>(kind: &str, names: impl Iterator<Item = &'a str>, out: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        if name.is_empty() || !seen.insert(name) {
            out.push((
                p(&[&format!("{kind}s"), &i.to_string(), "name"]),
                format!("{name:?}: {kind} names must be unique and non-empty"),
            ));
        }
    }
}

/// Backend `i`'s servers, health check and cookie.
fn backend(i: &str, b: &Backend, out: &mut Problems) {
    if b.servers.is_empty() {
        out.push((
            p(&["backends", i, "servers"]),
            "a backend needs at least one server".into(),
        ));
    }
    let mut servers = HashSet::new();
    for (j, s) in b.servers.iter().enumerate() {
        let j = j.to_string();
        let at = |k: &str| p(&["backends", i, "servers", &j, k]);
        if s.name.is_empty() || !servers.insert(s.name.as_str()) {
            out.push((
                at("name"),
                format!("{:?}: server names must be unique in a backend and non-empty", s.name),
            ));
        } else if let Err(why) = super::haproxy_name("server", &s.name) {
            out.push((at("name"), why));
        }
        if !host_port(&s.address) {
            out.push((
                at("address"),
                format!("{:?} is not an IP:PORT or HOST:PORT address", s.address),
            ));
        }
        if s.weight > 256 {
            out.push((at("weight"), "must be between 0 and 256".into()));
        }
    }
    if let Some(hc) = &b.health_check {
        let at = |k: &str| p(&["backends", i, "health_check", k]);
        if hc.rise == 0 || hc.fall == 0 {
            out.push((at("rise"), "rise and fall must be at least 1".into()));
        }
        if hc.kind == CheckKind::Http && !hc.path.starts_with('/') {
            out.push((at("path"), "must start with '/'".into()));
        }
        if hc.interval.get().is_zero() {
            out.push((at("interval"), "must be longer than 0s".into()));
        }
    }
    if let Some(m) = &b.mirror {
        mirror(i, b, m, out);
    }
    let cookie_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if let Some(st) = &b.sticky
        && (st.cookie.is_empty() || !st.cookie.chars().all(cookie_char))
    {
        out.push((
            p(&["backends", i, "sticky", "cookie"]),
            "a cookie name of letters, digits, '_' or '-'".into(),
        ));
    }
}

/// A mirroring backend: where its queues go and what makes no sense with it.
fn mirror(i: &str, b: &Backend, m: &crate::balancer::Mirror, out: &mut Problems) {
    let at = |k: &str| p(&["backends", i, "mirror", k]);
    if b.name.contains(['/', '\\']) || b.name.starts_with('.') {
        out.push((
            p(&["backends", i, "name"]),
            format!(
                "{:?}: a mirroring backend's name names its queue folder: no '/' and no leading '.'",
                b.name
            ),
        ));
    }
    if m.queue_dir.is_empty() {
        out.push((at("queue_dir"), "an empty path".into()));
    }
    if m.queue_max_bytes.0 < 1 << 20 {
        out.push((at("queue_max_bytes"), "at least 1MiB".into()));
    }
    if m.max_body.0 == 0 || m.max_body.0 > m.queue_max_bytes.0 / 2 {
        out.push((
            at("max_body"),
            format!(
                "{} must be above 0 and at most half of queue_max_bytes ({})",
                m.max_body, m.queue_max_bytes
            ),
        ));
    }
    if m.batch_size == 0 {
        out.push((at("batch_size"), "must be at least 1".into()));
    }
    if b.sticky.is_some() {
        out.push((
            p(&["backends", i, "sticky"]),
            "a mirroring backend sends every request to every server: no sticky sessions".into(),
        ));
    }
    // Servers are this backend's to write to: a name becomes a folder of the queue.
    for (j, s) in b.servers.iter().enumerate() {
        if s.name.contains(['/', '\\']) || s.name.starts_with('.') {
            out.push((
                p(&["backends", i, "servers", &j.to_string(), "name"]),
                format!(
                    "{:?}: a mirrored server's name names its queue folder: no '/' and no leading '.'",
                    s.name
                ),
            ));
        }
    }
}

/// Frontend `i`'s listeners and the backends it and its routes name.
fn frontend(i: &str, f: &Frontend, backends: &HashSet<&str>, out: &mut Problems) {
    if f.listeners().is_empty() {
        out.push((p(&["frontends", i, "listen"]), "at least one IP:PORT".into()));
    }
    for (j, l) in f.listen.iter().enumerate() {
        if !socket_addr(l) {
            out.push((
                p(&["frontends", i, "listen", &j.to_string()]),
                format!("{l:?} is not an IP:PORT address"),
            ));
        }
    }
    if let Some(t) = &f.tls {
        tls(i, f, t, out);
    }
    if let Some(uri) = &f.monitor_uri
        && (!uri.starts_with('/') || uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()))
    {
        out.push((
            p(&["frontends", i, "monitor_uri"]),
            format!("{uri:?}: a request target starting with / (no spaces)"),
        ));
    }
    if let Some(code) = f.redirect_https
        && ![301, 302, 303, 307, 308].contains(&code)
    {
        out.push((
            p(&["frontends", i, "redirect_https"]),
            format!("{code} is not a redirect status (301, 302, 303, 307 or 308)"),
        ));
    }
    if !backends.contains(f.backend.as_str()) {
        out.push((
            p(&["frontends", i, "backend"]),
            format!("no backend named {:?}", f.backend),
        ));
    }
    for (j, r) in f.routes.iter().enumerate() {
        let j = j.to_string();
        if r.path_prefix.is_empty() && r.when.is_empty() {
            out.push((
                p(&["frontends", i, "routes", &j]),
                "a route needs path_prefix or at least one condition in `when`".into(),
            ));
        }
        if !backends.contains(r.backend.as_str()) {
            out.push((
                p(&["frontends", i, "routes", &j, "backend"]),
                format!("no backend named {:?}", r.backend),
            ));
        }
    }
}

/// Frontend `i`'s TLS settings; the certificates themselves are read and checked by the
/// balancer (`-c`), which knows the TLS library.
fn tls(i: &str, f: &Frontend, t: &crate::balancer::Tls, out: &mut Problems) {
    for (j, l) in t.listen.iter().enumerate() {
        if !socket_addr(l) {
            out.push((
                p(&["frontends", i, "tls", "listen", &j.to_string()]),
                format!("{l:?} is not an IP:PORT address"),
            ));
        } else if f.listen.contains(l) {
            out.push((
                p(&["frontends", i, "tls", "listen", &j.to_string()]),
                format!("{l:?} is also a plain `listen` address"),
            ));
        }
    }
    if t.alpn.is_empty() {
        out.push((
            p(&["frontends", i, "tls", "alpn"]),
            "at least one of \"h2\", \"http/1.1\"".into(),
        ));
    }
    for (j, a) in t.alpn.iter().enumerate() {
        if a != "h2" && a != "http/1.1" {
            out.push((
                p(&["frontends", i, "tls", "alpn", &j.to_string()]),
                format!("{a:?} is not a protocol the balancer serves (\"h2\", \"http/1.1\")"),
            ));
        }
    }
    if t.cert.as_os_str().is_empty() {
        out.push((
            p(&["frontends", i, "tls", "cert"]),
            "a PEM file or a directory of them".into(),
        ));
    }
}
