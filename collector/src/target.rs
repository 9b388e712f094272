//! A target ready to poll: its config resolved against defaults and the module registry.

use crate::lineproto::Name;
use crate::modules::{Module, Registry};
use crate::rates::RateTracker;
use crate::snmp::walk::WalkLimits;
use crate::snmp::{RequestPolicy, TargetSecurity};
use netpulse_config::{CollectorConfig, SnmpVersion, TargetAddress, TargetConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Target {
    pub name: Name,
    pub address: TargetAddress,
    pub security: TargetSecurity,
    pub modules: Vec<Arc<Module>>,
    /// `target`, `agent_host` and the configured tags.
    pub tags: Vec<(Name, Name)>,
    pub policy: RequestPolicy,
    pub limits: WalkLimits,
    pub deadline: Duration,
    /// Poll period (target override or `[collector] interval`).
    pub interval: Duration,
    /// Counter rate state, when `rates = true` (kept across reloads by the daemon).
    pub rates: Option<Arc<Mutex<RateTracker>>>,
}

impl Target {
    /// The only way to make a target: `tc` resolved against the collector's SNMP defaults
    /// and interval. Errors are for a config that passed validation but names an unknown
    /// module (or a target added at run time with a bad address).
    pub fn from_config(tc: &TargetConfig, cfg: &CollectorConfig, registry: &Registry) -> Result<Self, String> {
        let snmp = &cfg.snmp;
        let address = TargetAddress::parse(&tc.address)?;
        let modules = tc
            .modules
            .iter()
            .map(|m| registry.get(m).ok_or_else(|| format!("unknown module {m:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let security = match tc.version {
            SnmpVersion::V3 => TargetSecurity::Usm {
                user: tc.user.clone().unwrap_or_default(),
                auth: tc.auth.as_ref().map(|k| (k.protocol, k.password.clone())),
                privacy: tc.privacy.as_ref().map(|k| (k.protocol, k.password.clone())),
                context: tc.context.clone(),
            },
            v => TargetSecurity::Community {
                version: v,
                community: tc.community.clone().unwrap_or_default(),
            },
        };
        let mut tags: Vec<(Name, Name)> = vec![
            ("target".into(), tc.name.as_str().into()),
            ("agent_host".into(), address.host.as_str().into()),
        ];
        tags.extend(
            tc.tags
                .iter()
                .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str()))),
        );
        let max_varbinds = snmp.max_varbinds_per_request as usize;
        Ok(Self {
            name: tc.name.as_str().into(),
            address,
            security,
            modules,
            tags,
            policy: RequestPolicy {
                timeout: tc.timeout.unwrap_or(snmp.timeout).get(),
                retries: tc.retries.unwrap_or(snmp.retries),
                max_varbinds,
            },
            limits: WalkLimits {
                max_varbinds,
                max_repetitions: tc.max_repetitions.unwrap_or(snmp.max_repetitions),
                max_rows: tc.walk_limit,
                allow_non_increasing: tc.allow_non_increasing,
            },
            deadline: tc.poll_deadline.unwrap_or(snmp.poll_deadline).get(),
            interval: tc.interval.unwrap_or(cfg.collector.interval).get(),
            rates: tc.rates.then(|| Arc::new(Mutex::new(RateTracker::default()))),
        })
    }
}
