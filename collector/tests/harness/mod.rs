//! Test harness: real SNMP agents (net-snmp `snmpd`, `snmpsim`) and misbehaving ones
//! (silent, slow) on free 127.0.0.1 ports, stopped when dropped. Every `tests/*.rs`
//! uses this one module so services start the same way everywhere.
#![allow(dead_code)]

mod databases;
pub mod fleet;

#[allow(unused_imports)] // each test file uses some of them
pub use databases::VictoriaMetrics;
pub use netpulse_testkit::Influxd;
#[allow(unused_imports)] // each test binary uses a part
pub use netpulse_testkit::http::{http, http_with, urlencode, wait_http};

pub use netpulse_testkit::{Proc, free_tcp_port, free_udp_port, tempdir};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until `snmpget` gets an answer from the agent (bounded).
fn wait_answering(port: u16, community: &str) {
    wait_answering_at("127.0.0.1", port, community, Duration::from_secs(20))
}

/// Waits until `community` is answered at `host:port`, at most `within`.
pub fn wait_answering_at(host: &str, port: u16, community: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let ok = Command::new("snmpget")
            .args([
                "-v2c",
                "-c",
                community,
                "-t",
                "0.5",
                "-r",
                "0",
                "-m",
                "",
                &format!("{host}:{port}"),
                "1.3.6.1.2.1.1.5.0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("agent on {host}:{port} did not answer within {within:?}");
}

/// v3 users created in every [`Snmpd`]: (user, auth protocol, priv protocol) using
/// netpulse's names; passwords are `authpass123` / `privpass123`.
pub const V3_USERS: &[(&str, &str, Option<&str>)] = &[
    ("md5_none", "md5", None),
    ("sha_none", "sha", None),
    ("sha224_none", "sha224", None),
    ("sha256_none", "sha256", None),
    ("sha384_none", "sha384", None),
    ("sha512_none", "sha512", None),
    ("md5_des", "md5", Some("des")),
    ("sha_aes128", "sha", Some("aes128")),
    ("sha256_des", "sha256", Some("des")),
    ("sha256_aes128", "sha256", Some("aes128")),
    ("sha256_aes256", "sha256", Some("aes256")),
    ("sha512_aes192", "sha512", Some("aes192")),
    ("sha512_aes256", "sha512", Some("aes256")),
];
pub const AUTH_PASS: &str = "authpass123";
pub const PRIV_PASS: &str = "privpass123";

fn netsnmp_auth(p: &str) -> &'static str {
    match p {
        "md5" => "MD5",
        "sha" => "SHA",
        "sha224" => "SHA-224",
        "sha256" => "SHA-256",
        "sha384" => "SHA-384",
        "sha512" => "SHA-512",
        _ => unreachable!(),
    }
}

fn netsnmp_priv(p: &str) -> &'static str {
    match p {
        "des" => "DES",
        "aes128" => "AES",
        "aes192" => "AES192",
        "aes256" => "AES256",
        _ => unreachable!(),
    }
}

/// A net-snmp agent with community `public`, sysName `name`, and the [`V3_USERS`].
pub struct Snmpd {
    pub port: u16,
    pub dir: PathBuf,
    /// The first address it listens on.
    host: String,
    child: Option<Proc>,
}

impl Snmpd {
    pub fn start(name: &str) -> Self {
        Self::start_on(&["127.0.0.1"], free_udp_port(), name)
    }

    /// An agent answering on each of `hosts` at `port` (one engine, several addresses).
    pub fn start_on(hosts: &[&str], port: u16, name: &str) -> Self {
        let dir = tempdir("snmpd");
        let listen: Vec<String> = hosts.iter().map(|h| format!("udp:{h}:{port}")).collect();
        let mut conf = format!(
            "agentAddress {}\nrocommunity public 127.0.0.0/8\nsysName {name}\nsysLocation lab-1\nsysContact noc@example.net\n",
            listen.join(",")
        );
        for (user, auth, privacy) in V3_USERS {
            match privacy {
                None => conf.push_str(&format!(
                    "createUser {user} {} \"{AUTH_PASS}\"\nrouser {user} auth\n",
                    netsnmp_auth(auth)
                )),
                Some(p) => conf.push_str(&format!(
                    "createUser {user} {} \"{AUTH_PASS}\" {} \"{PRIV_PASS}\"\nrouser {user} priv\n",
                    netsnmp_auth(auth),
                    netsnmp_priv(p)
                )),
            }
        }
        std::fs::write(dir.join("snmpd.conf"), conf).unwrap();
        let mut s = Self {
            port,
            dir,
            host: hosts[0].to_string(),
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Config only from our directory (not /etc/snmp), and the persistent directory on
        // the search path too, so engineID survives and engineBoots grows across restarts
        // like on a real device.
        let persist = self.dir.join("persist");
        let mut cmd = Command::new("snmpd");
        cmd.args(["-f", "-m", "", "-Lf"])
            .arg(self.dir.join("log"))
            .arg("-p")
            .arg(self.dir.join("pid"))
            .env("SNMPCONFPATH", format!("{}:{}", self.dir.display(), persist.display()))
            .env("SNMP_PERSISTENT_DIR", &persist);
        self.child = Some(Proc::spawn("snmpd", cmd, &self.dir.join("stderr")));
        wait_answering_at(&self.host, self.port, "public", Duration::from_secs(20));
    }

    /// Stops the agent (its engineBoots is persisted and grows on the next start).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::from_secs(10));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn address(&self) -> String {
        format!("udp://127.0.0.1:{}", self.port)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The snmpsim venv (made by scripts/test); `NETPULSE_SNMPSIM` overrides.
pub fn snmpsim_root() -> PathBuf {
    std::env::var_os("NETPULSE_SNMPSIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/netpulse-snmpsim"))
}

/// Path of a recording shipped by the `snmpsim-data` package, e.g. `network/switch/cisco-c3560`.
pub fn recording(rel: &str) -> PathBuf {
    let lib = snmpsim_root().join("lib");
    let py = std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .unwrap();
    py.path()
        .join("site-packages/snmpsim_data/data")
        .join(format!("{rel}.snmprec.bz2"))
}

/// snmpsim serving recordings of real devices; the community of each is its file name.
pub struct Snmpsim {
    pub port: u16,
    dir: PathBuf,
    _child: Proc,
}

impl Snmpsim {
    /// `recordings`: paths relative to snmpsim-data (`network/switch/cisco-c3560`).
    pub fn start(recordings: &[&str]) -> Self {
        let names: Vec<String> = (recordings.iter())
            .map(|rel| Path::new(rel).file_name().unwrap().to_string_lossy().to_string())
            .collect();
        Self::serve(&names[0], |data| {
            for (rel, name) in recordings.iter().zip(&names) {
                let out = std::fs::File::create(data.join(format!("{name}.snmprec"))).unwrap();
                let ok = Command::new("bzcat")
                    .arg(recording(rel))
                    .stdout(out)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "cannot decompress {rel}");
            }
        })
    }

