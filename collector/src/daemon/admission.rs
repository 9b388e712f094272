//! Admission to the poll slots (`collector.max_concurrent_targets`): who polls next when
//! more polls are due than there are slots.
//!
//! Two rules keep a live target polled at its interval whatever else is failing:
//! - **earliest deadline first**: a waiting poll's deadline is its target's next slot (after
//!   that the poll is worthless — the next one is due), so a 5 s target is served before a
//!   backlog of 300 s targets, whatever order they arrived in;
//! - **unproven targets hold at most half of the slots**: a target not known to answer —
//!   never polled yet, its last poll got nothing back, or its breaker not closed — waits in
//!   its own queue, served only while fewer than half the slots are busy with such targets.
//!   Silent agents hold a slot for their whole timeout and finish in waves; the other half
//!   stays free for targets that answer, so those never wait behind a wave. Breakers help
//!   only after their threshold of failures; this bounds the damage before that. (The
//!   price: a fleet of new targets starts on half the slots, until each has answered once.)
//!
//! A poll still waiting at its deadline is dropped and counted as a missed slot; `close` (at
//! shutdown) drops every waiting poll at once.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Why a poll got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Still waiting at its deadline.
    Missed,
    /// The collector is stopping.
    Closed,
}

struct Waiter {
    deadline: Instant,
    seq: u64,
    tx: oneshot::Sender<Slot>,
}

impl PartialEq for Waiter {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Waiter {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(o.deadline, o.seq))
    }
}

#[derive(Default)]
struct Inner {
    used: usize,
    unproven_used: usize,
    seq: u64,
    closed: bool,
    healthy: BinaryHeap<Reverse<Waiter>>,
    unproven: BinaryHeap<Reverse<Waiter>>,
    /// When polls missed their slot, answering targets' and unproven ones' (the last minute).
    missed: [VecDeque<Instant>; 2],
}

pub struct Admission {
    capacity: usize,
    unproven_cap: usize,
    inner: Mutex<Inner>,
}

/// A held slot; released (and handed to the next waiter) on drop.
pub struct Slot {
    adm: Option<Arc<Admission>>,
    unproven: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(adm) = self.adm.take() {
            let mut inner = adm.lock();
            inner.used -= 1;
            inner.unproven_used -= usize::from(self.unproven);
            adm.dispatch(&mut inner);
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

impl Admission {
    pub fn new(capacity: usize) -> Arc<Self> {
        let capacity = capacity.max(1);
        Arc::new(Self {
            capacity,
            unproven_cap: (capacity / 2).max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot until `deadline`.
    pub async fn acquire(self: &Arc<Self>, unproven: bool, deadline: Instant) -> Result<Slot, Refused> {
        let rx = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(Refused::Closed);
            }
            let (tx, rx) = oneshot::channel();
            inner.seq += 1;
            let w = Reverse(Waiter {
                deadline,
                seq: inner.seq,
                tx,
            });
            if unproven {
                inner.unproven.push(w);
            } else {
                inner.healthy.push(w);
            }
            self.dispatch(&mut inner);
            rx
        };
        // Bound first: a slot sent at the deadline is dropped (released) with `rx` here.
        let got = tokio::time::timeout_at(deadline, rx).await;
        match got {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(Refused::Closed),
            Err(_) => {
                let mut inner = self.lock();
                let now = Instant::now();
                let missed = &mut inner.missed[usize::from(unproven)];
                while missed.front().is_some_and(|t| now - *t > WINDOW) {
                    missed.pop_front();
                }
                if missed.len() < 100_000 {
                    missed.push_back(now);
                }
                Err(Refused::Missed)
            }
        }
    }

    /// Hands free slots to the waiters that may have them, earliest deadline first.
    fn dispatch(self: &Arc<Self>, inner: &mut Inner) {
        while inner.used < self.capacity {
            let unproven_ok = inner.unproven_used < self.unproven_cap;
            let take_unproven = match (inner.healthy.peek(), inner.unproven.peek()) {
                (None, None) => return,
                (Some(_), None) => false,
                (None, Some(_)) if !unproven_ok => return,
                (None, Some(_)) => true,
                (Some(h), Some(f)) => unproven_ok && f.0 < h.0,
            };
            let queue = if take_unproven {
                &mut inner.unproven
            } else {
                &mut inner.healthy
            };
            let Some(Reverse(w)) = queue.pop() else { return };
            if w.tx.is_closed() {
                continue; // gave up (deadline passed)
            }
            inner.used += 1;
            inner.unproven_used += usize::from(take_unproven);
            let slot = Slot {
                adm: Some(self.clone()),
                unproven: take_unproven,
            };
            if let Err(mut slot) = w.tx.send(slot) {
                // Gave up between the check and the send: undo here, we hold the lock.
                slot.adm = None;
                inner.used -= 1;
                inner.unproven_used -= usize::from(take_unproven);
            }
        }
    }

    /// Drops every waiting poll and refuses new ones (shutdown).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.healthy.clear();
        inner.unproven.clear();
    }

    /// Polls that missed their slot in the last minute: (answering targets', unproven ones').
    pub fn missed_last_minute(&self) -> (usize, usize) {
        let inner = self.lock();
        let now = Instant::now();
        let count = |q: &VecDeque<Instant>| q.iter().filter(|t| now - **t <= WINDOW).count();
        (count(&inner.missed[0]), count(&inner.missed[1]))
    }

    /// Polls waiting for a slot now.
    pub fn waiting(&self) -> usize {
        let inner = self.lock();
        inner.healthy.len() + inner.unproven.len()
    }

    pub fn in_use(&self) -> usize {
        self.lock().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn the_earliest_deadline_is_served_first_and_unproven_targets_get_half() {
        let adm = Admission::new(4);
        let mut held = vec![];
        for _ in 0..4 {
            held.push(adm.acquire(false, soon(10_000)).await.unwrap());
        }
        // A backlog of late-deadline unproven polls and one early healthy poll.
        let mut late = vec![];
        for _ in 0..10 {
            let a = adm.clone();
            late.push(tokio::spawn(
                async move { a.acquire(true, soon(60_000)).await.map(|_| ()) },
            ));
        }
        tokio::task::yield_now().await;
        let a = adm.clone();
        let early = tokio::spawn(async move { a.acquire(false, soon(5_000)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        held.pop();
        let slot = tokio::time::timeout(Duration::from_secs(1), early)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!slot.unproven);
        // Unproven polls never hold more than half of the slots.
        drop(held);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(adm.lock().unproven_used <= 2, "{}", adm.lock().unproven_used);
        drop(slot);
        for h in late {
            h.await.unwrap().unwrap();
        }
        assert_eq!(adm.in_use(), 0);
    }

    #[tokio::test]
    async fn a_poll_waiting_past_its_deadline_is_missed_and_close_drops_the_rest() {
        let adm = Admission::new(1);
        let held = adm.acquire(false, soon(10_000)).await.unwrap();
        assert_eq!(adm.acquire(false, soon(30)).await.err(), Some(Refused::Missed));
        assert_eq!(adm.missed_last_minute(), (1, 0));
        let a = adm.clone();
        let waiting = tokio::spawn(async move { a.acquire(true, soon(60_000)).await.err() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        adm.close();
        assert_eq!(waiting.await.unwrap(), Some(Refused::Closed));
        drop(held);
        assert_eq!(adm.in_use(), 0);
        assert_eq!(adm.acquire(false, soon(10)).await.err(), Some(Refused::Closed));
    }
}
