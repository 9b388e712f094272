//! `[[backends]]`: the balancing algorithm, retries, timeouts, health check, sticky cookie
//! and servers of each backend, with their defaults.

use crate::units::{ByteSize, Duration};
use serde::{Deserialize, Serialize};

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
    /// Every server gets every request, through a durable queue per server (InfluxDB writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Mirror>,
    pub servers: Vec<ServerConfig>,
}

/// `mirror = { … }`: requests routed to the backend are queued on disk for every server and
/// answered `204` once every queue holds them durably; one writer per server delivers its
/// queue in order (docs/balancer-config.md, "Write mirroring").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mirror {
    /// Queues live in `queue_dir/<backend>/<server>`.
    pub queue_dir: String,
    /// Bound of each server's queue on disk; a write that does not fit gets `503`.
    pub queue_max_bytes: ByteSize,
    /// Largest request body accepted (after gzip decoding); larger gets `413`.
    pub max_body: ByteSize,
    /// Parse every line as line protocol (a bad one: `400`, nothing queued) and give lines
    /// without a timestamp the time of arrival, so every server stores the same point.
    pub validate: bool,
    /// Most points per write request to a server.
    pub batch_size: u64,
    /// How long a server's writer lets a small batch fill.
    pub flush_interval: Duration,
    /// How long a server's writer waits, its breaker open, before trying again: short, since
    /// the server's queue is waiting (the collector's outputs use `[circuit_breaker]`).
    pub recovery_timeout: Duration,
}

impl Default for Mirror {
    fn default() -> Self {
        Self {
            queue_dir: "/var/lib/netpulse/mirror".into(),
            queue_max_bytes: ByteSize(1 << 30),
            // InfluxDB 1.x's own default `max-body-size`.
            max_body: ByteSize(25_000_000),
            validate: true,
            batch_size: 5000,
            flush_interval: Duration::from_millis(100),
            recovery_timeout: Duration::from_secs(5),
        }
    }
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
            mirror: None,
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
