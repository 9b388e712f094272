//! `[[outputs.influxdb]]`: one block per InfluxDB replica (every replica gets every point),
//! its API (v1 or v2), credentials, durable queue and batching.

use crate::units::{ByteSize, Duration, Secret};
use serde::{Deserialize, Serialize};

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
    /// Shown with a password in its user part redacted.
    #[serde(serialize_with = "crate::units::serialize_redacted_url")]
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
