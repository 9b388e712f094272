//! The express lane: a plain GET or HEAD on a kept-alive HTTP/1.1 connection, to a backend
//! without sticky sessions, is forwarded byte for byte over this client connection's own
//! upstream connection to the chosen server, the way HAProxy keeps a server connection with
//! its client session. Pingora's generic path costs ~26 µs of CPU per request against
//! HAProxy's ~16 µs (BENCHMARKS.md); its shared pool alone spawns a task and makes a
//! `getpeername` per request. Everything else — bodies, upgrades, sticky cookies, a full
//! backend, any failure before the response has started — goes to Pingora's proxy, which
//! owns retries, redispatch, queueing and error pages.

mod http1;

use crate::bounded::within;
use crate::frontend::{Frontend, GATEWAY_TIMEOUT, error_page};
use crate::pool::{Backend, Pool};
use http1::{ChunkScanner, Framing, FramingError, Response, plain, progress, response};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Express {
    pub pool: Arc<Pool>,
    pub frontend: Arc<Frontend>,
}

/// Upstream connections of one client connection, by (backend, server).
#[derive(Default)]
pub struct Lanes(Vec<((usize, usize), TcpStream)>);

impl Lanes {
    fn take(&mut self, key: (usize, usize)) -> Option<TcpStream> {
        let i = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.swap_remove(i).1)
    }
}

pub enum Outcome {
    /// Answered; whether the client connection may carry another request.
    Done { keep_alive: bool },
    /// Not for the express lane, or it failed before anything reached the client: the
    /// request (header bytes untouched) goes to Pingora.
    Pingora,
}

/// Why no response header came back from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Failed {
    #[error("the server did not answer within its timeout")]
    TimedOut,
    #[error("the server closed the connection or failed to read")]
    Closed,
    #[error("the server's response header was over 1 MiB")]
    TooLarge,
    #[error("the server's response: {0}")]
    Framing(#[from] FramingError),
}

/// Bytes asked of the server per read.
const READ: usize = 16 * 1024;
/// A response header longer than this is not forwarded by the lane.
const MAX_HEADER: usize = 1 << 20;

