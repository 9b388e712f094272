//! The balancer pair of deploy/keepalived, for real: two nodes in network namespaces on a bridge,
//! each a netpulse-balancer and keepalived running the shipped unicast node file (addresses,
//! interface and script path put in), clients on the bridge asking through the virtual IP, two
//! HTTP servers and two InfluxDB replicas behind. The master's balancer is SIGKILLed: the address
//! moves to the other node within 3 s, a sticky session keeps its server, a TLS session resumes
//! there (the shared ticket-keys file), and the mirrored writes the dead node acknowledged wait on
//! its disk; then the other node's link goes down and the address moves back, and once the first
//! node is back every acknowledged write is in both replicas. Requests refused while the address still points at the dead balancer are
//! counted and printed (a client that retries within 2 s loses none).

mod common;

use common::bin;
use common::tls::{cert, s_client_request_to};
use netpulse_testkit::Influxd;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BRIDGE: &str = "npedge0";
const CLIENT: &str = "10.77.0.20";
const VIP: &str = "10.77.0.86";

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The namespaces, bridge and processes of the test, removed when it ends (even by a panic).
struct Lab {
    dir: PathBuf,
    children: Vec<(String, Child)>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM first: keepalived stops its VRRP and checker children itself (SIGKILL would
        // orphan them, and they would keep the namespaces alive).
        for (_, c) in &self.children {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).output();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, c) in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        clear();
    }
}

