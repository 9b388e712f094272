//! The schedule: every target polled each `interval`, first polls spread over the
//! interval by a hash of the name (10,000 targets do not fire at once), each cycle moved
//! by a random `jitter`. A poll still running when the next is due is skipped and counted,
//! as is one refused by an open breaker. Memory: one heap entry per target.

use super::Core;
use crate::metrics::METRICS;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;

fn spread(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % ms)
}

/// A cheap random duration below `max` (xorshift; no need for a crypto RNG here).
fn jitter(max: Duration, state: &mut u64) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    Duration::from_nanos(*state % max.as_nanos().max(1) as u64)
}

pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let mut generation = core.generation.subscribe();
    let mut rng = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    let mut due: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    loop {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        {
            let targets = core.targets.read().unwrap_or_else(|p| p.into_inner());
            due.retain(|name, _| targets.contains_key(name));
            for (name, entry) in targets.iter() {
                let interval = entry.target().interval;
                let at = *due.entry(name.clone()).or_insert_with(|| now + spread(name, interval));
                heap.push(Reverse((at, name.clone())));
            }
        }
        loop {
            core.heartbeat();
            let next = heap
                .peek()
                .map(|Reverse((at, _))| *at)
                .unwrap_or(now + Duration::from_secs(1));
            let wake = next.min(Instant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = generation.changed() => break,
                _ = tokio::time::sleep_until(wake) => {}
            }
            while let Some(Reverse((at, name))) = heap.peek().cloned() {
                if at > Instant::now() {
                    break;
                }
                heap.pop();
                let entry = core
                    .targets
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&name)
                    .cloned();
                let Some(entry) = entry else { continue };
                let target = entry.target();
                let cfg_jitter = core.config().collector.jitter.get();
                // Slots stay on the interval grid; jitter moves each firing within its slot
                // without drifting the schedule (a target is polled once per interval).
                let slot = due.get(&name).copied().unwrap_or(at);
                let mut next_slot = slot + target.interval;
                if next_slot < Instant::now() {
                    next_slot = Instant::now() + target.interval; // fell behind: do not fire a burst
                }
                let next = next_slot + jitter(cfg_jitter.min(target.interval / 2), &mut rng);
                due.insert(name.clone(), next_slot);
                heap.push(Reverse((next, name.clone())));
                entry.state().next_poll = Some(SystemTime::now() + next.saturating_duration_since(Instant::now()));
                if entry.busy() {
                    METRICS.polls_skipped.with_label_values(&["still_running"]).inc();
                    continue;
                }
                if entry.state().breaker.check().is_err() {
                    METRICS.polls_skipped.with_label_values(&["circuit_open"]).inc();
                    continue;
                }
                drop(core.poll(&entry, None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_polls_spread_over_the_interval() {
        let interval = Duration::from_secs(60);
        let mut buckets = [0usize; 6];
        for i in 0..10_000 {
            let s = spread(&format!("target-{i}"), interval);
            assert!(s < interval);
            buckets[(s.as_secs() / 10) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| (1400..=1950).contains(&b)), "{buckets:?}");
        let mut rng = 7;
        assert!((0..1000).all(|_| jitter(Duration::from_secs(5), &mut rng) < Duration::from_secs(5)));
    }
}
