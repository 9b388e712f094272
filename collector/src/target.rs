//! A target ready to poll: its config resolved against defaults and the module registry.

use crate::lineproto::Name;
use crate::modules::Module;
use crate::profiles::{Matched, Profiles};
use crate::rates::RateTracker;
use crate::registry::Registry;
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
    /// The device profile (`profile`): its modules, vendor metrics and quirks join the poll.
    pub profile: ProfileChoice,
    /// Settings the target sets itself: a profile's quirks give way to them.
    pub own: OwnSettings,
}

/// Which of the settings a profile's quirks also set the target has set itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnSettings {
    pub max_repetitions: bool,
    pub timeout: bool,
}

/// A target's profile: none, fixed by name, or chosen by sysObjectID at the first poll that
/// reads it (kept for the target's life; a reload chooses again).
#[derive(Clone)]
pub enum ProfileChoice {
    None,
    Fixed(Matched),
    Auto {
        profiles: Arc<Profiles>,
        chosen: Arc<Mutex<Option<Matched>>>,
    },
}

impl ProfileChoice {
    /// The profile, if known yet.
    pub fn matched(&self) -> Option<Matched> {
        match self {
            ProfileChoice::None => None,
            ProfileChoice::Fixed(m) => Some(m.clone()),
            ProfileChoice::Auto { chosen, .. } => chosen.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// What `/targets` shows: the profile's name, `auto` until the first answer, or `none`.
    pub fn name(&self) -> String {
        match (self, self.matched()) {
            (_, Some(m)) => m.profile.name.clone(),
            (ProfileChoice::None, _) => "none".into(),
            _ => "auto".into(),
        }
    }
}

impl std::fmt::Debug for ProfileChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
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
        let security = security(tc);
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
        let profiles = registry.profiles();
        let profile = match tc.profile.as_str() {
            "none" => ProfileChoice::None,
            "auto" | "" => ProfileChoice::Auto {
                profiles,
                chosen: Arc::default(),
            },
            name => ProfileChoice::Fixed(Matched {
                profile: profiles.get(name).ok_or_else(|| format!("unknown profile {name:?}"))?,
                why: "set by the target's `profile`".into(),
            }),
        };
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
                no_getbulk: false,
            },
            deadline: tc.poll_deadline.unwrap_or(snmp.poll_deadline).get(),
            interval: tc.interval.unwrap_or(cfg.collector.interval).get(),
            rates: tc.rates.then(|| Arc::new(Mutex::new(RateTracker::default()))),
            profile,
            own: OwnSettings {
                max_repetitions: tc.max_repetitions.is_some(),
                timeout: tc.timeout.is_some(),
            },
        })
    }

    /// The target as one poll runs it, once its profile is known: the profile's modules
    /// after the target's own, its vendor metrics, and its quirks where the target sets none.
    pub fn with_profile(&self, m: &Matched) -> Target {
        let p = &m.profile;
        let mut t = self.clone();
        for module in p.modules.iter().chain([&p.module]) {
            if !t.modules.iter().any(|x| x.name == module.name) {
                t.modules.push(module.clone());
            }
        }
        let q = p.quirks;
        if let (Some(r), false) = (q.max_repetitions, self.own.max_repetitions) {
            t.limits.max_repetitions = r;
        }
        // `[snmp] max_varbinds_per_request` has no per-target key: the quirk only lowers it.
        if let Some(v) = q.max_varbinds.filter(|v| *v < t.limits.max_varbinds) {
            t.limits.max_varbinds = v;
            t.policy.max_varbinds = v;
        }
        if let (Some(d), false) = (q.timeout, self.own.timeout) {
            t.policy.timeout = d.get();
        }
        t.limits.allow_non_increasing |= q.allow_non_increasing.unwrap_or(false);
        t.limits.no_getbulk |= q.no_getbulk.unwrap_or(false);
        t
    }
}

/// How a target (or a discovery credential) proves who we are, from its version and keys.
pub fn security(tc: &TargetConfig) -> TargetSecurity {
    match tc.version {
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
    }
}