/// Removes the namespaces, links and bridge (also those an earlier run that was killed left);
/// a namespace's links go when its last process has.
fn clear() {
    let _ = Command::new("pkill")
        .args(["-f", "np-edge-.*/keepalived-[ab].conf"])
        .status();
    for n in ["a", "b"] {
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("npedge-{n}")])
            .output();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for link in ["npedge-va", "npedge-vb", BRIDGE] {
        let exists = || {
            Command::new("ip")
                .args(["link", "show", link])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        while exists() && Instant::now() < deadline {
            let _ = Command::new("ip").args(["link", "del", link]).output();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Lab {
    fn spawn(&mut self, name: &str, ns: Option<&str>, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(args);
                c
            }
            None => Command::new(args[0]),
        };
        let child = cmd
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push((name.to_string(), child));
    }

    fn kill(&mut self, name: &str) {
        if let Some((_, c)) = self.children.iter_mut().find(|(n, _)| n == name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A server answering its name on every path (and 200 on /health), on the bridge's address.
fn server(name: &'static str) -> u16 {
    let l = TcpListener::bind((CLIENT, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(&s);
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        let _ = (&s).write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}", name.len()).as_bytes(),
                        );
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// A TCP relay from the bridge's address to a loopback port (an InfluxDB of the test), so the
/// nodes' balancers reach it.
fn relay(to: u16) -> u16 {
    let l = TcpListener::bind((CLIENT, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for a in l.incoming().flatten() {
            let Ok(b) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a2, &mut b2);
                let _ = b2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let (mut a, mut b) = (a, b);
                let _ = std::io::copy(&mut b, &mut a);
                let _ = a.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// One line-protocol write through the virtual IP; its status (None: not answered).
fn write(i: usize) -> Option<u16> {
    let addr = format!("{VIP}:8086").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let body = format!(
        "edge_write,writer=pair v={i}i {}\n",
        1_700_000_000_000_000_000u64 + i as u64
    );
    write!(
        s,
        "POST /write?db=telemetry HTTP/1.1\r\nHost: edge\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.get(9..12)?.parse().ok()
}

/// One GET through the virtual IP: (status, body, the SERVERID cookie set), or None.
fn get(path: &str, cookie: Option<&str>) -> Option<(u16, String, Option<String>)> {
    let addr = format!("{VIP}:8086").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let cookie = cookie.map(|c| format!("Cookie: SERVERID={c}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: edge\r\n{cookie}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let set = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: SERVERID=")
                .or_else(|| l.strip_prefix("Set-Cookie: SERVERID="))
        })
        .map(|v| v.split(';').next().unwrap_or("").to_string());
    Some((status, body.to_string(), set))
}

/// A TLS request through the virtual IP, the session written to or read from `sess`.
fn tls_request(sess_flag: &str, sess: &Path) -> String {
    let args = [
        "-tls1_3",
        "-servername",
        "grafana.test",
        sess_flag,
        sess.to_str().unwrap(),
    ];
    s_client_request_to(
        &format!("{VIP}:8443"),
        &args,
        "GET /t HTTP/1.1\r\nHost: grafana.test\r\nConnection: close\r\n\r\n",
    )
}

fn node_config(dir: &Path, node: &str, s1: u16, s2: u16, influx: [u16; 2]) -> PathBuf {
    // Both nodes: the same certificate and one ticket-keys file, so TLS sessions resume on either.
    let tls = format!(
        "[[frontends]]\nname = \"grafana\"\nlisten = [\"0.0.0.0:8443\"]\nbackend = \"web\"\n\
         tls = {{ cert = \"{}\", alpn = [\"http/1.1\"], ticket_keys = \"{}\" }}\n",
        dir.join("site.pem").display(),
        dir.join("tls.keys").display()
    );
    // Writes mirrored to both InfluxDB replicas through this node's own durable queues.
    let mirror = format!(
        "[[backends]]\nname = \"influxdb-write\"\nmirror = {{ queue_dir = \"{}/mirror-{node}\" }}\n\
         servers = [{{ name = \"influx-a\", address = \"{CLIENT}:{}\" }}, {{ name = \"influx-b\", address = \"{CLIENT}:{}\" }}]\n",
        dir.display(),
        influx[0],
        influx[1]
    );
    let cfg = format!(
        "[server]\nthreads = 1\n[stats]\nlisten = \"127.0.0.1:8404\"\n\
         [[frontends]]\nname = \"web\"\nlisten = [\"0.0.0.0:8086\"]\nbackend = \"web\"\nmonitor_uri = \"/healthz\"\n\
         routes = [{{ path_prefix = \"/write\", backend = \"influxdb-write\" }}]\n\
         [[backends]]\nname = \"web\"\nsticky = {{ cookie = \"SERVERID\", mode = \"insert\" }}\n\
         health_check = {{ kind = \"http\", path = \"/health\", interval = \"200ms\", rise = 1, fall = 2 }}\n\
         servers = [{{ name = \"s1\", address = \"{CLIENT}:{s1}\" }}, {{ name = \"s2\", address = \"{CLIENT}:{s2}\" }}]\n{tls}{mirror}"
    );
    let path = dir.join(format!("balancer-{node}.toml"));
    std::fs::write(&path, cfg).unwrap();
    path
}

/// The shipped unicast node file with this lab's addresses, interface and check path.
fn keepalived_config(dir: &Path, node: &str) -> PathBuf {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/keepalived");
    let text = std::fs::read_to_string(deploy.join(format!("node-{node}-unicast.conf")))
        .unwrap()
        .replace("192.0.2.11", "10.77.0.11")
        .replace("192.0.2.12", "10.77.0.12")
        .replace("192.0.2.86/24", &format!("{VIP}/24"))
        .replace(
            "/usr/local/bin/netpulse-balancer-check",
            &deploy.join("netpulse-balancer-check").display().to_string(),
        );
    let path = dir.join(format!("keepalived-{node}.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Which node holds the virtual IP now.
fn holder() -> Option<&'static str> {
    ["a", "b"].into_iter().find(|n| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("npedge-{n}"),
                "ip",
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("{VIP}/24")))
    })
}

fn wait(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Requests every 20 ms until `until` holds: (ok, failed).
fn traffic_until(mut until: impl FnMut() -> bool, limit: Duration) -> (usize, usize) {
    let (mut ok, mut failed, start) = (0, 0, Instant::now());
    while !until() && start.elapsed() < limit {
        match get("/", Some("s1")) {
            Some((200, body, _)) if body == "s1" => ok += 1,
            _ => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (ok, failed)
}

#[test]
fn the_virtual_ip_moves_within_3_s_when_the_master_s_balancer_dies_or_its_link_goes_down() {
    let dir = std::env::temp_dir().join(format!("np-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    clear();
    let mut lab = Lab {
        dir: dir.clone(),
        children: vec![],
    };
    sh(&format!(
        "ip link add {BRIDGE} type bridge && ip addr add {CLIENT}/24 dev {BRIDGE} && ip link set {BRIDGE} up"
    ));
    for (n, ip) in [("a", "10.77.0.11"), ("b", "10.77.0.12")] {
        let ns = format!("npedge-{n}");
        sh(&format!(
            "ip netns add {ns} && ip link add npedge-v{n} type veth peer name eth0 netns {ns} && \
             ip link set npedge-v{n} master {BRIDGE} up && ip netns exec {ns} ip addr add {ip}/24 dev eth0 && \
             ip netns exec {ns} ip link set eth0 up && ip netns exec {ns} ip link set lo up"
        ));
    }
    let (s1, s2) = (server("s1"), server("s2"));
    let (influx_a, mut influx_b) = (Influxd::start(), Influxd::start());
    let influx = [relay(influx_a.port), relay(influx_b.port)];
    cert(&dir, "site.pem", "grafana.test");
    sh(&format!(
        "for i in 1 2 3; do openssl rand 80 | openssl base64 -A; echo; done > {}/tls.keys",
        dir.display()
    ));
    let bal = bin().display().to_string();
    for n in ["a", "b"] {
        let cfg = node_config(&dir, n, s1, s2, influx).display().to_string();
        lab.spawn(
            &format!("balancer-{n}"),
            Some(&format!("npedge-{n}")),
            &[
                &bal,
                "--config",
                &cfg,
                "--upgrade-sock",
                &format!("{}/up-{n}.sock", dir.display()),
            ],
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    for n in ["a", "b"] {
        let cfg = keepalived_config(&dir, n).display().to_string();
        let pid = |p: &str| format!("{}/{p}-{n}.pid", dir.display());
        lab.spawn(
            &format!("keepalived-{n}"),
            Some(&format!("npedge-{n}")),
            &[
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-f",
                &cfg,
                "-p",
                &pid("k"),
                "-r",
                &pid("vrrp"),
                "-c",
                &pid("chk"),
            ],
        );
    }
    wait(
        "node a (priority 150) holds the virtual IP",
        Duration::from_secs(20),
        || holder() == Some("a"),
    );
    wait(
        "the balancer answers through the virtual IP",
        Duration::from_secs(10),
        || get("/", Some("s1")).is_some_and(|(s, b, _)| s == 200 && b == "s1"),
    );
    let (_, _, set) = get("/", None).expect("a new session");
    let session = set.expect("a sticky cookie for a new session");
    // Writes acknowledged by a while influx-b is down: on a's disk until influx-b can take them.
    influx_b.stop();
    let mut acked = (0..20).filter(|&i| write(i) == Some(204)).count();
    assert_eq!(acked, 20, "node a acknowledges writes while one replica is down");
    let sess = dir.join("tls.session");
    let first = tls_request("-sess_out", &sess);
    assert!(first.contains("New, TLSv1.3"), "a full handshake with node a: {first}");

    // 1. SIGKILL the master's balancer: keepalived's check fails, b takes the address.
    let killed = Instant::now();
    lab.kill("balancer-a");
    let (ok1, failed1) = traffic_until(
        || holder() == Some("b") && get("/", Some("s1")).is_some(),
        Duration::from_secs(10),
    );
    let moved1 = killed.elapsed();
    eprintln!(
        "balancer killed on a: the address on b and answering after {moved1:?} ({ok1} ok, {failed1} failed requests meanwhile)"
    );
    assert!(moved1 <= Duration::from_secs(3), "{moved1:?}");
    for _ in 0..10 {
        let (status, body, _) = get("/", Some(&session)).expect("through b");
        assert_eq!(
            (status, body.as_str()),
            (200, session.as_str()),
            "the sticky session keeps its server on b"
        );
    }
    let resumed = tls_request("-sess_in", &sess);
    assert!(
        resumed.contains("Reused, TLSv1.3"),
        "node b resumes node a's TLS session: {resumed}"
    );
    acked += (20..40).filter(|&i| write(i) == Some(204)).count();
    influx_b.restart();
    // influx-b gets what node b accepted; what dead node a accepted stays on a's disk.
    let start = Instant::now();
    while influx_b.count("edge_write", "v") < (acked - 20) as u64 {
        assert!(start.elapsed() < Duration::from_secs(20), "node b delivers its writes");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    let held_by_a = acked as u64 - influx_b.count("edge_write", "v");
    assert_eq!(
        held_by_a, 20,
        "the writes node a accepted wait on its disk while it is down"
    );

    // 2. a's balancer returns: b keeps the address (nopreempt). Then b's link goes down: a takes it.
    let cfg = dir.join("balancer-a.toml").display().to_string();
    lab.spawn(
        "balancer-a2",
        Some("npedge-a"),
        &[
            &bal,
            "--config",
            &cfg,
            "--upgrade-sock",
            &format!("{}/up-a2.sock", dir.display()),
        ],
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        holder(),
        Some("b"),
        "nopreempt: the returning node does not take the address back"
    );
    let cut = Instant::now();
    sh("ip link set npedge-vb down");
    let (ok2, failed2) = traffic_until(
        || get("/", Some("s1")).is_some_and(|(s, _, _)| s == 200),
        Duration::from_secs(10),
    );
    let moved2 = cut.elapsed();
    eprintln!("b's link cut: answering through a after {moved2:?} ({ok2} ok, {failed2} failed requests meanwhile)");
    assert!(moved2 <= Duration::from_secs(3), "{moved2:?}");
    assert_eq!(get("/", Some(&session)).map(|(_, b, _)| b), Some(session.clone()));

    // The dead node came back with its disk: every acknowledged write is in both replicas.
    let start = Instant::now();
    while (influx_a.count("edge_write", "v"), influx_b.count("edge_write", "v")) != (acked as u64, acked as u64) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "acknowledged {acked}: influx-a {}, influx-b {}",
            influx_a.count("edge_write", "v"),
            influx_b.count("edge_write", "v")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{acked} writes acknowledged; {held_by_a} of them waited on node a's disk while it was down; all in both replicas once it returned"
    );
}
