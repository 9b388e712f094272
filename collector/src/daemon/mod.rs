//! The long-running daemon: scheduler, single-flight polls with per-target circuit
//! breakers, one writer task per output, the HTTP API, SIGHUP reload, SIGTERM drain and
//! sd_notify. One target's poll never waits on another's; one output never on another.

pub mod admission;
pub mod api;
mod discovery;
mod lifecycle;
pub mod scheduler;
mod sources;
pub mod state;
mod targets;
mod traps;

pub use lifecycle::run;

use crate::breaker::{Breaker, State};
use crate::cluster::Cluster;
use crate::metrics::METRICS;
use crate::output::OutputSet;
use crate::poll::{PollOutcome, poll};
use crate::registry::Registry;
use crate::snmp::SnmpEngine;
use crate::target::Target;
use futures::FutureExt;
use netpulse_config::CollectorConfig;
use state::{Entry, LastPoll};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Semaphore, watch};

/// Reloads the configuration from its sources (file, env, flags), for SIGHUP.
pub type Reloader = Box<dyn Fn() -> Result<(CollectorConfig, Registry), String> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

pub struct Core {
    cfg: RwLock<Arc<CollectorConfig>>,
    pub engine: Arc<SnmpEngine>,
    pub ops: Arc<Semaphore>,
    /// The poll slots (`max_concurrent_targets`): earliest deadline first, unproven targets
    /// bounded to half (`admission`).
    pub admission: Arc<admission::Admission>,
    pub collect_slots: Arc<Semaphore>,
    /// Held while a collect decides "join or take a slot" and registers its polls, so two
    /// collects for the same target can never both miss each other's poll.
    pub collect_admission: std::sync::Mutex<()>,
    pub outputs: Arc<OutputSet>,
    pub targets: RwLock<BTreeMap<String, Arc<Entry>>>,
    pub generation: watch::Sender<u64>,
    pub replica: String,
    /// Cluster mode: the fleet this replica cooperates with through Redis.
    pub cluster: Option<Arc<Cluster>>,
    /// The module registry of the running configuration (for targets added at run time).
    registry: RwLock<Arc<Registry>>,
    /// The config-file targets' names and the config without targets (run-time changes).
    index: RwLock<Arc<targets::ConfigIndex>>,
    /// The targets of `[targets_from]` (files, HTTP SD), merged; set by `sources::run`.
    sources: RwLock<Arc<Vec<netpulse_config::TargetConfig>>>,
    started: Instant,
    beat: AtomicU64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Core {
    pub async fn new(cfg: CollectorConfig, registry: &Registry) -> Result<Arc<Self>, DaemonError> {
        let replica = cfg.replica_id();
        let cluster = match &cfg.cluster {
            Some(c) => Some(Arc::new(
                Cluster::new(c, replica.clone()).map_err(|e| DaemonError::Setup(format!("cluster.redis_url: {e}")))?,
            )),
            None => None,
        };
        let runtime = cluster.as_ref().map(|c| c.runtime_targets()).unwrap_or_default();
        let targets = targets::build(&cfg, &[], &runtime, registry).map_err(DaemonError::Setup)?;
        let engine = SnmpEngine::new(cfg.snmp.sockets)
            .await
            .map_err(|e| DaemonError::Setup(format!("SNMP sockets: {e}")))?;
        let outputs = OutputSet::open(&cfg).map_err(|e| DaemonError::Setup(e.to_string()))?;
        METRICS.pool_sockets.set(cfg.snmp.sockets as i64);
        METRICS
            .pool_capacity
            .set(cfg.collector.max_concurrent_operations as i64);
        let entries = targets
            .into_iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    Arc::new(Entry::new(t, Breaker::new(&cfg.circuit_breaker))),
                )
            })
            .collect::<BTreeMap<_, _>>();
        METRICS.targets.set(entries.len() as i64);
        Ok(Arc::new(Self {
            ops: Arc::new(Semaphore::new(cfg.collector.max_concurrent_operations)),
            admission: admission::Admission::new(cfg.collector.max_concurrent_targets),
            collect_slots: Arc::new(Semaphore::new(cfg.api.max_concurrent_collects.max(1))),
            collect_admission: std::sync::Mutex::new(()),
            engine: Arc::new(engine),
            outputs: Arc::new(outputs),
            targets: RwLock::new(entries),
            generation: watch::channel(0).0,
            replica,
            cluster,
            registry: RwLock::new(Arc::new(registry.clone())),
            index: RwLock::new(Arc::new(targets::ConfigIndex::of(&cfg, &[]))),
            sources: RwLock::new(Arc::new(vec![])),
            cfg: RwLock::new(Arc::new(cfg)),
            started: Instant::now(),
            beat: AtomicU64::new(0),
        }))
    }

    /// The modules and profiles of the running configuration.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn config(&self) -> Arc<CollectorConfig> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The scheduler loop is alive (for `/health`).
    pub fn heartbeat(&self) {
        self.beat
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn alive(&self) -> bool {
        self.started.elapsed().as_millis() as u64 - self.beat.load(Ordering::Relaxed) < 10_000
    }

    /// Starts a poll of `entry` (only `modules`, if given), or joins the one running —
    /// for `POST /collect`: it waits for a slot up to the poll deadline.
    pub fn poll(self: &Arc<Self>, entry: &Arc<Entry>, modules: Option<Vec<String>>) -> state::PollFuture {
        let deadline = tokio::time::Instant::now() + self.config().snmp.poll_deadline.get();
        self.poll_by(entry, modules, deadline)
    }

    /// Starts a poll that must have a slot before `deadline` (its target's next slot, for a
    /// scheduled poll), or joins the one running. The poll runs to its end even if every
    /// caller goes away, unless its target is deleted.
    pub fn poll_by(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
        modules: Option<Vec<String>>,
        deadline: tokio::time::Instant,
    ) -> state::PollFuture {
        let key = modules.as_ref().map_or_else(|| "*".to_string(), |m| m.join(","));
        let mut inflight = entry.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = inflight.get(&key) {
            return f.clone();
        }
        let (core, e, k) = (self.clone(), entry.clone(), key.clone());
        // The task removes its own key; we hold the map's lock until the key is in it.
        let task = tokio::spawn(async move {
            let mut retired = e.retired();
            let slot = tokio::select! {
                s = core.admission.acquire(e.unproven(), deadline) => s.map_err(|r| match r {
                    admission::Refused::Missed => "missed_slot",
                    admission::Refused::Closed => "stopping",
                }),
                _ = retired.wait_for(|r| *r) => Err("deleted"),
            };
            let _slot = match slot {
                Ok(s) => s,
                Err(reason) => return core.not_polled(&e, reason, k),
            };
            let mut target = e.target();
            if let Some(mods) = modules {
                // Only the modules asked for, with the profile's quirks but not its modules.
                let mut t = match target.profile.matched() {
                    Some(m) => target.with_profile(&m),
                    None => (*target).clone(),
                };
                t.modules.retain(|m| mods.contains(&m.name));
                t.profile = crate::target::ProfileChoice::None;
                target = Arc::new(t);
            }
            let started = Instant::now();
            let batch = core.config().collector.batch_size;
            let outcome = tokio::select! {
                o = poll(&core.engine, &target, core.ops.clone(), batch) => o,
                // A deleted target's poll is abandoned: its slot goes to live targets.
                _ = retired.wait_for(|r| *r) => return core.not_polled(&e, "deleted", k),
            };
            core.finish(&e, &target, outcome, started.elapsed(), k)
        });
        let name = entry.target().name.to_string();
        let fut = async move {
            task.await
                .unwrap_or_else(|err| failed_outcome(&name, format!("poll task failed: {err}")))
        }
        .boxed()
        .shared();
        inflight.insert(key, fut.clone());
        fut
    }

    /// A poll that never ran (no slot before its deadline, stopping, target deleted).
    fn not_polled(&self, e: &Entry, reason: &'static str, key: String) -> Arc<PollOutcome> {
        METRICS.polls_skipped.with_label_values(&[reason]).inc();
        e.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        let why = match reason {
            "missed_slot" => "no poll slot free before the deadline (the collector is overloaded)",
            "stopping" => "the collector is stopping",
            _ => "the target was deleted",
        };
        failed_outcome(&e.target().name, format!("not polled: {why}"))
    }

    /// Books a finished poll: metrics, breaker, last poll, and the points into every output.
    fn finish(
        &self,
        e: &Entry,
        target: &Target,
        mut outcome: PollOutcome,
        took: Duration,
        key: String,
    ) -> Arc<PollOutcome> {
        let cfg = self.config();
        METRICS.collection_duration.observe(took.as_secs_f64());
        let failed = outcome.modules.iter().filter(|m| m.error.is_some()).count();
        let all_failed = failed == outcome.modules.len() && failed > 0;
        METRICS
            .polls
            .with_label_values(&[if failed == 0 {
                "ok"
            } else if all_failed {
                "failed"
            } else {
                "partial"
            }])
            .inc();
        {
            let mut st = e.state();
            let was_open = st.breaker.state() != State::Closed;
            // Partial answers prove the agent alive; only a poll with nothing back counts.
            if all_failed {
                st.breaker.failure();
            } else {
                st.breaker.success();
            }
            let error = outcome.errors().next().unwrap_or_default();
            for (from, to) in st.breaker.take_transitions() {
                METRICS.breaker_transitions.with_label_values(&[to.as_str()]).inc();
                tracing::warn!(target = %target.name, from = from.as_str(), to = to.as_str(), %error, "target circuit breaker changed state");
            }
            match (was_open, st.breaker.state() != State::Closed) {
                (false, true) => METRICS.breaker_open.inc(),
                (true, false) => METRICS.breaker_open.dec(),
                _ => {}
            }
            st.last = Some(LastPoll {
                at: SystemTime::now(),
                duration: took,
                ok: failed == 0,
                answered: !all_failed,
                error: outcome.errors().next(),
                points: outcome.points.len(),
            });
        }
        if cfg.collector.round_interval {
            crate::align::to_target(&mut outcome.points, target);
        }
        self.outputs.enqueue(&outcome.points);
        let mut rates = vec![];
        if let Some(r) = &target.rates {
            let horizon = now_ns() - 3 * target.interval.as_nanos() as i64;
            let mut tracker = r.lock().unwrap_or_else(|p| p.into_inner());
            tracker.prune(horizon);
            if self.cluster.is_some() {
                rates = tracker.export();
            }
        }
        if let Some(c) = &self.cluster {
            let engine = (target.security.version() == netpulse_config::SnmpVersion::V3)
                .then(|| self.engine.engine_snapshot(&target.address.host, target.address.port))
                .flatten();
            if !rates.is_empty() || engine.is_some() {
                c.save_state(
                    &target.name,
                    crate::cluster::state::TargetState { rates, engine }.encode(),
                );
            }
        }
        e.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        Arc::new(outcome)
    }

    pub(crate) fn busy(&self) -> bool {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|e| e.busy())
    }
}

fn failed_outcome(target: &str, error: String) -> Arc<PollOutcome> {
    Arc::new(PollOutcome {
        target: target.into(),
        points: vec![],
        modules: vec![crate::poll::ModuleOutcome {
            module: "*".into(),
            error: Some(error),
            duration: Duration::ZERO,
            varbinds: 0,
            requests: 0,
            timed_out: false,
        }],
        profile: None,
    })
}
