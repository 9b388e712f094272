//! The balancer's native configuration (docs/balancer-config.md): frontends, backends with
//! servers, health checks, stickiness, retries and timeouts, and the stats listener; each
//! default is given or resolved here once (the translator of haproxy.cfg uses these too).

use crate::units::{Duration, Secret};
use serde::{Deserialize, Serialize};

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

impl ServerSection {
    /// `threads`, or one worker per core.
    pub fn worker_threads(&self) -> usize {
        (self.threads).unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
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

impl FrontendTimeouts {
    /// The idle limit between kept-alive requests: `http_keep_alive`, else `http_request`.
    pub fn keep_alive(&self) -> Duration {
        self.http_keep_alive.unwrap_or(self.http_request)
    }
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

impl BackendTimeouts {
    /// The longest wait in the backend queue: `queue`, else `connect`.
    pub fn queue(&self) -> Duration {
        self.queue.unwrap_or(self.connect)
    }
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

impl HealthCheck {
    /// The check interval while a server is between states (`fast_interval`, else `interval`).
    pub fn interval_while_changing(&self) -> Duration {
        self.fast_interval.unwrap_or(self.interval)
    }

    /// The check interval while a server is DOWN (`down_interval`, else `interval`).
    pub fn interval_while_down(&self) -> Duration {
        self.down_interval.unwrap_or(self.interval)
    }
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

impl ServerConfig {
    /// The sticky cookie value naming this server: `cookie`, else its name.
    pub fn cookie_value(&self) -> &str {
        self.cookie.as_deref().unwrap_or(&self.name)
    }
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use crate::load::Loader;

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
