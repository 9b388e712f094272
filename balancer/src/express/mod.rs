//! The express lane: a plain HTTP/1 request — any method, a body by Content-Length streamed
//! as it arrives, kept alive or not — to a backend without mirroring, is
//! forwarded byte for byte over this client connection's own upstream connection to the
//! chosen server, the way HAProxy keeps a server connection with its client session.
//! Pingora's generic path costs ~26 µs of CPU per request against HAProxy's ~16 µs
//! (BENCHMARKS.md); its shared pool alone spawns a task and makes a `getpeername` per
//! request. Sticky sessions are kept here with `sticky`'s semantics. Everything else —
//! chunked bodies, `Expect`, upgrades, a session whose server is gone, a full backend, any failure before the request's body started to flow — goes to Pingora's
//! proxy, which owns retries, redispatch, queueing and error pages. Once body bytes beyond
//! the header's read have been taken from the client the lane answers failures itself (502,
//! 408), as Pingora would: such a request cannot be sent again.

pub mod http1;
pub mod lanes;

use crate::bounded::within;
use crate::door::lane::{LaneHead, Plain};
use crate::frontend::{BAD_GATEWAY, ErrorAnswer, Frontend, GATEWAY_TIMEOUT, REQUEST_TIMEOUT, error_page};
use crate::pool::{Ask, Backend, Slot};
use crate::state::State;
use crate::{head_edit, sticky};
use http1::{ChunkScanner, Framing, FramingError, Response, progress, response};
pub use lanes::Lanes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Express {
    pub state: Arc<State>,
    pub frontend: Arc<Frontend>,
}

pub enum Outcome {
    /// Answered; whether the client connection may carry another request, and whether the
    /// client got the whole answer (else its connection must end abortively: over TLS a
    /// close_notify would vouch for a cut body).
    Done { keep_alive: bool, whole: bool },
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
    #[error("the client went away while sending its body")]
    ClientGone,
    #[error("the client's body did not arrive within its timeout")]
    ClientTimeout,
}

/// Bytes asked of the server per read.
const READ: usize = 16 * 1024;
/// A response header longer than this is not forwarded by the lane.
const MAX_HEADER: usize = 1 << 20;
/// Bytes of a request body moved per read.
const BODY_READ: usize = 64 * 1024;

