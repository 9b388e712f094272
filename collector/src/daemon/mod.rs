//! The long-running daemon: scheduler, single-flight polls with per-target circuit
//! breakers, one writer task per output, the HTTP API, SIGHUP reload, SIGTERM drain and
//! sd_notify. One target's poll never waits on another's; one output never on another.

pub mod api;
pub mod scheduler;
pub mod state;

use crate::breaker::{Breaker, State};
use crate::metrics::METRICS;
use crate::modules::Registry;
use crate::output::OutputSet;
use crate::poll::{PollOutcome, poll};
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
    slots: Arc<Semaphore>,
    pub collect_slots: Arc<Semaphore>,
    /// Held while a collect decides "join or take a slot" and registers its polls, so two
    /// collects for the same target can never both miss each other's poll.
    pub collect_admission: std::sync::Mutex<()>,
    pub outputs: Arc<OutputSet>,
    pub targets: RwLock<BTreeMap<String, Arc<Entry>>>,
    pub generation: watch::Sender<u64>,
    pub replica: String,
    started: Instant,
    beat: AtomicU64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn build_targets(cfg: &CollectorConfig, registry: &Registry) -> Result<Vec<Target>, String> {
    cfg.targets
        .iter()
        .map(|t| Target::from_config(t, cfg, registry).map_err(|e| format!("target {}: {e}", t.name)))
        .collect()
}

impl Core {
    pub async fn new(cfg: CollectorConfig, registry: &Registry) -> Result<Arc<Self>, DaemonError> {
        let targets = build_targets(&cfg, registry).map_err(DaemonError::Setup)?;
        let engine = SnmpEngine::new(cfg.snmp.sockets)
            .await
            .map_err(|e| DaemonError::Setup(format!("SNMP sockets: {e}")))?;
        let outputs = OutputSet::open(&cfg).map_err(|e| DaemonError::Setup(e.to_string()))?;
        let replica = cfg.collector.replica_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "netpulse".into())
        });
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
            slots: Arc::new(Semaphore::new(cfg.collector.max_concurrent_targets)),
            collect_slots: Arc::new(Semaphore::new(cfg.api.max_concurrent_collects.max(1))),
            collect_admission: std::sync::Mutex::new(()),
            engine: Arc::new(engine),
            outputs: Arc::new(outputs),
            targets: RwLock::new(entries),
            generation: watch::channel(0).0,
            replica,
            cfg: RwLock::new(Arc::new(cfg)),
            started: Instant::now(),
            beat: AtomicU64::new(0),
        }))
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

    /// Starts a poll of `entry` (only `modules`, if given), or joins the one running.
    /// The poll runs to its end even if every caller goes away.
    pub fn poll(self: &Arc<Self>, entry: &Arc<Entry>, modules: Option<Vec<String>>) -> state::PollFuture {
        let key = modules.as_ref().map_or_else(|| "*".to_string(), |m| m.join(","));
        let mut inflight = entry.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = inflight.get(&key) {
            return f.clone();
        }
        let (core, e, k) = (self.clone(), entry.clone(), key.clone());
        // The task removes its own key; we hold the map's lock until the key is in it.
        let task = tokio::spawn(async move {
            let _slot = core.slots.clone().acquire_owned().await;
            let mut target = e.target();
            if let Some(mods) = modules {
                let mut t = (*target).clone();
                t.modules.retain(|m| mods.contains(&m.name));
                target = Arc::new(t);
            }
            let started = Instant::now();
            let outcome = poll(
                &core.engine,
                &target,
                core.ops.clone(),
                core.config().collector.batch_size,
            )
            .await;
            core.finish(&e, &target, outcome, started.elapsed(), k)
        });
        let name = entry.target().name.to_string();
        let fut = async move {
            task.await.unwrap_or_else(|err| {
                Arc::new(PollOutcome {
                    target: name.as_str().into(),
                    points: vec![],
                    modules: vec![crate::poll::ModuleOutcome {
                        module: "*".into(),
                        error: Some(format!("poll task failed: {err}")),
                        duration: Duration::ZERO,
                        varbinds: 0,
                        requests: 0,
                        timed_out: false,
                    }],
                })
            })
        }
        .boxed()
        .shared();
        inflight.insert(key, fut.clone());
        fut
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
                error: outcome.errors().next(),
                points: outcome.points.len(),
            });
        }
        if cfg.collector.round_interval {
            crate::align::to_target(&mut outcome.points, target);
        }
        self.outputs.enqueue(&outcome.points);
        if let Some(r) = &target.rates {
            let horizon = now_ns() - 3 * target.interval.as_nanos() as i64;
            r.lock().unwrap_or_else(|p| p.into_inner()).prune(horizon);
        }
        e.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        Arc::new(outcome)
    }

    /// Applies a new configuration: targets added, removed or changed; in-flight polls
    /// finish on the target they started with. Outputs change only with a restart.
    pub fn reload(&self, cfg: CollectorConfig, registry: &Registry) -> Result<(usize, usize, usize), String> {
        let targets = build_targets(&cfg, registry)?;
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
        let mut map = self.targets.write().unwrap_or_else(|p| p.into_inner());
        let names: std::collections::HashSet<String> = targets.iter().map(|t| t.name.to_string()).collect();
        let removed = map.keys().filter(|n| !names.contains(*n)).count();
        map.retain(|n, _| names.contains(n));
        for mut t in targets {
            match map.get(&*t.name) {
                Some(entry) => {
                    let mut slot = entry.target.write().unwrap_or_else(|p| p.into_inner());
                    if let (Some(_), Some(old_rates)) = (&t.rates, &slot.rates) {
                        t.rates = Some(old_rates.clone()); // keep counter history across reloads
                    }
                    *slot = Arc::new(t);
                    changed += 1;
                }
                None => {
                    map.insert(
                        t.name.to_string(),
                        Arc::new(Entry::new(t, Breaker::new(&cfg.circuit_breaker))),
                    );
                    added += 1;
                }
            }
        }
        METRICS.targets.set(map.len() as i64);
        drop(map);
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
        self.generation.send_modify(|g| *g += 1);
        Ok((added, removed, changed))
    }

    fn busy(&self) -> bool {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|e| e.busy())
    }
}

