//! Counter rates (`rates = true`): `<field>_rate` per second from consecutive polls.
//! 32-bit counters that went down wrapped (unless that would mean more than half the range
//! in one interval); 64-bit counters that went down were reset; sysUpTime going back means
//! the agent restarted; a row whose ifCounterDiscontinuityTime changed had its counters
//! discontinued (IF-MIB). In those cases no rate is written: never a negative or absurd spike.

use crate::varint::{Reader, put};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: u64,
    ts_ns: i64,
    uptime: Option<u32>,
    /// The row's discontinuity time (ifCounterDiscontinuityTime), where the agent has one;
    /// not carried by `export` (the first interval after a takeover goes unchecked).
    discontinuity: Option<u32>,
}

/// The agent's clocks a sample was taken under: sysUpTime, and the row's
/// ifCounterDiscontinuityTime when it has one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Epoch {
    pub uptime: Option<u32>,
    pub discontinuity: Option<u32>,
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
        epoch: Epoch,
    ) -> Option<f64> {
        let (uptime, discontinuity) = (epoch.uptime, epoch.discontinuity);
        let cur = Sample {
            value,
            ts_ns,
            uptime,
            discontinuity,
        };
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
        if let (Some(a), Some(b)) = (prev.discontinuity, discontinuity)
            && a != b
        {
            return None; // the row's counters were discontinued (re-created, cleared)
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

    /// The samples as bytes, so that another replica taking the target over continues the
    /// rates (cluster mode). Compact: strings once in a dictionary, numbers as varints.
    pub fn export(&self) -> Vec<u8> {
        let mut dict: HashMap<&str, u64> = HashMap::new();
        let mut words: Vec<&str> = vec![];
        let mut body = Vec::with_capacity(self.prev.len() * 12);
        for ((m, idx, f), s) in &self.prev {
            for w in [&**m, idx.as_str(), &**f] {
                let next = dict.len() as u64;
                let n = *dict.entry(w).or_insert_with(|| {
                    words.push(w);
                    next
                });
                put(&mut body, n);
            }
            put(&mut body, s.value);
            put(&mut body, s.ts_ns as u64);
            put(&mut body, s.uptime.map_or(0, |u| u64::from(u) + 1));
        }
        let mut out = vec![STATE_VERSION];
        put(&mut out, words.len() as u64);
        for w in &words {
            put(&mut out, w.len() as u64);
            out.extend_from_slice(w.as_bytes());
        }
        put(&mut out, self.prev.len() as u64);
        out.extend_from_slice(&body);
        out
    }

    /// Takes the samples `export` wrote; `None` (and nothing changed) for bytes it did not write.
    pub fn import(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut r = Reader(bytes);
        if r.byte()? != STATE_VERSION {
            return None;
        }
        let n = r.num()? as usize;
        let mut words: Vec<Arc<str>> = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let len = r.num()? as usize;
            words.push(std::str::from_utf8(r.take(len)?).ok()?.into());
        }
        let count = r.num()? as usize;
        let mut prev = HashMap::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let mut w = || words.get(r.num()? as usize).cloned();
            let (m, idx, f) = (w()?, w()?, w()?);
            let value = r.num()?;
            let ts_ns = r.num()? as i64;
            let uptime = match r.num()? {
                0 => None,
                u => Some(u32::try_from(u - 1).ok()?),
            };
            prev.insert(
                (m, idx.to_string(), f),
                Sample {
                    value,
                    ts_ns,
                    uptime,
                    discontinuity: None,
                },
            );
        }
        self.prev = prev;
        Some(count)
    }
}

const STATE_VERSION: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn up(uptime: Option<u32>) -> Epoch {
        Epoch {
            uptime,
            discontinuity: None,
        }
    }

    #[test]
    fn no_rate_across_a_counter_discontinuity() {
        const S: i64 = 1_000_000_000;
        let mut t = RateTracker::default();
        let at = |d: u32| Epoch {
            uptime: Some(1000),
            discontinuity: Some(d),
        };
        t.rate(k(), 100, 64, 0, at(5));
        assert_eq!(t.rate(k(), 700, 64, 60 * S, at(5)), Some(10.0));
        assert_eq!(t.rate(k(), 900, 64, 120 * S, at(9)), None, "the row was discontinued");
        assert_eq!(t.rate(k(), 1500, 64, 180 * S, at(9)), Some(10.0));
    }

    fn k() -> (Arc<str>, String, Arc<str>) {
        ("interface".into(), "1".into(), "ifInOctets".into())
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn rates_wraps_and_resets() {
        let mut t = RateTracker::default();
        assert_eq!(t.rate(k(), 1000, 32, 0, up(Some(100))), None, "first sample");
        assert_eq!(t.rate(k(), 7000, 32, 60 * S, up(Some(6100))), Some(100.0));
        // 32-bit wrap: 2^32 - 1000 → 5000 in 60 s = 6000 / 60.
        t.rate(k(), (1u64 << 32) - 1000, 32, 120 * S, up(Some(12100)));
        assert_eq!(t.rate(k(), 5000, 32, 180 * S, up(Some(18100))), Some(100.0));
        // A drop of more than half the range is a reset, not a wrap.
        assert_eq!(t.rate(k(), 10, 32, 240 * S, up(Some(24100))), None);
        // sysUpTime going back: no rate, even though the counter grew.
        t.rate(k(), 100, 32, 300 * S, up(Some(30100)));
        assert_eq!(t.rate(k(), 200, 32, 360 * S, up(Some(50))), None);
        // 64-bit counters that go down were reset.
        let k64 = ("interface".into(), "1".into(), "ifHCInOctets".into());
        t.rate(k64.clone(), 1 << 40, 64, 0, up(None));
        assert_eq!(t.rate(k64.clone(), 5, 64, 60 * S, up(None)), None);
        assert_eq!(t.rate(k64, 605, 64, 120 * S, up(None)), Some(10.0));
        t.prune(200 * S);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn exported_samples_continue_the_rates_elsewhere() {
        let mut a = RateTracker::default();
        a.rate(k(), 1000, 32, 0, up(Some(100)));
        a.rate(
            ("interface".into(), "2".into(), "ifHCInOctets".into()),
            u64::MAX - 5,
            64,
            0,
            up(None),
        );
        let bytes = a.export();
        let mut b = RateTracker::default();
        assert_eq!(b.import(&bytes), Some(2));
        assert_eq!(
            b.rate(k(), 7000, 32, 60 * S, up(Some(6100))),
            Some(100.0),
            "the same rate as on a"
        );
        assert_eq!(b.import(b"junk"), None);
        assert_eq!(b.len(), 2, "a failed import changes nothing");
        for cut in 0..bytes.len() {
            assert_eq!(RateTracker::default().import(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
