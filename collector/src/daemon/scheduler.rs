//! The schedule: every target polled each `interval`, on a grid of wall-clock slots whose
//! phase is fixed by a hash of the target's name — so 10,000 targets do not fire at once,
//! a restarted collector keeps its phase, and in cluster mode a new owner polls at the old
//! owner's times (no gap, no extra poll at a hand-over). Each firing is moved by a random
//! `jitter` within its slot. A poll still running when the next is due is skipped and
//! counted, as is one refused by an open breaker. A due poll waits for one of the poll slots
//! until its next slot at most (`admission`: earliest deadline first, failing targets held
//! to half of the slots), so a live target is polled at its interval whatever else fails.
//!
//! Cluster mode: only targets this replica owns fire; each firing first takes the target's
//! permit (`cluster::Cluster::decide`). A target gained by a change of the assignment gets a
//! catch-up permit at once (granted only if a whole interval passed without a poll: the
//! slot of a replica that died). Memory: one heap entry per target.

use super::Core;
use crate::cluster::{self, Cluster, Decision};
use crate::metrics::METRICS;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::time::Instant;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The first slot of `name` after `after_ms` (Unix ms): slots are `phase + k × interval`.
fn next_slot(name: &str, interval: Duration, after_ms: u64) -> u64 {
    let step = interval.as_millis().max(1) as u64;
    let phase = cluster::assign::hash(name.as_bytes()) % step;
    let since = (after_ms as i128 - phase as i128).rem_euclid(step as i128) as u64;
    after_ms - since + step
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

/// The `Instant` of a Unix-ms time.
fn at(unix: u64) -> Instant {
    let now = unix_ms();
    if unix >= now {
        Instant::now() + Duration::from_millis(unix - now)
    } else {
        Instant::now() - Duration::from_millis((now - unix).min(3_600_000))
    }
}

pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let mut generation = core.generation.subscribe();
    // Standalone, nothing ever changes the assignment (the branch below is off).
    let mut assignment = core.cluster.as_ref().map(|c| c.assignment.subscribe());
    let mut owned = core.cluster.as_ref().map(|_| HashSet::new());
    let mut first_share = true;
    let mut rng = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    // Each target's current slot (Unix ms).
    let mut due: HashMap<String, u64> = HashMap::new();
    let stall_at = fault_stall();
    loop {
        let mut heap = BinaryHeap::new();
        {
            let targets = core.targets.read().unwrap_or_else(|p| p.into_inner());
            due.retain(|name, _| targets.contains_key(name));
            let now = unix_ms();
            for (name, entry) in targets.iter() {
                let slot = *due
                    .entry(name.clone())
                    .or_insert_with(|| next_slot(name, entry.target().interval, now));
                heap.push(Reverse((at(slot), name.clone())));
            }
        }
        if let (Some(c), Some(owned)) = (&core.cluster, &mut owned) {
            let gained = reshare(&core, c, owned);
            if !std::mem::take(&mut first_share) {
                // Polled at once if its slot was missed (its owner died).
                for name in gained {
                    permitted(&core, c, &name, true);
                }
            }
        }
        loop {
            if stall_at.is_some_and(|t| Instant::now() >= t) {
                tracing::warn!("NETPULSE_FAULT_STALL_SCHEDULER: the scheduler loop stops here");
                std::future::pending::<()>().await;
            }
            core.heartbeat();
            let next = heap.peek().map(|Reverse((at, _))| *at);
            let wake = next.map_or(Instant::now() + Duration::from_secs(1), |n| {
                n.min(Instant::now() + Duration::from_secs(1))
            });
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = generation.changed() => break,
                Some(Ok(())) = async { Some(assignment.as_mut()?.changed().await) }, if assignment.is_some() => break,
                _ = tokio::time::sleep_until(wake) => {}
            }
            while let Some(Reverse((fire, name))) = heap.peek().cloned() {
                if fire > Instant::now() {
                    break;
                }
                heap.pop();
                if let Some(next) = fire_one(&core, &name, &mut due, &mut rng) {
                    heap.push(Reverse((next, name)));
                }
            }
        }
    }
}

