//! Balancer test harness: real HTTP servers on free loopback ports (hyper) that count what
//! they receive and can fail their health endpoint or go away; the balancer binary started
//! on a generated config; a small HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netpulse_testkit::Proc;
pub mod tls;
mod upstream;

pub use netpulse_testkit::free_tcp_port as free_port;
#[allow(unused_imports)]
pub use upstream::{Upstream, checksum};

/// Writes `bytes` on a new connection and reads until the server closes (or 10 s pass).
pub fn exchange(port: u16, bytes: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = vec![];
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw answer (0 when there is none).
pub fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Response of one HTTP/1.0 request: (status, headers lowercased, body).
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let host = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        ""
    } else {
        "Host: test\r\n"
    };
    let out = exchange(port, format!("GET {path} HTTP/1.0\r\n{host}{extra}\r\n").as_bytes());
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = status_of(head);
    let hs: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = hs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    (status, hs, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netpulse-balancer"))
}

pub struct Balancer {
    pub port: u16,
    pub stats: u16,
    child: Proc,
    pub dir: PathBuf,
}

impl Balancer {
    /// Starts with `backend_toml` (one `[[backends]]` named "web") behind frontend "web".
    pub fn start(backend_toml: &str) -> Self {
        let (port, stats) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("np-bal-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = format!(
            "[server]\nthreads = 2\n[stats]\nlisten = \"127.0.0.1:{stats}\"\n[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{port}\"]\nbackend = \"web\"\n{backend_toml}"
        );
        std::fs::write(dir.join("b.toml"), cfg).unwrap();
        Self::spawn(dir, port, stats, &["--config", "b.toml"])
    }

    /// Like [`Balancer::start`], with more keys for frontend "web" (timeouts, limits).
    pub fn with_frontend(frontend_toml: &str, backend_toml: &str) -> Self {
        Self::start(&format!("{frontend_toml}\n{backend_toml}"))
    }

