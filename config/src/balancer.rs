//! The balancer's native configuration (SPEC §5): frontends, backends with servers,
//! health checks, stickiness, retries and timeouts, and the stats listener.

use crate::load::{Layered, Problems};
use crate::units::{Duration, Secret};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BalancerConfig {
    pub server: ServerSection,
    pub stats: StatsConfig,
    pub runtime: RuntimeConfig,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
}

/// `[server]`: the process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Worker threads (default: the number of cores).
    pub threads: Option<usize>,
    /// On SIGTERM or a graceful upgrade, how long requests in flight may take to finish after
    /// the listeners stopped accepting (whole seconds).
    pub grace_period: Duration,
    /// Forward plain GET/HEAD requests (no body, no upgrade, no sticky backend) over each
    /// client connection's own server connections instead of Pingora's generic path.
    #[serde(skip_serializing_if = "is_true")]
    pub express: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            threads: None,
            grace_period: Duration::from_secs(5),
            express: true,
        }
    }
}

/// `[stats]`: the HAProxy-style stats page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    pub listen: String,
    /// HTML at `uri`, HAProxy CSV at `uri;csv`, JSON at `uri;json`; Prometheus at `/metrics`.
    pub uri: String,
    /// Auto-refresh of the HTML page.
    pub refresh: Duration,
    pub auth: Option<BasicAuth>,
    /// Basic-auth realm shown by browsers.
    pub realm: String,
    /// Let the HTML page change server states (HAProxy `stats admin if TRUE`); guard it with `auth`.
    pub admin: bool,
    /// Show the stats listener as a proxy of this name in the stats (like HAProxy's `listen stats`).
    pub proxy_name: Option<String>,
    /// That proxy's id (see `frontends.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8404".into(),
            uri: "/stats".into(),
            refresh: Duration::from_secs(10),
            auth: None,
            realm: "netpulse-balancer statistics".into(),
            admin: false,
            proxy_name: None,
            id: None,
        }
    }
}

/// `[runtime]`: HAProxy's runtime API on a unix socket (`stats socket`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of the unix socket; none: no runtime API.
    pub socket: Option<String>,
    /// File mode of the socket, octal as in HAProxy (`"600"`).
    pub mode: String,
    /// `user` (read only), `operator` or `admin` (may change servers).
    pub level: RuntimeLevel,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            socket: None,
            mode: "600".into(),
            level: RuntimeLevel::Admin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeLevel {
    User,
    Operator,
    #[default]
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: Secret,
}

/// `[[frontends]]`: where clients connect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Frontend {
    pub name: String,
    /// The proxy id (`iid`) in the stats and the runtime API (HAProxy's `id`); unset: the
    /// lowest free number, in the order frontends, backends, stats. A frontend and a backend
    /// of the same name given the same id are one proxy, as a HAProxy `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub listen: Vec<String>,
    /// Default backend.
    pub backend: String,
    /// Path-prefix routes, first match wins.
    pub routes: Vec<Route>,
    pub timeouts: FrontendTimeouts,
    /// Largest request body accepted (413 above it); none: unlimited.
    pub max_body_size: Option<crate::units::ByteSize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendTimeouts {
    /// Longest wait for the client while reading a request body (HAProxy `timeout client`).
    pub client: Duration,
    /// A request's whole header must arrive within this, else 408 (HAProxy `timeout
    /// http-request`; slowloris defence): from the accept for a connection's first request,
    /// from the first byte for later ones.
    pub http_request: Duration,
    /// Longest idle wait for the next request on a kept-alive connection, then a silent close
    /// (HAProxy `timeout http-keep-alive`); unset: `http_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_keep_alive: Option<Duration>,
}

impl Default for FrontendTimeouts {
    fn default() -> Self {
        Self {
            client: Duration::from_secs(60),
            http_request: Duration::from_secs(10),
            http_keep_alive: None,
        }
    }
}

/// A route: the first whose conditions all hold picks the backend. `path_prefix` is the
/// short form; `when` holds any number of conditions (HAProxy `use_backend B if a !b`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Route {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    pub backend: String,
}