/// A due target: its next slot booked (returned: when it fires next), then its poll started
/// unless it is another replica's, still running, or its breaker is open.
fn fire_one(core: &Arc<Core>, name: &str, due: &mut HashMap<String, u64>, rng: &mut u64) -> Option<Instant> {
    let entry = core.entry(name)?;
    let interval = entry.target().interval;
    let slot = due.get(name).copied().unwrap_or_else(unix_ms);
    let mut next = slot + interval.as_millis() as u64;
    if next < unix_ms() {
        next = next_slot(name, interval, unix_ms()); // fell behind: no burst
    }
    due.insert(name.to_string(), next);
    let cfg_jitter = core.config().collector.jitter();
    let fire_at = at(next) + jitter(cfg_jitter.min(interval / 2), rng);
    entry.state().next_poll = Some(SystemTime::now() + fire_at.saturating_duration_since(Instant::now()));
    if core.cluster.as_ref().is_some_and(|c| !c.owns(name)) {
        return Some(fire_at);
    }
    if entry.busy() {
        METRICS.polls_skipped.with_label_values(&["still_running"]).inc();
        return Some(fire_at);
    }
    if entry.state().breaker.check().is_err() {
        METRICS.polls_skipped.with_label_values(&["circuit_open"]).inc();
        return Some(fire_at);
    }
    match &core.cluster {
        None => drop(core.poll_by(&entry, None, slot_deadline(at(next), interval))),
        Some(c) => permitted(core, c, name, false),
    }
    Some(fire_at)
}

/// A due poll's deadline for a slot: just before its next slot. It is worthless once the next
/// one is due, and gone by then, so the next firing finds the target free rather than "still
/// running" (which would skip every other slot of a target that waits).
fn slot_deadline(next: Instant, interval: Duration) -> Instant {
    next - (interval / 10).min(Duration::from_millis(100))
}

/// Fault injection for the watchdog test and the drills: `NETPULSE_FAULT_STALL_SCHEDULER=SECS`
/// stops the scheduler loop that long after start, as a deadlock would.
fn fault_stall() -> Option<Instant> {
    let secs: u64 = std::env::var("NETPULSE_FAULT_STALL_SCHEDULER").ok()?.parse().ok()?;
    Some(Instant::now() + Duration::from_secs(secs))
}

/// Recomputes this replica's share; returns the targets it gained.
fn reshare(core: &Core, c: &Cluster, owned: &mut HashSet<String>) -> Vec<String> {
    let now: HashSet<String> = (core.targets.read().unwrap_or_else(|p| p.into_inner()).keys())
        .filter(|n| c.owns(n))
        .cloned()
        .collect();
    let gained = now.difference(owned).cloned().collect();
    cluster::metrics::METRICS.owned.set(now.len() as i64);
    *owned = now;
    gained
}

/// Takes the permit, then polls (with the previous owner's state on a takeover: its rate
/// samples, and the agent's SNMPv3 engine, so no discovery is needed).
fn permitted(core: &Arc<Core>, c: &Arc<Cluster>, name: &str, catch_up: bool) {
    let (core, c, name) = (core.clone(), c.clone(), name.to_string());
    tokio::spawn(async move {
        let Some(entry) = core.entry(&name) else { return };
        let target = entry.target();
        if let Decision::Poll { state } = c.decide(&name, target.interval, catch_up).await {
            if let Some(s) = state {
                if let (Some(tracker), false) = (&target.rates, s.rates.is_empty()) {
                    let _ = tracker.lock().unwrap_or_else(|p| p.into_inner()).import(&s.rates);
                }
                if let Some(e) = &s.engine {
                    core.engine.seed_engine(&target.address.host, target.address.port, e);
                }
            }
            drop(core.poll_by(
                &entry,
                None,
                slot_deadline(Instant::now() + target.interval, target.interval),
            ));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spread_over_the_interval_and_fixed_by_the_name() {
        let interval = Duration::from_secs(60);
        let mut buckets = [0usize; 6];
        let now = 1_796_300_000_123;
        for i in 0..10_000 {
            let name = format!("target-{i}");
            let s = next_slot(&name, interval, now);
            assert!(s > now && s <= now + 60_000);
            assert_eq!(next_slot(&name, interval, s), s + 60_000, "the grid is fixed");
            assert_eq!(next_slot(&name, interval, s - 1), s);
            buckets[((s - now - 1) / 10_000) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| (1400..=1950).contains(&b)), "{buckets:?}");
        let mut rng = 7;
        assert!((0..1000).all(|_| jitter(Duration::from_secs(5), &mut rng) < Duration::from_secs(5)));
    }
}
