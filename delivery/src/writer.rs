//! One replica's writer: takes batches from its queue in order, gzips and POSTs them,
//! and acts on the answer ([`crate::answer::classify`]) like a careful operator would: 2xx
//! acknowledges; 413 splits the batch; 400/422 drops only the rejected batch (counted, never
//! retried forever); a permanent refusal (unknown database, credentials) of a batch that
//! carries its own target (a mirrored write) sets that batch aside ([`crate::aside`]) so the
//! writes behind it go on — for the collector's fixed target it is the output's configuration
//! and is retried; 429/503 honour Retry-After; 5xx and connection errors back off with jitter
//! and retry; a circuit breaker stops hammering a dead replica. Nothing leaves the queue
//! unacknowledged.

use crate::answer::{Answer, classify};
use crate::aside::{SetAside, redacted};
use crate::breaker::Breaker;
use crate::endpoint::{Endpoint, Target};
use crate::gzip::gzip;
use crate::logonce::ByCause;
use crate::queue::{DiskQueue, Record};
use crate::{Health, Observer, Outcome, count_points, envelope};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Retry {
    pub after: Option<Duration>,
    pub why: String,
}

pub enum Step {
    Delivered(Outcome),
    Empty,
    Wait(Duration),
}

/// Where batches go on the server.
pub enum Framing {
    /// Every record to one target (the collector's configured output).
    Fixed(Target),
    /// Each record carries its target ([`envelope`]); consecutive records with the same one
    /// share a request (the balancer's mirrored writes).
    Enveloped,
}

/// One replica's queue as appenders and its writer share it.
#[derive(Clone)]
pub struct Replica {
    pub name: String,
    pub queue: Arc<Mutex<DiskQueue>>,
    /// Wakes the writer when a commit made new records durable.
    pub notify: Arc<Notify>,
    pub health: Arc<Health>,
}