/// Runs until SIGTERM/SIGINT, then drains within `shutdown_grace`.
pub async fn run(cfg: CollectorConfig, registry: Registry, reload: Reloader) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = cfg.api.listen.clone();
    let core = Core::new(cfg, &registry).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen.clone(),
            source,
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(scheduler::run(core.clone(), stop_rx.clone()));
    tasks.spawn(api::serve(core.clone(), listener, stop_rx.clone()));
    tasks.spawn(committer(core.clone(), stop_rx.clone()));
    let (wstop_tx, wstop_rx) = watch::channel(false);
    let mut writers = tokio::task::JoinSet::new();
    let cfg = core.config();
    for (w, o) in core
        .outputs
        .writers(&cfg)
        .map_err(|e| DaemonError::Setup(e.to_string()))?
        .into_iter()
        .zip(&cfg.outputs.influxdb)
    {
        writers.spawn(write_loop(
            w,
            core.clone(),
            o.batch_size,
            o.flush_interval.get(),
            wstop_rx.clone(),
        ));
    }
    let mut hup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let watchdog = crate::systemd::watchdog_interval();
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    tracing::info!(listen = %listen, targets = core.targets.read().map(|t| t.len()).unwrap_or(0), outputs = core.outputs.outputs.len(), "netpulse-collector running");
    crate::systemd::ready();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                crate::systemd::reloading();
                match reload().and_then(|(cfg, reg)| core.reload(cfg, &reg)) {
                    Ok((added, removed, changed)) => tracing::info!(added, removed, changed, "configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "new configuration rejected; the running one stays"),
                }
                crate::systemd::ready();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = dog.tick(), if watchdog.is_some() => crate::systemd::watchdog(),
        }
    }
    shutdown(core, stop_tx, wstop_tx, tasks, writers).await;
    Ok(())
}

async fn shutdown(
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    wstop: watch::Sender<bool>,
    mut tasks: tokio::task::JoinSet<()>,
    mut writers: tokio::task::JoinSet<crate::output::writer::Writer>,
) {
    crate::systemd::stopping();
    let grace = core.config().collector.shutdown_grace.get();
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!(grace = ?grace, "stopping: no new polls; finishing in-flight polls and flushing queues");
    let _ = stop.send(true);
    while core.busy() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    core.outputs.commit();
    let _ = wstop.send(true);
    while tasks.join_next().await.is_some() {}
    let mut drains = vec![];
    while let Some(Ok(mut w)) = writers.join_next().await {
        drains.push(async move { w.drain(deadline).await });
    }
    futures::future::join_all(drains).await;
    for o in &core.outputs.outputs {
        let left = core.outputs.pending_points(&o.name);
        if left > 0 {
            tracing::warn!(output = %o.name, points = left, "not delivered before the grace period ended; kept in the queue for the next start");
        }
    }
    tracing::info!("stopped");
}

/// Group commit for the daemon: one fsync per queue at most every 200 ms.
async fn committer(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => core.outputs.commit(),
        }
    }
}

/// One output's delivery loop; hands the writer back at shutdown for the final drain.
async fn write_loop(
    mut w: crate::output::writer::Writer,
    core: Arc<Core>,
    batch: u64,
    flush_interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> crate::output::writer::Writer {
    use crate::output::writer::Step;
    loop {
        if *stop.borrow() {
            return w;
        }
        let step = tokio::select! {
            _ = stop.changed() => return w,
            s = w.step() => s,
        };
        let pause = match step {
            Step::Delivered(_) => continue,
            Step::Wait(d) => d,
            Step::Empty => {
                let notify = w.notify.clone();
                tokio::select! {
                    _ = stop.changed() => return w,
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                // Batch by time: give a batch up to flush_interval to fill.
                if core.outputs.pending_points(&w.name) >= batch {
                    Duration::ZERO
                } else {
                    flush_interval
                }
            }
        };
        tokio::select! {
            _ = stop.changed() => return w,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
