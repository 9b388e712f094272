//! `[traps]`: the SNMP trap and inform receiver (docs/traps.md).

use super::target::{AuthProtocol, PrivProtocol, UsmKey};
use crate::units::{ByteSize, Duration, Secret};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrapsConfig {
    /// UDP listen addresses (`IP:PORT`, IPv6 in brackets).
    pub listen: Vec<String>,
    /// v1/v2c communities accepted; empty: v1/v2c traps are refused. Shown as `***`.
    pub communities: Vec<Secret>,
    /// This receiver's SNMPv3 engine id (hex, `0x…`), used by v3 informs; unset: derived from
    /// the replica id, so it stays the same across restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_id: Option<String>,
    /// Cluster mode: a trap received by several replicas within this window is written once.
    pub dedup_window: Duration,
    /// Notifications (names or dotted OIDs) from a configured target that trigger an immediate
    /// poll of it.
    pub poll_on: Vec<String>,
    pub rate_limit: TrapRateLimit,
    /// Each socket's kernel receive buffer: what absorbs a burst while the process is busy
    /// elsewhere. Beyond `net.core.rmem_max` only with CAP_NET_ADMIN (the kernel caps it).
    pub receive_buffer: ByteSize,
    /// SNMPv3 users (traps: keys localized to the sender's engine; informs: to ours).
    pub users: Vec<TrapUser>,
    /// Names of notifications beyond the built-in set.
    pub names: Vec<TrapName>,
}

impl Default for TrapsConfig {
    fn default() -> Self {
        Self {
            listen: vec!["0.0.0.0:162".into(), "[::]:162".into()],
            communities: vec![Secret::new("public")],
            engine_id: None,
            dedup_window: Duration::from_secs(10),
            poll_on: vec!["linkDown".into(), "linkUp".into()],
            rate_limit: TrapRateLimit::default(),
            receive_buffer: ByteSize(32 << 20),
            users: vec![],
            names: vec![],
        }
    }
}

/// Traps per second per sending address (a token bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrapRateLimit {
    pub per_source: u32,
    pub burst: u32,
}

impl Default for TrapRateLimit {
    fn default() -> Self {
        Self {
            per_source: 1000,
            burst: 5000,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrapUser {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<UsmKey<AuthProtocol>>,
    #[serde(rename = "priv", skip_serializing_if = "Option::is_none")]
    pub privacy: Option<UsmKey<PrivProtocol>>,
    /// Accept this user only from this sender engine (hex, `0x…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrapName {
    pub oid: String,
    pub name: String,
}

/// A notification's name is a tag value: no spaces, commas or '='.
pub fn trap_name_ok(name: &str) -> bool {
    !name.is_empty() && !name.contains([' ', ',', '='])
}

/// `0x8000…` or `8000…` → bytes (an engine id is 5 to 32 octets).
pub fn engine_id_bytes(s: &str) -> Option<Vec<u8>> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if !hex.len().is_multiple_of(2) || !(10..=64).contains(&hex.len()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}
