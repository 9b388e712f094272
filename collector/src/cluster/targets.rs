//! Targets added (`PUT /targets/NAME`) and removed (`DELETE /targets/NAME`) at run time.
//! Redis holds them (name → the target as JSON) with a version number that every change
//! increments in the same script: Redis orders the changes, and its answer decides created
//! or replaced, deleted or not found — so the answers are linearizable per name whichever
//! replica took them. A replica applies its own changes at once (in Redis's order: one
//! change at a time, `changing`), and the others' when a heartbeat shows a version it has
//! not seen (within one heartbeat). A Redis that lost them (restarted empty) is re-seeded
//! from the replicas' copies.

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

    /// Held while a change is stored and applied, and while another replica's changes are
    /// applied: this replica applies changes in the order Redis took them.
    pub async fn changing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// Stores `json` (one target, already validated) as `name`, for every replica; whether
    /// it existed. The caller holds `changing` until it has applied the change.
    pub async fn put_target(&self, name: &str, json: String) -> Result<bool, StoreError> {
        self.change(name, Some(json)).await
    }

    /// Removes `name`; false when it was not a run-time target (Redis decides).
    pub async fn delete_target(&self, name: &str) -> Result<bool, StoreError> {
        self.change(name, None).await
    }

    async fn change(&self, name: &str, json: Option<String>) -> Result<bool, StoreError> {
        let (version, existed) = self.store.set_targets(&[(name.to_string(), json.clone())]).await?;
        let mut s = self.view.write().unwrap_or_else(|p| p.into_inner());
        match json {
            Some(j) => s.runtime.insert(name.to_string(), j),
            None => s.runtime.remove(name),
        };
        // Another replica's change in between: ours is applied, theirs is fetched at the
        // next heartbeat (a version we do not hold makes it fetch).
        s.runtime_version = if version == s.runtime_version + 1 { version } else { 0 };
        s.runtime_seq += 1;
        s.dirty = true;
        Ok(existed.first().copied().unwrap_or(false))
    }

    /// Follows the version a heartbeat saw.
    pub(super) async fn sync_targets(&self, seen: u64) {
        let (mine, seq, local) = {
            let s = self.shared();
            (s.runtime_version, s.runtime_seq, s.runtime.clone())
        };
        if seen == mine && seen != 0 {
            return;
        }
        if seen == 0 {
            if !local.is_empty() {
                tracing::warn!(
                    targets = local.len(),
                    "Redis has no run-time targets: writing ours back"
                );
                let _held = self.changing().await;
                let all: Vec<_> = local.into_iter().map(|(k, v)| (k, Some(v))).collect();
                match self.store.set_targets(&all).await {
                    Ok((v, _)) => self.view.write().unwrap_or_else(|p| p.into_inner()).runtime_version = v,
                    Err(e) => self.trouble(&e),
                }
            }
            return;
        }
        match self.store.targets().await {
            Ok((version, map)) => {
                {
                    let mut s = self.view.write().unwrap_or_else(|p| p.into_inner());
                    if s.runtime_seq != seq {
                        return; // a change of ours landed meanwhile: fetch again next beat
                    }
                    s.runtime = map;
                    s.runtime_version = version;
                    s.dirty = true;
                }
                self.targets_changed.send_modify(|g| *g += 1);
            }
            Err(e) => self.trouble(&e),
        }
    }
}
