//! The stats listener: `/stats` (HTML, auto-refresh), `/stats;csv` (HAProxy 2.6's exact
//! header and field order, so HAProxy tooling reads it unchanged), `/stats;json` and
//! `/metrics` (Prometheus). Optional basic auth. Values come from the live pool.

use crate::pool::{Admin, Counters, Pool, Server};
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// HAProxy 2.6's `show stat` / `;csv` header, verbatim (Debian haproxy 2.6.12).
pub const CSV_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

pub struct Stats {
    pub pool: Arc<Pool>,
    pub frontends: Vec<(String, Arc<Counters>)>,
    pub listen: String,
    pub uri: String,
    pub refresh_secs: u64,
    /// `Basic …` value expected in Authorization, when auth is on.
    pub auth: Option<String>,
    pub realm: String,
    /// Server state changes from the HTML page (HAProxy `stats admin if TRUE`).
    pub admin: bool,
    /// Every proxy by id (frontends, backends, and the stats listener's own proxy when
    /// named, HAProxy's `listen stats`): the rows come in this order, as HAProxy's do.
    pub proxies: Vec<netpulse_config::ProxyId>,
    pub started: Instant,
}

pub type Row = HashMap<&'static str, String>;

fn fields() -> Vec<&'static str> {
    CSV_HEADER
        .trim_start_matches("# ")
        .trim_end_matches(',')
        .split(',')
        .collect()
}

fn counters(r: &mut Row, c: &Counters) {
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    r.insert("scur", c.cur.load(Ordering::Relaxed).max(0).to_string());
    r.insert("smax", c.max.load(Ordering::Relaxed).to_string());
    r.insert("stot", g(&c.total));
    r.insert("bin", g(&c.bytes_in));
    r.insert("bout", g(&c.bytes_out));
    for (i, k) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"]
        .iter()
        .enumerate()
    {
        r.insert(k, g(&c.hrsp[i]));
    }
    r.insert("mode", "http".into());
}

/// HAProxy's status text for a server: `UP 2/3` is UP with one failed check of fall=3 behind
/// it, `DOWN 1/2` is DOWN with one passed check of rise=2.
pub fn server_status(s: &Server, hc: Option<&netpulse_config::HealthCheck>) -> String {
    let h = s.health.lock().unwrap_or_else(|p| p.into_inner());
    let (rise, fall) = hc.map_or((1, 1), |c| (c.rise, c.fall));
    match s.admin() {
        Admin::Maint => "MAINT".into(),
        Admin::Drain if h.up => "DRAIN".into(),
        _ if !s.checked => "no check".into(),
        _ if !h.checked => "DOWN".into(),
        _ if h.up && h.streak > 0 => format!("UP {}/{fall}", fall.saturating_sub(h.streak)),
        _ if h.up => "UP".into(),
        _ if h.streak > 0 => format!("DOWN {}/{rise}", h.streak),
        _ => "DOWN".into(),
    }
}

