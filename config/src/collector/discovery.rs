//! `[discovery]`: the daemon sweeps address ranges on an interval and adds the devices it
//! finds as targets (the `discover` command's sweep, run by the daemon).

use super::defaults::TargetDefaults;
use crate::units::Duration;
use serde::{Deserialize, Serialize};

/// `[discovery]`: ranges swept every `interval`; what answers is polled without a restart.
/// Found devices are added and updated, never removed (a device that stops answering keeps
/// its target: delete it with `DELETE /targets/NAME` or from the state file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Ranges swept (`10.0.0.0/24`, `fd00::/120`, single addresses).
    pub subnets: Vec<String>,
    /// Ranges never probed.
    pub exclude: Vec<String>,
    /// Time between sweeps (the first runs at start).
    pub interval: Duration,
    /// Requests per second over the whole sweep.
    pub rate: u32,
    /// UDP port asked on every address.
    pub port: u16,
    /// Wait for an answer (one try per credential).
    pub timeout: Duration,
    /// Credentials tried in order: `{ community = "…" }` (v2c unless `version` says 1) or
    /// `{ version = "3", user = "…", auth = …, priv = … }`.
    pub credentials: Vec<TargetDefaults>,
    /// Follow LLDP/CDP neighbours of the devices found, inside `subnets`.
    pub neighbors: bool,
    /// Keys the found targets take (modules, tags, interval…); their credential is the one
    /// that answered.
    pub defaults: TargetDefaults,
    /// Standalone: where the found targets are kept across restarts (`discovered.json`,
    /// private: it holds their credentials). In cluster mode they are run-time targets in Redis.
    pub state_dir: String,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            subnets: vec![],
            exclude: vec![],
            interval: Duration::from_secs(3600),
            rate: 200,
            port: 161,
            timeout: Duration::from_secs(1),
            credentials: vec![],
            neighbors: false,
            defaults: TargetDefaults::default(),
            state_dir: "/var/lib/netpulse/discovery".into(),
        }
    }
}
