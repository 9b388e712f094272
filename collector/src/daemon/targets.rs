//! The daemon's target list: the config file's targets, those of the target sources
//! (`[targets_from]`: files, HTTP SD) and, in cluster mode, those added at run time
//! (`PUT /targets/NAME`, kept in Redis); reloads (SIGHUP, a source's change, a run-time change)
//! swap targets while polls in flight finish on the definition they started with.

use super::Core;
use super::state::Entry;
use crate::breaker::Breaker;
use crate::metrics::METRICS;
use crate::registry::Registry;
use crate::target::Target;
use netpulse_config::{CollectorConfig, Layered, TargetConfig};
use std::sync::Arc;

/// Every target: the config's, the sources' (already merged: no name twice), then the
/// run-time ones (a run-time target never shadows a config-file or source target).
pub(super) fn build(
    cfg: &CollectorConfig,
    sources: &[TargetConfig],
    runtime: &[(String, String)],
    registry: &Registry,
) -> Result<Vec<Target>, String> {
    let mut targets = (cfg.targets.iter().chain(sources))
        .map(|t| Target::from_config(t, cfg, registry).map_err(|e| format!("target {}: {e}", t.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let taken: std::collections::HashSet<&str> = targets.iter().map(|t| &*t.name).collect();
    let mut more = vec![];
    for (name, json) in runtime {
        if taken.contains(name.as_str()) {
            continue;
        }
        match runtime_target(json, cfg, registry) {
            Ok(t) => more.push(t),
            Err(e) => tracing::error!(target = %name, error = %e, "run-time target ignored"),
        }
    }
    targets.extend(more);
    Ok(targets)
}

/// A run-time target as Redis holds it (its JSON), built for polling.
fn runtime_target(json: &str, cfg: &CollectorConfig, registry: &Registry) -> Result<Target, String> {
    let tc = serde_json::from_str::<TargetConfig>(json).map_err(|e| e.to_string())?;
    Target::from_config(&tc, cfg, registry)
}

/// Inserts `t`, or replaces the target of its name (keeping its counter history); true when
/// it replaced one.
fn upsert(map: &mut std::collections::BTreeMap<String, Arc<Entry>>, mut t: Target, cfg: &CollectorConfig) -> bool {
    match map.get(&*t.name) {
        Some(entry) => {
            let mut slot = entry.target.write().unwrap_or_else(|p| p.into_inner());
            if let (Some(_), Some(old_rates)) = (&t.rates, &slot.rates) {
                t.rates = Some(old_rates.clone()); // keep counter history across reloads
            }
            *slot = Arc::new(t);
            true
        }
        None => {
            map.insert(
                t.name.to_string(),
                Arc::new(Entry::new(t, Breaker::new(&cfg.circuit_breaker))),
            );
            false
        }
    }
}

/// What a run-time change needs of the configuration, cheap to read: the names of the
/// config-file and source targets, and the configuration without its targets.
pub(super) struct ConfigIndex {
    pub names: std::collections::HashSet<String>,
    pub bare: CollectorConfig,
}

impl ConfigIndex {
    pub fn of(cfg: &CollectorConfig, sources: &[TargetConfig]) -> Self {
        let mut bare = cfg.clone();
        let targets = std::mem::take(&mut bare.targets);
        Self {
            names: targets
                .into_iter()
                .chain(sources.iter().cloned())
                .map(|t| t.name)
                .collect(),
            bare,
        }
    }
}

/// Why a run-time target was refused: the field at fault and the problem.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: Option<String>,
    pub message: String,
    /// The name is a config-file target's (409, not 400).
    pub conflict: bool,
}

/// Why a run-time target was not stored.
#[derive(Debug)]
pub enum PutError {
    Invalid(Invalid),
    Store(crate::cluster::store::StoreError),
}

impl Invalid {
    fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
            conflict: false,
        }
    }
}