impl Stats {
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = vec![];
        for p in &self.proxies {
            let iid = p.id.to_string();
            if let Some(fi) = p.frontend {
                rows.push(self.frontend_row(fi, &iid));
            }
            if let Some(bi) = p.backend {
                self.backend_rows(bi, &iid, &mut rows);
            }
            if p.stats {
                stats_proxy_rows(&p.name, &iid, &mut rows);
            }
        }
        rows
    }

    /// The id of backend `bi`'s proxy.
    pub fn backend_iid(&self, bi: usize) -> u32 {
        self.proxies.iter().find(|p| p.backend == Some(bi)).map_or(0, |p| p.id)
    }

    fn frontend_row(&self, fi: usize, iid: &str) -> Row {
        let (name, c) = &self.frontends[fi];
        let mut r = Row::new();
        r.insert("pxname", name.clone());
        r.insert("svname", "FRONTEND".into());
        counters(&mut r, c);
        for k in ["dreq", "dresp", "rate", "rate_max", "req_rate", "req_rate_max"] {
            r.insert(k, "0".into());
        }
        r.insert("ereq", c.ereq.load(Ordering::Relaxed).to_string());
        r.insert("req_tot", c.total.load(Ordering::Relaxed).to_string());
        r.insert("status", "OPEN".into());
        r.insert("pid", "1".into());
        r.insert("iid", iid.into());
        r.insert("sid", "0".into());
        r.insert("type", "0".into());
        r
    }

    fn backend_rows(&self, bi: usize, iid: &str, rows: &mut Vec<Row>) {
        let b = &self.pool.backends[bi];
        let hc = b.health_check.as_ref();
        for (si, s) in b.live_servers() {
            let mut r = Row::new();
            let h = s.health.lock().unwrap_or_else(|p| p.into_inner());
            r.insert("pxname", b.name.clone());
            r.insert("svname", s.name.clone());
            counters(&mut r, &s.counters);
            for k in ["qcur", "qmax", "dresp", "rate", "rate_max", "cli_abrt", "srv_abrt"] {
                r.insert(k, "0".into());
            }
            if let Some(m) = s.maxconn {
                r.insert("slim", m.to_string());
            }
            r.insert("econ", s.counters.econ.load(Ordering::Relaxed).to_string());
            r.insert("eresp", s.counters.eresp.load(Ordering::Relaxed).to_string());
            r.insert("wretr", s.counters.retries.load(Ordering::Relaxed).to_string());
            r.insert("wredis", s.counters.redispatches.load(Ordering::Relaxed).to_string());
            r.insert("weight", s.weight.load(Ordering::Relaxed).to_string());
            r.insert("uweight", s.weight.load(Ordering::Relaxed).to_string());
            r.insert("act", u8::from(!s.backup).to_string());
            r.insert("bck", u8::from(s.backup).to_string());
            r.insert("lastchg", h.last_change.elapsed().as_secs().to_string());
            r.insert("pid", "1".into());
            r.insert("iid", iid.into());
            r.insert("sid", (si + 1).to_string());
            r.insert("lbtot", s.lbtot.load(Ordering::Relaxed).to_string());
            r.insert("type", "2".into());
            r.insert("addr", s.addr.to_string());
            if b.sticky.is_some() {
                r.insert("cookie", s.cookie.clone());
            }
            if let Some(hc) = hc {
                let down = h.downtime + h.down_since.map(|d| d.elapsed()).unwrap_or_default();
                r.insert("chkfail", h.failed_checks.to_string());
                r.insert("chkdown", h.downs.to_string());
                r.insert("downtime", down.as_secs().to_string());
                if h.checked {
                    r.insert("check_status", h.last.status.to_string());
                    if let Some(code) = h.last.code {
                        r.insert("check_code", code.to_string());
                    }
                    r.insert("check_duration", h.last.duration.as_millis().to_string());
                }
                r.insert("check_rise", hc.rise.to_string());
                r.insert("check_fall", hc.fall.to_string());
                r.insert(
                    "check_health",
                    if h.up {
                        (hc.rise + hc.fall - 1).to_string()
                    } else {
                        "0".into()
                    },
                );
            }
            drop(h);
            r.insert("status", server_status(s, hc));
            rows.push(r);
        }
        let mut r = Row::new();
        r.insert("pxname", b.name.clone());
        r.insert("svname", "BACKEND".into());
        counters(&mut r, &b.counters);
        let up = b.up_servers();
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
        r.insert("qcur", b.queued.load(Ordering::Relaxed).max(0).to_string());
        r.insert("qmax", b.queued_max.load(Ordering::Relaxed).to_string());
        r.insert("econ", g(&b.counters.econ));
        r.insert("eresp", g(&b.counters.eresp));
        r.insert("wretr", g(&b.counters.retries));
        r.insert("wredis", g(&b.counters.redispatches));
        r.insert("status", if up > 0 { "UP".into() } else { "DOWN".into() });
        let weight: u32 = b
            .servers
            .iter()
            .filter(|s| s.eligible())
            .map(|s| s.weight.load(Ordering::Relaxed))
            .sum();
        r.insert("weight", weight.to_string());
        r.insert("uweight", weight.to_string());
        let up_backups = b.servers.iter().filter(|s| s.backup && s.eligible()).count();
        r.insert("act", (up - up_backups.min(up)).to_string());
        r.insert("bck", up_backups.to_string());
        r.insert(
            "lastchg",
            b.last_change
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                .as_secs()
                .to_string(),
        );
        r.insert("pid", "1".into());
        r.insert("iid", iid.into());
        r.insert("sid", "0".into());
        r.insert(
            "lbtot",
            b.servers
                .iter()
                .map(|s| s.lbtot.load(Ordering::Relaxed))
                .sum::<u64>()
                .to_string(),
        );
        r.insert("type", "1".into());
        r.insert(
            "algo",
            match b.balance {
                netpulse_config::Balance::Leastconn => "leastconn",
                netpulse_config::Balance::StaticRr => "static-rr",
                netpulse_config::Balance::Roundrobin => "roundrobin",
            }
            .into(),
        );
        r.insert("req_tot", g(&b.counters.total));
        rows.push(r);
    }
}

