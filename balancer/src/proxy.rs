//! Pingora's hooks for one frontend (the generic path): route (`frontend`), choose a server (sticky cookie first,
//! else smooth weighted round-robin over servers that may take traffic), retry a failed
//! connect on another server, strip the persistence cookie before the server sees it, and
//! insert it (with `Cache-Control: private`) like HAProxy's `insert indirect nocache`.

use crate::frontend::{
    self, BAD_GATEWAY, BAD_REQUEST, CONNECT_REFUSED, CONNECT_TIMEOUT, ErrorAnswer, Frontend, GATEWAY_TIMEOUT,
    INTERNAL_ERROR, NO_SERVER, PAYLOAD_TOO_LARGE, REQUEST_TIMEOUT,
};
use crate::pool::{Ask, Slot};
use crate::state::State;
use crate::sticky;
use async_trait::async_trait;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::FailToProxy;
use pingora_proxy::{ProxyHttp, Session};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub struct Proxy {
    /// The pool, and the backends that mirror every request to every server (InfluxDB writes).
    pub state: Arc<State>,
    /// Shared with the express lane (`express.rs`).
    pub frontend: Arc<Frontend>,
}

#[derive(Default)]
pub struct Ctx {
    backend: usize,
    /// The server of the latest attempt.
    server: Option<usize>,
    /// Its request slot, until the attempt fails or the request ends.
    slot: Option<Slot>,
    tried: Vec<usize>,
    attempts: u32,
    /// Cookie value to insert in the response (a new or redispatched sticky session).
    set_cookie: Option<String>,
    body_bytes: u64,
}

/// The value of cookie `name` in the request, if any.
pub fn cookie_value(req: &RequestHeader, name: &str) -> Option<String> {
    req.headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.trim().to_string())
        })
}

