//! Cluster mode: collector replicas that share their targets through Redis, the only
//! coordinator (docs/cluster.md). Each replica heartbeats its membership; each computes the
//! same assignment from the same member list (rendezvous hashing, `assign`); before a
//! scheduled poll the owner takes a permit (at most one poll per target per 0.8 interval,
//! whoever asks), and writes the target's rate state under a fencing number so a replica that
//! lost the target can never overwrite the new owner's. When Redis cannot be reached a
//! replica keeps polling its last known share and claims nothing new until Redis has
//! answered for `member_ttl` again.
//!
//! - `store`: the keys in Redis, `scripts` the Lua run there; `assign`: who owns what;
//! - `view`: the member view, who owns what, the persisted share; `membership`: the
//!   heartbeat loop and the graceful stop;
//! - `targets`: targets added and removed at run time; `collect`: one poll for concurrent
//!   `POST /collect`s of a target on any replica; `metrics`.

pub mod assign;
mod collect;
pub mod membership;
pub mod metrics;
mod scripts;
pub mod state;
pub mod store;
mod targets;
mod view;

use metrics::METRICS;
use netpulse_config::ClusterConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use store::{Permit, Store, StoreError};
use tokio::sync::{Notify, watch};

pub use store::Member as MemberView;

/// What the scheduler does with a due target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Poll it; with the previous owner's saved state when the target changed hands.
    Poll { state: Option<state::TargetState> },
    /// Another replica polled it within the minimum gap: skip this slot.
    Skip,
}

pub struct Cluster {
    store: Store,
    pub id: String,
    /// Tells this process's membership apart from an earlier one with the same id.
    pub incarnation: String,
    cfg: ClusterConfig,
    view: RwLock<view::Shared>,
    /// Bumped whenever the assignment changes (the scheduler recomputes its share).
    pub assignment: watch::Sender<u64>,
    /// Bumped when the run-time targets change.
    pub targets_changed: watch::Sender<u64>,
    /// Redis as the heartbeat finds it: 0 not known yet, 1 answers, 2 unreachable, 3
    /// answers with errors (out of memory, read-only…). Changes are logged once.
    redis: AtomicU8,
    /// When a call last failed.
    troubled: Mutex<Option<std::time::Instant>>,
    /// The last Redis error (for `/cluster`).
    redis_error: Mutex<Option<String>>,
    /// Run-time target changes, one at a time (`targets::changing`).
    changes: tokio::sync::Mutex<()>,
    /// Ask the heartbeat loop to beat now (a permit found this replica not a member).
    beat_now: Notify,
    /// This owner's term (fence) per target, from its last granted permit.
    fences: Mutex<HashMap<String, u64>>,
    /// Rate states waiting to be written (latest per target).
    pending: Mutex<HashMap<String, Vec<u8>>>,
    collect_seq: AtomicU64,
}

impl Cluster {
    /// Opens the store (lazily: Redis may be down) and the persisted share. Nothing runs
    /// until `membership::run`.
    pub fn new(cfg: &ClusterConfig, id: String) -> Result<Self, StoreError> {
        let store = Store::new(cfg.redis_url.expose(), cfg.redis_timeout.get(), &cfg.key_prefix)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let incarnation = format!(
            "{:x}",
            assign::hash(format!("{nanos}:{}", std::process::id()).as_bytes())
        );
        let shared = view::Shared::load(&cfg.state_dir, &id);
        Ok(Self {
            store,
            id,
            incarnation,
            cfg: cfg.clone(),
            view: RwLock::new(shared),
            assignment: watch::channel(0).0,
            targets_changed: watch::channel(0).0,
            redis: AtomicU8::new(0),
            redis_error: Mutex::new(None),
            troubled: Mutex::new(None),
            changes: tokio::sync::Mutex::new(()),
            beat_now: Notify::new(),
            fences: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            collect_seq: AtomicU64::new(0),
        })
    }

