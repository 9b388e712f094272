//! The collector's configuration tree (docs/collector-config.md). Every field's doc comment is its
//! reference entry; every default lives in the `Default` impls here and nowhere else.

use crate::units::{ByteSize, Duration, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::collections::BTreeMap;
use std::fmt;

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
    /// Random spread added to each target's schedule so polls do not fire at once.
    pub jitter: Duration,
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
    /// Identity of this replica in `/targets` (default: the host name).
    pub replica_id: Option<String>,
}

impl Default for CollectorSection {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            jitter: Duration::from_secs(5),
            max_concurrent_targets: 20,
            max_concurrent_operations: 50,
            batch_size: 5,
            worker_pool_size: 10,
            round_interval: false,
            flush_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            replica_id: None,
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

/// `[outputs]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outputs {
    /// One block per InfluxDB replica: every replica receives every point.
    pub influxdb: Vec<InfluxOutput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// `/write?db=`
    #[default]
    V1,
    /// `/api/v2/write?org=&bucket=`
    V2,
}

/// `[[outputs.influxdb]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfluxOutput {
    pub name: String,
    pub url: String,
    pub api: InfluxApi,
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub org: Option<String>,
    pub bucket: Option<String>,
    pub token: Option<Secret>,
    pub queue_dir: String,
    pub queue_max_bytes: ByteSize,
    /// Most points in one write request.
    pub batch_size: u64,
    /// The daemon waits at most this long for a batch to fill before writing it.
    pub flush_interval: Duration,
}

impl Default for InfluxOutput {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            api: InfluxApi::V1,
            database: None,
            retention_policy: None,
            username: None,
            password: None,
            org: None,
            bucket: None,
            token: None,
            queue_dir: "/var/lib/netpulse/queue".into(),
            queue_max_bytes: ByteSize(1 << 30),
            batch_size: 5000,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// SNMP protocol version of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnmpVersion {
    V1,
    #[default]
    V2c,
    V3,
}

impl SnmpVersion {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().trim_start_matches('v') {
            "1" => Some(Self::V1),
            "2" | "2c" => Some(Self::V2c),
            "3" => Some(Self::V3),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2c => "2c",
            Self::V3 => "3",
        }
    }
}

impl Serialize for SnmpVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SnmpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = SnmpVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"1\", \"2c\" or \"3\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SnmpVersion, E> {
                SnmpVersion::parse(v)
                    .ok_or_else(|| E::custom(format!("unknown SNMP version {v:?}: use \"1\", \"2c\" or \"3\"")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SnmpVersion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SnmpVersion, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
    /// AES-192 with the Cisco/Reeder key extension (some vendors).
    Aes192c,
    /// AES-256 with the Cisco/Reeder key extension (some vendors).
    Aes256c,
}

/// A USM key: `{ protocol = "sha256", password = "..." }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsmKey<P> {
    pub protocol: P,
    pub password: Secret,
}

/// `[[targets]]`: one SNMP agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// Unique name; the `target` tag of every point.
    pub name: String,
    /// `udp://HOST[:PORT]`; HOST is IPv4, `[IPv6]` or a DNS name; PORT defaults to 161.
    pub address: String,
    pub version: SnmpVersion,
    /// v1/v2c community.
    pub community: Option<Secret>,
    /// v3 USM user name.
    pub user: Option<String>,
    pub auth: Option<UsmKey<AuthProtocol>>,
    #[serde(rename = "priv")]
    pub privacy: Option<UsmKey<PrivProtocol>>,
    /// v3 context name.
    pub context: Option<String>,
    pub modules: Vec<String>,
    /// Extra tags on every point of this target.
    pub tags: BTreeMap<String, String>,
    /// Add `<counter>_rate` fields (per second).
    pub rates: bool,
    /// Overrides `[collector] interval`.
    pub interval: Option<Duration>,
    /// Overrides `[snmp] timeout`.
    pub timeout: Option<Duration>,
    /// Overrides `[snmp] retries`.
    pub retries: Option<u32>,
    /// Overrides `[snmp] poll_deadline`.
    pub poll_deadline: Option<Duration>,
    /// Overrides `[snmp] max_repetitions`.
    pub max_repetitions: Option<u32>,
    /// Accept agents that return OIDs out of order (walks are then bounded by `walk_limit`).
    pub allow_non_increasing: bool,
    /// Most rows one table walk may return (a guard against looping agents).
    pub walk_limit: usize,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: String::new(),
            version: SnmpVersion::V2c,
            community: None,
            user: None,
            auth: None,
            privacy: None,
            context: None,
            modules: vec!["system".into(), "interfaces".into()],
            tags: BTreeMap::new(),
            rates: false,
            interval: None,
            timeout: None,
            retries: None,
            poll_deadline: None,
            max_repetitions: None,
            allow_non_increasing: false,
            walk_limit: 100_000,
        }
    }
}

/// A parsed `udp://host:port` target address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddress {
    /// Host as written, IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl TargetAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = match text.split_once("://") {
            Some(("udp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!("unsupported scheme {scheme:?} (only udp:// is supported)"));
            }
            None => text,
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("missing ']' after IPv6 address")?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("expected ':PORT' after ']'")?),
            };
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{h:?} is not an IPv6 address"))?;
            (h.to_string(), port)
        } else if rest.matches(':').count() > 1 {
            return Err("an IPv6 address must be written in brackets: udp://[2001:db8::1]:161".into());
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        let valid_host = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !valid_host {
            return Err(format!("{host:?} is not a valid host name or address"));
        }
        let port = match port {
            None => 161,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port {p:?}"))?,
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = TargetAddress::parse("udp://192.0.2.1:1161").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("192.0.2.1", 1161));
        let a = TargetAddress::parse("udp://[2001:db8::1]:161").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.to_string().as_str()),
            ("2001:db8::1", 161, "[2001:db8::1]:161")
        );
        assert_eq!(TargetAddress::parse("switch.example.net").unwrap().port, 161);
        assert!(TargetAddress::parse("tcp://x").unwrap_err().contains("scheme"));
        assert!(
            TargetAddress::parse("udp://2001:db8::1")
                .unwrap_err()
                .contains("brackets")
        );
        assert!(TargetAddress::parse("udp://h:99999").unwrap_err().contains("port"));
        assert!(TargetAddress::parse("udp://[zz]:1").is_err());
    }
}
