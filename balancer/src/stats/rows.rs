//! The stats rows, one per frontend, server and backend as HAProxy's `show stat` has them
//! (field names of its CSV header), read from the balancer's `State` in proxy id order. Every view
//! (CSV, JSON, HTML, the runtime API) is made from these rows.

use crate::pool::{Backend, Counters};
use crate::state::{FrontendState, State};
use netpulse_config::Balance;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// HAProxy 2.6's `show stat` / `;csv` header, verbatim (Debian haproxy 2.6.12).
pub const CSV_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

pub type Row = HashMap<&'static str, String>;

/// The CSV header's field names, in order.
pub fn fields() -> Vec<&'static str> {
    CSV_HEADER
        .trim_start_matches("# ")
        .trim_end_matches(',')
        .split(',')
        .collect()
}

fn n(a: &AtomicU64) -> String {
    a.load(Ordering::Relaxed).to_string()
}

fn counters(r: &mut Row, c: &Counters) {
    r.insert("rate", c.req_rate.rate().to_string());
    r.insert("rate_max", c.req_rate.max().to_string());
    r.insert("scur", c.current().to_string());
    r.insert("smax", c.max.load(Ordering::Relaxed).to_string());
    r.insert("stot", n(&c.total));
    r.insert("bin", n(&c.bytes_in));
    r.insert("bout", n(&c.bytes_out));
    for (k, v) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"]
        .iter()
        .zip(&c.hrsp)
    {
        r.insert(k, n(v));
    }
    r.insert("mode", "http".into());
}

/// A mirrored server's queue: `qcur` is its queued points (HAProxy's queue of the server); the
/// JSON rows carry the rest (CSV keeps HAProxy's columns).
fn mirror_fields(r: &mut Row, v: &crate::mirror::ServerView) {
    let opt = |x: Option<u64>| x.map(|n| n.to_string()).unwrap_or_default();
    r.insert("qcur", opt(v.queued_points));
    r.insert("mirror_queued_points", opt(v.queued_points));
    r.insert("mirror_queue_bytes", opt(v.queue_bytes));
    r.insert(
        "mirror_oldest_s",
        v.oldest_s.map(|s| format!("{s:.1}")).unwrap_or_default(),
    );
    r.insert("mirror_written", v.written.to_string());
    r.insert("mirror_dropped", v.dropped().to_string());
    r.insert("mirror_breaker", v.breaker.into());
}

/// The fields every row of a proxy carries: its names, id and type.
fn row(pxname: &str, svname: &str, iid: &str, sid: usize, ty: &str) -> Row {
    let mut r = Row::new();
    r.insert("pxname", pxname.into());
    r.insert("svname", svname.into());
    r.insert("pid", "1".into());
    r.insert("iid", iid.into());
    r.insert("sid", sid.to_string());
    r.insert("type", ty.into());
    r
}

/// Every row, in proxy id order.
pub fn rows(state: &State) -> Vec<Row> {
    let mut rows = vec![];
    for p in &state.proxies {
        let iid = p.id.to_string();
        if let Some(fi) = p.frontend {
            rows.push(frontend_row(&state.frontends[fi], &iid));
        }
        if let Some(bi) = p.backend {
            let b = &state.pool.backends[bi];
            let mut servers: Vec<Row> = b.live_servers().map(|(si, _)| server_row(b, si, &iid)).collect();
            if let Some(m) = state.mirrors.get(bi) {
                for (r, v) in servers.iter_mut().zip(m.view()) {
                    mirror_fields(r, &v);
                }
            }
            rows.extend(servers);
            rows.push(backend_row(b, &iid));
        }
        if p.stats {
            stats_proxy_rows(&p.name, &iid, &mut rows);
        }
    }
    rows
}

fn frontend_row(f: &FrontendState, iid: &str) -> Row {
    let (c, tls) = (f.counters(), &f.tls);
    let mut r = row(f.name(), "FRONTEND", iid, 0, "0");
    r.insert("intercepted", n(&c.intercepted));
    if let Some(t) = tls.as_ref().map(|a| &a.counters) {
        r.insert("ssl_sess", n(&t.sessions));
        r.insert("ssl_reused_sess", n(&t.reused));
        r.insert("ssl_failed_handshake", n(&t.failed));
    }
    counters(&mut r, c);
    // A frontend's `rate` is connections per second, `req_rate` requests per second.
    // dreq/dresp (denied by ACLs) stay empty: the balancer has no deny rules.
    r.insert("rate", c.sess_rate.rate().to_string());
    r.insert("rate_max", c.sess_rate.max().to_string());
    r.insert("req_rate", c.req_rate.rate().to_string());
    r.insert("req_rate_max", c.req_rate.max().to_string());
    r.insert("ereq", n(&c.ereq));
    r.insert("req_tot", n(&c.total));
    // A FRONTEND row counts client connections (HAProxy's sessions); requests are req_tot.
    r.insert("stot", n(&c.sessions));
    r.insert("scur", c.sessions_cur.load(Ordering::Relaxed).max(0).to_string());
    r.insert("smax", c.sessions_max.load(Ordering::Relaxed).to_string());
    r.insert("status", "OPEN".into());
    r
}