/// One test of a request; it holds when any of `values` matches (and `negate` is false).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub test: Test,
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_case: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The path starts with the value (HAProxy `path_beg`).
    PathPrefix,
    /// The path equals the value (`path`).
    Path,
    /// The Host header equals the value (`hdr(host)`).
    Host,
    /// The Host header contains the value as whole dot-separated labels (`hdr_dom(host)`).
    HostDomain,
}

impl Condition {
    pub fn holds(&self, path: &str, host: &str) -> bool {
        let eq = |a: &str, b: &str| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let any = self.values.iter().any(|v| match self.test {
            Test::Path => eq(path, v),
            Test::PathPrefix => path.get(..v.len()).is_some_and(|p| eq(p, v)),
            Test::Host => eq(host, v),
            Test::HostDomain => host
                .split(['.', ':', '/'])
                .collect::<Vec<_>>()
                .windows(v.split('.').count())
                .any(|w| eq(&w.join("."), v)),
        });
        any != self.negate
    }
}

impl Route {
    pub fn matches(&self, path: &str, host: &str) -> bool {
        (self.path_prefix.is_empty() || path.starts_with(&self.path_prefix))
            && self.when.iter().all(|c| c.holds(path, host))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Weighted round-robin (smooth).
    #[default]
    Roundrobin,
    /// Same as roundrobin here: weights are static unless changed at run time.
    #[serde(rename = "static-rr")]
    StaticRr,
    /// The server with the fewest requests in flight relative to its weight.
    Leastconn,
}

/// `[[backends]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backend {
    pub name: String,
    /// The proxy id (see `frontends.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub balance: Balance,
    /// Connection attempts on other servers after a failed connect.
    pub retries: u32,
    /// Allow a retry (and a sticky request whose server is down) to go to another server.
    pub redispatch: bool,
    pub timeouts: BackendTimeouts,
    pub health_check: Option<HealthCheck>,
    pub sticky: Option<Sticky>,
    /// With no active server available, use every backup server instead of only the first.
    pub all_backups: bool,
    pub servers: Vec<ServerConfig>,
}

impl Default for Backend {
    fn default() -> Self {
        Self {
            name: String::new(),
            id: None,
            balance: Balance::Roundrobin,
            retries: 3,
            redispatch: true,
            timeouts: BackendTimeouts::default(),
            health_check: None,
            sticky: None,
            all_backups: false,
            servers: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendTimeouts {
    pub connect: Duration,
    pub server: Duration,
    /// Longest wait for a free slot when every server is at its `maxconn` (default: `connect`).
    pub queue: Option<Duration>,
}

impl Default for BackendTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            server: Duration::from_secs(30),
            queue: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    #[default]
    Http,
    Tcp,
}

/// Health check with HAProxy's meaning of `interval`, `rise` and `fall`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    pub kind: CheckKind,
    pub method: String,
    pub path: String,
    /// Status that passes; without it any 2xx or 3xx passes (as HAProxy).
    pub expect_status: Option<u16>,
    pub interval: Duration,
    /// Interval while a server is changing state (HAProxy `fastinter`; default: `interval`).
    pub fast_interval: Option<Duration>,
    /// Interval while a server is DOWN (HAProxy `downinter`; default: `interval`).
    pub down_interval: Option<Duration>,
    pub timeout: Duration,
    /// Consecutive successes that bring a DOWN server UP.
    pub rise: u32,
    /// Consecutive failures that take an UP server DOWN.
    pub fall: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            kind: CheckKind::Http,
            method: "GET".into(),
            path: "/".into(),
            expect_status: None,
            interval: Duration::from_secs(2),
            fast_interval: None,
            down_interval: None,
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StickyMode {
    /// Like HAProxy `cookie NAME insert indirect nocache`.
    #[default]
    Insert,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    pub cookie: String,
    #[serde(default)]
    pub mode: StickyMode,
}

/// One server of a backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub name: String,
    /// `HOST:PORT`.
    pub address: String,
    pub weight: u32,
    /// Most concurrent requests to this server (none: unlimited).
    pub maxconn: Option<u32>,
    /// Cookie value for sticky sessions (default: the server name).
    pub cookie: Option<String>,
    /// Starts in maintenance (takes no traffic).
    pub disabled: bool,
    /// Takes traffic only when no active server can.
    pub backup: bool,
    /// Health-checked when the backend has a health check (HAProxy: `check` on the server line).
    pub check: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: String::new(),
            weight: 1,
            maxconn: None,
            cookie: None,
            disabled: false,
            backup: false,
            check: true,
        }
    }
}

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn socket_addr(s: &str) -> bool {
    s.parse::<std::net::SocketAddr>().is_ok()
}

