//! The express lane: a plain GET or HEAD on a kept-alive HTTP/1.1 connection, to a backend
//! without sticky sessions, is forwarded byte for byte over this client connection's own
//! upstream connection to the chosen server, the way HAProxy keeps a server connection with
//! its client session. Pingora's generic path costs ~26 µs of CPU per request against
//! HAProxy's ~16 µs (BENCHMARKS.md); its shared pool alone spawns a task and makes a
//! `getpeername` per request. Everything else — bodies, upgrades, sticky cookies, a full
//! backend, any failure before the response has started — goes to Pingora's proxy, which
//! owns retries, redispatch, queueing and error pages.

use crate::bounded::within;
use crate::pool::{Backend, Pool};
use crate::proxy::{Frontend, GATEWAY_TIMEOUT, error_page};
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

/// What an express request looks like, from its header.
struct Plain<'a> {
    head: bool,
    path: &'a str,
    host: &'a str,
}

/// `Some` when the request can take the express lane: GET/HEAD, HTTP/1.1, no body, no
/// upgrade or `Expect`, no `Connection` other than keep-alive, origin-form target, and
/// `head` is exactly one complete header.
fn plain(head: &[u8]) -> Option<Plain<'_>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(n) = req.parse(head).ok()? else {
        return None;
    };
    let method = req.method?;
    if n != head.len() || req.version? != 1 || !(method == "GET" || method == "HEAD") {
        return None;
    }
    let mut host = "";
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            host = std::str::from_utf8(h.value).ok()?;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if h.value != b"0" {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
            || (name.eq_ignore_ascii_case(b"connection") && !h.value.eq_ignore_ascii_case(b"keep-alive"))
        {
            return None;
        }
    }
    let target = req.path?;
    if !target.starts_with('/') {
        return None;
    }
    Some(Plain {
        head: method == "HEAD",
        path: target.split_once('?').map_or(target, |(p, _)| p),
        host,
    })
}

/// How the response body ends.
#[derive(Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    /// No length: the body runs until the server closes.
    Close,
}

struct Response {
    status: u16,
    header_len: usize,
    framing: Framing,
    /// The server will close after this response.
    closes: bool,
}

fn response(buf: &[u8], head: bool) -> Result<Option<Response>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let status = resp.code.ok_or(())?;
    // 1xx needs an Expect or Upgrade, which never take this lane.
    if status < 200 {
        return Err(());
    }
    let (mut length, mut chunked, mut closes) = (None, false, resp.version == Some(0));
    let mut close_delimited = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(());
            }
            let v = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if length.is_some_and(|l| l != v) {
                return Err(());
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Chunked only when it is the last coding; otherwise the body runs to the close.
            let last = h.value.rsplit(|&c| c == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            close_delimited |= !chunked;
        } else if name.eq_ignore_ascii_case(b"connection") {
            let has = |token: &[u8]| {
                h.value
                    .split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            closes = has(b"close") || (resp.version == Some(0) && !has(b"keep-alive"));
        }
    }
    let framing = if head || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if close_delimited {
        Framing::Close
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::Close
    };
    Ok(Some(Response {
        status,
        header_len: n,
        framing,
        closes,
    }))
}

/// Finds where a chunked body ends, fed the body bytes as they pass by.
#[derive(Default)]
struct ChunkScanner {
    state: Chunk,
    size: u64,
    /// Bytes of the current chunk's data still to skip.
    left: u64,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Chunk {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    /// In a trailer line with text.
    TrailerLine,
    TrailerLineLf,
    Done,
}

impl ChunkScanner {
    /// Consumes `bytes`; `Ok(Some(n))` when the body ends after `n` of them.
    fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match self.state {
                Chunk::Size => match c {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (c as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self.size.checked_mul(16).and_then(|s| s.checked_add(d)).ok_or(())?;
                    }
                    b';' | b' ' | b'\t' => self.state = Chunk::Ext,
                    b'\r' => self.state = Chunk::SizeLf,
                    _ => return Err(()),
                },
                Chunk::Ext => {
                    if c == b'\r' {
                        self.state = Chunk::SizeLf;
                    }
                }
                Chunk::SizeLf => {
                    if c != b'\n' {
                        return Err(());
                    }
                    self.left = self.size;
                    self.state = if self.size == 0 { Chunk::Trailer } else { Chunk::Data };
                    self.size = 0;
                }
                Chunk::Data => {
                    let take = (self.left).min((bytes.len() - i) as u64);
                    self.left -= take;
                    i += take as usize;
                    if self.left == 0 {
                        self.state = Chunk::DataCr;
                    }
                    continue;
                }
                Chunk::DataCr => self.state = if c == b'\r' { Chunk::DataLf } else { return Err(()) },
                Chunk::DataLf => self.state = if c == b'\n' { Chunk::Size } else { return Err(()) },
                Chunk::Trailer => {
                    self.state = if c == b'\r' {
                        Chunk::TrailerLf
                    } else {
                        Chunk::TrailerLine
                    }
                }
                Chunk::TrailerLf => {
                    if c != b'\n' {
                        return Err(());
                    }
                    self.state = Chunk::Done;
                    return Ok(Some(i + 1));
                }
                Chunk::TrailerLine => {
                    if c == b'\r' {
                        self.state = Chunk::TrailerLineLf;
                    }
                }
                Chunk::TrailerLineLf => self.state = if c == b'\n' { Chunk::Trailer } else { return Err(()) },
                Chunk::Done => return Ok(Some(i)),
            }
            i += 1;
        }
        Ok(None)
    }
}

