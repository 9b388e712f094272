//! The front door: every accepted connection of a frontend, as it runs — the TLS handshake
//! (TLS listeners), then for each request: read its head (`head`: one parse, HAProxy's 400s,
//! the express lane's reading of it in `lane`), then choose the lane (the express lane, or
//! Pingora's proxy with the head bytes rewound).
//!
//! It keeps HAProxy's `timeout http-request` and `timeout http-keep-alive` for every request of a
//! connection: the whole request header must arrive within the deadline, or the client gets
//! 408 and is closed; an idle kept-alive connection is closed silently after the keep-alive
//! timeout. Pingora only bounds each read (a slowloris trickling a byte per read is never
//! cut), so this takes over Pingora's HTTP/1 keep-alive loop: before each request it reads
//! the header bytes itself, under one deadline, hands them back to the stream (rewind) and
//! lets Pingora parse them as usual. On a TLS listener the handshake comes first; HTTP/2
//! (chosen by ALPN) goes to Pingora's h2 server, HTTP/1 through the same loop as plain TCP.
//! On a plain listener of a frontend with `redirect_https`, every request is answered here
//! with a redirect to `https://`; a frontend's `monitor_uri` is answered here too (`monitor`).

use crate::bounded::{until, within};
use crate::express::{Express, Lanes, Outcome};
use crate::frontend::{BAD_REQUEST, Frontend, REQUEST_TIMEOUT, error_page};
use crate::{redirect, tls};
use async_trait::async_trait;
use head::Head;
use lane::LaneHead;
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::server::ShutdownWatch;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

pub mod head;
pub mod lane;

/// Bytes asked of the client per read while its header arrives.
const READ: usize = 16 * 1024;
/// A request header larger than this is refused with 400 (HAProxy's limit is its 16 KiB buffer).
const MAX_HEADER: usize = 64 * 1024;
/// How long a TLS connection's close_notify may take to leave.
const CLOSE_NOTIFY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Door<A> {
    pub inner: Arc<A>,
    /// Its timeouts; its counters take a 408 as a request error (`ereq`).
    pub frontend: Arc<Frontend>,
    /// Plain requests skip Pingora's generic path (`[server] express`).
    pub express: Option<Express>,
    /// These listeners speak TLS.
    pub tls: Option<Arc<tls::Acceptor>>,
    /// These (plain) listeners redirect every request to https with this status.
    pub redirect_https: Option<u16>,
    /// Requests for this target are answered by the balancer itself (`monitor`).
    pub monitor_uri: Option<Arc<str>>,
}

/// A connection the HTTP/1 loop serves: TCP, or TLS over it; both take back bytes read ahead.
pub trait Conn: pingora_core::protocols::IO + Sized + 'static {
    fn put_back(&mut self, data: &[u8]);

    /// Before the connection is dropped after a last answer. TCP: nothing (the close says
    /// it all). TLS overrides it: without close_notify a client cannot tell a complete
    /// answer from a cut one (OpenSSL reports "unexpected eof").
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl Conn for L4Stream {
    fn put_back(&mut self, data: &[u8]) {
        self.rewind(data)
    }
}

impl Conn for tls::TlsConn {
    fn put_back(&mut self, data: &[u8]) {
        self.rewind(data)
    }

    async fn close(&mut self) {
        // Bounded: a client that reads nothing must not hold the task.
        let _ = within(CLOSE_NOTIFY, pingora_core::protocols::Shutdown::shutdown(self)).await;
    }
}

/// A complete request header's pipelined rest (the next request's first bytes) and the
/// express lane's reading of it (`head`).
type Complete = (Vec<u8>, Option<LaneHead>);

impl<A> Door<A> {
    /// Reads one request header under the deadlines, starting with `carry` (bytes a client
    /// pipelined after the previous request); the header (with its body's first bytes),
    /// what belongs to the next request and the lane's reading. `None` when the connection is to be closed (client
    /// gone, idle, or answered with 408 or 400).
    async fn read_header<S: Conn>(
        &self,
        stream: Stream,
        first: bool,
        carry: Vec<u8>,
    ) -> Option<(Box<S>, Vec<u8>, Complete)> {
        let mut l4 = stream.into_any().downcast::<S>().ok()?;
        let mut buf = carry;
        if !buf.is_empty()
            && let Some(next) = self.judge(&mut *l4, &mut buf, 0).await?
        {
            return Some((l4, buf, next));
        }
        // The first request's deadline runs from the accept; a later one's from its first
        // byte, after an idle wait bounded by the keep-alive timeout. Deadlines are set only
        // when a read has to wait (`until`); most headers arrive whole in one read.
        let mut started = first || !buf.is_empty();
        let mut end: Option<Instant> = None;
        loop {
            // HAProxy's 16 KiB buffer: a header with a small body (an 8 KiB write) arrives
            // in one read and leaves in one write.
            buf.reserve(READ);
            let from = buf.len();
            let f = &self.frontend;
            let limit = if started { f.http_request } else { f.keep_alive };
            match until(
                || *end.get_or_insert_with(|| Instant::now() + limit),
                l4.read_buf(&mut buf),
            )
            .await
            {
                Some(Ok(0) | Err(_)) => return None,
                Some(Ok(_)) => {}
                // Nothing sent at all (a browser's preconnect, or an idle kept-alive
                // connection): closed silently, as HAProxy's `http-ignore-probes` does; a
                // 408 there shows up as a failed page load.
                None if buf.is_empty() => {
                    l4.close().await;
                    return None;
                }
                None => {
                    self.frontend.counters.ereq.fetch_add(1, Ordering::Relaxed);
                    let _ = l4.write_all(&error_page(REQUEST_TIMEOUT)).await;
                    let _ = l4.flush().await;
                    l4.close().await;
                    return None;
                }
            }
            if !started {
                started = true;
                end = None;
            }
            if let Some(next) = self.judge(&mut *l4, &mut buf, from).await? {
                return Some((l4, buf, next));
            }
        }
    }

