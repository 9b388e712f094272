//! Group commit for a mirror: appenders number their writes; one thread flushes every
//! server's queue and fsyncs them outside the queue locks, then publishes how far the writes
//! are durable. A write is answered only when its number is covered, so many concurrent writes
//! share one fsync per queue, and none is acknowledged before it is on disk everywhere.

use netpulse_delivery::writer::Replica;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::watch;

/// How far writes are durable; a failure names the writes it covers.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub upto: u64,
    pub failed: Option<(u64, String)>,
}

#[derive(Default)]
struct Pending {
    appended: u64,
    stop: bool,
}

pub struct GroupCommit {
    /// Commit rounds so far (each: one fsync per queue with new writes).
    pub rounds: AtomicU64,
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

impl GroupCommit {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            rounds: AtomicU64::new(0),
            pending: Mutex::default(),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable::default()),
        })
    }

    /// Numbers a write already appended to every queue (call under the append lock).
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
            let target = {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                while p.appended == self.durable.borrow().upto && !p.stop {
                    p = self.wake.wait(p).unwrap_or_else(|p| p.into_inner());
                }
                if p.appended == self.durable.borrow().upto {
                    return;
                }
                p.appended
            };
            let mut failed = None;
            let mut files = vec![];
            for r in replicas {
                match r.lock().flush_for_sync() {
                    Ok(f) => files.push((r, f)),
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            for (r, f) in files {
                if let Some(f) = f {
                    if let Err(e) = f.sync_data() {
                        failed = Some(format!("queue of {}: fsync: {e}", r.name));
                    }
                    r.notify.notify_one();
                }
            }
            self.rounds.fetch_add(1, Ordering::Relaxed);
            if let Some(why) = &failed {
                tracing::error!(error = %why, "mirrored writes could not be made durable; answered 503");
            }
            self.durable.send_modify(|d| {
                d.upto = target;
                if let Some(why) = failed {
                    d.failed = Some((target, why));
                }
            });
        }
    }

    /// Ends [`Self::run`] once everything appended is durable.
    pub fn stop(&self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.wake.notify_all();
    }
}