const READ: usize = 16 * 1024;

/// After `new` body bytes (`body` in all): (the response is complete, nothing was read past
/// its end). Bytes past the end, or a broken chunk, mean a confused server: not reused.
fn progress(framing: &Framing, chunks: &mut ChunkScanner, new: &[u8], body: u64) -> (bool, bool) {
    match framing {
        Framing::Length(l) => (body >= *l, body <= *l),
        Framing::Chunked => match chunks.feed(new) {
            Ok(Some(n)) => (true, n == new.len()),
            Ok(None) => (false, true),
            Err(()) => (true, false),
        },
        Framing::Close => (false, true),
    }
}

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
            Some((_, buf, Err(false))) if reused && buf.is_empty() => {
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
            Err(true) => {
                self.finish(b, si, 504, 0, true);
                let _ = client.write_all(&error_page(GATEWAY_TIMEOUT)).await;
                let _ = client.flush().await;
                return Outcome::Done { keep_alive: false };
            }
            Err(false) => {
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
    /// the header or `Err(timed out)`); `None` when the server can't be reached.
    async fn exchange(
        &self,
        b: &Backend,
        si: usize,
        kept: Option<TcpStream>,
        head: &[u8],
        is_head: bool,
    ) -> Option<(TcpStream, Vec<u8>, Result<Response, bool>)> {
        let sent = match kept {
            Some(mut up) => up.write_all(head).await.is_ok().then_some(up),
            None => None,
        };
        let mut up = match sent {
            Some(up) => up,
            None => {
                let mut up = within(b.connect_timeout, TcpStream::connect(b.servers[si].addr))
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
                Ok(0) => break Err(false),
                Ok(_) => {}
                Err(timed_out) => break Err(timed_out),
            }
            match response(&buf, is_head) {
                Ok(Some(r)) => break Ok(r),
                Ok(None) if buf.len() < 1 << 20 => {}
                _ => break Err(false),
            }
        };
        Some((up, buf, parsed))
    }

    /// One read from the server, appended to `buf`; `Err(true)` on the server timeout.
    async fn read_more(&self, up: &mut TcpStream, buf: &mut Vec<u8>, limit: Duration) -> Result<usize, bool> {
        // Into spare capacity: no zero-filling per read.
        buf.reserve(READ);
        match within(limit, up.read_buf(buf)).await {
            Some(Ok(n)) => Ok(n),
            Some(Err(_)) => Ok(0),
            None => Err(true),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_requests_take_the_lane() {
        let ok = plain(b"GET /ping?x=1 HTTP/1.1\r\nHost: db\r\n\r\n").unwrap();
        assert_eq!((ok.path, ok.host, ok.head), ("/ping", "db", false));
        assert!(
            plain(b"HEAD / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .head
        );
        for no in [
            &b"POST /write HTTP/1.1\r\nContent-Length: 3\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(plain(no).is_none(), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn response_framing() {
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false)
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.framing, r.closes), (200, Framing::Length(5), false));
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Length(0), "HEAD has no body");
        let r = response(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(r.framing, Framing::Length(0));
        let r = response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r = response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, Framing::Close, "not chunked last: until the close");
        let r = response(b"HTTP/1.0 200 OK\r\n\r\n", false).unwrap().unwrap();
        assert_eq!((r.framing, r.closes), (Framing::Close, true));
        let r = response(
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(r.closes);
        let r = response(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.closes, r.framing),
            (false, Framing::Length(2)),
            "HTTP/1.0 kept alive"
        );
        for bad in ["-1", "", "1 2", "99999999999999999999", "+5"] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert!(response(text.as_bytes(), false).is_err(), "Content-Length: {bad:?}");
        }
        assert!(response(b"HTTP/1.1 200 OK\r\nContent-Le", false).unwrap().is_none());
        assert!(
            response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            )
            .is_err()
        );
        assert!(response(b"HTTP/1.1 100 Continue\r\n\r\n", false).is_err());
        assert!(response(b"garbage\r\n\r\n", false).is_err());
    }

    #[test]
    fn chunked_end_found_across_pieces() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..body.len() {
            let mut s = ChunkScanner::default();
            let first = s.feed(&body[..split]).unwrap();
            let end = match first {
                Some(n) => n,
                None => split + s.feed(&body[split..]).unwrap().expect("ends"),
            };
            assert_eq!(end, body.len(), "split at {split}");
        }
        let mut s = ChunkScanner::default();
        assert_eq!(s.feed(b"0\r\n\r\nNEXT").unwrap(), Some(5));
        assert!(ChunkScanner::default().feed(b"zz\r\n").is_err());
    }
}
