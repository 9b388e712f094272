//! The directives of one proxy section (defaults, frontend, backend, listen) into a
//! `Proxy`: what netpulse uses, a warning naming each directive it ignores, an error for
//! each it cannot honour or does not know.

use super::acl::{self, Acls};
use super::keywords::{IGNORED, OPTIONS_NATIVE, USED, server_words};
use super::values::{self, time};
use crate::diag::Diags;
use crate::diag::did_you_mean;
use crate::parse::{Directive, Kind};
use netpulse_config::Balance;
use std::time::Duration;

/// What a defaults section passes on.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub mode: Option<String>,
    pub balance: Option<Balance>,
    pub retries: Option<u32>,
    pub redispatch: Option<bool>,
    pub allbackups: Option<bool>,
    pub t_connect: Option<Duration>,
    pub t_server: Option<Duration>,
    pub t_check: Option<Duration>,
    pub t_client: Option<Duration>,
    pub t_http_request: Option<Duration>,
    pub t_http_keep_alive: Option<Duration>,
    pub t_queue: Option<Duration>,
    /// `option httpchk`: (method, uri).
    pub httpchk: Option<(String, String)>,
    pub expect_status: Option<u16>,
    /// `cookie NAME …`.
    pub cookie: Option<String>,
    /// `default-server` words, applied before each server's own.
    pub default_server: Vec<String>,
    pub stats: Stats,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub enable: bool,
    pub uri: Option<String>,
    pub refresh: Option<Duration>,
    pub auth: Option<(String, String)>,
    pub realm: Option<String>,
    pub admin: bool,
}

/// What a `bind … ssl` line says about TLS.
#[derive(Debug, Clone, PartialEq)]
pub struct SslBind {
    pub crt: String,
    pub alpn: Option<Vec<String>>,
    pub ticket_keys: Option<String>,
}

#[derive(Debug, Default)]
pub struct Proxy {
    pub name: String,
    pub line: usize,
    pub frontend: bool,
    pub backend: bool,
    pub set: Settings,
    pub binds: Vec<(usize, String)>,
    /// `bind … ssl`: (line, address).
    pub tls_binds: Vec<(usize, String)>,
    /// The `crt`, `alpn` and `tls-ticket-keys` of the ssl binds, and the first one's line.
    pub tls: Option<(usize, SslBind)>,
    /// `redirect scheme https [code N]` for plain-HTTP requests: the status.
    pub redirect_https: Option<u16>,
    /// `monitor-uri URI`.
    pub monitor_uri: Option<String>,
    pub default_backend: Option<(usize, String)>,
    pub acls: Acls,
    /// (line, backend, routes in DNF; empty = unconditional).
    pub use_backends: Vec<(usize, String, acl::Dnf)>,
    /// (line, name, address, words after the address).
    pub servers: Vec<(usize, String, String, Vec<String>)>,
    /// `id N`: (line, N).
    pub explicit_id: Option<(usize, u32)>,
    /// Its place among the proxy sections, in declaration order (HAProxy numbers them by it:
    /// `translate::haproxy_ids`).
    pub seq: usize,
}