/// The stats listener's own proxy (HAProxy's `listen stats`): a FRONTEND and a BACKEND row.
fn stats_proxy_rows(name: &str, iid: &str, rows: &mut Vec<Row>) {
    for (sv, status, ty) in [("FRONTEND", "OPEN", "0"), ("BACKEND", "UP", "1")] {
        let mut r = Row::new();
        r.insert("pxname", name.into());
        r.insert("svname", sv.into());
        r.insert("status", status.into());
        r.insert("pid", "1".into());
        r.insert("iid", iid.into());
        r.insert("sid", "0".into());
        r.insert("type", ty.into());
        r.insert("mode", "http".into());
        if ty == "1" {
            r.insert("weight", "0".into());
        }
        rows.push(r);
    }
}

impl Stats {
    pub fn csv(&self, scope: Option<&str>) -> String {
        self.csv_where(|r| scope.is_none_or(|s| r["pxname"] == s))
    }

    /// HAProxy's CSV of the rows `keep` accepts (`show stat IID TYPE SID` filters too).
    pub fn csv_where(&self, keep: impl Fn(&Row) -> bool) -> String {
        let names = fields();
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        for r in self.rows().into_iter().filter(|r| keep(r)) {
            for n in &names {
                out.push_str(&r.get(n).map(|v| v.replace(',', " ")).unwrap_or_default());
                out.push(',');
            }
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self.rows().into_iter().map(|r| serde_json::json!(r)).collect();
        serde_json::json!({ "uptime_s": self.started.elapsed().as_secs(), "stats": rows })
    }

    pub fn html(&self) -> String {
        let mut h = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{}\"><title>netpulse-balancer statistics</title><style>body{{font-family:sans-serif;font-size:13px}}table{{border-collapse:collapse;margin-bottom:16px}}td,th{{border:1px solid #999;padding:2px 6px}}th{{background:#dde}}.UP{{background:#c0f0c0}}.DOWN{{background:#f0a0a0}}.MAINT{{background:#c0c0f0}}.DRAIN{{background:#f0e0a0}}</style></head><body><h1>netpulse-balancer statistics</h1><p>uptime {}s · <a href=\"{uri};csv\">CSV</a> · <a href=\"{uri};json\">JSON</a></p>",
            self.refresh_secs,
            self.started.elapsed().as_secs(),
            uri = self.uri
        );
        let cols = [
            ("svname", "name"),
            ("status", "status"),
            ("weight", "weight"),
            ("check_status", "check"),
            ("check_duration", "check ms"),
            ("scur", "cur"),
            ("smax", "max"),
            ("stot", "total"),
            ("bin", "bytes in"),
            ("bout", "bytes out"),
            ("econ", "conn err"),
            ("eresp", "resp err"),
            ("wretr", "retries"),
            ("wredis", "redisp"),
            ("lastchg", "last change s"),
            ("downtime", "downtime s"),
        ];
        let rows = self.rows();
        let mut proxies: Vec<String> = vec![];
        for r in &rows {
            if !proxies.contains(&r["pxname"]) {
                proxies.push(r["pxname"].clone());
            }
        }
        for p in proxies {
            let admin_form = self.admin && rows.iter().any(|r| r["pxname"] == p && r["svname"] == "BACKEND");
            if admin_form {
                let iid = rows
                    .iter()
                    .find(|r| r["pxname"] == p)
                    .map(|r| r["iid"].clone())
                    .unwrap_or_default();
                h.push_str(&format!(
                    "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"b\" value=\"#{iid}\">",
                    self.uri
                ));
            }
            h.push_str(&format!("<table><caption><b>{}</b></caption><tr>", html_escape(&p)));
            if admin_form {
                h.push_str("<th></th>");
            }
            for (_, title) in cols {
                h.push_str(&format!("<th>{title}</th>"));
            }
            h.push_str("</tr>");
            for r in rows.iter().filter(|r| r["pxname"] == p) {
                let class = r
                    .get("status")
                    .map(|s| s.split(' ').next().unwrap_or("").to_string())
                    .unwrap_or_default();
                h.push_str(&format!("<tr class=\"{class}\">"));
                if admin_form {
                    let sv = &r["svname"];
                    if sv == "FRONTEND" || sv == "BACKEND" {
                        h.push_str("<td></td>");
                    } else {
                        h.push_str(&format!(
                            "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                            html_escape(sv)
                        ));
                    }
                }
                for (k, _) in cols {
                    h.push_str(&format!(
                        "<td>{}</td>",
                        html_escape(r.get(k).map(String::as_str).unwrap_or(""))
                    ));
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
            if admin_form {
                h.push_str("<p>Selected servers: <select name=\"action\"><option value=\"ready\">set state to READY</option><option value=\"drain\">set state to DRAIN</option><option value=\"maint\">set state to MAINT</option></select> <input type=\"submit\" value=\"Apply\"></p></form>");
            }
        }
        h.push_str("</body></html>");
        h
    }

    /// Prometheus text: the pool's state as metric families built with the `prometheus` crate
    /// (the one Pingora uses), plus whatever Pingora registered in the default registry.
    pub fn prometheus(&self) -> String {
        use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
        let reg = Registry::new();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            reg.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            reg.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let sv = &["backend", "server"];
        let up = gauge(
            "netpulse_balancer_server_up",
            "1 when the server takes traffic (UP, not in maintenance).",
            sv,
        );
        let cur = gauge(
            "netpulse_balancer_server_current_requests",
            "Requests in flight at the server.",
            sv,
        );
        let weight = gauge("netpulse_balancer_server_weight", "Current weight.", sv);
        let reqs = counter(
            "netpulse_balancer_server_requests_total",
            "Requests sent to the server.",
            sv,
        );
        let resp = counter(
            "netpulse_balancer_server_responses_total",
            "Responses from the server by status class.",
            &["backend", "server", "code"],
        );
        let econ = counter("netpulse_balancer_server_connect_errors_total", "Failed connects.", sv);
        let eresp = counter(
            "netpulse_balancer_server_response_errors_total",
            "Failed or cut responses.",
            sv,
        );
        let bin = counter(
            "netpulse_balancer_server_received_bytes_total",
            "Request body bytes sent to the server.",
            sv,
        );
        let bout = counter(
            "netpulse_balancer_server_sent_bytes_total",
            "Response body bytes from the server.",
            sv,
        );
        let retries = counter(
            "netpulse_balancer_backend_retries_total",
            "Connection retries.",
            &["backend"],
        );
        let redis = counter(
            "netpulse_balancer_backend_redispatches_total",
            "Requests sent to another server than first chosen.",
            &["backend"],
        );
        let queue = gauge(
            "netpulse_balancer_backend_queue_current",
            "Requests waiting for a server below its maxconn.",
            &["backend"],
        );
        let fe_reqs = counter(
            "netpulse_balancer_frontend_requests_total",
            "Requests received.",
            &["frontend"],
        );
        let fe_cur = gauge(
            "netpulse_balancer_frontend_current_requests",
            "Requests in progress.",
            &["frontend"],
        );
        let fe_ereq = counter(
            "netpulse_balancer_frontend_request_errors_total",
            "Requests refused before a backend (e.g. 408).",
            &["frontend"],
        );
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for b in &self.pool.backends {
            for (_, s) in b.live_servers() {
                let l = [b.name.as_str(), s.name.as_str()];
                up.with_label_values(&l)
                    .set(i64::from(s.is_up() && s.admin() != Admin::Maint));
                cur.with_label_values(&l)
                    .set(s.counters.cur.load(Ordering::Relaxed).max(0));
                weight
                    .with_label_values(&l)
                    .set(i64::from(s.weight.load(Ordering::Relaxed)));
                reqs.with_label_values(&l).inc_by(n(&s.counters.total));
                for (i, code) in ["1xx", "2xx", "3xx", "4xx", "5xx", "other"].iter().enumerate() {
                    resp.with_label_values(&[l[0], l[1], code])
                        .inc_by(n(&s.counters.hrsp[i]));
                }
                econ.with_label_values(&l).inc_by(n(&s.counters.econ));
                eresp.with_label_values(&l).inc_by(n(&s.counters.eresp));
                bin.with_label_values(&l).inc_by(n(&s.counters.bytes_in));
                bout.with_label_values(&l).inc_by(n(&s.counters.bytes_out));
            }
            retries.with_label_values(&[&b.name]).inc_by(n(&b.counters.retries));
            redis.with_label_values(&[&b.name]).inc_by(n(&b.counters.redispatches));
            queue
                .with_label_values(&[&b.name])
                .set(b.queued.load(Ordering::Relaxed).max(0));
        }
        for (name, c) in &self.frontends {
            fe_reqs.with_label_values(&[name]).inc_by(n(&c.total));
            fe_cur
                .with_label_values(&[name])
                .set(c.cur.load(Ordering::Relaxed).max(0));
            fe_ereq.with_label_values(&[name]).inc_by(n(&c.ereq));
        }
        let mut families = reg.gather();
        families.extend(prometheus::gather());
        TextEncoder::new().encode_to_string(&families).unwrap_or_default()
    }

    /// The answer to one request: (status, content type, body, Location).
    pub(crate) fn respond(&self, req: &crate::stats_http::Request) -> (u16, &'static str, String, Option<String>) {
        if let Some(want) = &self.auth
            && req.auth.as_deref() != Some(want.as_str())
        {
            return (401, "text/plain", "authentication required\n".into(), None);
        }
        let path = req.path.as_str();
        let (base, scope) = match path.split_once(";scope=") {
            Some((b, s)) => (b.to_string(), Some(s.to_string())),
            None => (path.to_string(), None),
        };
        let base = base.replace(";scope", "");
        let base = base.split(";st=").next().unwrap_or("").to_string();
        if req.method == "POST" && base == self.uri {
            if !self.admin {
                return (
                    403,
                    "text/plain",
                    "admin actions are disabled (stats admin)\n".into(),
                    None,
                );
            }
            let st = crate::stats_admin::apply(self, &req.body);
            return (303, "text/plain", String::new(), Some(format!("{};st={st}", self.uri)));
        }
        if base == format!("{};csv", self.uri) {
            (200, "text/plain; charset=utf-8", self.csv(scope.as_deref()), None)
        } else if base == format!("{};json", self.uri) {
            (200, "application/json", self.json().to_string(), None)
        } else if base == self.uri || base == format!("{}/", self.uri) {
            (200, "text/html; charset=utf-8", self.html(), None)
        } else if base == "/metrics" {
            (200, "text/plain; version=0.0.4", self.prometheus(), None)
        } else {
            (404, "text/plain", "not found\n".into(), None)
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[async_trait]
impl BackgroundService for Stats {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // During a graceful upgrade the old process still holds the port for a moment.
        let mut warned = false;
        let listener = loop {
            match tokio::net::TcpListener::bind(&self.listen).await {
                Ok(l) => break l,
                Err(e) => {
                    if !warned {
                        tracing::warn!(listen = %self.listen, error = %e, "stats listener not available yet; retrying");
                        warned = true;
                    }
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    }
                }
            }
        };
        // Connections are served concurrently (a slow scraper never blocks the others), at most
        // MAX_CONNS at a time; they borrow `self`, so they live in this task, not spawned ones.
        const MAX_CONNS: usize = 64;
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

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for c in input.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    format!("Basic {out}")
}
