//! Write mirroring: a backend with `mirror` gets every request routed to it (InfluxDB writes)
//! on every server. A write is parsed and stamped (`lines`), sealed with its path, query and
//! credentials (`netpulse_delivery::envelope`), appended to every server's durable queue and
//! answered `204` only once every queue holds it on disk (`commit`); a writer per server then
//! delivers its queue in order with the collector's answer semantics (`netpulse_delivery`).
//! Refused writes are never half-accepted: a full queue, a bad body, a body above the limit are
//! answered before anything is appended.
//!
//! - `lines`: validation and timestamps;
//! - `commit`: group commit (one fsync per queue for many writes);
//! - `open`: the queues of a backend, held by one process at a time (upgrades hand them over);
//! - `serve`: the HTTP side (body, gzip, answers) of one request;
//! - `observe`: per-server counters for the stats page, `/metrics` and the runtime API.

mod commit;
mod lines;
mod observe;
mod open;
mod serve;

pub use observe::{MirrorCounters, ServerCounters, ServerView};
pub use open::Service;
pub use serve::serve;

use netpulse_config::{BalancerConfig, Mirror as MirrorConfig};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why a write was not accepted: its status and the text the writer reads.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Invalid(String),
    #[error("request body too large: more than {0} bytes")]
    TooLarge(u64),
    #[error("the mirror queue of server {0} is full; retry later")]
    Full(String),
    #[error("writes cannot be made durable now: {0}")]
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Invalid(_) => 400,
            Refusal::TooLarge(_) => 413,
            Refusal::Full(_) | Refusal::Unavailable(_) => 503,
        }
    }

    /// The `reason` label it is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid",
            Refusal::TooLarge(_) => "too_large",
            Refusal::Full(_) => "full",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// Every mirroring backend, by pool index.
#[derive(Default)]
pub struct Mirrors {
    by_backend: Vec<Option<Arc<Mirror>>>,
}

impl Mirrors {
    pub fn new(cfg: &BalancerConfig) -> Self {
        let by_backend = (cfg.backends.iter())
            .map(|b| {
                let m = b.mirror.as_ref()?;
                Some(Arc::new(Mirror {
                    backend: b.name.clone(),
                    cfg: m.clone(),
                    servers: b.servers.iter().map(|s| (s.name.clone(), s.address.clone())).collect(),
                    connect_timeout: b.timeouts.connect.get(),
                    server_timeout: b.timeouts.server.get(),
                    open: OnceLock::new(),
                    opened: tokio::sync::Notify::new(),
                    append: Mutex::new(()),
                    commit: commit::GroupCommit::new(),
                    counters: MirrorCounters::default(),
                    server_counters: b.servers.iter().map(|_| Arc::default()).collect(),
                    closing: AtomicBool::new(false),
                    inflight: AtomicUsize::new(0),
                }))
            })
            .collect();
        Self { by_backend }
    }

    pub fn get(&self, backend: usize) -> Option<&Arc<Mirror>> {
        self.by_backend.get(backend)?.as_ref()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Mirror>> {
        self.by_backend.iter().flatten()
    }
}

pub struct Mirror {
    pub backend: String,
    cfg: MirrorConfig,
    /// (name, address) of each server, in config order.
    servers: Vec<(String, String)>,
    connect_timeout: Duration,
    server_timeout: Duration,
    /// The queues, once this process holds them (`open`).
    open: OnceLock<open::Open>,
    opened: tokio::sync::Notify,
    /// Appenders one at a time: room is checked on every queue, then the write appended to all.
    append: Mutex<()>,
    commit: Arc<commit::GroupCommit>,
    pub counters: MirrorCounters,
    server_counters: Vec<Arc<ServerCounters>>,
    /// Shutting down: the queues are being handed over.
    closing: AtomicBool,
    inflight: AtomicUsize,
}

/// Counts a write inside [`Mirror::accept`] (the hand-over waits for them).
struct Inflight<'a>(&'a AtomicUsize);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Mirror {
    pub fn config(&self) -> &MirrorConfig {
        &self.cfg
    }

    /// Group commits so far (writes accepted / commits = writes sharing one fsync).
    pub fn commits(&self) -> u64 {
        self.commit.rounds.load(Ordering::Relaxed)
    }

    /// Queues a sealed write (`envelope`: its target, then its checked, stamped body) of
    /// `points` for every server; returns once it is durable in every queue.
    pub async fn accept(&self, payload: &[u8], points: u32) -> Result<(), Refusal> {
        if points == 0 {
            return Ok(()); // blank lines and comments only: nothing to write
        }
        self.inflight.fetch_add(1, Ordering::AcqRel);
        let _inflight = Inflight(&self.inflight);
        let open = self.wait_open().await?;
        let seq = {
            let _one = self.append.lock().unwrap_or_else(|p| p.into_inner());
            if self.closing.load(Ordering::Acquire) && open.released() {
                return Err(Refusal::Unavailable("the balancer is handing its queues over".into()));
            }
            let size = payload.len() as u64 + 12;
            for r in &open.replicas {
                let q = r.lock();
                if size > q.max_bytes() / 2 {
                    return Err(Refusal::TooLarge(self.cfg.max_body.0));
                }
                if q.bytes() + size > q.max_bytes() {
                    return Err(Refusal::Full(r.name.clone()));
                }
            }
            for r in &open.replicas {
                // Room was checked: the bound drops nothing here.
                r.lock()
                    .append(payload, points)
                    .map_err(|e| Refusal::Unavailable(e.to_string()))?;
            }
            self.commit.appended()
        };
        match tokio::time::timeout(self.server_timeout, self.commit.durable(seq)).await {
            Ok(r) => r.map_err(Refusal::Unavailable),
            Err(_) => Err(Refusal::Unavailable(format!(
                "no fsync within {:?}",
                self.server_timeout
            ))),
        }
    }

    async fn wait_open(&self) -> Result<&open::Open, Refusal> {
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        loop {
            let notified = self.opened.notified();
            if let Some(o) = self.open.get() {
                return Ok(o);
            }
            if self.closing.load(Ordering::Acquire) || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Refusal::Unavailable(
                    "the mirror queues are not open (held by another process, or not writable)".into(),
                ));
            }
        }
    }

    /// The live view of each server: its queue and counters.
    pub fn view(&self) -> Vec<ServerView> {
        (self.servers.iter().zip(&self.server_counters).enumerate())
            .map(|(i, ((name, _), c))| {
                let queue = self.open.get().map(|o| {
                    let q = o.replicas[i].lock();
                    (q.pending_points(), q.bytes(), q.oldest_age())
                });
                ServerView::new(name, c, queue)
            })
            .collect()
    }
}