impl Express {
    /// Serves one request whose complete header is `head` (with its body's first bytes),
    /// if it is for the express lane (`lane`: the front door found it plain).
    pub async fn serve<C>(&self, client: &mut C, head: &[u8], lane: Option<&LaneHead>, lanes: &mut Lanes) -> Outcome
    where
        C: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(req) = lane.and_then(|l| l.view(head)) else {
            return Outcome::Pingora;
        };
        let bi = self.frontend.route(req.path, req.host);
        let b = &self.state.pool.backends[bi];
        let too_large = self.frontend.max_body.is_some_and(|m| req.body > m);
        if b.mirrored || too_large {
            return Outcome::Pingora;
        }
        // The pool chooses as for Pingora, but impatiently: a session whose server is gone, or
        // no free server, is Pingora's (redispatch, the queue or 503). A hand-over takes back
        // every count, as Pingora counts the request itself.
        let session = b.sticky.as_ref().and_then(|st| req.cookies.get(&st.cookie));
        let ask = Ask {
            session,
            ..Ask::default()
        };
        let Ok(slot) = self.state.pool.choose_now(bi, ask) else {
            return Outcome::Pingora;
        };
        let si = slot.server();
        self.frontend.counters.begin();
        b.counters.begin();
        let undo = |b: &Backend, slot: Slot| {
            self.frontend.counters.cancel();
            b.counters.cancel();
            slot.hand_over();
        };
        // `indirect`: the server never sees the persistence cookie; a new session gets its
        // server's cookie in the response (`sticky`).
        let new_session = b.sticky.as_ref().filter(|_| slot.new_session());
        let sent_head = self.towards_server(head, &req, b);
        let sent_head = sent_head.as_deref().unwrap_or(head);
        // The body bytes still in the client's socket: once any is read, no hand-over.
        let rest = req.body - (head.len() - req.header_len) as u64;
        let kept = lanes.take((bi, si));
        let reused = kept.is_some();
        let (mut up, mut buf, parsed) = match self.exchange(b, si, kept, sent_head, &req, (client, rest)).await {
            // A kept connection the server closed while idle (its keep-alive timeout) reads
            // as an immediate end: asked again once on a fresh connection, as HAProxy does,
            // when the whole request is still at hand.
            Some((_, buf, Err(Failed::Closed))) if reused && buf.is_empty() && rest == 0 => {
                match self.exchange(b, si, None, sent_head, &req, (client, 0)).await {
                    Some(x) => x,
                    None => {
                        undo(b, slot);
                        return Outcome::Pingora;
                    }
                }
            }
            Some(x) => x,
            None => {
                undo(b, slot);
                return Outcome::Pingora;
            }
        };
        let mut resp = match parsed {
            Ok(r) => r,
            // A server slower than its timeout is not asked twice: 504 here, as Pingora would.
            Err(Failed::TimedOut) => return self.refuse(client, b, slot, GATEWAY_TIMEOUT, true).await,
            Err(Failed::ClientTimeout) => return self.refuse(client, b, slot, REQUEST_TIMEOUT, false).await,
            Err(Failed::ClientGone) => {
                self.finish(b, slot, 0, (0, 0), false);
                return Outcome::Done {
                    keep_alive: false,
                    whole: false,
                };
            }
            // The body is gone from the client: nobody can send it again.
            Err(failed) if rest > 0 => {
                tracing::debug!(backend = %b.name, error = %failed, "express lane: the server failed a streamed request");
                return self.refuse(client, b, slot, BAD_GATEWAY, true).await;
            }
            // Nothing reached the client yet and the request is whole: Pingora tries again
            // (a kept connection the server had closed, a bad answer) and owns the error page.
            Err(failed) => {
                tracing::debug!(backend = %b.name, error = %failed, "express lane hands the request to Pingora");
                undo(b, slot);
                return Outcome::Pingora;
            }
        };
        if let Some(st) = new_session {
            let cookie = &b.servers[si].cookie;
            let private = req.get_or_head && cacheable(&buf[..resp.header_len]);
            (buf, resp.header_len) = sticky::insert_in_response(&buf, resp.header_len, &st.cookie, cookie, private);
        }
        if req.closes {
            (buf, resp.header_len) = head_edit::edit(&buf, resp.header_len, &["connection"], "Connection: close\r\n");
        }
        let (sent, clean, whole) = self.forward(client, &mut up, buf, &resp, b.server_timeout).await;
        self.finish(b, slot, resp.status, (req.body, sent), false);
        if clean && !resp.closes {
            lanes.keep((bi, si), up);
        }
        // A server's `Connection: close` went to the client as it is: it won't send more.
        Outcome::Done {
            keep_alive: clean && !resp.closes && !req.closes && resp.framing != Framing::Close,
            whole,
        }
    }

    /// The request as the server gets it, when it differs from the client's: a closing
    /// client's `Connection` header dropped (the server connection stays open for the next
    /// client, as HAProxy keeps it), the persistence cookie taken out (`sticky`).
    fn towards_server(&self, head: &[u8], req: &Plain<'_>, b: &Backend) -> Option<Vec<u8>> {
        let session = b.sticky.as_ref().filter(|_| req.cookies.any());
        if !req.closes && session.is_none() {
            return None;
        }
        let (mut drop, mut add) = (vec![], String::new());
        if req.closes {
            drop.push("connection");
        }
        if let Some(st) = session {
            drop.push("cookie");
            add = sticky::remaining_cookies(&head[..req.header_len], &st.cookie);
        }
        Some(head_edit::edit(head, req.header_len, &drop, &add).0)
    }

    /// Answers `answer` (and closes): the request ended here, counted on its `slot`'s server.
    async fn refuse<C>(
        &self,
        client: &mut C,
        b: &Backend,
        slot: Slot,
        answer: ErrorAnswer,
        server_error: bool,
    ) -> Outcome
    where
        C: AsyncWrite + Unpin,
    {
        if server_error {
            b.counters.eresp.fetch_add(1, Ordering::Relaxed);
        }
        self.finish(b, slot, answer.0, (0, 0), server_error);
        let _ = within(self.frontend.client_timeout, client.write_all(&error_page(answer))).await;
        let _ = within(self.frontend.client_timeout, client.flush()).await;
        Outcome::Done {
            keep_alive: false,
            whole: true,
        }
    }

    /// Sends the request over `kept` (or a new connection, also when writing to `kept`
    /// fails), then the `rest` of its body from the client as it arrives, and reads up to a
    /// complete response header: (the connection, the bytes read, the header or why there
    /// is none); `None` when the server can't be reached (nothing taken from the client).
    async fn exchange<C>(
        &self,
        b: &Backend,
        si: usize,
        kept: Option<TcpStream>,
        head: &[u8],
        req: &Plain<'_>,
        (client, rest): (&mut C, u64),
    ) -> Option<(TcpStream, Vec<u8>, Result<Response, Failed>)>
    where
        C: AsyncRead + Unpin,
    {
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
        if rest > 0
            && let Err(failed) = self.pump(client, &mut up, rest, b.server_timeout).await
        {
            return Some((up, buf, Err(failed)));
        }
        let parsed = loop {
            match self.read_more(&mut up, &mut buf, b.server_timeout).await {
                Ok(0) => break Err(Failed::Closed),
                Ok(_) => {}
                Err(failed) => break Err(failed),
            }
            match response(&buf, req.head) {
                Ok(Some(r)) => break Ok(r),
                Ok(None) if buf.len() < MAX_HEADER => {}
                Ok(None) => break Err(Failed::TooLarge),
                Err(e) => break Err(e.into()),
            }
        };
        Some((up, buf, parsed))
    }

    /// Copies `left` body bytes from the client to the server as they arrive.
    async fn pump<C>(&self, client: &mut C, up: &mut TcpStream, mut left: u64, limit: Duration) -> Result<(), Failed>
    where
        C: AsyncRead + Unpin,
    {
        let mut buf = vec![0u8; BODY_READ.min(left as usize)];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = match within(self.frontend.client_timeout, client.read(&mut buf[..want])).await {
                Some(Ok(0) | Err(_)) => return Err(Failed::ClientGone),
                None => return Err(Failed::ClientTimeout),
                Some(Ok(n)) => n,
            };
            if !matches!(within(limit, up.write_all(&buf[..n])).await, Some(Ok(()))) {
                return Err(Failed::Closed);
            }
            left -= n as u64;
        }
        Ok(())
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
    /// still in step for another request, whether the client got the whole response).
    async fn forward<C>(
        &self,
        client: &mut C,
        up: &mut TcpStream,
        mut buf: Vec<u8>,
        resp: &Response,
        limit: Duration,
    ) -> (u64, bool, bool)
    where
        C: AsyncWrite + Unpin,
    {
        let mut body = (buf.len() - resp.header_len) as u64;
        let mut chunks = ChunkScanner::default();
        let (mut done, mut in_step) = progress(&resp.framing, &mut chunks, &buf[resp.header_len..], body);
        let client_limit = self.frontend.client_timeout;
        loop {
            if !matches!(within(client_limit, client.write_all(&buf)).await, Some(Ok(()))) {
                return (body, false, false);
            }
            if done {
                break;
            }
            buf.clear();
            // The end of a close-delimited body is the server closing.
            let read = self.read_more(up, &mut buf, limit).await;
            if !matches!(read, Ok(n) if n > 0) {
                let flushed = matches!(within(client_limit, client.flush()).await, Some(Ok(())));
                let ended = resp.framing == Framing::Close && matches!(read, Ok(0));
                return (body, false, flushed && ended);
            }
            body += buf.len() as u64;
            (done, in_step) = progress(&resp.framing, &mut chunks, &buf, body);
        }
        let flushed = matches!(within(client_limit, client.flush()).await, Some(Ok(())));
        (body, flushed && in_step, flushed)
    }

    /// The counters Pingora's `logging` and `fail_to_proxy` hooks keep for a finished request.
    fn finish(&self, b: &Backend, slot: Slot, code: u16, bytes: (u64, u64), server_error: bool) {
        b.finish(&self.frontend.counters, Some(slot), code, bytes, server_error);
    }
}

/// Whether the response header `head` is one a cache could store (`sticky::cacheable`).
fn cacheable(head: &[u8]) -> bool {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hs);
    if resp.parse(head).is_err() {
        return false;
    }
    let status = resp.code.unwrap_or(0);
    sticky::cacheable(status, resp.headers.iter().map(|h| (h.name.as_bytes(), h.value)))
}
