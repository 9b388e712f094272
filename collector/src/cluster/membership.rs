//! Membership: the heartbeat loop (renew, read every member, follow the run-time targets,
//! write pending rate states) and the graceful stop (drain, then leave).

use super::Cluster;
use super::metrics::METRICS;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
                let version = view.targets_version;
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
                self.sync_targets(version).await;
            }
            Err(e) => self.trouble(&e),
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
        self.view.write().unwrap_or_else(|p| p.into_inner()).persist_if_dirty();
        if let Err(e) = self.store.leave(&self.id).await {
            tracing::warn!(error = %e, "could not leave the member set; the others wait member_ttl");
        }
    }

    /// (every member seen, the assignment's members, Redis time of the view).
    pub fn members(&self) -> (Vec<super::MemberView>, Vec<String>, u64) {
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
            _ = flush.tick() => {
                cluster.flush_states().await;
                cluster.view.write().unwrap_or_else(|p| p.into_inner()).persist_if_dirty();
            }
        }
    }
}