impl Proxy {
    /// Applies one directive. `kind` is the section's kind.
    pub fn apply(&mut self, kind: &Kind, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let w = &dir.words;
        let kw = w[0].as_str();
        let proxy_only = matches!(kw, "bind" | "server" | "acl" | "use_backend" | "default_backend");
        if *kind == Kind::Defaults && proxy_only {
            d.error(at, format!("'{kw}' is not allowed in a defaults section"));
            return;
        }
        let arg = |i: usize| dir.arg(i).unwrap_or("");
        match kw {
            "id" if *kind == Kind::Defaults => d.error(at, "'id' is not allowed in a defaults section"),
            "id" => match values::number(arg(1), 1, i32::MAX as u32) {
                Ok(n) => self.explicit_id = Some((at, n)),
                Err(e) => d.error(at, format!("id: {e}")),
            },
            "mode" => match arg(1) {
                m @ ("http" | "tcp") => self.set.mode = Some(m.to_string()),
                "health" => d.warn(at, "'mode health' is not supported and is ignored"),
                m => d.error(at, format!("mode '{m}': expected http or tcp")),
            },
            "bind" if !self.frontend => d.error(at, "'bind' in a backend section"),
            "bind" => self.bind(dir, d),
            "redirect" if self.frontend => self.redirect(dir, d),
            "monitor-uri" if self.frontend && w.len() == 2 => self.monitor_uri = Some(arg(1).to_string()),
            "monitor-uri" if self.frontend => d.error(at, "monitor-uri takes one URI"),
            "http-request" if self.frontend && w.get(1).map(String::as_str) == Some("redirect") => {
                self.redirect(dir, d)
            }
            "default_backend" => self.default_backend = Some((at, arg(1).to_string())),
            "use_backend" | "acl" => self.routing(dir, d),
            "server" if w.len() < 3 => d.error(at, "server needs a name and an address"),
            "server" => match values::server(&w[2]) {
                Ok(a) => self.servers.push((at, w[1].clone(), a, w[3..].to_vec())),
                Err(e) => d.error(at, format!("server {}: {e}", w[1])),
            },
            "default-server" => {
                server_words(&w[1..], at, d);
                self.set.default_server.extend(w[1..].iter().cloned());
            }
            "balance" => {
                self.set.balance = Some(match arg(1) {
                    "roundrobin" => Balance::Roundrobin,
                    "static-rr" => Balance::StaticRr,
                    "leastconn" => Balance::Leastconn,
                    other => {
                        d.warn(at, format!("balance '{other}' is not supported; using roundrobin"));
                        Balance::Roundrobin
                    }
                })
            }
            "retries" => match values::number(arg(1), 0, 100) {
                Ok(n) => self.set.retries = Some(n),
                Err(e) => d.error(at, format!("retries: {e}")),
            },
            "timeout" => self.timeout(dir, d),
            "option" | "no" => self.option(dir, d),
            "http-check" => self.http_check(dir, d),
            "cookie" => self.cookie(dir, d),
            "stats" => self.stats(dir, d),
            k if IGNORED.contains(&k) => d.warn(
                at,
                format!("'{k}' is not supported by netpulse-balancer and is ignored"),
            ),
            k => {
                let mut known: Vec<&str> = USED.to_vec();
                known.extend_from_slice(IGNORED);
                let hint = did_you_mean(k, &known);
                d.error(at, format!("unknown keyword '{k}' in a proxy section{hint}"));
            }
        }
    }

    /// `acl NAME CRITERION VALUES…` and `use_backend B [if|unless COND]`.
    fn routing(&mut self, dir: &Directive, d: &mut Diags) {
        let (at, w) = (dir.line, &dir.words);
        if w[0] == "acl" {
            if w.len() < 3 {
                return d.error(at, "acl needs a name, a criterion and values");
            }
            match acl::parse(&w[2..]) {
                Ok(c) => self.acls.entry(w[1].clone()).or_default().push(c),
                Err(e) => d.error(at, format!("acl {}: {e}", w[1])),
            }
            return;
        }
        let name = dir.arg(1).unwrap_or("").to_string();
        if w.len() <= 2 {
            self.use_backends.push((at, name, vec![]));
            return;
        }
        match acl::condition(&w[2..], &self.acls) {
            Ok(dnf) => self.use_backends.push((at, name, dnf)),
            Err(e) => d.error(at, format!("use_backend {name}: {e}")),
        }
    }

    /// `http-check expect status N`, `http-check send meth M uri U`.
    fn http_check(&mut self, dir: &Directive, d: &mut Diags) {
        let (at, w) = (dir.line, &dir.words);
        let arg = |i: usize| dir.arg(i).unwrap_or("");
        match (arg(1), arg(2)) {
            ("expect", "status") => match arg(3).parse::<u16>() {
                Ok(s) if (100..600).contains(&s) => self.set.expect_status = Some(s),
                _ => d.error(
                    at,
                    format!("http-check expect status: '{}' is not an HTTP status", arg(3)),
                ),
            },
            ("send", _) => {
                let mut it = w[2..].iter();
                let (mut m, mut u) = self.set.httpchk.clone().unwrap_or(("GET".into(), "/".into()));
                while let Some(k) = it.next() {
                    match (k.as_str(), it.next()) {
                        ("meth", Some(v)) => m = v.clone(),
                        ("uri", Some(v)) => u = v.clone(),
                        (o, _) => d.warn(at, format!("http-check send '{o}' is ignored")),
                    }
                }
                self.set.httpchk = Some((m, u));
            }
            (other, _) => d.warn(at, format!("http-check {other} is not supported and is ignored")),
        }
    }

