//! Parsed haproxy.cfg sections into the balancer's native [`BalancerConfig`]: defaults are
//! inherited in order (or `from NAME`), frontends/backends/listen become native frontends
//! and backends, `listen stats` the stats listener, `global stats socket` the runtime API.

mod acl;
mod proxy;
mod values;

use crate::diag::{Diagnostic, did_you_mean};
use crate::parse::{Kind, Section};
use netpulse_config::{self as native, BalancerConfig, CheckKind, Route};
use proxy::{Proxy, Settings, server_words};
use std::collections::HashMap;

/// Errors and warnings of one file.
pub struct Diags {
    pub file: String,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diags {
    fn error(&mut self, line: usize, m: impl Into<String>) {
        self.errors.push(Diagnostic::new(&self.file, line, m));
    }
    fn warn(&mut self, line: usize, m: impl Into<String>) {
        self.warnings.push(Diagnostic::new(&self.file, line, m));
    }
}

const GLOBAL_IGNORED: &[&str] = &[
    "daemon",
    "master-worker",
    "nbproc",
    "maxconn",
    "log",
    "log-send-hostname",
    "log-tag",
    "chroot",
    "user",
    "group",
    "uid",
    "gid",
    "pidfile",
    "ca-base",
    "crt-base",
    "node",
    "description",
    "spread-checks",
    "server-state-file",
    "server-state-base",
    "hard-stop-after",
    "localpeer",
    "setenv",
    "presetenv",
    "resetenv",
    "unsetenv",
    "cpu-map",
    "ulimit-n",
    "insecure-fork-wanted",
    "expose-experimental-directives",
    "set-dumpable",
    "quiet",
    "noepoll",
    "nopoll",
    "maxsslconn",
    "maxconnrate",
    "maxsessrate",
    "h1-case-adjust",
    "lua-load",
    "external-check",
    "stats",
    "nbthread",
    "busy-polling",
    "max-spread-checks",
    "numa-cpu-mapping",
    "strict-limits",
    "zero-warning",
    "default-path",
    "httpclient.resolvers.disabled",
    "profiling.tasks",
];

pub fn run(sections: &[Section], d: &mut Diags) -> BalancerConfig {
    let mut cfg = BalancerConfig::default();
    // Without a `stats` proxy the page still exists, on loopback only.
    cfg.stats.listen = "127.0.0.1:8404".into();
    let mut named: HashMap<String, Settings> = HashMap::new();
    let mut last = Settings::default();
    let mut proxies: Vec<Proxy> = vec![];
    let mut stats_seen = false;
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
                global(s, &mut cfg, d);
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
                p.seq = declared.len();
                declared.push(p.explicit_id);
                let stats_only = p.set.stats.enable && p.servers.is_empty() && p.default_backend.is_none();
                if stats_only {
                    if stats_seen {
                        d.warn(
                            s.line,
                            "a second stats proxy: netpulse serves one stats listener; this one is ignored",
                        );
                    } else {
                        stats_seen = true;
                        stats_listener(&p, &mut cfg, d);
                        stats_at = Some(p.seq);
                    }
                } else {
                    if p.set.stats.enable {
                        d.warn(
                            s.line,
                            "stats on a proxying section: netpulse serves stats on its own listener only",
                        );
                    }
                    proxies.push(p);
                }
            }
        }
    }
    let ids = haproxy_ids(&declared, d);
    cfg.stats.id = stats_at.map(|i| ids[i]);
    build(&proxies, &ids, &mut cfg, d);
    cfg
}

