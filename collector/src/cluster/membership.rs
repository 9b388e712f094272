//! Membership: the heartbeat loop (renew, read every member, sync run-time targets, write
//! pending rate states), the member list the assignment uses, draining on a graceful stop,
//! and the last known share on disk for a start while Redis is unreachable.
//!
//! The assignment's member list changes only on a heartbeat that Redis answered, and after
//! an outage only once Redis has answered for `member_ttl` again: a replica that lost Redis
//! keeps its last known share (the shares of all replicas stay disjoint and cover every
//! target) and claims nothing of a member it could not see.

use super::metrics::METRICS;
use super::{Cluster, assign};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub use super::store::Member as MemberView;

/// The member view and what follows from it, behind the cluster's lock.
pub struct Shared {
    /// Every member in the last heartbeat reply (Redis time of that reply).
    pub seen: Vec<MemberView>,
    pub seen_at_ms: u64,
    /// The members the assignment is computed over.
    pub assign: Vec<String>,
    /// While an outage is not over: when Redis answered again (None: not yet).
    outage: Option<Option<Instant>>,
    pub draining_since: Option<Instant>,
    /// Run-time targets (name → JSON) and the version token they came with.
    pub runtime: BTreeMap<String, String>,
    pub runtime_version: String,
    file: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Persisted {
    members: Vec<String>,
    targets: BTreeMap<String, String>,
}

impl Shared {
    /// The persisted share of an earlier run, if any (a start without Redis uses it).
    pub fn load(dir: &str, me: &str) -> Self {
        let file = PathBuf::from(dir).join("cluster.json");
        let p: Persisted = (std::fs::read(&file).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut assign = p.members;
        if !assign.is_empty() && !assign.iter().any(|m| m == me) {
            assign.push(me.to_string());
        }
        assign.sort();
        Self {
            seen: vec![],
            seen_at_ms: 0,
            assign,
            outage: None,
            draining_since: None,
            runtime_version: if p.targets.is_empty() {
                "0".into()
            } else {
                "file".into()
            },
            runtime: p.targets,
            file,
        }
    }

    pub fn owns(&self, target: &str, me: &str, drain_window: Duration) -> bool {
        if self.draining_since.is_some_and(|d| d.elapsed() > drain_window) {
            return false;
        }
        // Nothing known (first start, Redis unreachable): poll everything rather than nothing.
        self.assign.is_empty() || assign::owner(target, &self.assign) == Some(me)
    }

    pub fn outage(&mut self, _now: Instant) {
        self.outage = Some(None);
    }

    /// A heartbeat Redis answered; returns whether the assignment changed.
    fn update(&mut self, view: super::store::View, me: &str, grace: Duration) -> bool {
        self.seen = view.members;
        self.seen_at_ms = view.now_ms;
        if let Some(back) = &mut self.outage {
            let since = *back.get_or_insert_with(Instant::now);
            if since.elapsed() < grace {
                return false;
            }
            tracing::info!("Redis has answered for {grace:?}: the assignment follows the members again");
            self.outage = None;
        }
        if self.draining_since.is_some() {
            return false;
        }
        let mut active: Vec<String> = (self.seen.iter())
            .filter(|m| !m.draining)
            .map(|m| m.id.clone())
            .collect();
        if !active.iter().any(|m| m == me) {
            active.push(me.to_string());
        }
        active.sort();
        if active == self.assign {
            return false;
        }
        self.assign = active;
        true
    }

    /// Best effort: a start without Redis falls back to polling everything without it.
    pub fn persist(&self) {
        let p = Persisted {
            members: self.assign.clone(),
            targets: self.runtime.clone(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.file.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&p).unwrap_or_default())?;
            std::fs::rename(tmp, &self.file)
        };
        if let Err(e) = write() {
            tracing::debug!(file = %self.file.display(), error = %e, "cannot persist the cluster share");
        }
    }
}

impl Cluster {
    /// One heartbeat: renew, read the members, follow the run-time targets.
    pub async fn beat(&self) {
        let draining = self.shared().draining_since.is_some();
        let owned = METRICS.owned.get().max(0) as usize;
        let ttl = self.cfg.member_ttl.get();
        match (self.store)
            .heartbeat(&self.id, &self.incarnation, draining, owned, ttl)
            .await
        {
            Ok(view) => {
                self.reachable();
                METRICS.members.set(view.members.len() as i64);
                let version = view.targets_version.clone();
                let changed = {
                    let mut s = self.view.write().unwrap_or_else(|p| p.into_inner());
                    let changed = s.update(view, &self.id, ttl);
                    if changed {
                        s.persist();
                    }
                    changed.then(|| s.assign.clone())
                };
                if let Some(members) = changed {
                    tracing::info!(?members, "cluster assignment changed");
                    self.assignment.send_modify(|g| *g += 1);
                }
                self.sync_targets(&version).await;
            }
            Err(e) => self.unreachable(&e),
        }
    }

    /// Graceful stop, step one: tell the others; keep polling the share for the drain
    /// window while they take it over (permits keep each slot to one poll).
    pub async fn drain(&self) -> Duration {
        self.view.write().unwrap_or_else(|p| p.into_inner()).draining_since = Some(Instant::now());
        self.beat().await;
        self.drain_window()
    }

    /// Graceful stop, last step: the last rate states, then out of the member set.
    pub async fn leave(&self) {
        self.flush_states().await;
        if let Err(e) = self.store.leave(&self.id).await {
            tracing::warn!(error = %e, "could not leave the member set; the others wait member_ttl");
        }
    }

    /// (every member seen, the assignment's members, Redis time of the view).
    pub fn members(&self) -> (Vec<MemberView>, Vec<String>, u64) {
        let s = self.shared();
        (s.seen.clone(), s.assign.clone(), s.seen_at_ms)
    }
}

/// The heartbeat loop, and the flush of rate states every 200 ms, until `stop`.
pub async fn run(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    let mut beat = tokio::time::interval(cluster.cfg.heartbeat.get());
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = beat.tick() => cluster.beat().await,
            _ = cluster.beat_now.notified() => cluster.beat().await,
            _ = flush.tick() => cluster.flush_states().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::store::View;

    fn view(ids: &[(&str, bool)]) -> View {
        View {
            now_ms: 1,
            targets_version: "0".into(),
            members: (ids.iter())
                .map(|(id, draining)| MemberView {
                    id: id.to_string(),
                    draining: *draining,
                    heartbeat_ms: 1,
                    owned: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn draining_members_leave_the_assignment_and_an_outage_freezes_it() {
        let mut s = Shared::load("/nonexistent", "a");
        assert!(s.owns("t", "a", Duration::ZERO), "nothing known: poll everything");
        assert!(s.update(view(&[("a", false), ("b", false), ("c", true)]), "a", Duration::ZERO));
        assert_eq!(s.assign, ["a", "b"]);
        s.outage(Instant::now());
        assert!(
            !s.update(view(&[("a", false)]), "a", Duration::from_secs(60)),
            "grace: frozen"
        );
        assert_eq!(s.assign, ["a", "b"]);
        s.outage = Some(Some(Instant::now() - Duration::from_secs(61)));
        assert!(s.update(view(&[("a", false)]), "a", Duration::from_secs(60)));
        assert_eq!(s.assign, ["a"]);
        s.draining_since = Some(Instant::now() - Duration::from_secs(10));
        assert!(!s.owns("t", "a", Duration::from_secs(5)), "past the drain window");
    }
}
