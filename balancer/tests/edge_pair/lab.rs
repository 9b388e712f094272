//! The edge pair's lab: a bridge in this namespace (the clients' side, 10.77.0.20), two node
//! namespaces with a veth each, the HTTP servers and InfluxDB relays on the bridge address, and
//! each node's netpulse-balancer and keepalived (the shipped unicast node file, made to fit).

use crate::common::bin;
use crate::common::tls::cert;
use netpulse_testkit::Influxd;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BRIDGE: &str = "npedge0";
pub const CLIENT: &str = "10.77.0.20";
pub const VIP: &str = "10.77.0.86";

pub fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The namespaces, bridge and processes of the test, removed when it ends (even by a panic).
pub struct Lab {
    pub dir: PathBuf,
    pub influx: [Influxd; 2],
    /// The relays' ports on the bridge address (the nodes' InfluxDB servers).
    relays: [u16; 2],
    servers: [u16; 2],
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

    pub fn kill(&mut self, name: &str) {
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
pub fn holder() -> Option<&'static str> {
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

impl Lab {
    /// Everything up: node a holding the virtual IP is left to the caller to wait for.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("np-edge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        clear();
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
        let influx = [Influxd::start(), Influxd::start()];
        let relays = [relay(influx[0].port), relay(influx[1].port)];
        cert(&dir, "site.pem", "grafana.test");
        sh(&format!(
            "for i in 1 2 3; do openssl rand 80 | openssl base64 -A; echo; done > {}/tls.keys",
            dir.display()
        ));
        let mut lab = Lab {
            dir,
            influx,
            relays,
            servers: [server("s1"), server("s2")],
            children: vec![],
        };
        for n in ["a", "b"] {
            lab.balancer(n, &format!("balancer-{n}"));
        }
        std::thread::sleep(Duration::from_millis(500));
        for n in ["a", "b"] {
            let cfg = keepalived_config(&lab.dir, n).display().to_string();
            let pid = |p: &str| format!("{}/{p}-{n}.pid", lab.dir.display());
            let args = [
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
            ];
            lab.spawn(&format!("keepalived-{n}"), Some(&format!("npedge-{n}")), &args);
        }
        lab
    }

    /// Starts node `n`'s balancer (again) as process `name`.
    pub fn balancer(&mut self, n: &str, name: &str) {
        let [s1, s2] = self.servers;
        let cfg = node_config(&self.dir, n, s1, s2, self.relays).display().to_string();
        let sock = format!("{}/{name}.sock", self.dir.display());
        let bal = bin().display().to_string();
        self.spawn(
            name,
            Some(&format!("npedge-{n}")),
            &[&bal, "--config", &cfg, "--upgrade-sock", &sock],
        );
    }
}
