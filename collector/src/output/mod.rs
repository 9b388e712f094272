//! Outputs: every configured InfluxDB replica gets every point, each through its own
//! durable queue and writer, so one replica down, slow or full never stalls the others.
//! Points are encoded once per unsigned mode and appended to every queue before any
//! write is attempted.

pub mod metrics;

use crate::lineproto::{Point, UnsignedMode, encode};
use metrics::METRICS;
use netpulse_config::{CollectorConfig, InfluxApi};
use netpulse_delivery::queue;
use netpulse_delivery::replicas;
use netpulse_delivery::writer::{Framing, Replica, Writer};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Output {
    pub name: String,
    /// InfluxDB 1.x has no unsigned type: Counter64 above i64::MAX goes as a float there.
    pub mode: UnsignedMode,
    /// The queue, its writer's wake-up and how writes to the replica are going.
    pub replica: Replica,
    /// Why the last append or fsync failed (a full disk): the daemon is not ready while it lasts.
    pub failing: Mutex<Option<String>>,
}

impl Output {
    fn failed(&self, why: Option<String>) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }
}

pub struct OutputSet {
    pub outputs: Vec<Output>,
}

#[derive(Debug, thiserror::Error)]
#[error("output {output}: {message}")]
pub struct OutputError {
    pub output: String,
    pub message: String,
}

impl OutputSet {
    /// Opens every output's queue (`queue_dir/<name>`), replaying what an earlier run left.
    pub fn open(cfg: &CollectorConfig) -> Result<Self, OutputError> {
        let mut outputs = vec![];
        for o in &cfg.outputs.influxdb {
            let err = |message: String| OutputError {
                output: o.name.clone(),
                message,
            };
            let spec = replicas::QueueSpec {
                kind: "output",
                name: &o.name,
                dir: Path::new(&o.queue_dir).join(&o.name),
                max_bytes: o.queue_max_bytes.0,
            };
            let (replica, rec) = replicas::open_queue(&spec).map_err(|e| err(e.to_string()))?;
            METRICS
                .dropped
                .with_label_values(&[&o.name, "corrupt"])
                .inc_by(rec.corrupt);
            metrics::observe_queue(&o.name, &replica.lock());
            for reason in metrics::REASONS {
                METRICS.dropped.with_label_values(&[o.name.as_str(), reason]); // 0 from the start
            }
            let mode = if o.api == InfluxApi::V1 {
                UnsignedMode::Float
            } else {
                UnsignedMode::Native
            };
            outputs.push(Output {
                name: o.name.clone(),
                mode,
                replica,
                failing: Mutex::new(None),
            });
        }
        Ok(Self { outputs })
    }

    /// Appends `points` to every queue (buffered; [`Self::commit`] makes it durable).
    /// One queue failing (disk full) is logged and never stops the others.
    pub fn enqueue(&self, points: &[Point]) {
        let mut encoded: [Option<(Vec<u8>, u32)>; 2] = [None, None];
        for o in &self.outputs {
            let slot = &mut encoded[usize::from(o.mode == UnsignedMode::Float)];
            let (buf, n) = slot.get_or_insert_with(|| {
                let mut buf = Vec::with_capacity(points.len() * 200);
                let n = points.iter().filter(|p| encode(p, o.mode, &mut buf)).count() as u32;
                (buf, n)
            });
            if *n == 0 {
                continue;
            }
            let mut appended = o.replica.lock().append(buf, *n);
            // A full disk: room is made (the biggest queue gives way) until the append fits.
            for _ in 0..8 {
                if !matches!(appended, Err(queue::QueueError::Io { .. })) || !self.make_room() {
                    break;
                }
                appended = o.replica.lock().append(buf, *n);
            }
            let q = o.replica.lock();
            match appended {
                Ok(dropped) if dropped > 0 => {
                    tracing::warn!(output = %o.name, points = dropped, "queue full: oldest points dropped");
                    METRICS
                        .dropped
                        .with_label_values(&[&o.name, "queue_full"])
                        .inc_by(dropped);
                }
                Ok(_) => {}
                Err(e) => {
                    o.failed(Some(e.to_string()));
                    tracing::error!(output = %o.name, error = %e, points = *n, "cannot queue points");
                    METRICS
                        .dropped
                        .with_label_values(&[&o.name, "queue_full"])
                        .inc_by(u64::from(*n));
                }
            }
            metrics::observe_queue(&o.name, &q);
        }
    }