    /// snmpsim serving the `.snmprec` files `write` puts in the folder it is given; `first`
    /// is one of their names (the community waited for).
    pub fn serve(first: &str, write: impl FnOnce(&Path)) -> Self {
        let dir = tempdir("snmpsim");
        let data = dir.join("data");
        let cache = dir.join("cache");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        write(&data);
        // snmpsim drops privileges to nobody: its files must be readable and the cache writable.
        let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(&dir).status();
        let _ = Command::new("chmod").args(["a+rx"]).arg(std::env::temp_dir()).status();
        let port = free_udp_port();
        let mut cmd = Command::new(snmpsim_root().join("bin/snmpsim-command-responder"));
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .args(["--process-user=nobody", "--process-group=nogroup"])
            .arg(format!("--logging-method=file:{}", dir.join("log").display()));
        let child = Proc::spawn("snmpsim", cmd, &dir.join("stderr"));
        let s = Self {
            port,
            dir,
            _child: child,
        };
        wait_answering(port, first);
        s
    }
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        self._child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A UDP port that receives and never answers: a dead or firewalled agent.
pub struct SilentAgent {
    pub port: u16,
    _socket: UdpSocket,
}

impl SilentAgent {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        Self {
            port: socket.local_addr().unwrap().port(),
            _socket: socket,
        }
    }
}

/// A proxy in front of a real agent that holds every answer back by `delay`.
pub struct SlowAgent {
    pub port: u16,
    /// Requests received so far.
    pub seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    queue: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Duration>>>,
}

impl SlowAgent {
    /// Every answer is held back by `delay`, unless [`Self::delay_next`] says otherwise.
    pub fn start(upstream: u16, delay: Duration) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = front.local_addr().unwrap().port();
        front.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let queue2 = queue.clone();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, client)) = front.recv_from(&mut buf) else {
                    continue;
                };
                let req = buf[..n].to_vec();
                let delay = queue2.lock().unwrap().pop_front().unwrap_or(delay);
                seen2.fetch_add(1, Ordering::Relaxed);
                let front = front.try_clone().unwrap();
                std::thread::spawn(move || {
                    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
                    up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    up.send_to(&req, ("127.0.0.1", upstream)).unwrap();
                    let mut rbuf = [0u8; 65536];
                    if let Ok(m) = up.recv(&mut rbuf) {
                        std::thread::sleep(delay);
                        let _ = front.send_to(&rbuf[..m], client);
                    }
                });
            }
        });
        Self {
            port,
            seen,
            stop,
            queue,
        }
    }

    /// The next requests' answers are held back by these delays, in order.
    pub fn delay_next(&self, delays: &[Duration]) {
        self.queue.lock().unwrap().extend(delays.iter().copied());
    }
}

impl Drop for SlowAgent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Path of the built collector binary.
pub fn collector_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netpulse-collector"))
}

/// A running `netpulse-collector` daemon on a free API port, killed when dropped.
pub struct Daemon {
    pub api: u16,
    pub child: Proc,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on `config` (which must not set `[api] listen`).
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let api = free_tcp_port();
        let log = config.with_extension("log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new(collector_bin());
        cmd.arg("--config")
            .arg(config)
            .env("NETPULSE_API__LISTEN", format!("127.0.0.1:{api}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let child = Proc::spawn("netpulse-collector", cmd, &log);
        wait_http(api, "/health", "netpulse-collector daemon");
        Self { api, child, log }
    }

    /// The sum of the `/metrics` samples whose line starts with `prefix` (a name, or a name
    /// and labels).
    pub fn metric(&self, prefix: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.api, "GET", path, b"")
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The `/targets` entry of `name`.
    pub fn target(&self, name: &str) -> serde_json::Value {
        self.json("/targets")["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        self.child.signal(sig);
    }

    pub fn log_text(&self) -> String {
        self.child.log_text()
    }

    /// Waits (bounded) until `cond` holds.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}; daemon log:\n{}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.child.kill();
    }
}
