//! `netpulse-balancer -f haproxy.cfg` side by side with Debian's HAProxy 2.6 running the very
//! same file in front of the same servers: routing (weights, acls, sticky cookie values),
//! failover, stats CSV, the Prometheus haproxy_exporter, and the runtime API socket.

mod common;

use common::{Balancer, Haproxy, Upstream, csv_rows, free_port, get, runtime};
use std::time::{Duration, Instant};

const CFG: &str = r#"
global
  stats socket "${ADMIN_SOCK}" mode 600 level admin
defaults base
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  retries 2
defaults checks from base
  option httpchk GET /health
  option redispatch
  default-server inter 200ms rise 1 fall 1
frontend web
  bind "127.0.0.1:${FE_PORT}"
  acl is_api path_beg /api
  acl is_graf hdr(host) -i grafana.test
  use_backend api if is_api
  use_backend grafana if is_graf !is_api
  default_backend web
backend web
  balance roundrobin
  server a "127.0.0.1:${A}" check weight 1
  server b "127.0.0.1:${B}" check weight 1
  server c "127.0.0.1:${C}" check weight 2
backend api
  server d "127.0.0.1:${D}" check
backend grafana
  cookie SERVERID insert indirect nocache
  server g1 "127.0.0.1:${G1}" check cookie g1
  server g2 "127.0.0.1:${G2}" check cookie g2
listen stats
  bind "127.0.0.1:${STATS_PORT}"
  stats enable
  stats uri /stats
"#;

struct Side {
    port: u16,
    stats: u16,
    sock: std::path::PathBuf,
}

fn env_for(ups: &[&Upstream], port: u16, stats: u16, sock: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("FE_PORT", port.to_string()),
        ("STATS_PORT", stats.to_string()),
        ("ADMIN_SOCK", sock.display().to_string()),
    ];
    for (k, u) in ["A", "B", "C", "D", "G1", "G2"].into_iter().zip(ups) {
        env.push((k, u.port.to_string()));
    }
    env
}

fn wait_all_up(stats: u16, servers: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = csv_rows(&get(stats, "/stats;csv", &[]).2);
        let up = servers
            .iter()
            .all(|s| rows.iter().any(|r| r["svname"] == *s && r["status"] == "UP"));
        if up {
            return;
        }
        assert!(Instant::now() < deadline, "servers not UP: {rows:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn bodies(port: u16, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (st, _, body) = get(port, path, headers);
            assert_eq!(st, 200, "{path} {headers:?} on port {port}: {body}");
            body
        })
        .collect()
}