    /// Group commit: one fsync per queue for everything appended since the last one;
    /// wakes the writers of queues that got new points.
    pub fn commit(&self) {
        for o in &self.outputs {
            let mut synced = o.replica.lock().sync();
            for _ in 0..8 {
                if synced.is_ok() || !self.make_room() {
                    break;
                }
                synced = o.replica.lock().sync();
            }
            match synced {
                Ok(true) => {
                    o.failed(None);
                    o.replica.notify.notify_one()
                }
                Ok(false) => {}
                Err(e) => {
                    o.failed(Some(e.to_string()));
                    tracing::error!(output = %o.name, error = %e, "cannot make queued points durable")
                }
            }
        }
    }

    /// On a full disk shared by several queues, a queue gives up its oldest points, counted as
    /// `disk_full`, so the others keep taking points: one replica down never stalls the others.
    /// The queue of a replica that is down gives way first ([`Delivery`]), the biggest among
    /// equals. Whether anything was freed.
    fn make_room(&self) -> bool {
        let size = |o: &Output| o.replica.lock().bytes();
        let biggest = (self.outputs.iter())
            .filter(|o| size(o) > 0)
            .max_by_key(|o| (o.replica.health.expendability(), size(o)));
        let Some(o) = biggest else { return false };
        let mut q = o.replica.lock();
        match q.shed() {
            Ok(points) => {
                tracing::warn!(output = %o.name, points, "disk full: oldest queued points dropped to make room for the other outputs");
                METRICS
                    .dropped
                    .with_label_values(&[&o.name, "disk_full"])
                    .inc_by(points);
                metrics::observe_queue(&o.name, &q);
                true
            }
            Err(e) => {
                tracing::error!(output = %o.name, error = %e, "disk full and no room could be made");
                false
            }
        }
    }

    /// (output, reason) when a queue cannot take points (its last write failed: a full disk)
    /// or is at 95 % of its bound: the daemon is not ready.
    pub fn saturated(&self) -> Option<(String, String)> {
        let failing = self.outputs.iter().find_map(|o| {
            let why = o.failing.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
            Some((
                o.name.clone(),
                format!("output {} queue cannot take points: {why}", o.name),
            ))
        });
        failing.or_else(|| self.saturated_by_bound())
    }

    fn saturated_by_bound(&self) -> Option<(String, String)> {
        self.outputs.iter().find_map(|o| {
            let q = o.replica.lock();
            (q.bytes() * 100 >= q.max_bytes() * 95).then(|| {
                (
                    o.name.clone(),
                    format!(
                        "output {} queue is full ({} of {} bytes)",
                        o.name,
                        q.bytes(),
                        q.max_bytes()
                    ),
                )
            })
        })
    }

    /// A writer per output.
    pub fn writers(&self, cfg: &CollectorConfig) -> Result<Vec<Writer>, OutputError> {
        // `http_pool.max_connections`: a bound on the requests of all outputs at once.
        let limit = Arc::new(tokio::sync::Semaphore::new(cfg.http_pool.max_connections.max(1)));
        self.outputs
            .iter()
            .zip(&cfg.outputs.influxdb)
            .map(|(o, c)| {
                let (endpoint, target) =
                    netpulse_delivery::endpoint::Endpoint::for_output(c, &cfg.http_pool).map_err(|message| {
                        OutputError {
                            output: o.name.clone(),
                            message,
                        }
                    })?;
                let spec = replicas::WriterSpec {
                    endpoint: endpoint.with_limit(limit.clone()),
                    framing: Framing::Fixed(target),
                    breaker: cfg.circuit_breaker.clone(),
                    batch_points: c.batch_size,
                    observer: Arc::new(metrics::OutputObserver(o.name.clone())),
                    set_aside: None,
                };
                Ok(replicas::writer(&o.replica, spec))
            })
            .collect()
    }

    pub fn pending_points(&self, name: &str) -> u64 {
        self.outputs
            .iter()
            .find(|o| o.name == name)
            .map_or(0, |o| o.replica.lock().pending_points())
    }
}
