//! What a mirror reports: per server, points written and dropped (by the server's answer),
//! the corrupt stretches cut from its queue and its breaker; per mirror, writes accepted and
//! refused by reason. The queue's own depth, bytes and oldest age are read live from it.

use netpulse_delivery::breaker::State;
use netpulse_delivery::queue::DiskQueue;
use netpulse_delivery::{Observer, Outcome};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct ServerCounters {
    pub written: AtomicU64,
    pub rejected: AtomicU64,
    pub too_large: AtomicU64,
    pub corrupt: AtomicU64,
    /// 0 closed, 1 open, 2 half-open.
    pub breaker: AtomicI64,
}

impl Observer for ServerCounters {
    fn delivered(&self, o: Outcome) {
        self.written.fetch_add(o.written, Ordering::Relaxed);
        self.rejected.fetch_add(o.rejected, Ordering::Relaxed);
        self.too_large.fetch_add(o.too_large, Ordering::Relaxed);
    }

    fn write_seconds(&self, _seconds: f64) {}

    fn breaker(&self, to: State) {
        self.breaker.store(to.as_gauge(), Ordering::Relaxed);
    }

    fn queue(&self, _q: &DiskQueue) {}
}

/// Writes a mirror accepted and refused.
#[derive(Default)]
pub struct MirrorCounters {
    pub accepted_writes: AtomicU64,
    pub accepted_points: AtomicU64,
    /// 400: not line protocol.
    pub refused_invalid: AtomicU64,
    /// 413: above `max_body`.
    pub refused_too_large: AtomicU64,
    /// 503: a server's queue is full.
    pub refused_full: AtomicU64,
    /// 503: the queues are not open or a write could not be made durable.
    pub refused_unavailable: AtomicU64,
}

impl MirrorCounters {
    pub fn refused(&self, r: &super::Refusal) {
        let c = match r {
            super::Refusal::Invalid(_) => &self.refused_invalid,
            super::Refusal::TooLarge(_) => &self.refused_too_large,
            super::Refusal::Full(_) => &self.refused_full,
            super::Refusal::Unavailable(_) => &self.refused_unavailable,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (reason, count) of the refusals.
    pub fn refusals(&self) -> [(&'static str, u64); 4] {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("invalid", l(&self.refused_invalid)),
            ("too_large", l(&self.refused_too_large)),
            ("full", l(&self.refused_full)),
            ("unavailable", l(&self.refused_unavailable)),
        ]
    }
}

/// One mirrored server as every view shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerView {
    pub server: String,
    /// `None` while this process does not hold the queues.
    pub queued_points: Option<u64>,
    pub queue_bytes: Option<u64>,
    pub oldest_s: Option<f64>,
    pub written: u64,
    pub dropped_rejected: u64,
    pub dropped_too_large: u64,
    pub dropped_corrupt: u64,
    pub breaker: &'static str,
}

impl ServerView {
    pub fn new(name: &str, c: &ServerCounters, queue: Option<(u64, u64, Option<Duration>)>) -> Self {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Self {
            server: name.to_string(),
            queued_points: queue.map(|q| q.0),
            queue_bytes: queue.map(|q| q.1),
            oldest_s: queue.map(|q| q.2.map_or(0.0, |d| d.as_secs_f64())),
            written: l(&c.written),
            dropped_rejected: l(&c.rejected),
            dropped_too_large: l(&c.too_large),
            dropped_corrupt: l(&c.corrupt),
            breaker: match c.breaker.load(Ordering::Relaxed) {
                1 => "open",
                2 => "half_open",
                _ => "closed",
            },
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped_rejected + self.dropped_too_large + self.dropped_corrupt
    }
}
