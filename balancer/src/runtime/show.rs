//! The runtime API's read-only views: `show info`, `show stat` (the stats CSV), `show servers
//! state` (HAProxy's state file format) and `show mirror`, rendered from the live stats.

use super::{Cli, Outcome};
use crate::pool::Admin;
use std::sync::atomic::Ordering;

const STATE_HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

impl Cli {
    /// One line per mirrored server; `-` where this process does not hold the queues.
    pub(super) fn show_mirror(&self) -> String {
        let mut out = String::from(
            "# backend server queued_points queue_bytes oldest_s written dropped_rejected dropped_too_large dropped_corrupt set_aside breaker\n",
        );
        let dash = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
        for m in self.state.mirrors.all() {
            for v in m.view() {
                out.push_str(&format!(
                    "{} {} {} {} {} {} {} {} {} {} {}\n",
                    m.backend,
                    v.server,
                    dash(v.queued_points),
                    dash(v.queue_bytes),
                    v.oldest_s.map_or("-".to_string(), |s| format!("{s:.1}")),
                    v.written,
                    v.dropped_rejected,
                    v.dropped_too_large,
                    v.dropped_corrupt,
                    v.set_aside,
                    v.breaker
                ));
            }
        }
        out
    }

    pub(super) fn info(&self) -> String {
        let up = self.state.started.elapsed().as_secs();
        // Connections (HAProxy's sessions) and requests are counted apart.
        let [cur, conns, reqs] = self.state.frontends.iter().fold([0u64; 3], |[c, n, r], f| {
            [
                c + f.counters().sessions_cur.load(Ordering::Relaxed).max(0) as u64,
                n + f.counters().sessions.load(Ordering::Relaxed),
                r + f.counters().total.load(Ordering::Relaxed),
            ]
        });
        // No connection limit of its own: the file descriptors bound it, two per proxied
        // connection (HAProxy derives its default maxconn from `ulimit -n` the same way).
        let maxconn = rlimit_nofile() / 2;
        let tls = self
            .state
            .frontends
            .iter()
            .filter_map(|f| Some(&f.tls.as_ref()?.counters));
        let [ssl_cur, ssl_cum, ssl_reused] = tls.fold([0u64; 3], |[c, t, r], x| {
            [
                c + x.current.load(Ordering::Relaxed),
                t + x.sessions.load(Ordering::Relaxed),
                r + x.reused.load(Ordering::Relaxed),
            ]
        });
        let reuse_pct = (ssl_reused * 100).checked_div(ssl_cum).unwrap_or(0);
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!(
            "Name: netpulse-balancer\nVersion: {v}\nRelease_date: -\nNbthread: {threads}\nNbproc: 1\nProcess_num: 1\nPid: {pid}\nUptime: {d}d {h}h{m:02}m{s:02}s\nUptime_sec: {up}\nMaxconn: {maxconn}\nCurrConns: {cur}\nCumConns: {conns}\nCumReq: {reqs}\nMaxpipes: 0\nPipesUsed: 0\nTasks: 0\nRun_queue: 0\nnode: {node}\nStopping: 0\nListeners: {listeners}\nCurrSslConns: {ssl_cur}\nCumSslConns: {ssl_cum}\nSslFrontendSessionReuse_pct: {reuse_pct}\n",
            v = env!("CARGO_PKG_VERSION"),
            threads = self.state.threads,
            pid = std::process::id(),
            d = up / 86400,
            h = up % 86400 / 3600,
            m = up % 3600 / 60,
            s = up % 60,
            node = node.trim(),
            listeners = self.state.frontends.len(),
        )
    }

    /// `show stat [IID TYPE SID]`: -1 for any proxy or server; TYPE is a mask
    /// (1 frontends, 2 backends, 4 servers).
    pub(super) fn show_stat(&self, args: &[&str]) -> Result<Outcome, String> {
        let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        if args.iter().any(|a| matches!(*a, "json" | "typed" | "desc")) {
            return Err("show stat: only the CSV format is supported.".into());
        }
        let (iid, mask, sid) = match nums.as_slice() {
            [i, t, s, ..] => (*i, *t, *s),
            [] => (-1, -1, -1),
            _ => return Err("show stat: expects <iid> <type> <sid>.".into()),
        };
        let csv = crate::stats::csv_where(&self.state, |r| {
            let kind = match r["svname"].as_str() {
                "FRONTEND" => 1,
                "BACKEND" => 2,
                _ => 4,
            };
            (iid == -1 || r["iid"] == iid.to_string())
                && (mask == -1 || mask & kind != 0)
                && (sid == -1 || kind != 4 || r["sid"] == sid.to_string())
        });
        Ok(Outcome::Text(csv))
    }

    pub(super) fn servers_state(&self, only: Option<&str>) -> Result<Outcome, String> {
        let mut out = format!("1\n{STATE_HEADER}\n");
        let pool = &self.state.pool;
        if let Some(b) = only
            && pool.backend(b).is_none()
        {
            return Err("Can't find backend.".into());
        }
        for (bi, b) in pool
            .backends
            .iter()
            .enumerate()
            .filter(|(_, b)| only.is_none_or(|o| o == b.name))
        {
            let hc = b.health_check.as_ref();
            for (si, s) in b.live_servers() {
                let h = s.health();
                let admin = match s.admin() {
                    Admin::Ready => 0,
                    Admin::Maint => 1,
                    Admin::Drain => 8,
                };
                // HAProxy's HCHK_STATUS_* and CHK_RES_* numbers.
                let status = h.last.status.haproxy_code();
                let result = if !h.checked {
                    0
                } else if h.up {
                    3
                } else {
                    2
                };
                let health = hc.map_or(0, |c| if h.up { c.rise + c.fall - 1 - h.streak } else { h.streak });
                out.push_str(&format!(
                    "{be} {bn} {sid} {sn} {ip} {op} {admin} {uw} {iw} {since} {status} {result} {health} {cs} 0 0 0 - {port} - 0 0 - - 0\n",
                    be = self.state.backend_iid(bi),
                    bn = b.name,
                    sid = si + 1,
                    sn = s.name,
                    ip = s.addr.get().map_or("-".to_string(), |a| a.ip().to_string()),
                    op = if h.up || !s.checked { 2 } else { 0 },
                    uw = s.weight.load(Ordering::Relaxed),
                    iw = s.initial_weight,
                    since = h.last_change.elapsed().as_secs(),
                    cs = if s.checked { 6 } else { 0 },
                    port = s.addr.get().map_or(0, |a| a.port()),
                ));
            }
        }
        Ok(Outcome::Text(out))
    }
}

/// The soft limit of open files.
fn rlimit_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}
