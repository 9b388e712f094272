//! The stats listener: `/stats` (HTML, auto-refresh, admin form), `/stats;csv` (HAProxy
//! 2.6's exact header and field order, so HAProxy tooling reads it unchanged), `/stats;json`
//! and `/metrics` (Prometheus). Optional basic auth. Values come from the live pool.
//!
//! - `rows`: the rows every view is made of, read from the pool;
//! - `export` (CSV, JSON) and `html`: views of the rows; `metrics`: Prometheus families for `/metrics`;
//! - `admin`: the admin form's POST; `http`: the listener's small HTTP.

mod admin;
mod export;
mod html;
mod http;
mod metrics;
mod rows;

pub use http::basic;
pub use rows::Row;

use crate::state::State;

use async_trait::async_trait;
use http::Answer;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;

/// How the stats listener is set up.
pub struct Settings {
    pub listen: String,
    pub uri: String,
    pub refresh_secs: u64,
    /// `Basic …` value expected in Authorization, when auth is on.
    pub auth: Option<String>,
    pub realm: String,
    /// Server state changes from the HTML page (HAProxy `stats admin if TRUE`).
    pub admin: bool,
}

/// HAProxy's CSV of the rows `keep` accepts (`show stat IID TYPE SID` filters too).
pub fn csv_where(state: &State, keep: impl Fn(&Row) -> bool) -> String {
    export::csv(rows::rows(state).into_iter().filter(|r| keep(r)))
}

pub struct Stats {
    pub state: Arc<State>,
    settings: Settings,
    /// The pool's families, registered once.
    metrics: ::prometheus::Registry,
}

impl Stats {
    pub fn new(state: Arc<State>, settings: Settings) -> Self {
        let metrics = ::prometheus::Registry::new();
        metrics
            .register(Box::new(metrics::PoolMetrics::new(state.clone())))
            .expect("the pool's families are registered once");
        Self {
            state,
            settings,
            metrics,
        }
    }

    /// The pool's families, then the default registry's: Pingora's, and the process metrics
    /// (`process_cpu_seconds_total`, … the alert rules use) the `process` feature puts there.
    fn prometheus(&self) -> String {
        let mut families = self.metrics.gather();
        families.extend(::prometheus::gather());
        ::prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_default()
    }

    /// The answer to one request.
    fn respond(&self, req: &http::Request) -> Answer {
        let s = &self.settings;
        if let Some(want) = &s.auth
            && req.auth.as_deref() != Some(want.as_str())
        {
            return Answer::new(401, "text/plain", "authentication required\n");
        }
        let (base, scope) = match req.path.split_once(";scope=") {
            Some((b, s)) => (b, Some(s)),
            None => (req.path.as_str(), None),
        };
        let base = base.replace(";scope", "");
        let base = base.split(";st=").next().unwrap_or("");
        let uri = s.uri.as_str();
        if req.method == "POST" && base == uri {
            if !s.admin {
                return Answer::new(403, "text/plain", "admin actions are disabled (stats admin)\n");
            }
            let st = admin::apply(&self.state, &req.body);
            let mut a = Answer::new(303, "text/plain", "");
            a.location = Some(format!("{uri};st={st}"));
            return a;
        }
        let uptime_s = self.state.started.elapsed().as_secs();
        match base.strip_prefix(uri) {
            Some(";csv") => Answer::new(
                200,
                "text/plain; charset=utf-8",
                csv_where(&self.state, |r| scope.is_none_or(|s| r["pxname"] == s)),
            ),
            Some(";json") => Answer::new(
                200,
                "application/json",
                export::json(rows::rows(&self.state), uptime_s).to_string(),
            ),
            Some("" | "/") => {
                let page = html::Page {
                    uri,
                    refresh_secs: s.refresh_secs,
                    uptime_s,
                    admin: s.admin,
                };
                Answer::new(
                    200,
                    "text/html; charset=utf-8",
                    html::page(&rows::rows(&self.state), &page),
                )
            }
            _ if base == "/metrics" => Answer::new(200, "text/plain; version=0.0.4", self.prometheus()),
            _ => Answer::new(404, "text/plain", "not found\n"),
        }
    }

    async fn serve(&self, mut stream: tokio::net::TcpStream) {
        let req = http::read(&mut stream).await.unwrap_or_default();
        http::write(&mut stream, self.respond(&req), &self.settings.realm).await;
    }
}

#[async_trait]
impl BackgroundService for Stats {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let listen = &self.settings.listen;
        // During a graceful upgrade the old process still holds the port for a moment.
        let mut warned = false;
        let listener = loop {
            match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => break l,
                Err(e) => {
                    if !warned {
                        tracing::warn!(listen = %listen, error = %e, "stats listener not available yet; retrying");
                        warned = true;
                    }
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    }
                }
            }
        };
        // A connection reaches accept() only once its first bytes are in (TCP_DEFER_ACCEPT):
        // a flood of idle connections stays in the kernel and never takes a slot, so scrapes
        // and the page keep being answered.
        {
            use std::os::fd::AsRawFd;
            if !crate::listeners::set_defer_accept(listener.as_raw_fd(), 5) {
                tracing::warn!(listen = %listen, "TCP_DEFER_ACCEPT not set on the stats listener");
            }
        }
        // Connections are served concurrently (a slow scraper never blocks the others), at most
        // MAX_CONNS at a time, each within the request deadline of `http::read`; they borrow
        // `self`, so they live in this task, not spawned ones.
        const MAX_CONNS: usize = 1024;
        let mut conns = futures::stream::FuturesUnordered::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = futures::StreamExt::next(&mut conns), if !conns.is_empty() => {}
                r = listener.accept(), if conns.len() < MAX_CONNS => {
                    if let Ok((stream, _)) = r {
                        conns.push(self.serve(stream));
                    }
                }
            }
        }
    }
}
