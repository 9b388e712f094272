//! Output metrics (Prometheus, the `prometheus` crate Pingora also uses). Labels are
//! bounded: output names come from the config, reasons from a fixed list.

use crate::prom::must;
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec, Registry, histogram_opts, opts};
use std::sync::LazyLock;

pub struct OutputMetrics {
    pub written: IntCounterVec,
    pub queued: IntGaugeVec,
    pub dropped: IntCounterVec,
    pub queue_bytes: IntGaugeVec,
    pub write_seconds: HistogramVec,
    pub breaker: IntGaugeVec,
}

/// Drop reasons, the only values of the `reason` label.
pub const REASONS: &[&str] = &["rejected", "too_large", "queue_full", "corrupt", "disk_full"];

pub static METRICS: LazyLock<OutputMetrics> = LazyLock::new(|| {
    let written = IntCounterVec::new(
        opts!(
            "netpulse_output_points_written_total",
            "Points acknowledged by the replica"
        ),
        &["output"],
    );
    let queued = IntGaugeVec::new(
        opts!("netpulse_output_points_queued", "Points waiting in the replica's queue"),
        &["output"],
    );
    let dropped = IntCounterVec::new(
        opts!("netpulse_output_points_dropped_total", "Points given up, by reason"),
        &["output", "reason"],
    );
    let queue_bytes = IntGaugeVec::new(
        opts!("netpulse_output_queue_bytes", "Bytes of the replica's queue on disk"),
        &["output"],
    );
    let write_seconds = HistogramVec::new(
        histogram_opts!(
            "netpulse_output_write_duration_seconds",
            "Time of one write request",
            vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
        ),
        &["output"],
    );
    let breaker = IntGaugeVec::new(
        opts!(
            "netpulse_output_circuit_breaker_state",
            "Circuit breaker of the output: 0 closed, 1 open, 2 half-open"
        ),
        &["output"],
    );
    OutputMetrics {
        written: must(written),
        queued: must(queued),
        dropped: must(dropped),
        queue_bytes: must(queue_bytes),
        write_seconds: must(write_seconds),
        breaker: must(breaker),
    }
});

/// Registers the output metrics on `registry` (the daemon's /metrics).
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    let m = &*METRICS;
    registry.register(Box::new(m.written.clone()))?;
    registry.register(Box::new(m.queued.clone()))?;
    registry.register(Box::new(m.dropped.clone()))?;
    registry.register(Box::new(m.queue_bytes.clone()))?;
    registry.register(Box::new(m.write_seconds.clone()))?;
    registry.register(Box::new(m.breaker.clone()))
}

/// A writer's reports, as this output's metrics.
pub struct OutputObserver(pub String);

impl netpulse_delivery::Observer for OutputObserver {
    fn delivered(&self, d: netpulse_delivery::Outcome) {
        METRICS.written.with_label_values(&[&self.0]).inc_by(d.written);
        METRICS
            .dropped
            .with_label_values(&[&self.0, "rejected"])
            .inc_by(d.rejected);
        METRICS
            .dropped
            .with_label_values(&[&self.0, "too_large"])
            .inc_by(d.too_large);
    }

    fn write_seconds(&self, seconds: f64) {
        METRICS.write_seconds.with_label_values(&[&self.0]).observe(seconds);
    }

    fn breaker(&self, to: netpulse_delivery::breaker::State) {
        METRICS.breaker.with_label_values(&[&self.0]).set(to.as_gauge());
    }

    fn queue(&self, q: &netpulse_delivery::queue::DiskQueue) {
        observe_queue(&self.0, q);
    }
}

/// Publishes a queue's pending points and bytes.
pub fn observe_queue(output: &str, q: &netpulse_delivery::queue::DiskQueue) {
    METRICS
        .queued
        .with_label_values(&[output])
        .set(q.pending_points() as i64);
    METRICS.queue_bytes.with_label_values(&[output]).set(q.bytes() as i64);
}
