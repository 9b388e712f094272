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
//! - `probe`: a write's database and credentials asked of the servers once, cached;
//! - `serve`: the HTTP side (body, gzip, answers) of one request;
//! - `observe`: per-server counters for the stats page, `/metrics` and the runtime API.

mod commit;
mod lines;
mod observe;
mod open;
mod probe;
mod serve;

pub use observe::{MirrorCounters, ServerCounters, ServerView};
pub use open::Service;
pub use serve::serve;

use netpulse_config::{BalancerConfig, Mirror as MirrorConfig};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Why a write was not accepted: its status and the text the writer reads (InfluxDB's
/// wording where InfluxDB refuses the same request).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Invalid(String),
    /// Not a write method (InfluxDB answers 405 to a `GET /write`).
    #[error("{0}")]
    Method(String),
    /// What the servers answered a probe of the write's database and credentials (404, 401,
    /// 403): refused up front, as every server would refuse it later.
    #[error("{error}")]
    Known { status: u16, error: String },
    #[error("request body too large: more than {0} bytes")]
    TooLarge(u64),
    /// The body stopped arriving before it was whole.
    #[error("timeout reading the request body")]
    Stalled,
    #[error("the mirror queue of server {0} is full; retry later")]
    Full(String),
    #[error("writes cannot be made durable now: {0}")]
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Invalid(_) => 400,
            Refusal::Method(_) => 405,
            Refusal::Known { status, .. } => *status,
            Refusal::TooLarge(_) => 413,
            Refusal::Stalled => 408,
            Refusal::Full(_) | Refusal::Unavailable(_) => 503,
        }
    }

    /// The `reason` label it is counted under (one of [`REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid",
            Refusal::Method(_) => "method",
            Refusal::Known { status: 404, .. } => "unknown_database",
            Refusal::Known { .. } => "unauthorized",
            Refusal::TooLarge(_) => "too_large",
            Refusal::Stalled => "stalled",
            Refusal::Full(_) => "full",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// Every refusal reason, in the order the counters keep them.
pub const REASONS: [&str; 8] = [
    "invalid",
    "method",
    "unknown_database",
    "unauthorized",
    "too_large",
    "stalled",
    "full",
    "unavailable",
];

/// Each server of `b` as the probe asks it (a short read timeout: a probe decides nothing when
/// a server is slow).
fn probe_endpoints(b: &netpulse_config::Backend) -> Vec<netpulse_delivery::endpoint::Endpoint> {
    let pool = netpulse_config::HttpPoolConfig {
        connect_timeout: netpulse_config::Duration(b.timeouts.connect.get()),
        read_timeout: netpulse_config::Duration(Duration::from_secs(2)),
        ..netpulse_config::HttpPoolConfig::default()
    };
    (b.servers.iter())
        .filter_map(|s| {
            netpulse_delivery::endpoint::Endpoint::new(&s.name, &format!("http://{}", s.address), &pool).ok()
        })
        .collect()
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
                    probe: probe::Probe::new(probe_endpoints(b)),
                    logs: Default::default(),
                    connect_timeout: b.timeouts.connect.get(),
                    server_timeout: b.timeouts.server.get(),
                    open: OnceLock::new(),
                    opened: tokio::sync::Notify::new(),
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
    probe: probe::Probe,
    /// Refused writes are logged once a minute per reason.
    logs: netpulse_delivery::logonce::ByCause,
    connect_timeout: Duration,
    server_timeout: Duration,
    /// The queues, once this process holds them (`open`).
    open: OnceLock<open::Open>,
    opened: tokio::sync::Notify,
    commit: Arc<commit::GroupCommit>,
    pub counters: MirrorCounters,
    server_counters: Vec<Arc<ServerCounters>>,
    /// Shutting down: the queues are being handed over.
    closing: AtomicBool,
    inflight: AtomicUsize,
}

/// Appends one write to every server's queue or, when one refuses it (a full disk), to none:
/// a write answered 503 must not reach one server and not the other. Room was checked, so no
/// queue's bound drops anything here.
fn append_everywhere(
    replicas: &[netpulse_delivery::writer::Replica],
    payload: &[u8],
    points: u32,
) -> Result<(), Refusal> {
    let mut done = Vec::with_capacity(replicas.len());
    for r in replicas {
        match r.lock().append_now(payload, points) {
            Ok(mark) => done.push((r, mark)),
            Err(e) => {
                for (r, mark) in done {
                    if let Err(undo) = r.lock().undo(mark) {
                        tracing::error!(server = %r.name, error = %undo, "a refused write could not be taken back from the queue");
                    }
                }
                return Err(Refusal::Unavailable(e.to_string()));
            }
        }
    }
    Ok(())
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
            let _one = self.commit.lock_appends();
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
            append_everywhere(&open.replicas, payload, points)?;
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
