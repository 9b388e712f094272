//! The daemon's life: start (API listener, trap sockets, scheduler, committer, writers, cluster
//! membership), signals (SIGHUP reload, SIGTERM/SIGINT stop), and the stop itself — in
//! cluster mode a drain first — then in-flight polls, queues flushed within the grace.

use super::{Core, DaemonError, Reloader, api, scheduler};
use crate::registry::Registry;
use netpulse_config::CollectorConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
    let traps = super::traps::start(&core, stop_rx.clone()).await?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(traps);
    tasks.spawn(scheduler::run(core.clone(), stop_rx.clone()));
    tasks.spawn(api::serve(core.clone(), listener, stop_rx.clone()));
    tasks.spawn(committer(core.clone(), stop_rx.clone()));
    let found = match super::discovery::start(&core, stop_rx.clone()) {
        Some((found, task)) => {
            tasks.spawn(async move {
                let _ = task.await;
            });
            Some(found)
        }
        None => None,
    };
    tasks.spawn(super::sources::run(core.clone(), found, stop_rx.clone()));
    if let Some(c) = &core.cluster {
        tasks.spawn(crate::cluster::membership::run(c.clone(), stop_rx.clone()));
        tasks.spawn(follow_runtime_targets(core.clone(), stop_rx.clone()));
    }
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
        writers.spawn(w.run(o.flush_interval.get(), wstop_rx.clone()));
    }
    let mut hup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let watchdog = netpulse_sdnotify::watchdog_interval();
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut stalled = false;
    tracing::info!(listen = %listen, targets = core.targets.read().map(|t| t.len()).unwrap_or(0), outputs = core.outputs.outputs.len(), "netpulse-collector running");
    netpulse_sdnotify::ready();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                netpulse_sdnotify::reloading();
                match reload().and_then(|(cfg, reg)| core.reload(cfg, &reg)) {
                    Ok((added, removed, changed)) => tracing::info!(added, removed, changed, "configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "new configuration rejected; the running one stays"),
                }
                netpulse_sdnotify::ready();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = dog.tick(), if watchdog.is_some() => watchdog_ping(&core, &mut stalled),
        }
    }
    shutdown(core, stop_tx, wstop_tx, tasks, writers).await;
    Ok(())
}

/// The systemd watchdog is pinged only while the liveness `/health` reports holds: a
/// stalled scheduler stops the pings, and systemd restarts the collector.
fn watchdog_ping(core: &Core, stalled: &mut bool) {
    let alive = core.alive();
    if alive {
        netpulse_sdnotify::watchdog();
    } else if !*stalled {
        tracing::error!(
            "the scheduler loop has not run for 10s: no more watchdog pings (systemd restarts the collector)"
        );
    }
    *stalled = !alive;
}

async fn shutdown(
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    wstop: watch::Sender<bool>,
    mut tasks: tokio::task::JoinSet<()>,
    mut writers: tokio::task::JoinSet<netpulse_delivery::writer::Writer>,
) {
    netpulse_sdnotify::stopping();
    let grace = core.config().collector.shutdown_grace.get();
    let deadline = tokio::time::Instant::now() + grace;
    if let Some(c) = &core.cluster {
        // The others take the share over while this replica still polls it; permits keep
        // each slot to one poll, so the hand-over has no gap and no duplicate.
        let window = c.drain().await;
        tracing::info!(window = ?window, "draining: the other replicas take this replica's targets over");
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + window)).await;
    }
    tracing::info!(grace = ?grace, "stopping: no new polls; finishing in-flight polls and flushing queues");
    let _ = stop.send(true);
    core.admission.close(); // polls waiting for a slot are dropped, not started
    while core.busy() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    core.outputs.commit();
    if let Some(c) = &core.cluster {
        c.leave().await;
    }
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

/// Applies run-time target changes the cluster reports (any replica's `PUT`/`DELETE`).
async fn follow_runtime_targets(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let Some(c) = core.cluster.clone() else { return };
    let mut changed = c.targets_changed.subscribe();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = changed.changed() => {
                if r.is_err() {
                    return;
                }
                let _held = c.changing().await; // not between a change of ours and its apply
                core.apply_runtime_targets();
            }
        }
    }
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