    fn timeout(&mut self, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let (what, v) = (dir.arg(1).unwrap_or(""), dir.arg(2).unwrap_or(""));
        let t = match time(v) {
            Ok(t) => t,
            Err(e) => return d.error(at, format!("timeout {what}: {e}")),
        };
        match what {
            "connect" => self.set.t_connect = Some(t),
            "server" => self.set.t_server = Some(t),
            "check" => self.set.t_check = Some(t),
            "client" => self.set.t_client = Some(t),
            "queue" => self.set.t_queue = Some(t),
            "http-request" => self.set.t_http_request = Some(t),
            "http-keep-alive" => self.set.t_http_keep_alive = Some(t),
            "tunnel" | "client-fin" | "server-fin" | "tarpit" => d.warn(
                at,
                format!("timeout {what} is not used by netpulse-balancer and is ignored"),
            ),
            other => d.error(at, format!("unknown timeout '{other}'")),
        }
    }

    fn option(&mut self, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let no = dir.words[0] == "no";
        let w: Vec<&str> = dir.words.iter().skip(usize::from(no) + 1).map(String::as_str).collect();
        if no && dir.arg(1) != Some("option") {
            return d.error(at, "'no' must be followed by 'option'");
        }
        match w.as_slice() {
            ["httpchk", rest @ ..] if !no => {
                let (m, u) = match rest {
                    [] => ("OPTIONS", "/"),
                    [u] => ("OPTIONS", *u),
                    [m, u, ..] => (*m, *u),
                };
                if rest.len() > 2 {
                    d.warn(
                        at,
                        "option httpchk: the HTTP version and headers are ignored (checks use HTTP/1.0)",
                    );
                }
                self.set.httpchk = Some((m.to_string(), u.to_string()));
            }
            ["redispatch", ..] => self.set.redispatch = Some(!no),
            ["allbackups"] => self.set.allbackups = Some(!no),
            [o, ..] if OPTIONS_NATIVE.contains(o) => {}
            [o, ..] => d.warn(
                at,
                format!("option {o} is not supported by netpulse-balancer and is ignored"),
            ),
            [] => d.error(at, "'option' without a name"),
        }
    }

    fn cookie(&mut self, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let Some(name) = dir.arg(1) else {
            return d.error(at, "cookie needs a name");
        };
        let opts: Vec<&str> = dir
            .words
            .get(2..)
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .collect();
        if opts.contains(&"rewrite") || opts.contains(&"prefix") {
            d.warn(
                at,
                "cookie rewrite/prefix are not supported; netpulse inserts the cookie (insert indirect nocache)",
            );
        } else if !opts.contains(&"insert") {
            d.warn(
                at,
                "cookie without 'insert': netpulse always inserts the cookie (insert indirect nocache)",
            );
        }
        for o in &opts {
            if !matches!(*o, "insert" | "rewrite" | "prefix" | "indirect" | "nocache") {
                d.warn(at, format!("cookie option '{o}' is ignored"));
            }
        }
        if !opts.contains(&"indirect") || !opts.contains(&"nocache") {
            d.warn(
                at,
                "netpulse always behaves as 'indirect nocache' (the server never sees the cookie)",
            );
        }
        self.set.cookie = Some(name.to_string());
    }

    fn stats(&mut self, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let arg = |i: usize| dir.arg(i).unwrap_or("").to_string();
        let s = &mut self.set.stats;
        match arg(1).as_str() {
            "enable" => s.enable = true,
            "uri" => {
                s.enable = true;
                s.uri = Some(arg(2));
            }
            "refresh" => match time(&arg(2)) {
                Ok(t) => s.refresh = Some(t),
                Err(e) => d.error(at, format!("stats refresh: {e}")),
            },
            "auth" => match arg(2).split_once(':') {
                Some((u, p)) => {
                    if s.auth.is_some() {
                        d.warn(at, "several 'stats auth' users: netpulse keeps the first");
                    } else {
                        s.enable = true;
                        s.auth = Some((u.to_string(), p.to_string()));
                    }
                }
                None => d.error(at, "stats auth needs user:password"),
            },
            "realm" => s.realm = Some(dir.words.get(2..).unwrap_or_default().join(" ")),
            "socket" | "timeout" | "maxconn" | "bind-process" => {
                d.error(at, format!("'stats {}' belongs in the global section", arg(1)))
            }
            "admin" => match dir.words.get(2..).unwrap_or_default() {
                [cond, t] if cond == "if" && t == "TRUE" => s.admin = true,
                _ => d.warn(
                    at,
                    "stats admin: only 'if TRUE' is supported; admin actions stay disabled",
                ),
            },
            o @ ("hide-version" | "show-legends" | "show-node" | "show-desc" | "scope" | "http-request"
            | "show-modules") => d.warn(at, format!("stats {o} is ignored")),
            o => d.error(at, format!("unknown stats keyword '{o}'")),
        }
    }
}
