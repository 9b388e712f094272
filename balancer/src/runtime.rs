//! HAProxy's runtime API on a unix socket (`stats socket`): line commands, one per
//! connection or many after `prompt` (as `hatop` does). It reads and changes the shared
//! [`Pool`](crate::pool::Pool): server admin states and weights take effect on the next request.

use crate::pool::{Admin, Backend, Server};
use crate::stats::Stats;
use async_trait::async_trait;
use netpulse_config::RuntimeLevel;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The socket: where it lives and who may open it.
pub struct Runtime {
    pub cli: Arc<Cli>,
    pub path: String,
    pub mode: u32,
}

/// The command interpreter, shared by every connection.
pub struct Cli {
    pub stats: Arc<Stats>,
    pub level: RuntimeLevel,
}

const HELP: &[&str] = &[
    "  add server <bk>/<srv>                   : create a new server",
    "  del server <bk>/<srv>                   : remove a dynamically added server",
    "  disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    "  enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    "  get weight <bk>/<srv>                   : report a server's current weight",
    "  set server <bk>/<srv> [opts]            : change a server's state or weight",
    "  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    "  show backend                            : list backends in the current running config",
    "  show info                               : report information about the running process",
    "  show mirror                             : mirrored servers: queue, oldest write, written, dropped",
    "  show ssl cert [<certfile>]              : certificates loaded (all, or one in detail)",
    "  show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
    "  show stat [<iid> <type> <sid>]          : report counters for each proxy and server",
    "  help [<command>]                        : list matching or all commands",
    "  prompt                                  : toggle interactive mode with prompt",
    "  quit                                    : disconnect",
];

const STATE_HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

/// What one command line did.
enum Outcome {
    Text(String),
    Prompt,
    Quit,
}

impl Cli {
    fn backend(&self, name: &str) -> Option<(usize, &Backend)> {
        let pool = &self.stats.live.pool;
        pool.backend(name).map(|i| (i, &pool.backends[i]))
    }

    fn server(&self, arg: Option<&str>) -> Result<(&Backend, &Server), String> {
        let (b, s) = arg.and_then(|a| a.split_once('/')).ok_or("Require 'backend/server'.")?;
        let (_, b) = self.backend(b).ok_or("No such backend.")?;
        let (_, s) = b.server_named(s).ok_or("No such server.")?;
        Ok((b, s))
    }

    fn admin_only(&self) -> Result<(), String> {
        (self.level == RuntimeLevel::Admin)
            .then_some(())
            .ok_or_else(|| "Permission denied".to_string())
    }

    fn set_weight(s: &Server, v: &str) -> Result<(), String> {
        let w = match v.strip_suffix('%') {
            Some(p) => {
                let p: u64 = p.parse().map_err(|_| "Relative weight must be positive.")?;
                (u64::from(s.initial_weight) * p / 100).min(256) as u32
            }
            None => match v.parse::<u32>() {
                Ok(w) if w <= 256 => w,
                _ => return Err("Absolute weight can only be between 0 and 256 inclusive.".into()),
            },
        };
        s.weight.store(w, Ordering::Relaxed);
        Ok(())
    }

