//! Run modes that poll every target once: `--test` prints line protocol to a writer.

use crate::lineproto::{Point, UnsignedMode, encode};
use crate::output::OutputSet;
use crate::poll::{PollOutcome, poll};
use crate::snmp::{SnmpEngine, SnmpError};
use crate::target::Target;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use netpulse_config::CollectorConfig;
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

/// Floors timestamps to the interval (`round_interval`), so a repeated poll in the same
/// interval overwrites its points instead of adding a second copy.
pub fn align_timestamps(points: &mut [Point], interval: std::time::Duration) {
    let step = interval.as_nanos() as i64;
    if step > 0 {
        for p in points {
            p.timestamp -= p.timestamp.rem_euclid(step);
        }
    }
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
    let interval = cfg.collector.interval.get();
    poll_all(cfg, targets, |mut outcome| {
        if cfg.collector.round_interval {
            align_timestamps(&mut outcome.points, interval);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::FieldValue;

    #[test]
    fn timestamps_align_to_the_interval() {
        let p = |ts| Point {
            measurement: "m".into(),
            tags: vec![],
            fields: vec![("v".into(), FieldValue::Int(1))],
            timestamp: ts,
        };
        let mut pts = vec![
            p(1_700_000_059_999_999_999),
            p(1_700_000_000_000_000_000),
            p(1_700_000_061_000_000_000),
        ];
        align_timestamps(&mut pts, std::time::Duration::from_secs(60));
        let ts: Vec<i64> = pts.iter().map(|p| p.timestamp).collect();
        assert_eq!(
            ts,
            [
                1_700_000_040_000_000_000,
                1_699_999_980_000_000_000,
                1_700_000_040_000_000_000
            ]
        );
    }
}
