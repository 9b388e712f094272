//! Defaults a target inherits from where it came from (a targets file's `[defaults]`,
//! `[targets_from] defaults`): each key given here fills a target that leaves it out.

use super::target::{AuthProtocol, PrivProtocol, SnmpVersion, TargetConfig, UsmKey};
use crate::units::{Duration, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A partial `[[targets]]` entry: the keys set here are given to every target of the source
/// that does not set them itself; `tags` are added key by key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<SnmpVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<UsmKey<AuthProtocol>>,
    #[serde(rename = "priv", skip_serializing_if = "Option::is_none")]
    pub privacy: Option<UsmKey<PrivProtocol>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

impl TargetDefaults {
    /// Whether these defaults set `key` (so a later, weaker source must not fill it).
    pub fn sets(&self, key: &str) -> bool {
        match key {
            "version" => self.version.is_some(),
            "community" => self.community.is_some(),
            "user" => self.user.is_some(),
            "auth" => self.auth.is_some(),
            "priv" => self.privacy.is_some(),
            "context" => self.context.is_some(),
            "modules" => self.modules.is_some(),
            "profile" => self.profile.is_some(),
            "rates" => self.rates.is_some(),
            "interval" => self.interval.is_some(),
            "timeout" => self.timeout.is_some(),
            "retries" => self.retries.is_some(),
            _ => false,
        }
    }

    /// Gives `t` every key set here that `set(key)` says the target (or a stronger source)
    /// did not set — credentials only those of its version —; tags are merged, the target's
    /// own winning.
    pub fn fill(&self, t: &mut TargetConfig, set: &dyn Fn(&str) -> bool) {
        fn give<T: Clone>(from: &Option<T>, key: &str, set: &dyn Fn(&str) -> bool, to: impl FnOnce(T)) {
            if let Some(v) = from
                && !set(key)
            {
                to(v.clone());
            }
        }
        give(&self.version, "version", set, |v| t.version = v);
        // Credentials go to the targets of their version only: a file of v2c devices with a
        // community in [defaults] may hold a v3 device, and the reverse.
        if t.version == SnmpVersion::V3 {
            give(&self.user, "user", set, |v| t.user = Some(v));
            give(&self.auth, "auth", set, |v| t.auth = Some(v));
            give(&self.privacy, "priv", set, |v| t.privacy = Some(v));
            give(&self.context, "context", set, |v| t.context = Some(v));
        } else {
            give(&self.community, "community", set, |v| t.community = Some(v));
        }
        give(&self.modules, "modules", set, |v| t.modules = v);
        give(&self.profile, "profile", set, |v| t.profile = v);
        give(&self.rates, "rates", set, |v| t.rates = v);
        give(&self.interval, "interval", set, |v| t.interval = Some(v));
        give(&self.timeout, "timeout", set, |v| t.timeout = Some(v));
        give(&self.retries, "retries", set, |v| t.retries = Some(v));
        for (k, v) in &self.tags {
            t.tags.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// A fresh target named `name` at `address` with `defaults` applied (HTTP SD entries, discovery).
pub fn target_with(name: String, address: String, defaults: &TargetDefaults) -> TargetConfig {
    let mut t = TargetConfig {
        name,
        address,
        ..TargetConfig::default()
    };
    defaults.fill(&mut t, &|_| false);
    t
}
