//! Events per second as HAProxy's stats show them (`rate`, `req_rate`, and their `_max`): the
//! events of the current second plus the previous second's, weighted by what is left of the
//! current one (HAProxy's `freq_ctr`). Lock-free: one atomic word per second of counts.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Freq {
    /// (second << 32) | events in that second.
    curr: AtomicU64,
    /// Events of the second before `curr`'s (0 when that second had none).
    prev: AtomicU32,
    max: AtomicU32,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Freq {
    pub fn hit(&self) {
        self.hit_at(now_ms());
    }

    fn hit_at(&self, ms: u64) {
        let sec = ms / 1000;
        let mut cur = self.curr.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 32, cur & 0xffff_ffff);
            let next = if s == sec { cur + 1 } else { sec << 32 | 1 };
            match self
                .curr
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    if s != sec {
                        // The second rolled over: what it counted is the previous second.
                        let prev = if s + 1 == sec { n as u32 } else { 0 };
                        self.prev.store(prev, Ordering::Relaxed);
                        self.max.fetch_max(prev, Ordering::Relaxed);
                    }
                    break;
                }
                Err(actual) => cur = actual,
            }
        }
        self.max.fetch_max(self.rate_at(ms), Ordering::Relaxed);
    }

    /// Events over the last second.
    pub fn rate(&self) -> u32 {
        self.rate_at(now_ms())
    }

    fn rate_at(&self, ms: u64) -> u32 {
        let (sec, into) = (ms / 1000, ms % 1000);
        let cur = self.curr.load(Ordering::Relaxed);
        let (s, n) = (cur >> 32, (cur & 0xffff_ffff) as u32);
        let (curr, prev) = match sec.saturating_sub(s) {
            0 => (n, self.prev.load(Ordering::Relaxed)),
            1 => (0, n),
            _ => (0, 0),
        };
        curr + (u64::from(prev) * (1000 - into) / 1000) as u32
    }

    /// The highest rate seen.
    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed).max(self.rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_covers_one_second_and_the_max_stays() {
        let f = Freq::default();
        let t = 1_800_000_000_000u64;
        for i in 0..100 {
            f.hit_at(t + i * 5); // 100 events in the first half second
        }
        assert_eq!(f.rate_at(t + 999), 100);
        // Half-way through the next second, half of the previous second still counts.
        f.hit_at(t + 1500);
        assert_eq!(f.rate_at(t + 1500), 1 + 50);
        assert_eq!(f.rate_at(t + 3000), 0, "two seconds later: nothing");
        assert_eq!(f.max.load(Ordering::Relaxed), 100);
    }
}