    /// Starts from a whole native config, `{port}` and `{stats}` in it replaced by free ports and
    /// `{dir}` by the balancer's folder (kept across [`Balancer::restart`]).
    pub fn with_config(template: &str) -> Self {
        let (port, stats) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("np-bal-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = template
            .replace("{port}", &port.to_string())
            .replace("{stats}", &stats.to_string())
            .replace("{dir}", &dir.display().to_string());
        std::fs::write(dir.join("b.toml"), cfg).unwrap();
        Self::spawn(dir, port, stats, &["--config", "b.toml"])
    }

    /// Kills the process (SIGKILL, if still running) and starts it again on the same config,
    /// ports and folder; the old log is kept as `log.<pid>`.
    pub fn restart(&mut self) {
        let pid = self.child.pid();
        self.child.kill();
        let _ = std::fs::rename(self.dir.join("log"), self.dir.join(format!("log.{pid}")));
        *self = Self::spawn(self.dir.clone(), self.port, self.stats, &["--config", "b.toml"]);
    }

    /// Starts from an haproxy.cfg (`-f`) whose stats listener is on `stats`.
    pub fn from_haproxy_cfg(text: &str, port: u16, stats: u16, env: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!("np-bal-{}-{port}-{stats}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("haproxy.cfg"), text).unwrap();
        Self::spawn_env(dir, port, stats, &["-f", "haproxy.cfg"], env)
    }

    fn spawn(dir: PathBuf, port: u16, stats: u16, args: &[&str]) -> Self {
        Self::spawn_env(dir, port, stats, args, &[])
    }

    fn spawn_env(dir: PathBuf, port: u16, stats: u16, args: &[&str], env: &[(&str, String)]) -> Self {
        let _ = std::fs::remove_file(dir.join("log"));
        let mut cmd = Command::new(bin());
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .args(args)
            .arg("--upgrade-sock")
            .arg(dir.join("upgrade.sock"));
        let child = Proc::spawn("netpulse-balancer", cmd, &dir.join("log"));
        let b = Self {
            port,
            stats,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = |p: u16| p == 0 || std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        while !up(stats) || !up(port) {
            assert!(Instant::now() < deadline, "balancer did not start: {}", b.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    /// A second process taking the listeners over (`--upgrade`), as for a zero-downtime upgrade.
    pub fn spawn_upgrade(&self) -> Child {
        Command::new(bin())
            .arg("--config")
            .arg(self.dir.join("b.toml"))
            .arg("--upgrade-sock")
            .arg(self.dir.join("upgrade.sock"))
            .arg("--upgrade")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("log.new")).unwrap())
            .spawn()
            .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        self.child.signal(sig);
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.child.wait_exit(timeout)
    }

    pub fn log(&self) -> String {
        self.child.log_text()
    }

    pub fn csv(&self) -> String {
        get(self.stats, "/stats;csv", &[]).2
    }

    /// The stats CSV row of `svname` (first proxy that has it), as field → value.
    pub fn row(&self, svname: &str) -> std::collections::HashMap<String, String> {
        csv_rows(&self.csv())
            .into_iter()
            .find(|r| r.get("svname").map(String::as_str) == Some(svname))
            .unwrap_or_default()
    }

    /// Waits (at most 2 s) until no request is in flight on any row: a request's counters are
    /// final once it has ended, which can be just after its client read the response.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while csv_rows(&self.csv())
            .iter()
            // A FRONTEND's scur counts open client connections, not requests.
            .any(|r| r["svname"] != "FRONTEND" && r.get("scur").is_some_and(|c| !c.is_empty() && c != "0"))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_status(&self, svname: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.row(svname).get("status").map(String::as_str) != Some(status) {
            assert!(
                Instant::now() < deadline,
                "{svname} never became {status}: {}",
                self.csv()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.child.kill();
    }
}

/// Every row of a stats CSV as field → value.
pub fn csv_rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect())
        .collect()
}

/// Debian's HAProxy 2.6 on a configuration, in the foreground.
pub struct Haproxy {
    _child: Proc,
    pub dir: PathBuf,
}

impl Haproxy {
    pub fn start(text: &str, wait_port: u16, env: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!("np-hap-{}-{wait_port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("haproxy.cfg"), text).unwrap();
        let mut cmd = Command::new("haproxy");
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .arg("-db")
            .arg("-f")
            .arg(dir.join("haproxy.cfg"));
        let child = Proc::spawn("haproxy", cmd, &dir.join("log"));
        assert!(
            netpulse_testkit::wait_tcp(wait_port, Duration::from_secs(10)),
            "haproxy did not start: {}",
            child.log_text()
        );
        Self { _child: child, dir }
    }
}

/// One runtime API command on a unix socket; the whole answer.
pub fn runtime(sock: &std::path::Path, cmd: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("runtime socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    writeln!(s, "{cmd}").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A fast HTTP health check on `/health` (rise 2, fall 2), for backends that must notice a
/// dead server quickly.
pub const CHECK: &str =
    "health_check = { kind = \"http\", path = \"/health\", interval = \"200ms\", rise = 2, fall = 2 }\n";

/// Servers a, b and c (weight 1 each) behind a balancer with [`CHECK`], all UP.
pub fn three_checked() -> ([Upstream; 3], Balancer) {
    let ups = ["a", "b", "c"].map(Upstream::start);
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&ups[0], 1), (&ups[1], 1), (&ups[2], 1)])
    ));
    for u in &ups {
        bal.wait_status(&u.name, "UP");
    }
    (ups, bal)
}

/// Upgrades `old` in place under load: `threads` clients run `client` (until the flag it is
/// given is set), `before` runs, a new process starts with `--upgrade`, the old one gets
/// SIGQUIT and must drain and exit; then the clients stop. Every client's (requests, failures)
/// and the new process, still serving.
pub fn upgrade_under_load(
    old: &mut Balancer,
    threads: usize,
    client: impl Fn(&std::sync::atomic::AtomicBool) -> (usize, Vec<String>) + Sync,
    before: impl FnOnce(),
) -> (Vec<(usize, Vec<String>)>, Child) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let load: Vec<_> = (0..threads).map(|_| s.spawn(|| client(&stop))).collect();
        std::thread::sleep(Duration::from_millis(250));
        before();
        let mut new = old.spawn_upgrade();
        std::thread::sleep(Duration::from_millis(400));
        old.signal("QUIT");
        // Both processes accept for a while (Pingora's hand-over); the old one then drains.
        let exited = old.wait_exit(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(250));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let results = load.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(exited.is_some(), "the old process exits");
        assert!(new.try_wait().unwrap().is_none(), "the new process serves");
        (results, new)
    })
}

