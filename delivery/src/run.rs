//! A writer's delivery loop: deliver while there is something, sleep as the answers say,
//! wake on a commit, and give a small batch up to `flush_interval` to fill.

use crate::writer::{Step, Writer};
use std::time::Duration;
use tokio::sync::watch;

impl Writer {
    /// Delivers until `stop` turns true; hands the writer back (for a final drain).
    pub async fn run(mut self, flush_interval: Duration, mut stop: watch::Receiver<bool>) -> Self {
        loop {
            if *stop.borrow() {
                return self;
            }
            let step = tokio::select! {
                _ = stop.changed() => return self,
                s = self.step() => s,
            };
            let pause = match step {
                Step::Delivered(_) => continue,
                Step::Wait(d) => d,
                Step::Empty => {
                    let notify = self.notify.clone();
                    tokio::select! {
                        _ = stop.changed() => return self,
                        _ = notify.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    // Batch by time: give a batch up to flush_interval to fill.
                    if self.pending_points() >= self.batch_points() {
                        Duration::ZERO
                    } else {
                        flush_interval
                    }
                }
            };
            tokio::select! {
                _ = stop.changed() => return self,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
