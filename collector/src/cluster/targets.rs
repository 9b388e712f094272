//! Targets added (`PUT /targets/NAME`) and removed (`DELETE /targets/NAME`) at run time.
//! Redis holds them (name → the target as JSON) with a version token that every change
//! replaces; each replica compares the token at each heartbeat and reloads when it differs,
//! so every replica sees a change within one heartbeat. A Redis that lost them (restarted
//! empty) is re-seeded from the replicas' copies.

use super::Cluster;
use super::store::StoreError;

impl Cluster {
    /// The run-time targets as (name, JSON).
    pub fn runtime_targets(&self) -> Vec<(String, String)> {
        self.shared()
            .runtime
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn new_version(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos:x}", self.id)
    }

    /// Stores `json` (one target, already validated) as `name`, for every replica.
    pub async fn put_target(&self, name: &str, json: String) -> Result<(), StoreError> {
        self.change(vec![(name.to_string(), Some(json))]).await
    }

    /// Removes `name`; false when it was not a run-time target.
    pub async fn delete_target(&self, name: &str) -> Result<bool, StoreError> {
        if !self.shared().runtime.contains_key(name) {
            return Ok(false);
        }
        self.change(vec![(name.to_string(), None)]).await.map(|()| true)
    }

    async fn change(&self, changes: Vec<(String, Option<String>)>) -> Result<(), StoreError> {
        let version = self.new_version();
        self.store.set_targets(&changes, &version).await?;
        {
            let mut s = self.view.write().unwrap_or_else(|p| p.into_inner());
            for (name, json) in changes {
                match json {
                    Some(j) => s.runtime.insert(name, j),
                    None => s.runtime.remove(&name),
                };
            }
            s.runtime_version = version;
            s.persist();
        }
        self.targets_changed.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Follows the version token a heartbeat saw.
    pub(super) async fn sync_targets(&self, seen: &str) {
        let (mine, local) = {
            let s = self.shared();
            (s.runtime_version.clone(), s.runtime.clone())
        };
        if seen == mine {
            return;
        }
        if seen == "0" {
            if !local.is_empty() {
                tracing::warn!(
                    targets = local.len(),
                    "Redis has no run-time targets: writing ours back"
                );
                let all: Vec<_> = local.into_iter().map(|(k, v)| (k, Some(v))).collect();
                if let Err(e) = self.store.set_targets(&all, &mine).await {
                    self.unreachable(&e);
                }
            }
            return;
        }
        match self.store.targets().await {
            Ok((version, map)) => {
                {
                    let mut s = self.view.write().unwrap_or_else(|p| p.into_inner());
                    s.runtime = map;
                    s.runtime_version = version;
                    s.persist();
                }
                self.targets_changed.send_modify(|g| *g += 1);
            }
            Err(e) => self.unreachable(&e),
        }
    }
}
