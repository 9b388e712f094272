//! The collector's configuration tree (docs/collector-config.md). Every field's doc comment is its
//! reference entry; every default lives in the `Default` impls here and nowhere else.

mod cluster;
mod defaults;
mod discovery;
mod outputs;
mod sources;
mod target;
mod traps;

pub use cluster::ClusterConfig;
pub use defaults::{TargetDefaults, target_with};
pub use discovery::DiscoveryConfig;
pub use outputs::{InfluxApi, InfluxOutput, Outputs};
pub use sources::{HttpSd, TargetsFrom, read_targets_file};
pub use target::{AuthProtocol, PrivProtocol, SnmpVersion, TargetAddress, TargetConfig, UsmKey};
pub use traps::{TrapName, TrapRateLimit, TrapUser, TrapsConfig, engine_id_bytes, trap_name_ok};

use crate::units::{ByteSize, Duration, Secret};
use serde::{Deserialize, Serialize};

/// The whole collector configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    pub collector: CollectorSection,
    pub snmp: SnmpDefaults,
    pub api: ApiConfig,
    pub circuit_breaker: CircuitBreakerConfig,
    pub http_pool: HttpPoolConfig,
    pub outputs: Outputs,
    /// Cluster mode: replicas share the targets through Redis. Absent: standalone, every
    /// configured target is polled by this process (env `REDIS_URL` turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// The SNMP trap and inform receiver. Absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traps: Option<TrapsConfig>,
    /// Targets from watched files and an HTTP SD inventory, changed without a restart.
    pub targets_from: TargetsFrom,
    /// Sweeps of address ranges whose devices become targets. Absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryConfig>,
    /// User-defined modules, usable by name in `targets[].modules`.
    pub modules: Vec<ModuleConfig>,
    pub targets: Vec<TargetConfig>,
}

/// `[collector]`: scheduling and concurrency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorSection {
    /// How often each target is polled.
    pub interval: Duration,
    /// Random spread added to each target's schedule so polls do not fire at once; unset:
    /// [`CollectorSection::jitter`] resolves it from the interval.
    pub jitter: Option<Duration>,
    /// Targets polled at the same time (env MAX_CONCURRENT_TARGETS).
    pub max_concurrent_targets: usize,
    /// SNMP requests in flight at the same time over all targets (env MAX_CONCURRENT_OPERATIONS).
    pub max_concurrent_operations: usize,
    /// Modules of one target polled concurrently (env BATCH_SIZE).
    pub batch_size: usize,
    /// Tokio worker threads for polling and encoding (env WORKER_POOL_SIZE).
    pub worker_pool_size: usize,
    /// Align point timestamps to the start of the interval (like Telegraf's round_interval),
    /// so two polls of a target in one interval overwrite instead of duplicating.
    pub round_interval: bool,
    /// How long `--once` tries to deliver queued points before exiting.
    pub flush_timeout: Duration,
    /// On SIGTERM/SIGINT: time to finish in-flight polls and flush queues before exiting.
    pub shutdown_grace: Duration,
    /// Identity of this replica in `/targets` (default: `[cluster] replica_id`, else the host name).
    pub replica_id: Option<String>,
    /// A folder of the user's device profiles (`*.toml`), beside the shipped ones; one named
    /// as a shipped profile replaces it.
    pub profiles_dir: Option<String>,
}

impl CollectorConfig {
    /// This replica's name: `[cluster] replica_id`, else `[collector] replica_id`, else the
    /// host name (stable names, such as compose service names or StatefulSet ordinals, give
    /// a restarted replica its old share of the targets).
    pub fn replica_id(&self) -> String {
        (self.cluster.as_ref().and_then(|c| c.replica_id.clone()))
            .or_else(|| self.collector.replica_id.clone())
            .unwrap_or_else(|| {
                std::env::var("HOSTNAME")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
                    .map_or_else(|| "netpulse".into(), |h| h.trim().to_string())
            })
    }
}

impl CollectorSection {
    /// The jitter in force: the configured one, else 5 s or a tenth of the interval if that
    /// is shorter (a 5 s interval must not need a jitter setting to be valid).
    pub fn jitter(&self) -> std::time::Duration {
        match self.jitter {
            Some(j) => j.get(),
            None => std::time::Duration::from_secs(5).min(self.interval.get() / 10),
        }
    }
}

impl Default for CollectorSection {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            jitter: None,
            max_concurrent_targets: 20,
            max_concurrent_operations: 50,
            batch_size: 5,
            worker_pool_size: 10,
            round_interval: false,
            flush_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            replica_id: None,
            profiles_dir: None,
        }
    }
}

/// `[snmp]`: protocol defaults every target inherits unless it sets its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnmpDefaults {
    /// Wait for one response before retrying.
    pub timeout: Duration,
    /// Retransmissions of one request after its timeout.
    pub retries: u32,
    /// Deadline for a whole poll of one target (all modules); a slow agent is cut off here.
    pub poll_deadline: Duration,
    /// GETBULK max-repetitions for table walks (rows per request, divided among columns).
    pub max_repetitions: u32,
    /// Most variable bindings asked for in one request (GET and GETBULK).
    pub max_varbinds_per_request: u32,
    /// UDP sockets shared by all targets (requests are matched by request-id / msgID).
    pub sockets: usize,
}

impl Default for SnmpDefaults {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            retries: 2,
            poll_deadline: Duration::from_secs(30),
            max_repetitions: 25,
            max_varbinds_per_request: 60,
            sockets: 4,
        }
    }
}

/// `[api]`: the HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: String,
    /// Bearer token required by `POST /collect` when set.
    pub token: Option<Secret>,
    /// Largest accepted request body.
    pub max_body_bytes: ByteSize,
    /// `POST /collect` polls running at once; more are answered 429 (scheduled polls keep their slots).
    pub max_concurrent_collects: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            token: None,
            max_body_bytes: ByteSize(64 * 1024),
            max_concurrent_collects: 16,
        }
    }
}

/// `[circuit_breaker]`: per target and per output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    pub failure_threshold: u32,
    pub recovery_timeout: Duration,
    pub success_threshold: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(60),
            success_threshold: 3,
        }
    }
}

/// `[http_pool]`: the HTTP client used by outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPoolConfig {
    pub max_connections: usize,
    pub max_connections_per_host: usize,
    pub keepalive_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl Default for HttpPoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 100,
            max_connections_per_host: 30,
            keepalive_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// `[[modules]]`: a user-defined module.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModuleConfig {
    pub name: String,
    /// Measurement name; defaults to the module name.
    pub measurement: Option<String>,
    /// Scalars fetched with GET (the `.0` instance is added when missing).
    pub scalars: Vec<ObjectConfig>,
    /// Table columns walked together; rows are joined by their index.
    pub columns: Vec<ObjectConfig>,
    /// Tag that carries the row index; defaults to "index".
    pub index_tag: Option<String>,
}

/// An object of a user module: a numeric OID or a built-in symbolic name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectConfig {
    pub oid: String,
    /// Field (or tag) name; defaults to the symbolic name.
    pub name: Option<String>,
    /// Emit as a tag instead of a field.
    pub tag: bool,
}
