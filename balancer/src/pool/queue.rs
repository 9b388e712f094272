//! Request slots: a pick takes its server's slot in the same step (so two workers never both
//! take the last one under `maxconn`), a finished request gives it back, and a request that
//! finds every eligible server full waits in the backend queue (HAProxy's `timeout queue`).

use super::backend::Backend;
use std::sync::atomic::Ordering;

impl Backend {
    /// Picks a server and takes one of its request slots in one step.
    pub fn acquire(&self, skip: &[usize]) -> Option<usize> {
        let mut skip = skip.to_vec();
        loop {
            let i = self.pick(&skip)?;
            if self.servers[i].try_begin() {
                // Counted here, not in pick(): a pick whose server turned out full is no pick.
                self.servers[i].lbtot.fetch_add(1, Ordering::Relaxed);
                return Some(i);
            }
            skip.push(i);
        }
    }

    /// Gives back the request slot of server `i` (and wakes the queue if it has a limit).
    pub fn release(&self, i: usize) {
        self.servers[i].counters.end();
        if self.servers[i].maxconn.is_some() {
            self.slot_freed.notify_waiters();
        }
    }

    /// Whether a server would take the request but for its `maxconn`.
    pub fn has_full_server(&self) -> bool {
        (self.servers.iter()).any(|s| s.maxconn.is_some() && s.available() && !s.eligible())
    }

    /// Waits in the backend queue for a server below its `maxconn`, at most `queue_timeout`.
    pub async fn pick_queued(&self, skip: &[usize]) -> Option<usize> {
        let now = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.queued_max.fetch_max(now, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let picked = loop {
            let notified = self.slot_freed.notified();
            tokio::pin!(notified);
            // Registered before looking, so a slot freed in between is not missed.
            notified.as_mut().enable();
            if let Some(i) = self.acquire(skip) {
                break Some(i);
            }
            if !self.has_full_server() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                break None;
            }
        };
        self.queued.fetch_sub(1, Ordering::Relaxed);
        picked
    }

    /// Requests waiting in the queue now.
    pub fn queue_len(&self) -> i64 {
        self.queued.load(Ordering::Relaxed).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::tests::backend;

    #[tokio::test]
    async fn without_maxconn_no_server_is_full_and_the_queue_picks_at_once() {
        let b = backend(&[1], false);
        b.servers[0].counters.begin();
        assert_eq!(b.acquire(&[]), Some(0), "no maxconn: never full");
        b.release(0);
        assert!(!b.has_full_server());
        assert_eq!(b.pick_queued(&[]).await, Some(0));
        assert_eq!(b.queue_len(), 0);
    }
}
