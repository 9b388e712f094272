//! `netpulse-balancer -f haproxy.cfg` side by side with Debian's HAProxy 2.6 running the very
//! same file in front of the same servers: routing (weights, acls, sticky cookie values),
//! failover, stats CSV, the Prometheus haproxy_exporter, and the runtime API socket.

mod common;

use common::{Balancer, Haproxy, Upstream, csv_rows, free_port, get, runtime};
use std::time::{Duration, Instant};

const CFG: &str = r#"
global
  nbthread 2
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
  id 10
  bind "127.0.0.1:${STATS_PORT}"
  stats enable
  stats uri /stats
  stats admin if TRUE
"#;

/// POSTs the stats page's admin form; (status, Location).
fn admin_post(port: u16, form: &str) -> (u16, String) {
    let out = common::exchange(
        port,
        format!(
            "POST /stats HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    let code = common::status_of(&out);
    let location = out
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
        .unwrap_or("")
        .to_string();
    (code, location)
}

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

    // Stats CSV: same header; the same rows in the same order, with the same proxy ids
    // (declaration order, `listen stats` included), server ids, statuses and weights.
    let (hcsv, ncsv) = (get(hap.stats, "/stats;csv", &[]).2, get(np.stats, "/stats;csv", &[]).2);
    assert_eq!(hcsv.lines().next(), ncsv.lines().next(), "CSV header");
    let key = |csv: &str| -> Vec<String> {
        csv_rows(csv)
            .into_iter()
            .map(|r| {
                let f = ["pxname", "svname", "iid", "sid", "status", "weight"];
                f.map(|k| r[k].clone()).join(",")
            })
            .collect()
    };
    assert_eq!(key(&hcsv), key(&ncsv));

    // Rates and counts as HAProxy computes them: after the same burst, both show a request
    // and connection rate on the frontend and servers; what netpulse does not track is empty,
    // never a constant; `show info` counts connections and requests apart.
    for side in [&hap, &np] {
        bodies(side.port, "/", &[], 40);
        let csv = get(side.stats, "/stats;csv", &[]).2;
        let rows = csv_rows(&csv);
        let fe = rows
            .iter()
            .find(|r| r["pxname"] == "web" && r["svname"] == "FRONTEND")
            .unwrap();
        let num = |r: &std::collections::HashMap<String, String>, k: &str| r[k].parse::<u64>().unwrap_or(0);
        assert!(
            num(fe, "req_rate_max") >= 10 && num(fe, "rate_max") >= 1,
            "port {}: {fe:?}",
            side.port
        );
        assert!(num(fe, "req_rate_max") <= num(fe, "req_tot"), "{fe:?}");
        let servers = rows.iter().filter(|r| r["pxname"] == "web" && r["type"] == "2");
        assert!(
            servers.map(|r| num(r, "rate_max")).sum::<u64>() >= 10,
            "port {}",
            side.port
        );
        for k in ["dreq", "dresp", "cli_abrt", "srv_abrt"] {
            assert!(fe[k].is_empty() || fe[k].parse::<u64>().is_ok(), "{k}: {fe:?}");
        }
        let info = runtime(&side.sock, "show info");
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(field("Nbthread"), "2", "port {}", side.port);
        let (reqs, conns) = (
            field("CumReq").parse::<u64>().unwrap(),
            field("CumConns").parse::<u64>().unwrap(),
        );
        assert!(reqs >= 40 && conns >= 1, "port {}: {info}", side.port);
        assert!(field("Maxconn").parse::<u64>().unwrap() > 0, "{info}");
    }

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

    // The stats page's admin form (`stats admin if TRUE`): 303 with st=DONE on both, and the
    // server goes to MAINT and back. The backend's iid is read from each side's own CSV.
    for side in [&hap, &np] {
        let csv = get(side.stats, "/stats;csv", &[]).2;
        let iid = csv_rows(&csv)
            .into_iter()
            .find(|r| r["pxname"] == "web" && r["svname"] == "BACKEND")
            .map(|r| r["iid"].clone())
            .unwrap();
        let status = |sv: &str| {
            csv_rows(&get(side.stats, "/stats;csv", &[]).2)
                .into_iter()
                .find(|r| r["pxname"] == "web" && r["svname"] == sv)
                .map(|r| r["status"].clone())
                .unwrap_or_default()
        };
        let (code, location) = admin_post(side.stats, &format!("s=b&action=maint&b=%23{iid}"));
        assert_eq!(code, 303, "port {}", side.stats);
        assert!(location.ends_with("/stats;st=DONE"), "{location}");
        assert_eq!(status("b"), "MAINT");
        let (code, location) = admin_post(side.stats, &format!("s=b&action=ready&b=%23{iid}"));
        assert!(code == 303 && location.ends_with(";st=DONE"), "{code} {location}");
        assert!(status("b").starts_with("UP"), "{}", status("b"));
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
    // Exact per window; ±1 over 50 because the round-robin state carries over the change.
    assert!((29..=31).contains(&got.iter().filter(|b| *b == "b").count()), "{got:?}");
    // drain → only sticky sessions reach it.
    runtime(&sock, "set server grafana/g1 state drain");
    assert_eq!(bal.row("g1")["status"], "DRAIN");
    let fresh = bodies(port, "/", &[("Host", "grafana.test")], 10);
    assert!(fresh.iter().all(|b| b == "g2"), "{fresh:?}");
    let sticky = bodies(port, "/", &[("Host", "grafana.test"), ("Cookie", "SERVERID=g1")], 5);
    assert!(sticky.iter().all(|b| b == "g1"), "{sticky:?}");
    // A server added at run time: in maintenance until enabled, then in rotation; deleted
    // only once back in maintenance.
    let e = Upstream::start("e");
    let added = runtime(&sock, &format!("add server web/e 127.0.0.1:{} check weight 2", e.port));
    assert_eq!(added, "New server registered.\n\n");
    assert_eq!(bal.row("e")["status"], "MAINT");
    runtime(&sock, "set server web/b weight 1");
    runtime(&sock, "set server web/a weight 1");
    runtime(&sock, "enable server web/e");
    bal.wait_status("e", "UP");
    // Weights a=1 b=1 c=2 e=2: e takes 2 of every 6.
    let got = bodies(port, "/", &[], 60);
    assert!((19..=21).contains(&got.iter().filter(|b| *b == "e").count()), "{got:?}");
    assert!(runtime(&sock, "del server web/e").starts_with("Only servers in maintenance mode can be deleted."));
    runtime(&sock, "disable server web/e");
    assert_eq!(runtime(&sock, "del server web/e"), "Server deleted.\n\n");
    assert!(bal.row("e").is_empty(), "gone from the stats");
    assert!(bodies(port, "/", &[], 12).iter().all(|b| b != "e"));
    assert_eq!(runtime(&sock, "get weight web/e"), "No such server.\n\n");
    // Every server of a backend in maintenance: the backend is DOWN (HAProxy's reg-test).
    runtime(
        &sock,
        "set server grafana/g1 state maint;set server grafana/g2 state maint",
    );
    let rows = csv_rows(&get(stats, "/stats;csv", &[]).2);
    let grafana = rows
        .iter()
        .find(|r| r["pxname"] == "grafana" && r["svname"] == "BACKEND")
        .unwrap();
    assert_eq!(grafana["status"], "DOWN");
    assert_eq!(get(port, "/", &[("Host", "grafana.test")]).0, 503);
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

/// Every valid file of the haproxy-compat corpus runs: its binds moved to free loopback ports,
/// the balancer starts from it with `-f`, and its stats list every proxy and server of the file.
#[test]
fn the_corpus_configs_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../haproxy-compat/tests/corpus");
    for name in ["influx-grafana", "layered-defaults"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.cfg"))).unwrap();
        let mut stats = 0;
        let mut moved = String::new();
        for line in text.lines() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix("bind ") {
                let port = free_port();
                let is_stats = rest.contains("8404");
                if is_stats {
                    stats = port;
                }
                moved.push_str(&format!("    bind 127.0.0.1:{port}\n"));
            } else if t.starts_with("stats socket") {
                moved.push_str(&format!(
                    "    stats socket {}\n",
                    std::env::temp_dir()
                        .join(format!("np-corpus-{}.sock", std::process::id()))
                        .display()
                ));
            } else {
                moved.push_str(line);
                moved.push('\n');
            }
        }
        if stats == 0 {
            // No stats proxy in the file: netpulse's own stats listener on 127.0.0.1:8404 is
            // not used here; the file gets one for the test.
            stats = free_port();
            moved.push_str(&format!(
                "listen stats\n    mode http\n    bind 127.0.0.1:{stats}\n    stats enable\n    stats uri /stats\n"
            ));
        }
        let bal = Balancer::from_haproxy_cfg(&moved, 0, stats, &[]);
        let auth = "Basic YWRtaW46czNjcmV0"; // admin:s3cret from influx-grafana.cfg
        let csv = get(stats, "/stats;csv", &[("Authorization", auth)]).2;
        let rows = csv_rows(&csv);
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["frontend" | "listen", n, ..] => {
                    assert!(
                        rows.iter().any(|r| r["pxname"] == *n && r["svname"] == "FRONTEND"),
                        "{name}: {n}: {csv}"
                    )
                }
                ["backend", n, ..] => {
                    assert!(
                        rows.iter().any(|r| r["pxname"] == *n && r["svname"] == "BACKEND"),
                        "{name}: {n}: {csv}"
                    )
                }
                ["server", n, ..] => assert!(rows.iter().any(|r| r["svname"] == *n), "{name}: {n}: {csv}"),
                _ => {}
            }
        }
        drop(bal);
    }
}