impl Layered for BalancerConfig {
    const ENV_PREFIX: &'static str = "NETPULSE_BALANCER_";

    fn validate(&self) -> Problems {
        let mut out = Problems::new();
        if self.server.threads == Some(0) {
            out.push((p(&["server", "threads"]), "must be at least 1".into()));
        }
        if !socket_addr(&self.stats.listen) {
            out.push((
                p(&["stats", "listen"]),
                format!("{:?} is not an IP:PORT address", self.stats.listen),
            ));
        }
        if !self.stats.uri.starts_with('/') {
            out.push((p(&["stats", "uri"]), "must start with '/'".into()));
        }
        let backends: HashSet<&str> = self.backends.iter().map(|b| b.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, b) in self.backends.iter().enumerate() {
            let i = i.to_string();
            let at = |k: &str| p(&["backends", &i, k]);
            if b.name.is_empty() || !names.insert(b.name.as_str()) {
                out.push((
                    at("name"),
                    format!("{:?}: backend names must be unique and non-empty", b.name),
                ));
            }
            if b.servers.is_empty() {
                out.push((at("servers"), "a backend needs at least one server".into()));
            }
            let mut servers = HashSet::new();
            for (j, s) in b.servers.iter().enumerate() {
                let j = j.to_string();
                let sat = |k: &str| p(&["backends", &i, "servers", &j, k]);
                if s.name.is_empty() || !servers.insert(s.name.as_str()) {
                    out.push((
                        sat("name"),
                        format!("{:?}: server names must be unique in a backend and non-empty", s.name),
                    ));
                }
                if !socket_addr(&s.address) {
                    out.push((sat("address"), format!("{:?} is not an IP:PORT address", s.address)));
                }
                if s.weight > 256 {
                    out.push((sat("weight"), "must be between 0 and 256".into()));
                }
            }
            if let Some(hc) = &b.health_check {
                if hc.rise == 0 || hc.fall == 0 {
                    out.push((
                        p(&["backends", &i, "health_check", "rise"]),
                        "rise and fall must be at least 1".into(),
                    ));
                }
                if hc.kind == CheckKind::Http && !hc.path.starts_with('/') {
                    out.push((
                        p(&["backends", &i, "health_check", "path"]),
                        "must start with '/'".into(),
                    ));
                }
                if hc.interval.get().is_zero() {
                    out.push((
                        p(&["backends", &i, "health_check", "interval"]),
                        "must be longer than 0s".into(),
                    ));
                }
            }
            if let Some(st) = &b.sticky
                && (st.cookie.is_empty()
                    || !st
                        .cookie
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            {
                out.push((
                    p(&["backends", &i, "sticky", "cookie"]),
                    "a cookie name of letters, digits, '_' or '-'".into(),
                ));
            }
        }
        let mut fnames = HashSet::new();
        for (i, f) in self.frontends.iter().enumerate() {
            let i = i.to_string();
            let at = |k: &str| p(&["frontends", &i, k]);
            if f.name.is_empty() || !fnames.insert(f.name.as_str()) {
                out.push((
                    at("name"),
                    format!("{:?}: frontend names must be unique and non-empty", f.name),
                ));
            }
            if f.listen.is_empty() {
                out.push((at("listen"), "at least one IP:PORT".into()));
            }
            for (j, l) in f.listen.iter().enumerate() {
                if !socket_addr(l) {
                    out.push((
                        p(&["frontends", &i, "listen", &j.to_string()]),
                        format!("{l:?} is not an IP:PORT address"),
                    ));
                }
            }
            if !backends.contains(f.backend.as_str()) {
                out.push((at("backend"), format!("no backend named {:?}", f.backend)));
            }
            for (j, r) in f.routes.iter().enumerate() {
                if r.path_prefix.is_empty() && r.when.is_empty() {
                    out.push((
                        p(&["frontends", &i, "routes", &j.to_string()]),
                        "a route needs path_prefix or at least one condition in `when`".into(),
                    ));
                }
                if !backends.contains(r.backend.as_str()) {
                    out.push((
                        p(&["frontends", &i, "routes", &j.to_string(), "backend"]),
                        format!("no backend named {:?}", r.backend),
                    ));
                }
            }
        }
        if let Some(sock) = &self.runtime.socket {
            if sock.is_empty() {
                out.push((p(&["runtime", "socket"]), "an empty path".into()));
            }
            if u32::from_str_radix(&self.runtime.mode, 8).is_err() {
                out.push((
                    p(&["runtime", "mode"]),
                    format!("{:?} is not an octal file mode", self.runtime.mode),
                ));
            }
        }
        if self.frontends.is_empty() {
            out.push((p(&["frontends"]), "at least one frontend".into()));
        }
        out.extend(crate::proxy_ids::problems(self));
        out
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use crate::load::Loader;

    #[test]
    fn conditions_match_like_haproxy_acls() {
        let c = |test, v: &[&str], negate, ignore_case| Condition {
            test,
            values: v.iter().map(|s| s.to_string()).collect(),
            negate,
            ignore_case,
        };
        assert!(c(Test::PathPrefix, &["/api", "/x"], false, false).holds("/x/1", "h"));
        assert!(!c(Test::PathPrefix, &["/API"], false, false).holds("/api/1", "h"));
        assert!(c(Test::PathPrefix, &["/API"], false, true).holds("/api/1", "h"));
        assert!(c(Test::Path, &["/a"], true, false).holds("/a/b", "h"));
        assert!(c(Test::Host, &["Grafana.example"], false, true).holds("/", "grafana.EXAMPLE"));
        let dom = c(Test::HostDomain, &["example.com"], false, true);
        assert!(dom.holds("/", "www.example.com:8080"));
        assert!(dom.holds("/", "example.com"));
        assert!(!dom.holds("/", "badexample.com"));
    }

    #[test]
    fn spec_example_loads_and_errors_name_lines() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "b.toml",
                r#"
[stats]
listen = "127.0.0.1:8404"

[[frontends]]
name = "influxdb"
listen = ["127.0.0.1:8086"]
backend = "influxdb"

[[backends]]
name = "influxdb"
health_check = { kind = "http", path = "/ping", expect_status = 204, interval = "2s", rise = 2, fall = 3 }
servers = [ { name = "a", address = "127.0.0.1:18086", weight = 1 }, { name = "b", address = "127.0.0.1:18087", weight = 2 } ]
sticky = { cookie = "SERVERID", mode = "insert" }
"#,
            )?;
            let cfg = Loader::<BalancerConfig>::new().file("b.toml").load().unwrap();
            assert_eq!(cfg.backends[0].servers[1].weight, 2);
            assert_eq!(cfg.backends[0].health_check.as_ref().unwrap().expect_status, Some(204));
            assert_eq!(cfg.backends[0].retries, 3);
            jail.create_file(
                "bad.toml",
                "[[frontends]]\nname = \"f\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"nope\"\n",
            )?;
            let err = Loader::<BalancerConfig>::new().file("bad.toml").load().unwrap_err();
            assert!(
                err.to_string()
                    .contains("bad.toml:4: `frontends[0].backend`: no backend named \"nope\""),
                "{err}"
            );
            jail.create_file(
                "ids.toml",
                "[[frontends]]\nname = \"f\"\nid = 3\nlisten = [\"127.0.0.1:1\"]\nbackend = \"b\"\n\n[[backends]]\nname = \"b\"\nid = 3\nservers = [ { name = \"s\", address = \"127.0.0.1:2\" } ]\n",
            )?;
            let err = Loader::<BalancerConfig>::new().file("ids.toml").load().unwrap_err();
            assert!(
                err.to_string()
                    .contains("ids.toml:9: `backends[0].id`: 3 is already the id of \"f\""),
                "{err}"
            );
            Ok(())
        });
    }
}