/// Runs `client` on 4 threads, does `meanwhile` 150 ms into the load, and returns the sum
/// of what the clients return (their failed requests).
pub fn failures_under_load(client: impl Fn() -> usize + Sync, meanwhile: impl FnOnce()) -> usize {
    std::thread::scope(|s| {
        let load: Vec<_> = (0..4).map(|_| s.spawn(&client)).collect();
        std::thread::sleep(Duration::from_millis(150));
        meanwhile();
        load.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// GETs of `/` on `port`, a new connection each, until `stop` (at most 20,000): how many were
/// sent and the answers that were not 200.
pub fn get_until(port: u16, stop: &std::sync::atomic::AtomicBool) -> (usize, Vec<String>) {
    let (mut n, mut bad) = (0usize, vec![]);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
        n += 1;
        let (code, _, body) = get(port, "/", &[]);
        if code != 200 {
            bad.push(format!("{code} {body:?}"));
        }
    }
    (n, bad)
}

pub fn servers(ups: &[(&Upstream, u32)]) -> String {
    let list: Vec<String> = ups
        .iter()
        .map(|(u, w)| {
            format!(
                "{{ name = \"{}\", address = \"127.0.0.1:{}\", weight = {w} }}",
                u.name, u.port
            )
        })
        .collect();
    format!("servers = [ {} ]\n", list.join(", "))
}

/// An HTTP/1.1 client on one kept-alive connection (reconnecting when the server closes it),
/// as browsers, Grafana and load generators are.
pub struct KeepAlive {
    port: u16,
    conn: Option<std::io::BufReader<std::net::TcpStream>>,
    /// Connections opened so far.
    pub connects: usize,
}

impl KeepAlive {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            conn: None,
            connects: 0,
        }
    }

    /// Sends `GET path` (or another method with no body) and reads one response:
    /// (status, raw head, body); status 0 when the connection failed.
    pub fn request(&mut self, method: &str, path: &str) -> (u16, String, Vec<u8>) {
        self.send(method, path, "", &[])
    }

    /// Sends a request with `headers` (each line ending in CRLF) and `body` (with its
    /// Content-Length when not empty) and reads one response, as [`KeepAlive::request`].
    pub fn send(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        use std::io::BufRead;
        if self.conn.is_none() {
            let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
                return (0, String::new(), vec![]);
            };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            self.connects += 1;
            self.conn = Some(std::io::BufReader::new(s));
        }
        let r = self.conn.as_mut().unwrap();
        let length = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let host = if headers.to_ascii_lowercase().contains("host:") {
            ""
        } else {
            "Host: test\r\n"
        };
        let mut req = format!("{method} {path} HTTP/1.1\r\n{host}{headers}{length}\r\n").into_bytes();
        req.extend_from_slice(body);
        if r.get_mut().write_all(&req).is_err() {
            self.conn = None;
            return (0, String::new(), vec![]);
        }
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                self.conn = None;
                return (0, head, vec![]);
            }
            head += &line;
            if line == "\r\n" {
                break;
            }
        }
        let status = status_of(&head);
        let lower = head.to_ascii_lowercase();
        let header = |name: &str| {
            lower
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(|v| v.trim().to_string()))
        };
        let mut body = vec![];
        if method == "HEAD" || status == 204 || status == 304 {
        } else if header("transfer-encoding").is_some() {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
                let mut chunk = vec![0u8; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = header("content-length") {
            body = vec![0u8; n.parse().unwrap()];
            r.read_exact(&mut body).unwrap();
        } else {
            r.read_to_end(&mut body).unwrap();
            self.conn = None;
        }
        if header("connection").is_some_and(|c| c == "close") {
            self.conn = None;
        }
        (status, head, body)
    }
}
