//! The balancer's native configuration (docs/balancer-config.md): frontends, backends with
//! servers, health checks, stickiness, retries and timeouts, and the stats listener; each
//! default is given or resolved here once (the translator of haproxy.cfg uses these too).

mod backend;
mod frontend;

pub use backend::{
    Backend, BackendTimeouts, Balance, CheckKind, HealthCheck, Mirror, ServerConfig, Sticky, StickyMode,
};
pub use frontend::{Condition, Frontend, FrontendTimeouts, Route, Test, Tls};

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
