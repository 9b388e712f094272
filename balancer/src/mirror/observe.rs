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
    /// Refused permanently by the server (unknown database, credentials) and kept aside.
    pub set_aside: AtomicU64,
    /// 0 closed, 1 open, 2 half-open.
    pub breaker: AtomicI64,
}

impl Observer for ServerCounters {
    fn delivered(&self, o: Outcome) {
        self.written.fetch_add(o.written, Ordering::Relaxed);
        self.rejected.fetch_add(o.rejected, Ordering::Relaxed);
        self.too_large.fetch_add(o.too_large, Ordering::Relaxed);
        self.set_aside.fetch_add(o.set_aside, Ordering::Relaxed);
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
    /// Refused writes by reason, in the order of [`super::REASONS`].
    refused: [AtomicU64; super::REASONS.len()],
}

impl MirrorCounters {
    pub fn refused(&self, r: &super::Refusal) {
        let i = super::REASONS.iter().position(|x| *x == r.reason()).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    /// (reason, count) of the refusals.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        (super::REASONS.iter().zip(&self.refused)).map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
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
    /// Points the server refused permanently, kept in its `set-aside/` folder.
    pub set_aside: u64,
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
            set_aside: l(&c.set_aside),
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