#[test]
fn same_haproxy_cfg_same_behaviour_as_haproxy() {
    let names = ["a", "b", "c", "d", "g1", "g2"];
    let mut ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let dir = std::env::temp_dir().join(format!("np-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hap = Side {
        port: free_port(),
        stats: free_port(),
        sock: dir.join("haproxy.sock"),
    };
    let np = Side {
        port: free_port(),
        stats: free_port(),
        sock: dir.join("netpulse.sock"),
    };
    let _h = Haproxy::start(CFG, hap.stats, &env_for(&refs, hap.port, hap.stats, &hap.sock));
    let bal = Balancer::from_haproxy_cfg(CFG, np.port, np.stats, &env_for(&refs, np.port, np.stats, &np.sock));
    for side in [&hap, &np] {
        wait_all_up(side.stats, &names);
    }

    // Round-robin over weights 1/1/2: per window of 4, a and b once and c twice, on both.
    for side in [&hap, &np] {
        let got = bodies(side.port, "/", &[], 8);
        for window in got.chunks(4) {
            let mut w = window.to_vec();
            w.sort();
            assert_eq!(w, ["a", "b", "c", "c"], "port {}: {got:?}", side.port);
        }
    }
    // ACL routes.
    for side in [&hap, &np] {
        assert_eq!(bodies(side.port, "/api/x", &[], 2), ["d", "d"]);
        assert_eq!(bodies(side.port, "/", &[("Host", "GRAFANA.test")], 1).len(), 1);
        let g = bodies(side.port, "/", &[("Host", "grafana.test")], 1);
        assert!(g[0].starts_with('g'), "{g:?}");
        assert_eq!(
            bodies(side.port, "/api", &[("Host", "grafana.test")], 1),
            ["d"],
            "!is_api"
        );
    }
    // Sticky cookie values are the servers' `cookie V`, the same on both.
    let mut cookies = vec![];
    for side in [&hap, &np] {
        let (_, hs, body) = get(side.port, "/", &[("Host", "grafana.test")]);
        let set = hs
            .iter()
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(set, format!("SERVERID={body}; path=/"));
        let cookie = format!("SERVERID={body}");
        assert!(
            bodies(side.port, "/", &[("Host", "grafana.test"), ("Cookie", &cookie)], 20)
                .iter()
                .all(|b| *b == body)
        );
        cookies.push(set.split(';').next().unwrap().to_string());
    }
    assert!(
        cookies.iter().all(|c| c == "SERVERID=g1" || c == "SERVERID=g2"),
        "{cookies:?}"
    );
    let seen = ups[4].cookies.lock().unwrap().clone();
    assert!(seen.iter().all(|c| !c.contains("SERVERID")), "indirect: {seen:?}");

    // Stats CSV: same header; same proxies, servers, statuses and weights.
    let (hcsv, ncsv) = (get(hap.stats, "/stats;csv", &[]).2, get(np.stats, "/stats;csv", &[]).2);
    assert_eq!(hcsv.lines().next(), ncsv.lines().next(), "CSV header");
    let key = |csv: &str| {
        let mut v: Vec<String> = csv_rows(csv)
            .into_iter()
            .map(|r| format!("{},{},{},{}", r["pxname"], r["svname"], r["status"], r["weight"]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&hcsv), key(&ncsv));

    // Failover: c dies; both route only to a and b, without an error, once it is DOWN.
    ups[2].kill();
    for side in [&hap, &np] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !csv_rows(&get(side.stats, "/stats;csv", &[]).2)
            .iter()
            .any(|r| r["svname"] == "c" && r["status"].starts_with("DOWN"))
        {
            assert!(Instant::now() < deadline, "c never DOWN on {}", side.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        let got = bodies(side.port, "/", &[], 10);
        assert!(got.iter().all(|b| b == "a" || b == "b"), "{got:?}");
    }

    // The runtime API: same answers for the commands tools use.
    for cmd in [
        "show backend",
        "get weight web/a",
        "set server web/a state bogus",
        "enable server web/zz",
    ] {
        assert_eq!(runtime(&hap.sock, cmd), runtime(&np.sock, cmd), "{cmd}");
    }
    drop(bal);
}

#[test]
fn runtime_socket_disable_drain_enable_weight() {
    let names = ["a", "b", "c", "d", "g1", "g2"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let (port, stats) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("np-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("admin.sock");
    let bal = Balancer::from_haproxy_cfg(CFG, port, stats, &env_for(&refs, port, stats, &sock));
    wait_all_up(stats, &names);

    // disable → MAINT, no traffic; the stats say so.
    assert_eq!(runtime(&sock, "disable server web/a"), "\n");
    assert_eq!(bal.row("a")["status"], "MAINT");
    let before = ups[0].hits();
    bodies(port, "/", &[], 20);
    assert_eq!(ups[0].hits(), before);
    let state = runtime(&sock, "show servers state web");
    assert!(state.contains(" web 1 a 127.0.0.1 2 1 1 1 "), "{state}");
    // enable → back in rotation.
    runtime(&sock, "enable server web/a");
    assert_eq!(bal.row("a")["status"], "UP");
    bodies(port, "/", &[], 8);
    assert!(ups[0].hits() > before);
    // weight 0 for a, 3 for b: b takes 3 of every 5.
    assert_eq!(runtime(&sock, "set server web/a weight 0"), "\n");
    runtime(&sock, "set weight web/b 3");
    assert_eq!(runtime(&sock, "get weight web/b"), "3 (initial 1)\n\n");
    let got = bodies(port, "/", &[], 50);
    assert_eq!(got.iter().filter(|b| *b == "a").count(), 0);
    assert_eq!(got.iter().filter(|b| *b == "b").count(), 30, "{got:?}");
    // drain → only sticky sessions reach it.
    runtime(&sock, "set server grafana/g1 state drain");
    assert_eq!(bal.row("g1")["status"], "DRAIN");
    let fresh = bodies(port, "/", &[("Host", "grafana.test")], 10);
    assert!(fresh.iter().all(|b| b == "g2"), "{fresh:?}");
    let sticky = bodies(port, "/", &[("Host", "grafana.test"), ("Cookie", "SERVERID=g1")], 5);
    assert!(sticky.iter().all(|b| b == "g1"), "{sticky:?}");
    // Unknown commands and a prompt session, as hatop uses it.
    assert!(runtime(&sock, "frobnicate").starts_with("Unknown command"));
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"prompt\nshow backend\nquit\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "\n> # name\nweb\napi\ngrafana\nstats\n\n> ");
}

#[test]
fn haproxy_exporter_reads_the_stats_csv() {
    let names = ["a", "b", "c", "d", "g1", "g2"];
    let mut ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let (port, stats) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("np-exp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bal = Balancer::from_haproxy_cfg(CFG, port, stats, &env_for(&refs, port, stats, &dir.join("s.sock")));
    wait_all_up(stats, &names);
    ups[1].kill();
    bal.wait_status("b", "DOWN");
    let listen = free_port();
    let mut exporter = std::process::Command::new("prometheus-haproxy-exporter")
        .arg(format!("--haproxy.scrape-uri=http://127.0.0.1:{stats}/stats;csv"))
        .arg(format!("--web.listen-address=127.0.0.1:{listen}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus-haproxy-exporter (Debian) is installed by scripts/test");
    let deadline = Instant::now() + Duration::from_secs(15);
    let metrics = loop {
        let m = std::panic::catch_unwind(|| get(listen, "/metrics", &[]).2).unwrap_or_default();
        if m.contains("haproxy_up") {
            break m;
        }
        assert!(Instant::now() < deadline, "exporter never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(metrics.lines().any(|l| l == "haproxy_up 1"), "{metrics}");
    let up = |backend: &str, server: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "haproxy_server_up{{backend=\"{backend}\",server=\"{server}\"}}"
                ))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(up("web", "a").as_deref(), Some("1"), "{metrics}");
    assert_eq!(up("web", "b").as_deref(), Some("0"));
    assert_eq!(up("grafana", "g2").as_deref(), Some("1"));
    assert!(metrics.contains("haproxy_backend_up{backend=\"web\"} 1"), "{metrics}");
}
