//! Run modes that poll every target once: `--test` prints line protocol to a writer,
//! `--once` queues the points for every output and flushes.

use crate::lineproto::{UnsignedMode, encode};
use crate::output::OutputSet;
use crate::poll::{PollOutcome, poll};
use crate::snmp::{SnmpEngine, SnmpError};
use crate::target::Target;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use netpulse_config::CollectorConfig;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open SNMP sockets: {0}")]
    Engine(#[from] SnmpError),
    #[error("target {target}: {message}")]
    Target { target: String, message: String },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub targets: usize,
    pub failed: usize,
    pub points: usize,
}

/// Polls every target once, concurrently (bounded by the config), handing each outcome
/// to `each` as soon as it is complete.
pub async fn poll_all(
    cfg: &CollectorConfig,
    targets: Vec<Target>,
    mut each: impl FnMut(PollOutcome),
) -> Result<(), RunError> {
    let engine = Arc::new(SnmpEngine::new(cfg.snmp.sockets).await?);
    let ops = Arc::new(Semaphore::new(cfg.collector.max_concurrent_operations));
    let batch = cfg.collector.batch_size;
    let mut outcomes = futures::stream::iter(targets)
        .map(|t| {
            let (engine, ops) = (engine.clone(), ops.clone());
            tokio::spawn(async move { poll(&engine, &t, ops, batch).await })
        })
        .buffer_unordered(cfg.collector.max_concurrent_targets);
    while let Some(joined) = outcomes.next().await {
        match joined {
            Ok(outcome) => each(outcome),
            Err(e) => {
                return Err(RunError::Target {
                    target: "?".into(),
                    message: format!("poll task failed: {e}"),
                });
            }
        }
    }
    Ok(())
}

/// `--test`: line protocol to `out`, failures to stderr, a progress bar on a terminal.
pub async fn test_mode(cfg: &CollectorConfig, targets: Vec<Target>, out: &mut impl Write) -> Result<Summary, RunError> {
    let bar = progress(targets.len());
    let mut summary = Summary {
        targets: targets.len(),
        ..Summary::default()
    };
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut io_err = None;
    poll_all(cfg, targets, |outcome| {
        buf.clear();
        for p in &outcome.points {
            summary.points += usize::from(encode(p, UnsignedMode::Native, &mut buf));
        }
        // Stdout carries the points; which profile and why goes to stderr beside the errors.
        if let Some(m) = &outcome.profile {
            let (name, why) = (&m.profile.name, &m.why);
            bar.suspend(|| eprintln!("target {}: profile {name} ({why})", outcome.target));
        }
        if !outcome.ok() {
            summary.failed += 1;
            for e in outcome.errors() {
                bar.suspend(|| eprintln!("error: target {}: {e}", outcome.target));
            }
        }
        if let Err(e) = out.write_all(&buf) {
            io_err.get_or_insert(e);
        }
        bar.inc(1);
    })
    .await?;
    bar.finish_and_clear();
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.flush()?;
    Ok(summary)
}

/// What `--once` achieved.
#[derive(Debug, Default)]
pub struct OnceReport {
    pub summary: Summary,
    /// Outputs that still hold points at the deadline: (name, points).
    pub undelivered: Vec<(String, u64)>,
}

/// `--once`: poll every target, queue the points for every output, try to deliver them
/// within `flush_timeout`. What is not delivered stays queued for the next run.
pub async fn once_mode(
    cfg: &CollectorConfig,
    targets: Vec<Target>,
    outputs: &OutputSet,
) -> Result<OnceReport, RunError> {
    let mut writers = outputs.writers(cfg)?;
    let mut report = OnceReport {
        summary: Summary {
            targets: targets.len(),
            ..Summary::default()
        },
        ..OnceReport::default()
    };
    // Each target's own interval, for the alignment of its points.
    let intervals: HashMap<_, _> = targets.iter().map(|t| (t.name.clone(), t.interval)).collect();
    poll_all(cfg, targets, |mut outcome| {
        if cfg.collector.round_interval
            && let Some(i) = intervals.get(&outcome.target)
        {
            crate::align::to_interval(&mut outcome.points, *i);
        }
        if !outcome.ok() {
            report.summary.failed += 1;
            for e in outcome.errors() {
                eprintln!("error: target {}: {e}", outcome.target);
            }
        }
        report.summary.points += outcome.points.len();
        outputs.enqueue(&outcome.points);
    })
    .await?;
    outputs.commit();
    let deadline = tokio::time::Instant::now() + cfg.collector.flush_timeout.get();
    futures::future::join_all(writers.iter_mut().map(|w| w.drain(deadline))).await;
    for o in &outputs.outputs {
        let left = outputs.pending_points(&o.name);
        if left > 0 {
            report.undelivered.push((o.name.clone(), left));
        }
    }
    Ok(report)
}

fn progress(n: usize) -> ProgressBar {
    if n < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} polling [{bar:40}] {pos}/{len} targets {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
