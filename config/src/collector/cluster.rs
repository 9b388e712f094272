//! `[cluster]`: collector replicas sharing their targets through Redis (docs/cluster.md).

use crate::units::{Duration, Secret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://[:password@]host:port/db` (env `REDIS_URL`); shown as `***`.
    pub redis_url: Secret,
    /// This replica's stable name (default: the host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    /// How often this replica renews its membership and reads the others'.
    pub heartbeat: Duration,
    /// A replica silent this long is dead; its targets move to the survivors.
    pub member_ttl: Duration,
    /// Longest wait for one Redis command; Redis never stalls polling for longer.
    pub redis_timeout: Duration,
    /// Prefix of every key, so several fleets can share one Redis.
    pub key_prefix: String,
    /// Where the last known membership and run-time targets are kept for a start while Redis
    /// is unreachable.
    pub state_dir: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: Secret::new("redis://127.0.0.1:6379/0"),
            replica_id: None,
            heartbeat: Duration::from_secs(2),
            member_ttl: Duration::from_secs(10),
            redis_timeout: Duration::from_millis(500),
            key_prefix: "netpulse".into(),
            state_dir: "/var/lib/netpulse/cluster".into(),
        }
    }
}