    fn execute(&self, line: &str) -> Result<Outcome, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let text = |s: String| Ok(Outcome::Text(s));
        match w.as_slice() {
            [] => text(String::new()),
            ["prompt"] => Ok(Outcome::Prompt),
            ["quit"] => Ok(Outcome::Quit),
            ["help", ..] => text(format!(
                "The following commands are valid at this level:\n{}\n",
                HELP.join("\n")
            )),
            ["set", "timeout", "cli", _] => text(String::new()),
            ["show", "info", ..] => text(self.info()),
            ["show", "stat", rest @ ..] => self.show_stat(rest),
            ["show", "backend"] => {
                let names: Vec<&str> = (self.stats.live.proxies.iter())
                    .filter(|p| p.backend.is_some() || p.stats)
                    .map(|p| p.name.as_str())
                    .collect();
                text(format!("# name\n{}\n", names.join("\n")))
            }
            ["show", "servers", "state", rest @ ..] => self.servers_state(rest.first().copied()),
            ["show", "mirror"] => text(self.show_mirror()),
            ["show", "ssl", "cert", file @ ..] => {
                let fronts = self.stats.live.frontends.iter();
                let acceptors: Vec<&crate::tls::Acceptor> = fronts.filter_map(|f| f.tls.as_deref()).collect();
                crate::tls::show::certs(&acceptors, file.first().copied()).map(Outcome::Text)
            }
            ["get", "weight", arg] => {
                let (_, s) = self.server(Some(arg))?;
                text(format!(
                    "{} (initial {})\n",
                    s.weight.load(Ordering::Relaxed),
                    s.initial_weight
                ))
            }
            ["disable" | "enable", "server", arg @ ..] => {
                self.admin_only()?;
                let (b, s) = self.server(arg.first().copied())?;
                let to = if w[0] == "disable" { Admin::Maint } else { Admin::Ready };
                b.set_admin(s, to, "runtime API");
                text(String::new())
            }
            ["set", "weight", arg, v] => {
                self.admin_only()?;
                let (_, s) = self.server(Some(arg))?;
                Self::set_weight(s, v)?;
                text(String::new())
            }
            ["add", "server", arg, addr, opts @ ..] => {
                self.admin_only()?;
                let (b, name) = arg.split_once('/').ok_or("Require 'backend/server'.")?;
                let (bi, b) = self.backend(b).ok_or("No such backend.")?;
                if self.stats.live.mirrors.get(bi).is_some() {
                    return Err(
                        "A mirroring backend's servers come from the configuration (each has its queue).".into(),
                    );
                }
                let cfg = server_config(name, addr, opts)?;
                let j = b.add_server(&cfg)?;
                if let Some(hc) = b.health_check.clone().filter(|_| b.servers[j].checked) {
                    crate::health::spawn_server_loop(self.stats.live.pool.clone(), bi, j, hc, None);
                }
                tracing::warn!(backend = %b.name, server = %name, "server added on the runtime API (in maintenance until enabled)");
                text("New server registered.\n".into())
            }
            ["del", "server", arg] => {
                self.admin_only()?;
                let (b, name) = arg.split_once('/').ok_or("Require 'backend/server'.")?;
                let (_, b) = self.backend(b).ok_or("No such backend.")?;
                b.remove_server(name)?;
                tracing::warn!(backend = %b.name, server = %name, "server deleted on the runtime API");
                text("Server deleted.\n".into())
            }
            ["set", "server", arg, what, rest @ ..] => {
                self.admin_only()?;
                let (b, s) = self.server(Some(arg))?;
                match (*what, rest.first().copied()) {
                    ("state", Some("ready")) => b.set_admin(s, Admin::Ready, "runtime API"),
                    ("state", Some("drain")) => b.set_admin(s, Admin::Drain, "runtime API"),
                    ("state", Some("maint")) => b.set_admin(s, Admin::Maint, "runtime API"),
                    ("state", _) => return Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.".into()),
                    ("weight", Some(v)) => Self::set_weight(s, v)?,
                    ("weight", None) => return Err("'set server <srv> weight' expects an integer argument.".into()),
                    _ => return Err("'set server <srv>' only supports 'state' and 'weight' here.".into()),
                }
                text(String::new())
            }
            _ => Err(format!(
                "Unknown command, but maybe one of the following ones is a better match:\n{}\n",
                HELP.join("\n")
            )),
        }
    }

    /// One line per mirrored server; `-` where this process does not hold the queues.
    fn show_mirror(&self) -> String {
        let mut out = String::from(
            "# backend server queued_points queue_bytes oldest_s written dropped_rejected dropped_too_large dropped_corrupt breaker\n",
        );
        let dash = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
        for m in self.stats.live.mirrors.all() {
            for v in m.view() {
                out.push_str(&format!(
                    "{} {} {} {} {} {} {} {} {} {}\n",
                    m.backend,
                    v.server,
                    dash(v.queued_points),
                    dash(v.queue_bytes),
                    v.oldest_s.map_or("-".to_string(), |s| format!("{s:.1}")),
                    v.written,
                    v.dropped_rejected,
                    v.dropped_too_large,
                    v.dropped_corrupt,
                    v.breaker
                ));
            }
        }
        out
    }

    fn info(&self) -> String {
        let up = self.stats.live.started.elapsed().as_secs();
        let (cur, cum): (i64, u64) = self.stats.live.frontends.iter().fold((0, 0), |(c, t), f| {
            (
                c + f.counters.cur.load(Ordering::Relaxed).max(0),
                t + f.counters.total.load(Ordering::Relaxed),
            )
        });
        let tls = self
            .stats
            .live
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
            "Name: netpulse-balancer\nVersion: {v}\nRelease_date: -\nNbthread: {threads}\nNbproc: 1\nProcess_num: 1\nPid: {pid}\nUptime: {d}d {h}h{m:02}m{s:02}s\nUptime_sec: {up}\nMaxconn: 0\nCurrConns: {cur}\nCumConns: {cum}\nCumReq: {cum}\nMaxpipes: 0\nPipesUsed: 0\nTasks: 0\nRun_queue: 0\nnode: {node}\nStopping: 0\nListeners: {listeners}\nCurrSslConns: {ssl_cur}\nCumSslConns: {ssl_cum}\nSslFrontendSessionReuse_pct: {reuse_pct}\n",
            v = env!("CARGO_PKG_VERSION"),
            threads = std::thread::available_parallelism().map_or(1, |n| n.get()),
            pid = std::process::id(),
            d = up / 86400,
            h = up % 86400 / 3600,
            m = up % 3600 / 60,
            s = up % 60,
            node = node.trim(),
            listeners = self.stats.live.frontends.len(),
        )
    }

    /// `show stat [IID TYPE SID]`: -1 for any proxy or server; TYPE is a mask
    /// (1 frontends, 2 backends, 4 servers).
    fn show_stat(&self, args: &[&str]) -> Result<Outcome, String> {
        let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        if args.iter().any(|a| matches!(*a, "json" | "typed" | "desc")) {
            return Err("show stat: only the CSV format is supported.".into());
        }
        let (iid, mask, sid) = match nums.as_slice() {
            [i, t, s, ..] => (*i, *t, *s),
            [] => (-1, -1, -1),
            _ => return Err("show stat: expects <iid> <type> <sid>.".into()),
        };
        let csv = self.stats.csv_where(|r| {
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

    fn servers_state(&self, only: Option<&str>) -> Result<Outcome, String> {
        let mut out = format!("1\n{STATE_HEADER}\n");
        let pool = &self.stats.live.pool;
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
                    be = self.stats.live.backend_iid(bi),
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

/// `add server B/S ADDR [weight N] [check] [backup] [cookie V] [maxconn N]`.
fn server_config(name: &str, addr: &str, opts: &[&str]) -> Result<netpulse_config::ServerConfig, String> {
    let mut c = netpulse_config::ServerConfig {
        name: name.to_string(),
        address: addr.to_string(),
        check: false,
        ..Default::default()
    };
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        let mut value = || it.next().copied().ok_or_else(|| format!("'{o}' expects an argument."));
        match *o {
            "check" => c.check = true,
            "backup" => c.backup = true,
            "weight" => {
                c.weight = value()?
                    .parse()
                    .ok()
                    .filter(|w| *w <= 256)
                    .ok_or("weight must be between 0 and 256.")?
            }
            "cookie" => c.cookie = Some(value()?.to_string()),
            "maxconn" => c.maxconn = Some(value()?.parse().map_err(|_| "maxconn expects a number.")?),
            other => return Err(format!("'{other}' is not supported by add server here.")),
        }
    }
    Ok(c)
}

#[async_trait]
impl BackgroundService for Runtime {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // A socket file left by a previous (or the upgraded-from) process is replaced, as HAProxy does.
        let _ = std::fs::remove_file(&self.path);
        let listener = match tokio::net::UnixListener::bind(&self.path) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(path = %self.path, error = %e, "cannot open the runtime API socket");
                return;
            }
        };
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode)) {
            tracing::warn!(path = %self.path, error = %e, "cannot set the runtime API socket's mode");
        }
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let stream = tokio::select! {
                _ = shutdown.changed() => return,
                r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let cli = self.cli.clone();
            conns.spawn(async move { cli.serve(stream).await });
        }
    }
}

