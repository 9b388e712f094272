//! Server connections the express lane keeps: first those of this client connection (the
//! way HAProxy keeps a server connection with its client session), then, when a client
//! connection ends, in this worker thread's idle pool, so the next client — a close-per-
//! request client above all — finds a connection already open instead of a connect and a
//! close per request. Each worker runs its own single-threaded runtime (`work_stealing =
//! false`), so a thread's pool only ever serves tasks of the runtime its sockets belong to.

use std::cell::RefCell;
use tokio::net::TcpStream;

/// (backend, server) indices.
type Key = (usize, usize);

/// Idle connections kept per server and worker thread; more are closed.
const POOLED_PER_SERVER: usize = 32;

thread_local! {
    static IDLE: RefCell<Vec<(Key, TcpStream)>> = const { RefCell::new(Vec::new()) };
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
        IDLE.with_borrow_mut(|idle| {
            while let Some(i) = idle.iter().rposition(|(k, _)| *k == key) {
                let up = idle.swap_remove(i).1;
                if alive(&up) {
                    return Some(up);
                }
            }
            None
        })
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
        let _ = IDLE.try_with(|idle| {
            let mut idle = idle.borrow_mut();
            for (key, up) in mine {
                if idle.iter().filter(|(k, _)| *k == key).count() < POOLED_PER_SERVER {
                    idle.push((key, up));
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
}