    /// What the bytes so far are (`head`): `Some(Some((next, lane)))` a complete header
    /// — `buf` cut to it (and its body's first bytes), `next` the pipelined rest; `Some(None)` not yet
    /// complete; `None` refused with 400 (answered here).
    async fn judge<S: Conn>(&self, l4: &mut S, buf: &mut Vec<u8>, from: usize) -> Option<Option<Complete>> {
        let why = match head::examine(buf, from) {
            Head::Incomplete if buf.len() < MAX_HEADER => return Some(None),
            Head::Incomplete => "request header too large",
            Head::Bad(why) => why,
            Head::Complete {
                end,
                body,
                rewritten,
                lane,
            } => {
                // A bodyless request ends with its header: what follows is the next request.
                let next = if body { Vec::new() } else { buf.split_off(end) };
                if let Some(mut r) = rewritten {
                    r.extend_from_slice(&buf[end.min(buf.len())..]);
                    *buf = r;
                }
                return Some(Some((next, lane)));
            }
        };
        tracing::debug!(why, "request refused with 400");
        self.frontend.counters.ereq.fetch_add(1, Ordering::Relaxed);
        let _ = l4.write_all(&error_page(BAD_REQUEST)).await;
        let _ = l4.flush().await;
        l4.close().await;
        None
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Door<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let _session = self.frontend.counters.open_session();
        let h2c_or_custom = self.inner.server_options().is_some_and(|o| o.h2c || o.force_custom);
        if h2c_or_custom || !stream.as_any().is::<L4Stream>() {
            return self.inner.process_new(stream, shutdown).await;
        }
        let Some(acceptor) = &self.tls else {
            return self.http1::<L4Stream>(stream, shutdown).await;
        };
        let l4 = stream.into_any().downcast::<L4Stream>().ok()?;
        let conn = acceptor.accept(l4).await?;
        if conn.is_h2() {
            return self.inner.process_new(Box::new(conn), shutdown).await;
        }
        self.http1::<tls::TlsConn>(Box::new(conn), shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Door<A> {
    /// Pingora's own HTTP/1 loop (apps::ServerApp for HttpServerApp), with the header read
    /// in front of each request and plain requests taken by the express lane.
    async fn http1<S: Conn>(self: &Arc<Self>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let mut settings: Option<HttpPersistentSettings> = None;
        let mut lanes = Lanes::default();
        let mut first = true;
        let mut carry = Vec::new();
        loop {
            let (mut l4, head, (next, lane)) = self.read_header::<S>(stream, first, carry).await?;
            carry = next;
            first = false;
            if let Some(uri) = &self.monitor_uri
                && crate::monitor::asks(&head, uri)
            {
                let (answer, status) = crate::monitor::answer(*shutdown.borrow());
                self.frontend.counters.intercept(status);
                let _ = l4.write_all(&answer).await;
                let _ = l4.flush().await;
                l4.close().await;
                return None;
            }
            if let Some(code) = self.redirect_https {
                let (answer, status, keep_alive) = redirect::answer(&head, code, !*shutdown.borrow());
                self.frontend.counters.intercept(status);
                if l4.write_all(&answer).await.is_err() || l4.flush().await.is_err() {
                    return None;
                }
                if !keep_alive {
                    l4.close().await;
                    return None;
                }
                stream = l4;
                continue;
            }
            if let Some(x) = &self.express
                && !*shutdown.borrow()
            {
                match x.serve(&mut *l4, &head, lane.as_ref(), &mut lanes).await {
                    Outcome::Done { keep_alive: true, .. } => {
                        stream = l4;
                        continue;
                    }
                    Outcome::Done {
                        keep_alive: false,
                        whole,
                    } => {
                        if whole {
                            l4.close().await;
                        }
                        return None;
                    }
                    Outcome::Pingora => {}
                }
            }
            l4.put_back(&head);
            let mut session = ServerSession::new_http1(l4);
            match settings.take() {
                Some(s) => s.apply_to_session(&mut session),
                None => {
                    session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
                    session.set_keepalive_reuses_remaining(
                        self.inner.server_options().and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            let (next, s) = self.inner.process_new_http(session, shutdown).await?.consume();
            settings = s;
            stream = next;
        }
    }
}