/// Debian's `hatop` (curses, in a tmux pane) connects to the runtime socket in prompt mode and
/// shows every proxy and server with its status.
#[test]
fn hatop_shows_the_balancer() {
    let names = ["a", "b", "c", "d", "g1", "g2"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let (port, stats) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("np-hatop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("admin.sock");
    let _bal = Balancer::from_haproxy_cfg(CFG, port, stats, &env_for(&refs, port, stats, &sock));
    wait_all_up(stats, &names);
    runtime(&sock, "disable server web/b");
    let session = format!("np-hatop-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux is installed by scripts/test")
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "200",
        "-y",
        "60",
        &format!("TERM=xterm hatop -s {}", sock.display()),
    ]);
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let screen = loop {
        let pane = String::from_utf8_lossy(&tmux(&["capture-pane", "-t", &session, "-p"]).stdout).into_owned();
        if pane.contains("g2") {
            break pane;
        }
        if Instant::now() > deadline {
            break pane;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("netpulse-balancer"), "{screen}");
    for proxy in [">>> web", ">>> api", ">>> grafana"] {
        assert!(screen.contains(proxy), "{proxy}: {screen}");
    }
    let line = |s: &str| {
        screen
            .lines()
            .find(|l| l.split_whitespace().next() == Some(s))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("a").contains("UP"), "{screen}");
    assert!(line("b").contains("MAINT"), "{screen}");
    assert!(line("g2").contains("UP"), "{screen}");
}

/// The request shapes of the edge on kept-alive connections (the express lane's on netpulse):
/// 8 KiB POST bodies, a sticky session and its first request, close per request — the same
/// answers and the same counters as HAProxy's on the same haproxy.cfg.
#[test]
fn each_request_shape_same_answers_and_counters_as_haproxy() {
    let names = ["a", "b", "c", "d", "g1", "g2"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let dir = std::env::temp_dir().join(format!("np-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let side = |tag: &str| Side {
        port: free_port(),
        stats: free_port(),
        sock: dir.join(format!("{tag}.sock")),
    };
    let (hap, np) = (side("haproxy"), side("netpulse"));
    let _h = Haproxy::start(CFG, hap.stats, &env_for(&refs, hap.port, hap.stats, &hap.sock));
    let _b = Balancer::from_haproxy_cfg(CFG, np.port, np.stats, &env_for(&refs, np.port, np.stats, &np.sock));
    for s in [&hap, &np] {
        wait_all_up(s.stats, &names);
    }
    let body: Vec<u8> = (0..120)
        .map(|i| format!("ifHCInOctets,host=sw1,ifName=Gi0/{i} value={i}i 1764892800000000000\n"))
        .collect::<String>()
        .into_bytes();
    let run = |s: &Side| {
        let mut out = vec![];
        let mut c = common::KeepAlive::new(s.port);
        // POST bodies, round-robin over a/b/c (weights 1/1/2): who answered and what arrived.
        let mut posts: Vec<String> = (0..4)
            .map(|_| {
                let (st, _, answer) = c.send("POST", "/write?db=net", "", &body);
                format!("{st} {}", String::from_utf8_lossy(&answer))
            })
            .collect();
        posts.sort();
        out.extend(posts);
        // A cacheable answer that starts a session gets `Cache-Control: private`.
        let (_, head, _) = common::KeepAlive::new(s.port).send("GET", "/cached", "Host: grafana.test\r\n", &[]);
        let lower = head.to_ascii_lowercase();
        out.push(format!("cached: private={}", lower.contains("cache-control: private")));
        // A new session: its server's cookie; then five requests with it.
        let (st, head, first) = c.send("GET", "/d/home", "Host: grafana.test\r\n", &[]);
        let lower = head.to_ascii_lowercase();
        let cookie = lower
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .unwrap_or("none")
            .to_string();
        let private = lower.contains("cache-control: private");
        out.push(format!("{st} {cookie} private={private}"));
        let value = cookie.split(';').next().unwrap_or("").replace("serverid", "SERVERID");
        for _ in 0..5 {
            let (st, head, b) = c.send(
                "GET",
                "/d/x",
                &format!("Host: grafana.test\r\nCookie: a=1; {value}\r\n"),
                &[],
            );
            let again = head.to_ascii_lowercase().contains("set-cookie");
            out.push(format!("{st} same={} set-cookie={again}", b == first));
        }
        // Close per request.
        for _ in 0..3 {
            let answer = common::exchange(s.port, b"GET /api/v HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let closes = answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n");
            out.push(format!(
                "{} closes={closes} {}",
                common::status_of(&answer),
                answer.rsplit("\r\n\r\n").next().unwrap_or("")
            ));
        }
        out
    };
    // Sessions counted from here: netpulse's harness probed its frontend port at start.
    let sessions = |s: &Side| {
        let rows = csv_rows(&get(s.stats, "/stats;csv", &[]).2);
        let fe = rows
            .iter()
            .find(|r| r["pxname"] == "web" && r["svname"] == "FRONTEND")
            .cloned()
            .unwrap();
        fe["stot"].parse::<u64>().unwrap()
    };
    let (np0, hap0) = (sessions(&np), sessions(&hap));
    assert_eq!(run(&np), run(&hap));
    // The cookie never reached a server, on either side.
    for u in &ups {
        assert!(
            u.cookies.lock().unwrap().iter().all(|c| c == "a=1"),
            "{}: {:?}",
            u.name,
            u.cookies.lock().unwrap()
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let counters = |s: &Side| {
        let rows = csv_rows(&get(s.stats, "/stats;csv", &[]).2);
        let pick = |px: &str, sv: &str| {
            rows.iter()
                .find(|r| r["pxname"] == px && r["svname"] == sv)
                .cloned()
                .unwrap()
        };
        let mut out = vec![];
        for (px, sv) in [
            ("web", "FRONTEND"),
            ("web", "BACKEND"),
            ("grafana", "BACKEND"),
            ("api", "d"),
            ("web", "c"),
        ] {
            let r = pick(px, sv);
            out.push(format!(
                "{px}/{sv} stot={} req_tot={} 2xx={} 5xx={} bin>=body:{}",
                // A FRONTEND's sessions are compared as a difference below.
                if sv == "FRONTEND" { "-" } else { &r["stot"] },
                r["req_tot"],
                r["hrsp_2xx"],
                r["hrsp_5xx"],
                r["bin"].parse::<usize>().unwrap_or(0) >= body.len() * usize::from(sv == "c") * 2
            ));
        }
        out
    };
    assert_eq!(counters(&np), counters(&hap));
    assert_eq!(
        sessions(&np) - np0,
        sessions(&hap) - hap0,
        "client connections (FRONTEND stot)"
    );
}
