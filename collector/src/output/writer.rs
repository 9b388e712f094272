//! One replica's writer: takes batches from its queue in order, gzips and POSTs them,
//! and acts on the answer like a careful operator would: 2xx acknowledges; 413 splits the
//! batch; 400/422 drops only the rejected batch (counted, never retried forever); 429/503
//! honour Retry-After; 5xx and connection errors back off with jitter and retry; a circuit
//! breaker stops hammering a dead replica. Nothing leaves the queue unacknowledged.

use super::gzip::gzip;
use super::http::Endpoint;
use super::metrics::METRICS;
use super::queue::DiskQueue;
use crate::breaker::Breaker;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What became of a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub written: u64,
    pub rejected: u64,
    pub too_large: u64,
}

impl Delivery {
    fn add(self, o: Delivery) -> Delivery {
        Delivery {
            written: self.written + o.written,
            rejected: self.rejected + o.rejected,
            too_large: self.too_large + o.too_large,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Retry {
    pub after: Option<Duration>,
    pub why: String,
}

pub enum Step {
    Delivered(Delivery),
    Empty,
    Wait(Duration),
}

pub struct Writer {
    pub name: String,
    queue: Arc<Mutex<DiskQueue>>,
    endpoint: Endpoint,
    breaker: Breaker,
    backoff: Box<dyn Iterator<Item = Duration> + Send + Sync>,
    pub notify: Arc<Notify>,
    batch_points: u64,
    /// How writes to the replica are going (shared with the output: a full disk takes room from
    /// a replica that is down first).
    delivery: Arc<super::Delivery>,
}

fn backoff() -> Box<dyn Iterator<Item = Duration> + Send + Sync> {
    Box::new(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times()
            .build(),
    )
}

/// Line count of line protocol text.
fn lines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// InfluxDB 1.x reports partial writes as `partial write: … dropped=N`.
fn dropped_in(body: &str) -> Option<u64> {
    let rest = &body[body.find("dropped=")? + "dropped=".len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

impl Writer {
    pub fn new(
        name: String,
        queue: Arc<Mutex<DiskQueue>>,
        endpoint: Endpoint,
        breaker: Breaker,
        notify: Arc<Notify>,
        batch_points: u64,
        delivery: Arc<super::Delivery>,
    ) -> Self {
        METRICS.breaker.with_label_values(&[&name]).set(0);
        Self {
            name,
            queue,
            endpoint,
            breaker,
            backoff: backoff(),
            notify,
            batch_points: batch_points.max(1),
            delivery,
        }
    }

    /// One batch: deliver it, or say how long to wait before trying again.
    pub async fn step(&mut self) -> Step {
        if let Err(wait) = self.breaker.check() {
            return Step::Wait(wait);
        }
        let records = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            match q.peek(self.batch_points, 8 << 20) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(output = %self.name, error = %e, "cannot read the queue");
                    return Step::Wait(Duration::from_secs(1));
                }
            }
        };
        let Some(last) = records.last() else {
            return Step::Empty;
        };
        let upto = last.next;
        let points: u64 = records.iter().map(|r| u64::from(r.points)).sum();
        let mut payload = Vec::with_capacity(records.iter().map(|r| r.payload.len()).sum());
        for r in &records {
            payload.extend_from_slice(&r.payload);
        }
        match self.send(&payload).await {
            Ok(d) => {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = q.ack(upto, points) {
                    tracing::error!(output = %self.name, error = %e, "cannot record the acknowledgement");
                }
                super::metrics::observe_queue(&self.name, &q);
                drop(q);
                METRICS.written.with_label_values(&[&self.name]).inc_by(d.written);
                METRICS
                    .dropped
                    .with_label_values(&[&self.name, "rejected"])
                    .inc_by(d.rejected);
                METRICS
                    .dropped
                    .with_label_values(&[&self.name, "too_large"])
                    .inc_by(d.too_large);
                self.breaker.success();
                self.delivery.succeeded();
                self.report_transitions("writes succeed again");
                self.backoff = backoff();
                Step::Delivered(d)
            }
            Err(retry) => {
                self.breaker.failure();
                self.delivery.failed();
                self.report_transitions(&retry.why);
                let wait = self
                    .backoff
                    .next()
                    .unwrap_or(Duration::from_secs(30))
                    .max(retry.after.unwrap_or_default());
                tracing::warn!(output = %self.name, error = %retry.why, retry_in = ?wait, "write failed; the batch stays queued");
                Step::Wait(wait)
            }
        }
    }

    fn report_transitions(&mut self, why: &str) {
        for (from, to) in self.breaker.take_transitions() {
            METRICS.breaker.with_label_values(&[&self.name]).set(to.as_gauge());
            tracing::warn!(output = %self.name, from = from.as_str(), to = to.as_str(), reason = why, "output circuit breaker changed state");
        }
    }

    /// Sends `payload` (whole lines); splits it on 413 until single lines.
    async fn send(&self, payload: &[u8]) -> Result<Delivery, Retry> {
        let points = lines(payload);
        let started = std::time::Instant::now();
        let reply = self.endpoint.post(gzip(payload)).await;
        METRICS
            .write_seconds
            .with_label_values(&[&self.name])
            .observe(started.elapsed().as_secs_f64());
        let reply = reply.map_err(|why| Retry { after: None, why })?;
        match reply.status {
            200..=299 => Ok(Delivery {
                written: points,
                ..Delivery::default()
            }),
            413 if points <= 1 => {
                tracing::error!(output = %self.name, "a single line is larger than the replica accepts (413); dropped");
                Ok(Delivery {
                    too_large: points,
                    ..Delivery::default()
                })
            }
            413 => {
                let mid = payload
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == b'\n')
                    .nth((points / 2 - 1) as usize)
                    .map_or(payload.len(), |(i, _)| i + 1);
                let first = Box::pin(self.send(&payload[..mid])).await?;
                let second = Box::pin(self.send(&payload[mid..])).await?;
                Ok(first.add(second))
            }
            400 | 422 => {
                let rejected = dropped_in(&reply.body).unwrap_or(points).min(points);
                tracing::error!(output = %self.name, status = reply.status, rejected, error = %reply.body.trim(), "replica rejected points; they are dropped, not retried");
                Ok(Delivery {
                    written: points - rejected,
                    rejected,
                    ..Delivery::default()
                })
            }
            status => Err(Retry {
                after: reply.retry_after,
                why: format!("HTTP {status}: {}", reply.body.trim()),
            }),
        }
    }

    /// Delivers until the queue is empty (true) or `deadline` passes (false).
    pub async fn drain(&mut self, deadline: Instant) -> bool {
        loop {
            match self.step().await {
                Step::Empty => return true,
                Step::Delivered(_) => {}
                Step::Wait(d) => {
                    if Instant::now() + d >= deadline {
                        return false;
                    }
                    tokio::time::sleep(d).await;
                }
            }
            if Instant::now() >= deadline {
                return self.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
            }
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_write_count() {
        assert_eq!(
            dropped_in("{\"error\":\"partial write: field type conflict: ... dropped=3\"}"),
            Some(3)
        );
        assert_eq!(dropped_in("unable to parse"), None);
    }
}
