//! Counter rates (`rates = true`): `<field>_rate` per second from consecutive polls.
//! 32-bit counters that went down wrapped (unless that would mean more than half the range
//! in one interval); 64-bit counters that went down were reset; sysUpTime going back means
//! the agent restarted. In those cases no rate is written: never a negative or absurd spike.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: u64,
    ts_ns: i64,
    uptime: Option<u32>,
}

/// Last samples of one target's counters, keyed by (measurement, row index, field).
#[derive(Debug, Default)]
pub struct RateTracker {
    prev: HashMap<(Arc<str>, String, Arc<str>), Sample>,
}

impl RateTracker {
    /// Records the sample and returns the rate since the previous one, if meaningful.
    pub fn rate(
        &mut self,
        key: (Arc<str>, String, Arc<str>),
        value: u64,
        bits: u32,
        ts_ns: i64,
        uptime: Option<u32>,
    ) -> Option<f64> {
        let cur = Sample { value, ts_ns, uptime };
        let prev = self.prev.insert(key, cur)?;
        let dt = (ts_ns - prev.ts_ns) as f64 / 1e9;
        if dt <= 0.0 {
            return None;
        }
        if let (Some(a), Some(b)) = (prev.uptime, uptime)
            && b < a
        {
            return None; // the agent restarted: counters began again
        }
        let delta = if value >= prev.value {
            value - prev.value
        } else if bits == 32 {
            let wrapped = (1u64 << 32) - prev.value + value;
            if wrapped > (1u64 << 31) {
                return None; // more than half the range in one interval: a reset, not a wrap
            }
            wrapped
        } else {
            return None; // a 64-bit counter does not wrap between two polls: reset
        };
        Some(delta as f64 / dt)
    }

    /// Forgets samples older than `older_than_ns` (rows and targets that went away).
    pub fn prune(&mut self, older_than_ns: i64) {
        self.prev.retain(|_, s| s.ts_ns >= older_than_ns);
    }

    pub fn len(&self) -> usize {
        self.prev.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prev.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> (Arc<str>, String, Arc<str>) {
        ("interface".into(), "1".into(), "ifInOctets".into())
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn rates_wraps_and_resets() {
        let mut t = RateTracker::default();
        assert_eq!(t.rate(k(), 1000, 32, 0, Some(100)), None, "first sample");
        assert_eq!(t.rate(k(), 7000, 32, 60 * S, Some(6100)), Some(100.0));
        // 32-bit wrap: 2^32 - 1000 → 5000 in 60 s = 6000 / 60.
        t.rate(k(), (1u64 << 32) - 1000, 32, 120 * S, Some(12100));
        assert_eq!(t.rate(k(), 5000, 32, 180 * S, Some(18100)), Some(100.0));
        // A drop of more than half the range is a reset, not a wrap.
        assert_eq!(t.rate(k(), 10, 32, 240 * S, Some(24100)), None);
        // sysUpTime going back: no rate, even though the counter grew.
        t.rate(k(), 100, 32, 300 * S, Some(30100));
        assert_eq!(t.rate(k(), 200, 32, 360 * S, Some(50)), None);
        // 64-bit counters that go down were reset.
        let k64 = ("interface".into(), "1".into(), "ifHCInOctets".into());
        t.rate(k64.clone(), 1 << 40, 64, 0, None);
        assert_eq!(t.rate(k64.clone(), 5, 64, 60 * S, None), None);
        assert_eq!(t.rate(k64, 605, 64, 120 * S, None), Some(10.0));
        t.prune(200 * S);
        assert_eq!(t.len(), 1);
    }
}