impl Express {
    /// Serves one request whose complete header is `head`, if it is for the express lane.
    pub async fn serve<C>(&self, client: &mut C, head: &[u8], lanes: &mut Lanes) -> Outcome
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(req) = plain(head) else {
            return Outcome::Pingora;
        };
        let bi = self.frontend.route(req.path, req.host);
        let b = &self.pool.backends[bi];
        if b.sticky.is_some() {
            return Outcome::Pingora;
        }
        // Takes the server's slot (maxconn) and counts the pick; undone on a hand-over, where
        // Pingora counts the request itself.
        let Some(si) = b.acquire(&[]) else {
            return Outcome::Pingora;
        };
        self.frontend.counters.begin();
        b.counters.begin();
        let undo = |b: &Backend| {
            self.frontend.counters.cancel();
            b.counters.cancel();
            b.cancel_pick(si);
        };
        let kept = lanes.take((bi, si));
        let reused = kept.is_some();
        let (mut up, buf, parsed) = match self.exchange(b, si, kept, head, req.head).await {
            // A kept connection the server closed while idle (its keep-alive timeout) reads
            // as an immediate end: asked again once on a fresh connection, as HAProxy does.
            Some((_, buf, Err(Failed::Closed))) if reused && buf.is_empty() => {
                match self.exchange(b, si, None, head, req.head).await {
                    Some(x) => x,
                    None => {
                        undo(b);
                        return Outcome::Pingora;
                    }
                }
            }
            Some(x) => x,
            None => {
                undo(b);
                return Outcome::Pingora;
            }
        };
        let resp = match parsed {
            Ok(r) => r,
            // Nothing reached the client yet and GET/HEAD are idempotent: Pingora tries again
            // (a kept connection the server had closed, a bad answer) and owns the error page.
            // A server slower than its timeout is not asked twice: 504 here, as Pingora would.
            Err(Failed::TimedOut) => {
                self.finish(b, si, 504, 0, true);
                let _ = client.write_all(&error_page(GATEWAY_TIMEOUT)).await;
                let _ = client.flush().await;
                return Outcome::Done { keep_alive: false };
            }
            Err(failed) => {
                tracing::debug!(backend = %b.name, error = %failed, "express lane hands the request to Pingora");
                undo(b);
                return Outcome::Pingora;
            }
        };
        let (sent, clean) = self.forward(client, &mut up, buf, &resp, b.server_timeout).await;
        self.finish(b, si, resp.status, sent, false);
        if clean && !resp.closes {
            lanes.0.push(((bi, si), up));
        }
        // A server's `Connection: close` went to the client as it is: it won't send more.
        Outcome::Done {
            keep_alive: clean && !resp.closes && resp.framing != Framing::Close,
        }
    }

    /// Sends the request over `kept` (or a new connection, also when writing to `kept`
    /// fails) and reads up to a complete response header: (the connection, the bytes read,
    /// the header or why there is none); `None` when the server can't be reached.
    async fn exchange(
        &self,
        b: &Backend,
        si: usize,
        kept: Option<TcpStream>,
        head: &[u8],
        is_head: bool,
    ) -> Option<(TcpStream, Vec<u8>, Result<Response, Failed>)> {
        let sent = match kept {
            Some(mut up) => up.write_all(head).await.is_ok().then_some(up),
            None => None,
        };
        let mut up = match sent {
            Some(up) => up,
            None => {
                let mut up = within(b.connect_timeout, TcpStream::connect(b.servers[si].addr.get()?))
                    .await?
                    .ok()?;
                up.set_nodelay(true).ok()?;
                up.write_all(head).await.ok()?;
                up
            }
        };
        let mut buf = Vec::with_capacity(READ);
        let parsed = loop {
            match self.read_more(&mut up, &mut buf, b.server_timeout).await {
                Ok(0) => break Err(Failed::Closed),
                Ok(_) => {}
                Err(failed) => break Err(failed),
            }
            match response(&buf, is_head) {
                Ok(Some(r)) => break Ok(r),
                Ok(None) if buf.len() < MAX_HEADER => {}
                Ok(None) => break Err(Failed::TooLarge),
                Err(e) => break Err(e.into()),
            }
        };
        Some((up, buf, parsed))
    }

    /// One read from the server, appended to `buf` (0: closed or failed).
    async fn read_more(&self, up: &mut TcpStream, buf: &mut Vec<u8>, limit: Duration) -> Result<usize, Failed> {
        // Into spare capacity: no zero-filling per read.
        buf.reserve(READ);
        match within(limit, up.read_buf(buf)).await {
            Some(Ok(n)) => Ok(n),
            Some(Err(_)) => Ok(0),
            None => Err(Failed::TimedOut),
        }
    }

    /// Sends the response on to the client; (body bytes sent, whether both connections are
    /// still in step for another request).
    async fn forward<C>(
        &self,
        client: &mut C,
        up: &mut TcpStream,
        mut buf: Vec<u8>,
        resp: &Response,
        limit: Duration,
    ) -> (u64, bool)
    where
        C: AsyncWrite + Unpin,
    {
        let mut body = (buf.len() - resp.header_len) as u64;
        let mut chunks = ChunkScanner::default();
        let (mut done, mut in_step) = progress(&resp.framing, &mut chunks, &buf[resp.header_len..], body);
        let client_limit = self.frontend.client_timeout;
        loop {
            if !matches!(within(client_limit, client.write_all(&buf)).await, Some(Ok(()))) {
                return (body, false);
            }
            if done {
                break;
            }
            buf.clear();
            // The end of a close-delimited body is the server closing.
            if !matches!(self.read_more(up, &mut buf, limit).await, Ok(n) if n > 0) {
                let _ = within(client_limit, client.flush()).await;
                return (body, false);
            }
            body += buf.len() as u64;
            (done, in_step) = progress(&resp.framing, &mut chunks, &buf, body);
        }
        let flushed = matches!(within(client_limit, client.flush()).await, Some(Ok(())));
        (body, flushed && in_step)
    }

    /// The counters Pingora's `logging` and `fail_to_proxy` hooks keep for a finished request.
    fn finish(&self, b: &Backend, si: usize, code: u16, body_out: u64, server_error: bool) {
        if server_error {
            b.counters.eresp.fetch_add(1, Ordering::Relaxed);
        }
        b.finish(&self.frontend.counters, Some(si), code, (0, body_out), server_error);
    }
}