impl Replica {
    pub fn new(name: String, queue: DiskQueue) -> Self {
        Self {
            name,
            queue: Arc::new(Mutex::new(queue)),
            notify: Arc::new(Notify::new()),
            health: Arc::default(),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, DiskQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Writer {
    pub name: String,
    replica: Replica,
    endpoint: Endpoint,
    framing: Framing,
    breaker: Breaker,
    backoff: Box<dyn Iterator<Item = Duration> + Send + Sync>,
    pub notify: Arc<Notify>,
    batch_points: u64,
    observer: Arc<dyn Observer>,
    /// Where permanently refused batches go (mirrored writes only).
    aside: Option<SetAside>,
    /// When the set-aside batches are tried again.
    next_replay: Instant,
    logs: ByCause,
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

impl Writer {
    pub fn new(
        replica: Replica,
        endpoint: Endpoint,
        framing: Framing,
        mut breaker: Breaker,
        batch_points: u64,
        observer: Arc<dyn Observer>,
    ) -> Self {
        observer.breaker(breaker.state());
        Self {
            name: replica.name.clone(),
            notify: replica.notify.clone(),
            replica,
            endpoint,
            framing,
            breaker,
            backoff: backoff(),
            batch_points: batch_points.max(1),
            observer,
            aside: None,
            next_replay: Instant::now(),
            logs: ByCause::default(),
        }
    }

    /// Batches a server refuses permanently are kept in `aside` and the queue goes on.
    pub fn with_set_aside(mut self, aside: SetAside) -> Self {
        self.aside = Some(aside);
        self
    }

    /// One batch: deliver it, or say how long to wait before trying again.
    pub async fn step(&mut self) -> Step {
        if let Err(wait) = self.breaker.check() {
            return Step::Wait(wait);
        }
        if self.aside.is_some() && Instant::now() >= self.next_replay {
            self.next_replay = Instant::now() + crate::aside::REPLAY_EVERY;
            self.replay_set_aside().await;
        }
        let records = {
            let mut q = self.replica.lock();
            match q.peek(self.batch_points, 8 << 20) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(output = %self.name, error = %e, "cannot read the queue");
                    return Step::Wait(Duration::from_secs(1));
                }
            }
        };
        let Some((upto, points, target, payload)) = self.batch(&records) else {
            return Step::Empty;
        };
        let sent = match &target {
            Some(t) if envelope::is_gzip(t) => self.send_gzipped(t, payload.into(), points).await,
            Some(t) => self.send(t, &payload).await,
            // A record whose envelope cannot be read (never written so by us): dropped, counted.
            None => Ok(Outcome {
                rejected: points,
                ..Outcome::default()
            }),
        };
        match sent {
            Ok(d) => {
                let mut q = self.replica.lock();
                if let Err(e) = q.ack(upto, points) {
                    tracing::error!(output = %self.name, error = %e, "cannot record the acknowledgement");
                }
                self.observer.queue(&q);
                drop(q);
                self.observer.delivered(d);
                self.breaker.success();
                self.replica.health.succeeded();
                self.report_transitions("writes succeed again");
                self.backoff = backoff();
                Step::Delivered(d)
            }
            Err(retry) => {
                self.breaker.failure();
                self.replica.health.failed();
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

    /// The next request from the peeked records: where the acknowledgement goes, its points,
    /// its target (`None`: an unreadable envelope, to drop) and its body.
    fn batch(&self, records: &[Record]) -> Option<(crate::queue::Cursor, u64, Option<Target>, Vec<u8>)> {
        let first = records.first()?;
        let (take, target) = match &self.framing {
            Framing::Fixed(t) => (records.len(), Some(t.clone())),
            Framing::Enveloped => match envelope::split(&first.payload) {
                Ok((meta, _)) => {
                    let same = records
                        .iter()
                        .take_while(|r| envelope::split(&r.payload).is_ok_and(|(m, _)| m == meta))
                        .count();
                    (same, envelope::target(meta).ok())
                }
                Err(_) => (1, None),
            },
        };
        let chosen = &records[..take];
        let points = chosen.iter().map(|r| u64::from(r.points)).sum();
        let mut payload = Vec::with_capacity(chosen.iter().map(|r| r.payload.len()).sum());
        for r in chosen {
            match self.framing {
                Framing::Fixed(_) => payload.extend_from_slice(&r.payload),
                Framing::Enveloped => {
                    payload.extend_from_slice(envelope::split(&r.payload).map_or(&[][..], |(_, b)| b))
                }
            }
        }
        Some((chosen.last().expect("one").next, points, target, payload))
    }

    fn report_transitions(&mut self, why: &str) {
        for (from, to) in self.breaker.take_transitions() {
            self.observer.breaker(to);
            tracing::warn!(output = %self.name, from = from.as_str(), to = to.as_str(), reason = why, "output circuit breaker changed state");
        }
    }

    /// Sends `payload` (whole lines); splits it on 413 until single lines.
    async fn send(&self, target: &Target, payload: &[u8]) -> Result<Outcome, Retry> {
        let points = count_points(payload);
        match self.post(target, gzip(payload), points).await? {
            Some(done) => Ok(done),
            None => self.split(target, payload, points).await,
        }
    }

    /// Two halves of a batch the server found too large (413), each sent on its own.
    async fn split(&self, target: &Target, payload: &[u8], points: u64) -> Result<Outcome, Retry> {
        let mid = payload
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b'\n')
            .nth((points / 2 - 1) as usize)
            .map_or(payload.len(), |(i, _)| i + 1);
        let first = Box::pin(self.send(target, &payload[..mid])).await?;
        let second = Box::pin(self.send(target, &payload[mid..])).await?;
        Ok(first + second)
    }

    /// Sends records queued gzipped (gzip members of `points` points, concatenated: one
    /// multi-member body, not compressed again); on 413 they are unpacked and split.
    async fn send_gzipped(&self, target: &Target, members: bytes::Bytes, points: u64) -> Result<Outcome, Retry> {
        if let Some(done) = self.post(target, members.clone(), points).await? {
            return Ok(done);
        }
        match crate::gzip::gunzip(&members) {
            Ok(plain) => self.split(target, &plain, points).await,
            Err(e) => {
                tracing::error!(output = %self.name, error = %e, "a queued gzip body cannot be read; dropped");
                Ok(Outcome {
                    rejected: points,
                    ..Outcome::default()
                })
            }
        }
    }

    /// One request of `points` points; `None`: 413 for several points (the caller splits).
    async fn post(&self, target: &Target, body: bytes::Bytes, points: u64) -> Result<Option<Outcome>, Retry> {
        let started = std::time::Instant::now();
        let reply = self.endpoint.post(target, body.clone()).await;
        self.observer.write_seconds(started.elapsed().as_secs_f64());
        let reply = match reply {
            Ok(r) => r,
            // A request that cannot be sent as it is never will be: set aside where the writer
            // can (status 0: no answer), like a server's permanent refusal.
            Err(e) if !e.retryable() && self.aside.is_some() => {
                let aside = self.aside.as_ref().expect("checked");
                return Ok(Some(self.set_aside(aside, target, 0, &e.to_string(), &body, points)));
            }
            Err(e) => {
                return Err(Retry {
                    after: None,
                    why: e.to_string(),
                });
            }
        };
        let outcome = match classify(reply.status, reply.retry_after, &reply.body, points) {
            Answer::Written => Outcome {
                written: points,
                ..Outcome::default()
            },
            Answer::Split => return Ok(None),
            Answer::TooLarge => {
                if let Some(quiet) = self.logs.allow("413") {
                    tracing::error!(output = %self.name, not_logged = quiet, "a single line is larger than the replica accepts (413); dropped");
                }
                Outcome {
                    too_large: points,
                    ..Outcome::default()
                }
            }
            Answer::Rejected(rejected) => {
                if let Some(quiet) = self.logs.allow(&format!("{} {}", reply.status, cause(&reply.body))) {
                    tracing::error!(output = %self.name, status = reply.status, rejected, not_logged = quiet, error = %reply.body.trim(), "replica rejected points; they are dropped, not retried");
                }
                Outcome {
                    written: points - rejected,
                    rejected,
                    ..Outcome::default()
                }
            }
            Answer::Refused { status, why } => match &self.aside {
                Some(aside) => self.set_aside(aside, target, status, &why, &body, points),
                None => {
                    return Err(Retry {
                        after: None,
                        why: format!(
                            "HTTP {status}: {why} (the output's configuration: fix it and the queue is delivered)"
                        ),
                    });
                }
            },
            Answer::Retry { after, why } => return Err(Retry { after, why }),
        };
        Ok(Some(outcome))
    }

    /// Tries the set-aside batches again, oldest first, until one is still refused (at most a
    /// few per round: the queue is what this writer is for).
    async fn replay_set_aside(&mut self) {
        let Some(aside) = &self.aside else { return };
        for _ in 0..16 {
            let Some((stem, target, body)) = aside.oldest() else {
                return;
            };
            let points = crate::gzip::gunzip(&body).map_or(0, |p| count_points(&p));
            match self.endpoint.post(&target, body).await {
                Ok(r) if (200..300).contains(&r.status) => {
                    aside.remove(&stem);
                    tracing::info!(output = %self.name, batch = %stem, points, "a set-aside write was taken on replay");
                    self.observer.delivered(Outcome {
                        written: points,
                        ..Outcome::default()
                    });
                }
                _ => return,
            }
        }
    }

    fn set_aside(
        &self,
        aside: &SetAside,
        target: &Target,
        status: u16,
        why: &str,
        body: &[u8],
        points: u64,
    ) -> Outcome {
        let kept = aside.keep(target, status, why, body, points);
        let cause = format!("{status} {}", cause(why));
        match kept {
            Ok(file) => {
                if let Some(quiet) = self.logs.allow(&cause) {
                    tracing::error!(output = %self.name, status, error = %why, path = %redacted(&target.path_and_query), points, kept = %file.display(), not_logged = quiet, "the replica refuses this write permanently: set aside, the writes behind it go on");
                }
            }
            Err(e) => {
                if let Some(quiet) = self.logs.allow(&format!("keep {cause}")) {
                    tracing::error!(output = %self.name, status, error = %why, path = %redacted(&target.path_and_query), points, dir = %aside.dir().display(), keep_error = %e, not_logged = quiet, "the replica refuses this write permanently and it could not be kept on disk: dropped");
                }
            }
        }
        Outcome {
            set_aside: points,
            ..Outcome::default()
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
                return self.replica.lock().is_empty();
            }
        }
    }

    pub fn pending_points(&self) -> u64 {
        self.replica.lock().pending_points()
    }

    pub fn batch_points(&self) -> u64 {
        self.batch_points
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// What makes two answers the same cause in the logs: the text without its numbers.
fn cause(body: &str) -> String {
    body.chars().filter(|c| !c.is_ascii_digit()).take(120).collect()
}