/// HAProxy 2.6's proxy ids for the proxy sections in declaration order (`check_config_validity`):
/// an `id` is kept (a second use of one is an error, as in HAProxy); the others take the
/// lowest free number from a counter that every proxy moves on by one, explicit ids included.
/// `Some((line, 0))` is the internal GLOBAL proxy a `stats socket` creates: it has id 0 and
/// moves the counter too, which is why HAProxy's first proxy is 2 with a stats socket.
fn haproxy_ids(declared: &[Option<(usize, u32)>], d: &mut Diags) -> Vec<u32> {
    let mut used = std::collections::HashSet::new();
    for (line, id) in declared.iter().flatten().filter(|(_, id)| *id > 0) {
        if !used.insert(*id) {
            d.error(*line, format!("id {id}: already the id of another proxy"));
        }
    }
    let mut next = 1;
    declared
        .iter()
        .map(|explicit| {
            let id = match explicit {
                Some((_, id)) => *id,
                None => {
                    while used.contains(&next) {
                        next += 1;
                    }
                    used.insert(next);
                    next
                }
            };
            next += 1;
            id
        })
        .collect()
}

fn global(s: &Section, cfg: &mut BalancerConfig, d: &mut Diags) {
    for dir in &s.directives {
        let at = dir.line;
        let kw = dir.words[0].as_str();
        match kw {
            "nbthread" => match values::number(dir.arg(1).unwrap_or(""), 1, 4096) {
                Ok(n) => cfg.server.threads = Some(n as usize),
                Err(e) => d.error(at, format!("nbthread: {e}")),
            },
            "stats" if dir.arg(1) == Some("socket") => {
                let path = dir.arg(2).unwrap_or("");
                if path.contains('@') && !path.starts_with("unix@") {
                    d.warn(at, "stats socket: only unix sockets are supported; ignored");
                    continue;
                }
                cfg.runtime.socket = Some(path.trim_start_matches("unix@").to_string());
                let mut it = dir.words.get(3..).unwrap_or_default().iter();
                while let Some(k) = it.next() {
                    match (k.as_str(), it.next().map(String::as_str)) {
                        ("mode", Some(m)) => cfg.runtime.mode = m.to_string(),
                        ("level", Some(l @ ("user" | "operator" | "admin"))) => {
                            cfg.runtime.level = match l {
                                "user" => native::RuntimeLevel::User,
                                "operator" => native::RuntimeLevel::Operator,
                                _ => native::RuntimeLevel::Admin,
                            }
                        }
                        ("level", other) => d.error(
                            at,
                            format!("stats socket level {other:?}: expected user, operator or admin"),
                        ),
                        (o, _) => d.warn(at, format!("stats socket option '{o}' is ignored")),
                    }
                }
            }
            k if GLOBAL_IGNORED.contains(&k)
                || k.starts_with("tune.")
                || k.starts_with("ssl-")
                || k.starts_with("lua-") =>
            {
                d.warn(
                    at,
                    format!(
                        "global '{}' is not used by netpulse-balancer and is ignored",
                        dir.words.join(" ")
                    ),
                )
            }
            k => {
                let hint = did_you_mean(k, GLOBAL_IGNORED);
                d.error(at, format!("unknown keyword '{k}' in the global section{hint}"));
            }
        }
    }
}

fn stats_listener(p: &Proxy, cfg: &mut BalancerConfig, d: &mut Diags) {
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
        cfg.backends.push(backend(p, ids[p.seq], d));
    }
    for p in proxies.iter().filter(|p| p.frontend) {
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
        if p.binds.is_empty() {
            d.error(p.line, format!("'{}' has no bind", p.name));
        }
        let defaults = native::FrontendTimeouts::default();
        cfg.frontends.push(native::Frontend {
            name: p.name.clone(),
            id: Some(ids[p.seq]),
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
        });
    }
}

fn backend(p: &Proxy, id: u32, d: &mut Diags) -> native::Backend {
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
        let mut s = native::ServerConfig {
            name: name.clone(),
            address: addr.clone(),
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
        let mut all = server_words(&set.default_server, *line, &mut reported);
        all.extend(server_words(words, *line, d));
        for (k, v) in all {
            let v = v.unwrap_or_default();
            let at = *line;
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
