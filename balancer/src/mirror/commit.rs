//! Group commit for a mirror: appenders number their writes; one thread flushes every
//! server's queue and fsyncs them outside the queue locks, then publishes how far the writes
//! are durable. A write is answered only when its number is covered, so many concurrent writes
//! share one fsync per queue, and none is acknowledged before it is on disk everywhere.
//! The queues are held (`DiskQueue::hold_unpublished`): their writers deliver a write only
//! once a commit has made it durable in every queue; a failed commit takes back everything it
//! could not make durable, from every queue, so a write answered 503 reaches no replica.

use netpulse_delivery::queue::Cursor;
use netpulse_delivery::writer::Replica;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::watch;

/// How far writes are durable; a failure names the writes it covers.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub upto: u64,
    pub failed: Option<(u64, String)>,
}

/// A queue's end at a commit, and its file to fsync (`None`: nothing new).
type QueueEnd = (Cursor, Option<File>);

#[derive(Default)]
struct Pending {
    appended: u64,
    stop: bool,
}

pub struct GroupCommit {
    /// Commit rounds so far (each: one fsync per queue with new writes).
    pub rounds: AtomicU64,
    /// Appenders one at a time (room is checked on every queue, then the write appended to
    /// all); the committer takes it to see every queue at the same write.
    appends: Mutex<()>,
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

impl GroupCommit {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            rounds: AtomicU64::new(0),
            appends: Mutex::new(()),
            pending: Mutex::default(),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable::default()),
        })
    }

    /// The append lock (see `appends`).
    pub fn lock_appends(&self) -> MutexGuard<'_, ()> {
        self.appends.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn appended_so_far(&self) -> u64 {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).appended
    }

    /// Numbers a write already appended to every queue (call under [`Self::lock_appends`]).
    pub fn appended(&self) -> u64 {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.appended += 1;
        self.wake.notify_one();
        p.appended
    }

    /// Waits until write `seq` is durable (`Err`: why it may not be).
    pub async fn durable(&self, seq: u64) -> Result<(), String> {
        let mut rx = self.durable.subscribe();
        let d = rx
            .wait_for(|d| d.upto >= seq)
            .await
            .map_err(|_| "the balancer is stopping".to_string())?;
        match &d.failed {
            Some((upto, why)) if *upto >= seq => Err(why.clone()),
            _ => Ok(()),
        }
    }

    /// The committer thread's loop over `replicas` until [`Self::stop`].
    pub fn run(&self, replicas: &[Replica]) {
        loop {
            {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                while p.appended == self.durable.borrow().upto && !p.stop {
                    p = self.wake.wait(p).unwrap_or_else(|p| p.into_inner());
                }
                if p.appended == self.durable.borrow().upto {
                    return;
                }
            }
            let (mut target, ends, mut failed) = self.snapshot(replicas);
            for (r, (_, f)) in replicas.iter().zip(&ends) {
                if let Some(f) = f
                    && let Err(e) = f.sync_data()
                {
                    failed = Some(format!("queue of {}: fsync: {e}", r.name));
                }
            }
            if let Some(why) = &failed {
                target = self.take_back(replicas, why);
            } else {
                for (r, (end, _)) in replicas.iter().zip(ends) {
                    r.lock().publish(end);
                    r.notify.notify_one();
                }
            }
            self.rounds.fetch_add(1, Ordering::Relaxed);
            self.durable.send_modify(|d| {
                d.upto = target;
                if let Some(why) = failed {
                    d.failed = Some((target, why));
                }
            });
        }
    }

    /// Every queue at the same write (appends wait meanwhile): the last write's number, each
    /// queue's end and the file to fsync, and what failed.
    fn snapshot(&self, replicas: &[Replica]) -> (u64, Vec<QueueEnd>, Option<String>) {
        let _one = self.lock_appends();
        let target = self.appended_so_far();
        let mut failed = None;
        let ends = (replicas.iter())
            .map(|r| {
                let mut q = r.lock();
                let file = q.flush_for_sync().unwrap_or_else(|e| {
                    failed = Some(e.to_string());
                    None
                });
                (q.end(), file)
            })
            .collect();
        (target, ends, failed)
    }

    /// A failed commit: every write not yet durable everywhere leaves every queue (appends
    /// wait meanwhile); returns the last write's number, all of them answered refused.
    fn take_back(&self, replicas: &[Replica], why: &str) -> u64 {
        let _one = self.lock_appends();
        tracing::error!(error = %why, "mirrored writes could not be made durable; taken back and answered 503");
        for r in replicas {
            if let Err(e) = r.lock().cut_unpublished() {
                tracing::error!(server = %r.name, error = %e, "refused writes could not be taken back from the queue");
            }
        }
        self.appended_so_far()
    }

    /// Ends [`Self::run`] once everything appended is durable.
    pub fn stop(&self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.wake.notify_all();
    }
}