impl Core {
    /// Applies a new configuration: targets added, removed or changed; in-flight polls
    /// finish on the target they started with. Outputs change only with a restart.
    pub fn reload(&self, cfg: CollectorConfig, registry: &Registry) -> Result<(usize, usize, usize), String> {
        let runtime = self.cluster.as_ref().map(|c| c.runtime_targets()).unwrap_or_default();
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner()).clone();
        let targets = build(&cfg, &sources, &runtime, registry)?;
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(registry.clone());
        let old = self.config();
        let outputs = |c: &CollectorConfig| {
            c.outputs
                .influxdb
                .iter()
                .map(|o| (o.name.clone(), o.url.clone()))
                .collect::<Vec<_>>()
        };
        if outputs(&old) != outputs(&cfg) {
            tracing::warn!("output changes take effect after a restart; the running outputs stay");
        }
        let (mut added, mut changed) = (0, 0);
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ConfigIndex::of(&cfg, &sources));
        let mut map = self.targets.write().unwrap_or_else(|p| p.into_inner());
        let names: std::collections::HashSet<String> = targets.iter().map(|t| t.name.to_string()).collect();
        let removed = map.keys().filter(|n| !names.contains(*n)).count();
        map.retain(|n, e| {
            let keep = names.contains(n);
            if !keep {
                e.retire();
            }
            keep
        });
        for t in targets {
            match upsert(&mut map, t, &cfg) {
                true => changed += 1,
                false => added += 1,
            }
        }
        METRICS.targets.set(map.len() as i64);
        drop(map);
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
        self.generation.send_modify(|g| *g += 1);
        Ok((added, removed, changed))
    }

    /// Applies one run-time change (this replica's `PUT`/`DELETE`, in Redis's order): the
    /// one target built, inserted or retired — no rebuild of the others.
    pub fn apply_runtime_change(&self, name: &str, json: Option<&str>) -> Result<(), String> {
        if self.is_config_target(name) {
            return Ok(()); // a run-time target never shadows a config-file target
        }
        let built = match json {
            None => None,
            Some(j) => {
                let cfg = self.config();
                let registry = self.registry.read().unwrap_or_else(|p| p.into_inner()).clone();
                Some((runtime_target(j, &cfg, &registry)?, cfg))
            }
        };
        let mut map = self.targets.write().unwrap_or_else(|p| p.into_inner());
        match built {
            None => {
                if let Some(e) = map.remove(name) {
                    e.retire();
                }
            }
            Some((t, cfg)) => {
                upsert(&mut map, t, &cfg);
            }
        }
        METRICS.targets.set(map.len() as i64);
        drop(map);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Replaces the target sources' merged list (files, HTTP SD) and applies it as a reload
    /// of the running configuration would.
    pub fn set_source_targets(&self, list: Vec<TargetConfig>) -> Result<(usize, usize, usize), String> {
        let previous = std::mem::replace(
            &mut *self.sources.write().unwrap_or_else(|p| p.into_inner()),
            Arc::new(list),
        );
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner()).clone();
        let result = self.reload((*self.config()).clone(), &registry);
        if result.is_err() {
            *self.sources.write().unwrap_or_else(|p| p.into_inner()) = previous;
        }
        result
    }

    /// `PUT /targets/NAME` (and discovery in cluster mode): `body` checked, stored in Redis
    /// and applied here before returning; true when it replaced a target of that name.
    pub async fn put_runtime_target(
        &self,
        c: &crate::cluster::Cluster,
        name: &str,
        body: &[u8],
    ) -> Result<bool, PutError> {
        let json = self.check_runtime_target(name, body).map_err(PutError::Invalid)?;
        let _held = c.changing().await;
        let existed = c.put_target(name, json.clone()).await.map_err(PutError::Store)?;
        if let Err(e) = self.apply_runtime_change(name, Some(&json)) {
            tracing::error!(target = %name, error = %e, "run-time target stored but not applied");
        }
        Ok(existed)
    }

    /// Applies the run-time targets the cluster holds now.
    pub fn apply_runtime_targets(&self) {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner()).clone();
        match self.reload((*self.config()).clone(), &registry) {
            Ok((added, removed, changed)) => tracing::info!(added, removed, changed, "run-time targets applied"),
            Err(e) => tracing::error!(error = %e, "run-time targets not applied"),
        }
    }

    /// Whether `name` is a target of the configuration file (run-time changes leave it alone).
    pub fn is_config_target(&self, name: &str) -> bool {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .names
            .contains(name)
    }

    /// Checks `body` (one `[[targets]]` entry as JSON) as target `name`; the JSON to store.
    pub fn check_runtime_target(&self, name: &str, body: &[u8]) -> Result<String, Invalid> {
        let cfg = self.config();
        if self.is_config_target(name) {
            return Err(Invalid {
                field: None,
                message: format!("{name:?} is a target of the configuration or a targets file; change it there"),
                conflict: true,
            });
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        let mut tc: TargetConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            Invalid {
                field: (path != ".").then_some(path),
                message: format!("invalid target: {}", e.inner()),
                conflict: false,
            }
        })?;
        if tc.name.is_empty() {
            tc.name = name.to_string();
        } else if tc.name != name {
            return Err(Invalid::at(
                "name",
                format!("{:?} differs from the name in the path ({name:?})", tc.name),
            ));
        }
        // The configuration without its targets (cached): checking one target costs the
        // same with 10 targets or 10,000.
        let mut one = self.index.read().unwrap_or_else(|p| p.into_inner()).bare.clone();
        one.targets = vec![tc.clone()];
        if let Some((key, problem)) =
            (Layered::validate(&one).into_iter()).find(|(k, _)| k.first().map(String::as_str) == Some("targets"))
        {
            return Err(Invalid::at(key[2..].join("."), problem));
        }
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner()).clone();
        Target::from_config(&tc, &cfg, &registry).map_err(|e| Invalid::at("modules", e))?;
        // The body as sent (re-serializing would print secrets as `***`), with its name.
        let mut v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Invalid::at("", e.to_string()))?;
        v["name"] = name.into();
        Ok(v.to_string())
    }
}
