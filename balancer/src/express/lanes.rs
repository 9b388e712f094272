//! Server connections the express lane keeps: first those of this client connection (the
//! way HAProxy keeps a server connection with its client session), then, when a client
//! connection ends, in this worker thread's idle pool, so the next client — a close-per-
//! request client above all — finds a connection already open instead of a connect and a
//! close per request. Each worker runs its own single-threaded runtime (`work_stealing =
//! false`), so a thread's pool only ever serves tasks of the runtime its sockets belong to.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// (backend, server) indices.
type Key = (usize, usize);

/// Idle connections kept per server and worker thread; more are closed.
const POOLED_PER_SERVER: usize = 32;
/// An idle connection unused this long is closed (HAProxy purges its idle pools too): a server
/// that is gone, deleted or rarely used does not hold descriptors on either side for ever.
const IDLE_FOR: Duration = Duration::from_secs(30);

/// One worker thread's idle connections. Only that thread takes and keeps them; the mutex lets
/// [`forget_server`] close a deleted server's connections from the runtime API's thread.
type Pool = Mutex<Vec<(Key, TcpStream, Instant)>>;

/// Every worker thread's pool, so a deleted server's connections can be closed everywhere.
static POOLS: Mutex<Vec<Weak<Pool>>> = Mutex::new(Vec::new());

thread_local! {
    static IDLE: Arc<Pool> = {
        let pool = Arc::new(Pool::default());
        let mut all = POOLS.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&pool));
        pool
    };
}

fn with_idle<T>(f: impl FnOnce(&mut Vec<(Key, TcpStream, Instant)>) -> T) -> Option<T> {
    IDLE.try_with(|pool| {
        let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        idle.retain(|(_, _, since)| now.duration_since(*since) < IDLE_FOR);
        f(&mut idle)
    })
    .ok()
}

/// Closes every idle connection to `key` in every worker thread (`del server`).
pub fn forget_server(key: Key) {
    let all = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    for pool in all.iter().filter_map(Weak::upgrade) {
        pool.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _, _)| *k != key);
    }
}

/// Upstream connections of one client connection, by (backend, server).
#[derive(Default)]
pub struct Lanes(Vec<(Key, TcpStream)>);

impl Lanes {
    /// A connection to `key` that is still open and quiet: this client's own, else one
    /// from the thread's pool; `None` when a new one has to be made.
    pub fn take(&mut self, key: Key) -> Option<TcpStream> {
        if let Some(i) = self.0.iter().position(|(k, _)| *k == key) {
            let up = self.0.swap_remove(i).1;
            return alive(&up).then_some(up);
        }
        with_idle(|idle| {
            while let Some(i) = idle.iter().rposition(|(k, _, _)| *k == key) {
                let up = idle.swap_remove(i).1;
                if alive(&up) {
                    return Some(up);
                }
            }
            None
        })
        .flatten()
    }

    /// Keeps `up` for this client's next request.
    pub fn keep(&mut self, key: Key, up: TcpStream) {
        self.0.push((key, up));
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.0);
        // A thread being torn down has no pool left: the connections just close.
        with_idle(|idle| {
            let now = Instant::now();
            for (key, up) in mine {
                if idle.iter().filter(|(k, _, _)| *k == key).count() < POOLED_PER_SERVER {
                    idle.push((key, up, now));
                }
            }
        });
    }
}

/// Whether a kept server connection is still open and quiet: one the server closed while
/// idle (or that has stray bytes) is not used.
fn alive(up: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(up.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_finished_clients_connections_serve_the_next_client() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server_side, _) = l.accept().await.unwrap();
        let mut first = Lanes::default();
        first.keep((0, 1), up);
        drop(first);
        let mut next = Lanes::default();
        assert!(next.take((0, 2)).is_none(), "another server's");
        let reused = next.take((0, 1)).expect("pooled");
        next.keep((0, 1), reused);
        drop(next);
        // The server closes it while it idles: not handed out again.
        drop(server_side);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(Lanes::default().take((0, 1)).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_deleted_servers_idle_connections_are_closed() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut server_side, _) = l.accept().await.unwrap();
        let mut lanes = Lanes::default();
        lanes.keep((7, 3), up);
        drop(lanes);
        // From another thread, as the runtime API does it.
        std::thread::spawn(|| forget_server((7, 3))).join().unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read(&mut server_side, &mut buf),
        )
        .await
        .expect("the server sees the close")
        .unwrap();
        assert_eq!(n, 0, "closed, not kept");
        assert!(Lanes::default().take((7, 3)).is_none());
    }
}