/// The longest command line the socket takes (HAProxy's CLI buffer is of this order): a client
/// sending bytes without a newline is cut off, never buffered without bound.
const MAX_LINE: usize = 16 * 1024;

struct LineTooLong;

/// The next line (without its end), `None` at the end of input; over [`MAX_LINE`] an error.
async fn read_line(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> Result<Option<String>, LineTooLong> {
    let mut line = Vec::new();
    loop {
        let Ok(buf) = r.fill_buf().await else { return Ok(None) };
        if buf.is_empty() {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE + 1 {
            return Err(LineTooLong);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

impl Cli {
    async fn serve(&self, stream: tokio::net::UnixStream) {
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let mut prompt = false;
        loop {
            let idle = std::time::Duration::from_secs(if prompt { 600 } else { 10 });
            let line = match tokio::time::timeout(idle, read_line(&mut r)).await {
                Ok(Ok(Some(l))) => l,
                Ok(Err(LineTooLong)) => {
                    let _ = w
                        .write_all(format!("Line too long (over {MAX_LINE} bytes).\n\n").as_bytes())
                        .await;
                    return;
                }
                _ => return,
            };
            let mut out = String::new();
            for cmd in line.split(';') {
                match self.execute(cmd.trim()) {
                    Ok(Outcome::Text(t)) => out.push_str(&t),
                    Ok(Outcome::Prompt) => prompt = !prompt,
                    Ok(Outcome::Quit) => return,
                    Err(e) => {
                        out.push_str(e.trim_end_matches('\n'));
                        out.push('\n');
                    }
                }
            }
            out.push('\n');
            if prompt {
                out.push_str("> ");
            }
            if w.write_all(out.as_bytes()).await.is_err() || !prompt {
                return;
            }
        }
    }
}
