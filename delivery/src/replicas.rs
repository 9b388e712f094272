//! The one way both binaries assemble a replica: its durable queue opened (what an earlier run
//! left recovered and logged, torn records reported), then its writer — endpoint, framing,
//! circuit breaker, batch size, observer and the set-aside of permanently refused batches.
//! The collector's outputs and the balancer's mirror servers differ only in what they pass.

use crate::Observer;
use crate::aside::SetAside;
use crate::breaker::Breaker;
use crate::endpoint::Endpoint;
use crate::queue::{DiskQueue, QueueError, Recovery};
use crate::writer::{Framing, Replica, Writer};
use netpulse_config::CircuitBreakerConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a replica's queue lives.
pub struct QueueSpec<'a> {
    /// What the replicas are to the operator, for the logs: "output", "mirror server".
    pub kind: &'static str,
    pub name: &'a str,
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// How a replica's writer delivers.
pub struct WriterSpec {
    pub endpoint: Endpoint,
    pub framing: Framing,
    pub breaker: CircuitBreakerConfig,
    pub batch_points: u64,
    pub observer: Arc<dyn Observer>,
    /// A batch the server refuses permanently is kept here, within this many bytes; without
    /// it, such a batch is dropped and counted.
    pub set_aside: Option<(PathBuf, u64)>,
}

/// Opens a replica's queue, replaying what an earlier run left; the recovery is logged here
/// and returned, so the caller counts torn records in its own metrics.
pub fn open_queue(q: &QueueSpec<'_>) -> Result<(Replica, Recovery), QueueError> {
    let (queue, rec) = DiskQueue::open(&q.dir, q.max_bytes)?;
    if rec.records > 0 {
        tracing::info!(kind = q.kind, replica = %q.name, records = rec.records, points = rec.points, "queue recovered: delivery resumes");
    }
    if rec.corrupt > 0 {
        tracing::warn!(kind = q.kind, replica = %q.name, stretches = rec.corrupt, "torn or corrupt queue records cut off");
    }
    Ok((Replica::new(q.name.to_string(), queue), rec))
}

/// The writer of `replica`.
pub fn writer(replica: &Replica, w: WriterSpec) -> Writer {
    let writer = Writer::new(
        replica.clone(),
        w.endpoint,
        w.framing,
        Breaker::new(&w.breaker),
        w.batch_points,
        w.observer,
    );
    match w.set_aside {
        Some((dir, max)) => writer.with_set_aside(SetAside::new(dir, max)),
        None => writer,
    }
}