impl Proxy {
    /// Counts one more attempt of this request (backend and server `wretr`) if `retries`
    /// allows it.
    fn take_retry(&self, ctx: &mut Ctx) -> bool {
        let b = &self.state.pool.backends[ctx.backend];
        if ctx.attempts >= b.retries {
            return false;
        }
        ctx.attempts += 1;
        b.counters.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = ctx.server {
            b.servers[s].counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// A failed attempt gives its server's slot back (dropped); the request stays counted.
    fn release(&self, ctx: &mut Ctx) {
        ctx.slot = None;
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    /// No downstream modules: Pingora's default adds a (disabled) compression module that
    /// still inspects every response; netpulse never compresses.
    fn init_downstream_modules(&self, _modules: &mut pingora_core::modules::http::HttpModules) {}

    /// A client that went away is not an error of the balancer: counted, not logged at ERROR.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, e: &Error) -> bool {
        e.esource() == &ErrorSource::Downstream
            && matches!(
                e.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            )
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        self.frontend.counters.begin();
        // HAProxy's `timeout client` for body reads; the wait for the next kept-alive request
        // is the front door's (`timeout http-keep-alive`).
        session.set_read_timeout(Some(self.frontend.client_timeout));
        if let Some(max) = self.frontend.max_body
            && let Some(len) = session
                .req_header()
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            && len > max
        {
            return Err(Error::explain(ErrorType::HTTPStatus(413), "request body too large"));
        }
        let req = session.req_header();
        let path = req.uri.path();
        let host = req
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str()))
            .unwrap_or("");
        ctx.backend = self.frontend.route(path, host);
        self.state.pool.backends[ctx.backend].counters.begin();
        if let Some(m) = self.state.mirrors.get(ctx.backend) {
            crate::mirror::serve(session, m).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let b = &self.state.pool.backends[ctx.backend];
        let cookie = (b.sticky.as_ref()).and_then(|st| cookie_value(session.req_header(), &st.cookie));
        let ask = Ask {
            session: cookie.as_deref(),
            tried: &ctx.tried,
            patient: true,
        };
        let slot = (self.state.pool.choose(ctx.backend, ask).await)
            .map_err(|e| Error::explain(ErrorType::HTTPStatus(503), e.to_string()))?;
        let i = slot.server();
        if slot.new_session() {
            ctx.set_cookie = Some(b.servers[i].cookie.clone());
        }
        ctx.tried.push(i);
        ctx.server = Some(i);
        ctx.slot = Some(slot);
        let s = &b.servers[i];
        // Unresolved names belong to checked servers, which are DOWN and never picked; should one
        // be reached anyway, port 0 is refused at once and the request retries elsewhere.
        let addr = s.addr.get().unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(b.connect_timeout);
        peer.options.read_timeout = Some(b.server_timeout);
        peer.options.write_timeout = Some(b.server_timeout);
        // Pooled connections are closed after idling this long (a deleted or rarely used
        // server holds no descriptors for ever), as the express lane's pool does.
        peer.options.idle_timeout = Some(std::time::Duration::from_secs(30));
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let b = &self.state.pool.backends[ctx.backend];
        if let Some(s) = ctx.server {
            b.servers[s].counters.econ.fetch_add(1, Ordering::Relaxed);
        }
        b.counters.econ.fetch_add(1, Ordering::Relaxed);
        self.release(ctx);
        if self.take_retry(ctx) {
            e.set_retry(true);
        }
        e
    }

    /// A request that reached a server which then failed: retried on another server only when
    /// it is idempotent, its body is still buffered, and nothing was sent to the client yet.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        // A server that dropped the connection, not one that is slow (retrying a timeout
        // would multiply the load on a struggling server, HAProxy doesn't either), and not a
        // client that left (nobody to answer; the server did nothing wrong).
        let dropped = e.esource() != &ErrorSource::Downstream
            && matches!(
                e.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError | ErrorType::H1Error
            );
        let safe = dropped
            && session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated()
            && session.response_written().is_none();
        if safe && self.take_retry(ctx) {
            if let Some(s) = ctx.server {
                self.state.pool.backends[ctx.backend].servers[s]
                    .counters
                    .eresp
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.release(ctx);
            e.set_retry(true);
        } else {
            e.set_retry(false);
        }
        e
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Chunked bodies have no Content-Length to check up front.
        if let (Some(max), Some(b)) = (self.frontend.max_body, body.as_ref()) {
            ctx.body_bytes += b.len() as u64;
            if ctx.body_bytes > max {
                return Err(Error::explain(ErrorType::HTTPStatus(413), "request body too large"));
            }
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // `indirect`: the server never sees the persistence cookie.
        if let Some(st) = &self.state.pool.backends[ctx.backend].sticky {
            let joined: Vec<String> = req
                .headers
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            if !joined.is_empty() {
                req.remove_header("cookie");
                if let Some(rest) = sticky::strip_cookie(&joined.join("; "), &st.cookie) {
                    req.insert_header("cookie", rest)?;
                }
            }
        }
        Ok(())
    }

    async fn response_filter(&self, session: &mut Session, resp: &mut ResponseHeader, ctx: &mut Ctx) -> Result<()> {
        if let (Some(v), Some(st)) = (ctx.set_cookie.take(), &self.state.pool.backends[ctx.backend].sticky) {
            let method = &session.req_header().method;
            let headers = resp.headers.iter().map(|(k, v)| (k.as_str().as_bytes(), v.as_bytes()));
            let private = (method == "GET" || method == "HEAD") && sticky::cacheable(resp.status.as_u16(), headers);
            resp.append_header("set-cookie", sticky::set_cookie(&st.cookie, &v))?;
            if private {
                resp.append_header("cache-control", sticky::CACHE_CONTROL)?;
            }
        }
        Ok(())
    }

    /// HAProxy's status codes, each with a short body saying why.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (code, why) = error_answer(e);
        // The server's own eresp is counted in `logging`, which sees every finished request.
        if ctx.server.is_some() && (code == 502 || code == 504) {
            self.state.pool.backends[ctx.backend]
                .counters
                .eresp
                .fetch_add(1, Ordering::Relaxed);
        }
        if code > 0 {
            let body = bytes::Bytes::from(frontend::error_body(code, why));
            if session.respond_error_with_body(code, body).await.is_err() {
                tracing::debug!("client gone before the error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        if let Some(e) = e {
            tracing::debug!(frontend = %self.frontend.name, error = %e, "request failed");
        }
        let code = session.response_written().map_or(0, |r| r.status.as_u16());
        let bytes = (session.body_bytes_read() as u64, session.body_bytes_sent() as u64);
        self.state.pool.backends[ctx.backend].finish(
            &self.frontend.counters,
            ctx.slot.take(),
            code,
            bytes,
            e.is_some() && code >= 500,
        );
    }
}

/// The status and reason for a request that could not be proxied (0: the client is gone).
pub fn error_answer(e: &Error) -> ErrorAnswer {
    match (e.etype(), e.esource()) {
        (ErrorType::HTTPStatus(413), _) => PAYLOAD_TOO_LARGE,
        (ErrorType::HTTPStatus(503), _) => NO_SERVER,
        (ErrorType::HTTPStatus(code), _) => (*code, frontend::OTHER),
        (ErrorType::ReadTimedout | ErrorType::WriteTimedout, ErrorSource::Upstream) => GATEWAY_TIMEOUT,
        (ErrorType::ConnectTimedout, _) => CONNECT_TIMEOUT,
        (ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError, _) => CONNECT_REFUSED,
        (ErrorType::ReadTimedout, ErrorSource::Downstream) => REQUEST_TIMEOUT,
        (ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed, ErrorSource::Downstream) => {
            (0, "")
        }
        (_, ErrorSource::Downstream) => BAD_REQUEST,
        (_, ErrorSource::Upstream) => BAD_GATEWAY,
        _ => INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_use_haproxy_codes() {
        assert_eq!(error_answer(&Error::new_up(ErrorType::ReadTimedout)).0, 504);
        assert_eq!(error_answer(&Error::new_up(ErrorType::ConnectionClosed)).0, 502);
        assert_eq!(error_answer(&Error::explain(ErrorType::HTTPStatus(503), "x")).0, 503);
        assert_eq!(error_answer(&Error::new_down(ErrorType::ReadTimedout)).0, 408);
        assert_eq!(error_answer(&Error::new_down(ErrorType::InvalidHTTPHeader)).0, 400);
    }

    #[test]
    fn cookies() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("cookie", "a=1; SERVERID=grafana-b; c=3").unwrap();
        assert_eq!(cookie_value(&req, "SERVERID").as_deref(), Some("grafana-b"));
        assert_eq!(cookie_value(&req, "nope"), None);
    }
}
