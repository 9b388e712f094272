//! How writes to one replica are going, as its writer last saw them: shared with whoever
//! appends to its queue, because on a full disk the queue of a replica that is down gives
//! way first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Health {
    /// Unix ms of the last write that reached the replica (0: none yet).
    succeeded_at: AtomicU64,
    /// The last attempt failed.
    failing: AtomicBool,
}

impl Health {
    pub fn succeeded(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        self.succeeded_at
            .store(now.map_or(1, |d| d.as_millis() as u64), Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Orders replicas for giving up room on a full disk (highest first): failing, then never
    /// delivered to, then the one delivered to least recently.
    pub fn expendability(&self) -> (u8, u64) {
        let at = self.succeeded_at.load(Ordering::Relaxed);
        let class = if self.is_failing() { 2 } else { u8::from(at == 0) };
        (class, u64::MAX - at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_replica_gives_way_first() {
        let (up, down, new) = (Health::default(), Health::default(), Health::default());
        up.succeeded();
        down.succeeded();
        down.failed();
        assert!(down.expendability() > new.expendability());
        assert!(new.expendability() > up.expendability());
    }
}