fn server_row(b: &Backend, si: usize, iid: &str) -> Row {
    let s = &b.servers[si];
    let hc = b.health_check.as_ref();
    let mut r = row(&b.name, &s.name, iid, si + 1, "2");
    counters(&mut r, &s.counters);
    // Requests wait in the backend's queue, never a server's: a server's queue is empty.
    // dresp, cli_abrt and srv_abrt are not tracked: empty, as HAProxy leaves what it
    // does not know.
    for k in ["qcur", "qmax"] {
        r.insert(k, "0".into());
    }
    if let Some(m) = s.maxconn {
        r.insert("slim", m.to_string());
    }
    r.insert("econ", n(&s.counters.econ));
    r.insert("eresp", n(&s.counters.eresp));
    r.insert("req_tot", n(&s.counters.total));
    r.insert("wretr", n(&s.counters.retries));
    r.insert("wredis", n(&s.counters.redispatches));
    r.insert("weight", s.weight().to_string());
    r.insert("uweight", s.weight().to_string());
    r.insert("act", u8::from(!s.backup).to_string());
    r.insert("bck", u8::from(s.backup).to_string());
    r.insert("lbtot", n(&s.lbtot));
    r.insert("addr", s.addr.shown());
    if b.sticky.is_some() {
        r.insert("cookie", s.cookie.clone());
    }
    {
        let h = s.health();
        r.insert("lastchg", h.last_change.elapsed().as_secs().to_string());
        if let Some(hc) = hc {
            let down = h.downtime + h.down_since.map(|d| d.elapsed()).unwrap_or_default();
            r.insert("chkfail", h.failed_checks.to_string());
            r.insert("chkdown", h.downs.to_string());
            r.insert("downtime", down.as_secs().to_string());
            if h.checked {
                r.insert("check_status", h.last.status.as_str().into());
                if let Some(code) = h.last.code {
                    r.insert("check_code", code.to_string());
                }
                r.insert("check_duration", h.last.duration.as_millis().to_string());
            }
            r.insert("check_rise", hc.rise.to_string());
            r.insert("check_fall", hc.fall.to_string());
            let health = if h.up { hc.rise + hc.fall - 1 } else { 0 };
            r.insert("check_health", health.to_string());
        }
    }
    r.insert("status", s.state(hc).to_string());
    r
}

fn backend_row(b: &Backend, iid: &str) -> Row {
    let mut r = row(&b.name, "BACKEND", iid, 0, "1");
    counters(&mut r, &b.counters);
    let up = b.up_servers();
    r.insert("qcur", b.queue_len().to_string());
    r.insert("qmax", b.queued_max.load(Ordering::Relaxed).to_string());
    r.insert("econ", n(&b.counters.econ));
    r.insert("eresp", n(&b.counters.eresp));
    r.insert("wretr", n(&b.counters.retries));
    r.insert("wredis", n(&b.counters.redispatches));
    r.insert("status", if up > 0 { "UP" } else { "DOWN" }.into());
    let weight: u32 = b.servers.iter().filter(|s| s.eligible()).map(|s| s.weight()).sum();
    r.insert("weight", weight.to_string());
    r.insert("uweight", weight.to_string());
    let up_backups = b.servers.iter().filter(|s| s.backup && s.eligible()).count();
    r.insert("act", (up - up_backups.min(up)).to_string());
    r.insert("bck", up_backups.to_string());
    let changed = b.last_change.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
    r.insert("lastchg", changed.as_secs().to_string());
    let lbtot: u64 = b.servers.iter().map(|s| s.lbtot.load(Ordering::Relaxed)).sum();
    r.insert("lbtot", lbtot.to_string());
    let algo = match b.balance {
        Balance::Leastconn => "leastconn",
        Balance::StaticRr => "static-rr",
        Balance::Roundrobin => "roundrobin",
    };
    r.insert("algo", algo.into());
    r.insert("req_tot", n(&b.counters.total));
    r
}

/// The stats listener's own proxy (HAProxy's `listen stats`): a FRONTEND and a BACKEND row.
fn stats_proxy_rows(name: &str, iid: &str, rows: &mut Vec<Row>) {
    for (sv, status, ty) in [("FRONTEND", "OPEN", "0"), ("BACKEND", "UP", "1")] {
        let mut r = row(name, sv, iid, 0, ty);
        r.insert("status", status.into());
        r.insert("mode", "http".into());
        if ty == "1" {
            r.insert("weight", "0".into());
        }
        rows.push(r);
    }
}
