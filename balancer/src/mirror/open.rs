//! The queues of each mirroring backend (`queue_dir/<backend>/<server>`), held by one process
//! at a time through a lock file: on an in-place upgrade the new balancer waits for the old one
//! to finish its writes in flight and let go (writes meanwhile wait, up to the connect timeout),
//! then opens them, recovers what they hold and starts one writer per server.

use super::{Mirror, Mirrors};
use async_trait::async_trait;
use netpulse_config::HttpPoolConfig;
use netpulse_delivery::endpoint::Endpoint;
use netpulse_delivery::replicas;
use netpulse_delivery::writer::{Framing, Replica, Writer};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Open {
    pub replicas: Vec<Replica>,
    /// The lock file, while this process holds the queues.
    lock: Mutex<Option<File>>,
}

impl Open {
    pub fn released(&self) -> bool {
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }
}

/// Opens, serves and hands over every mirror's queues (a Pingora background service).
pub struct Service {
    pub mirrors: Arc<Mirrors>,
}

#[async_trait]
impl BackgroundService for Service {
    async fn start(&self, shutdown: ShutdownWatch) {
        let runs = self
            .mirrors
            .all()
            .map(|m| tokio::spawn(run(m.clone(), shutdown.clone())));
        futures::future::join_all(runs.collect::<Vec<_>>()).await;
    }
}

async fn run(m: Arc<Mirror>, mut shutdown: ShutdownWatch) {
    let dir = Path::new(&m.cfg.queue_dir).join(&m.backend);
    let mut warned = false;
    let lock = loop {
        match try_lock(&dir) {
            Ok(Some(f)) => break f,
            Ok(None) if !warned => {
                tracing::info!(backend = %m.backend, dir = %dir.display(), "mirror queues held by another process (an upgrade hand-over?): waiting for them");
                warned = true;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(backend = %m.backend, dir = %dir.display(), error = %e, "cannot lock the mirror queues; writes get 503 until they can be");
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let replicas = match open_queues(&m, &dir) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(backend = %m.backend, error = %e, "cannot open the mirror queues; writes get 503");
            return;
        }
    };
    let writers = match writers(&m, &dir, &replicas) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(backend = %m.backend, error = %e, "mirror servers unusable");
            return;
        }
    };
    let open = m.open.get_or_init(|| Open {
        replicas,
        lock: Mutex::new(Some(lock)),
    });
    m.opened.notify_waiters();
    let committer = {
        let (commit, replicas) = (m.commit.clone(), open.replicas.clone());
        std::thread::Builder::new()
            .name(format!("mirror-commit-{}", m.backend))
            .spawn(move || commit.run(&replicas))
            .expect("spawn the committer thread")
    };
    let flush = m.cfg.flush_interval.get();
    let tasks: Vec<_> = (writers.into_iter())
        .map(|w| tokio::spawn(w.run(flush, shutdown.clone())))
        .collect();
    tracing::info!(backend = %m.backend, dir = %dir.display(), servers = open.replicas.len(), "mirror queues open");
    let _ = shutdown.changed().await;
    hand_over(&m, open, committer).await;
    for t in tasks {
        let _ = t.await;
    }
}

/// At shutdown (or upgrade): the writes in flight finish, the last commit runs, the lock goes.
async fn hand_over(m: &Mirror, open: &Open, committer: std::thread::JoinHandle<()>) {
    m.closing.store(true, Ordering::Release);
    let deadline = tokio::time::Instant::now() + m.server_timeout;
    while m.inflight.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    m.commit.stop();
    let _ = tokio::task::spawn_blocking(move || committer.join()).await;
    let _one = m.commit.lock_appends();
    for r in &open.replicas {
        if let Err(e) = r.lock().sync() {
            tracing::error!(server = %r.name, error = %e, "mirror queue not synced at shutdown");
        }
    }
    open.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    tracing::info!(backend = %m.backend, "mirror queues released");
}

/// The lock file of a backend's queues: `Some` when this process now holds it.
fn try_lock(dir: &Path) -> std::io::Result<Option<File>> {
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn open_queues(m: &Mirror, dir: &Path) -> Result<Vec<Replica>, String> {
    let mut out = vec![];
    for (i, (name, _)) in m.servers.iter().enumerate() {
        let spec = replicas::QueueSpec {
            kind: "mirror server",
            name,
            dir: dir.join(name),
            max_bytes: m.cfg.queue_max_bytes.0,
        };
        let (replica, rec) = replicas::open_queue(&spec).map_err(|e| e.to_string())?;
        // Delivered only once durable in every server's queue (`commit`).
        replica.lock().hold_unpublished();
        m.server_counters[i].corrupt.fetch_add(rec.corrupt, Ordering::Relaxed);
        out.push(replica);
    }
    Ok(out)
}

fn writers(m: &Mirror, dir: &Path, replicas: &[Replica]) -> Result<Vec<Writer>, String> {
    let pool = HttpPoolConfig {
        connect_timeout: netpulse_config::Duration(m.connect_timeout),
        read_timeout: netpulse_config::Duration(m.server_timeout),
        ..HttpPoolConfig::default()
    };
    let breaker = netpulse_config::CircuitBreakerConfig {
        recovery_timeout: m.cfg.recovery_timeout,
        ..Default::default()
    };
    (replicas.iter().zip(&m.servers).zip(&m.server_counters))
        .map(|((r, (name, address)), c)| {
            let spec = replicas::WriterSpec {
                endpoint: Endpoint::new(name, &format!("http://{address}"), &pool)?,
                framing: Framing::Enveloped,
                breaker: breaker.clone(),
                batch_points: m.cfg.batch_size,
                observer: c.clone(),
                // A write the server refuses permanently is kept beside its queue, bounded to
                // a quarter of the queue's bound.
                set_aside: Some((
                    dir.join(name).join("set-aside"),
                    (m.cfg.queue_max_bytes.0 / 4).max(1 << 20),
                )),
            };
            Ok(replicas::writer(r, spec))
        })
        .collect()
}