    fn shared(&self) -> std::sync::RwLockReadGuard<'_, view::Shared> {
        self.view.read().unwrap_or_else(|p| p.into_inner())
    }

    /// `id#incarnation`, as Redis records the owner of a target.
    fn owner_tag(&self) -> String {
        format!("{}#{}", self.id, self.incarnation)
    }

    /// Whether this replica polls `target` on schedule now.
    pub fn owns(&self, target: &str) -> bool {
        self.shared().owns(target, &self.id, self.drain_window())
    }

    /// How long a draining replica keeps polling its share (permits arbitrate with the
    /// successors): long enough for every other replica to have seen it draining.
    fn drain_window(&self) -> Duration {
        self.cfg.heartbeat.get() * 2 + self.cfg.redis_timeout.get()
    }

    /// Before a scheduled poll of a target this replica owns: the permit. `catch_up` (a
    /// target just taken over) asks whether a whole interval passed without a poll, a slot
    /// asks for 0.8 interval. Without Redis the answer is to poll (the share is disjoint).
    pub async fn decide(&self, target: &str, interval: Duration, catch_up: bool) -> Decision {
        let gap = if catch_up { interval } else { interval.mul_f64(0.8) };
        let keep = (interval * 3).max(self.cfg.member_ttl.get() * 3);
        match self.store.permit(&self.id, &self.incarnation, target, gap, keep).await {
            Ok(Permit::Granted { fence, takeover }) => {
                self.fences
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(target.to_string(), fence);
                let state = takeover.and_then(|t| {
                    if !t.from.is_empty() {
                        METRICS.takeovers.inc();
                        tracing::info!(target, from = %t.from, fence, "took the target over");
                    }
                    state::TargetState::decode(&t.rates)
                });
                Decision::Poll { state }
            }
            Ok(Permit::Recent) => {
                METRICS.permits_denied.inc();
                Decision::Skip
            }
            Ok(Permit::NotMember) => {
                // Our heartbeat has not landed (Redis restarted empty, or we were cut off
                // for longer than member_ttl): beat now, and keep polling our share.
                self.beat_now.notify_one();
                Decision::Poll { state: None }
            }
            Err(e) => {
                self.trouble(&e);
                Decision::Poll { state: None }
            }
        }
    }

    /// A finished poll's state (`TargetState::encode`), written with this owner's fence at
    /// the next flush.
    pub fn save_state(&self, target: &str, rates: Vec<u8>) {
        if self
            .fences
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(target)
        {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(target.to_string(), rates);
        }
    }

    /// Writes the pending rate states in one round trip; a write refused by fencing means
    /// the target has a newer owner: its term here is over.
    pub async fn flush_states(&self) {
        let batch: Vec<(String, Vec<u8>)> = self.pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        if batch.is_empty() {
            return;
        }
        let with_fence: Vec<(String, u64, Vec<u8>)> = {
            let fences = self.fences.lock().unwrap_or_else(|p| p.into_inner());
            (batch.into_iter())
                .filter_map(|(t, b)| Some((t.clone(), *fences.get(&t)?, b)))
                .collect()
        };
        let keep = self.cfg.member_ttl.get() * 30;
        match self.store.save_states(&self.owner_tag(), &with_fence, keep).await {
            Ok(written) => {
                let mut fences = self.fences.lock().unwrap_or_else(|p| p.into_inner());
                for ((t, _, _), ok) in with_fence.iter().zip(written) {
                    if !ok {
                        METRICS.stale_writes.inc();
                        fences.remove(t);
                    }
                }
            }
            Err(e) => self.trouble(&e),
        }
    }

    /// The heartbeat got through: Redis is up if nothing else failed for `member_ttl`
    /// (only the heartbeat says so, and only after a clean period: under OOM the heartbeat
    /// passes and permits fail, which must not make the state flap).
    fn reachable(&self) {
        let last = *self.troubled.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < self.cfg.member_ttl.get()) {
            return;
        }
        let was = self.redis.swap(1, Ordering::Relaxed);
        if was != 1 {
            METRICS.redis_up.set(1);
            if was > 1 {
                tracing::info!("Redis answers again");
            }
        }
        *self.redis_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A call failed: unreachable, or answering with errors. Logged once per change of
    /// state, not per call.
    fn trouble(&self, e: &StoreError) {
        let state = if e.answered() { 3 } else { 2 };
        *self.troubled.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
        *self.redis_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        if self.redis.swap(state, Ordering::Relaxed) != state {
            METRICS.redis_up.set(0);
            if state == 3 {
                tracing::error!(error = %e, "Redis answers with errors: polling the last known share of the targets until it accepts writes again");
            } else {
                tracing::error!(error = %e, "Redis unreachable: polling the last known share of the targets until it answers again");
            }
        }
        self.view.write().unwrap_or_else(|p| p.into_inner()).outage();
    }

    /// Redis as `/cluster` shows it: (state, last error).
    pub fn redis_state(&self) -> (&'static str, Option<String>) {
        let state = match self.redis.load(Ordering::Relaxed) {
            0 => "unknown",
            1 => "up",
            2 => "unreachable",
            _ => "errors",
        };
        (
            state,
            self.redis_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        )
    }
}
