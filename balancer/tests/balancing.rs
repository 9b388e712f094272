//! The balancer in front of real HTTP servers: weighted round-robin, health checks with
//! rise/fall, sticky sessions like HAProxy's `insert indirect nocache`, zero-error failover,
//! 503 without servers, and a stats CSV whose header is HAProxy 2.6's.

mod common;

use common::{Balancer, CHECK, Upstream, failures_under_load, get, servers, three_checked};
use std::time::Duration;

#[test]
fn weighted_round_robin_1_1_2() {
    let (a, b, c) = (Upstream::start("a"), Upstream::start("b"), Upstream::start("c"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1), (&c, 2)])
    ));
    for s in ["a", "b", "c"] {
        bal.wait_status(s, "UP");
    }
    for _ in 0..1000 {
        assert_eq!(get(bal.port, "/", &[]).0, 200);
    }
    let (ha, hb, hc) = (a.hits(), b.hits(), c.hits());
    assert_eq!(ha + hb + hc, 1000);
    for (got, want) in [(ha, 250.0), (hb, 250.0), (hc, 500.0)] {
        assert!((got as f64 - want).abs() <= 1000.0 * 0.02, "{ha}/{hb}/{hc}");
    }
    assert_eq!(bal.row("c")["lbtot"], hc.to_string());
}

#[test]
fn failing_health_check_takes_a_server_out_and_back() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    bal.wait_status("b", "UP");
    b.healthy.store(false, std::sync::atomic::Ordering::Relaxed);
    bal.wait_status("b", "DOWN");
    let row = bal.row("b");
    assert_eq!(row["check_status"], "L7STS");
    assert_eq!(row["check_code"], "500");
    let before = b.hits();
    for _ in 0..50 {
        assert_eq!(get(bal.port, "/", &[]).2, "a");
    }
    assert_eq!(b.hits(), before, "a DOWN server receives nothing");
    b.healthy.store(true, std::sync::atomic::Ordering::Relaxed);
    bal.wait_status("b", "UP");
    let bodies: Vec<String> = (0..10).map(|_| get(bal.port, "/", &[]).2).collect();
    assert!(bodies.iter().any(|x| x == "b"), "back in rotation");
    assert!(bal.log().contains("server is DOWN") && bal.log().contains("server is UP"));
}

#[test]
fn sticky_sessions_insert_indirect_nocache() {
    let (mut a, b) = (Upstream::start("grafana-a"), Upstream::start("grafana-b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nsticky = {{ cookie = \"SERVERID\", mode = \"insert\" }}\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    bal.wait_status("grafana-a", "UP");
    bal.wait_status("grafana-b", "UP");
    let (st, hs, body) = get(bal.port, "/", &[]);
    assert_eq!(st, 200);
    let set = hs
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("Set-Cookie on the first response");
    assert_eq!(set, format!("SERVERID={body}; path=/"));
    assert!(
        !hs.iter().any(|(k, v)| k == "cache-control" && v == "private"),
        "nocache: no cache would store this answer: {hs:?}"
    );
    // A cacheable answer that starts a session must not be cached (HAProxy's `nocache`).
    let (_, hs, _) = get(bal.port, "/cached", &[]);
    assert!(
        hs.iter().any(|(k, v)| k == "cache-control" && v == "private"),
        "nocache: {hs:?}"
    );
    assert!(
        hs.iter().any(|(k, v)| k == "cache-control" && v == "max-age=60"),
        "{hs:?}"
    );
    // The cookie pins every request to grafana-a (ask for it explicitly).
    let before = a.hits();
    for _ in 0..1000 {
        let (st, hs, body) = get(bal.port, "/", &[("Cookie", "lang=en; SERVERID=grafana-a")]);
        assert_eq!((st, body.as_str()), (200, "grafana-a"));
        assert!(
            !hs.iter().any(|(k, _)| k == "set-cookie"),
            "no new cookie while the server is up"
        );
    }
    assert_eq!(a.hits() - before, 1000);
    let seen = a.cookies.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|c| c == "lang=en"),
        "the server never sees SERVERID: {:?}",
        &seen[..1]
    );
    // Kill it: the same cookie goes elsewhere, with a new cookie, no error.
    a.kill();
    for _ in 0..20 {
        let (st, hs, body) = get(bal.port, "/", &[("Cookie", "SERVERID=grafana-a")]);
        assert_eq!((st, body.as_str()), (200, "grafana-b"));
        assert!(
            hs.iter()
                .any(|(k, v)| k == "set-cookie" && v == "SERVERID=grafana-b; path=/"),
            "{hs:?}"
        );
    }
}

#[test]
fn killing_a_backend_under_load_loses_no_request() {
    let ([_a, mut b, _c], bal) = three_checked();
    let port = bal.port;
    let failures = failures_under_load(
        || (0..400).filter(|_| get(port, "/", &[]).0 != 200).count(),
        || b.kill(),
    );
    assert_eq!(failures, 0, "zero client-visible errors");
    let row = bal.row("b");
    assert!(
        row["econ"].parse::<u64>().unwrap() > 0 || row["status"] == "DOWN",
        "{row:?}"
    );
}

#[test]
fn no_server_up_is_503() {
    let mut a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{CHECK}{}", servers(&[(&a, 1)])));
    bal.wait_status("a", "UP");
    a.kill();
    bal.wait_status("a", "DOWN");
    let (st, _, body) = get(bal.port, "/", &[]);
    assert_eq!(st, 503);
    assert!(body.contains("no server is available"), "{body}");
    assert_eq!(bal.row("BACKEND")["status"], "DOWN");
}

#[test]
fn a_client_that_leaves_is_not_retried_on_other_servers() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    bal.wait_status("b", "UP");
    for u in [&a, &b] {
        u.delay_ms.store(600, std::sync::atomic::Ordering::Relaxed);
    }
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(150));
    } // the client hangs up while the server is still working on its request
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.hits() + b.hits(), 1, "sent once, not again for nobody");
    for row in ["a", "b"] {
        assert_eq!(bal.row(row)["eresp"], "0", "the server did nothing wrong");
        assert_eq!(bal.row(row)["wretr"], "0");
    }
    assert!(!bal.log().contains("no server available"), "{}", bal.log());
}

#[test]
fn a_server_slower_than_its_timeout_is_504() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\ntimeouts = {{ connect = \"1s\", server = \"300ms\" }}\n{}",
        servers(&[(&a, 1)])
    ));
    assert_eq!(get(bal.port, "/", &[]).0, 200);
    a.delay_ms.store(1500, std::sync::atomic::Ordering::Relaxed);
    let (st, _, body) = get(bal.port, "/", &[]);
    assert_eq!(st, 504);
    assert!(body.contains("Gateway Timeout"), "{body}");
    bal.settle();
    assert_eq!(bal.row("a")["eresp"], "1");
}

#[test]
fn stats_csv_header_is_haproxys_and_check_mode_exits_like_haproxy() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    // The real HAProxy 2.6 (Debian) for the header.
    let (hport, sport) = (common::free_port(), common::free_port());
    let cfg = bal.dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{hport}\n  default_backend web\nbackend web\n  server a 127.0.0.1:{}\nlisten stats\n  bind 127.0.0.1:{sport}\n  stats enable\n  stats uri /stats\n",
            a.port
        ),
    )
    .unwrap();
    let mut haproxy = std::process::Command::new("haproxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy (Debian) is installed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", sport)).is_err() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let theirs = get(sport, "/stats;csv", &[]).2;
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    let ours = bal.csv();
    assert_eq!(ours.lines().next(), theirs.lines().next(), "same header line");
    let fields = ours.lines().next().unwrap().split(',').count();
    assert!(
        ours.lines()
            .skip(1)
            .all(|l| l.split(',').count() == fields && l.ends_with(',')),
        "every row has every field and ends with a comma"
    );
    let pick = |csv: &str, sv: &str, f: &str| -> String {
        let header: Vec<&str> = csv
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let row: Vec<&str> = csv
            .lines()
            .find(|l| l.split(',').nth(1) == Some(sv))
            .unwrap()
            .split(',')
            .collect();
        row[header.iter().position(|h| *h == f).unwrap()].to_string()
    };
    for (sv, f) in [
        ("a", "status"),
        ("a", "weight"),
        ("BACKEND", "status"),
        ("FRONTEND", "status"),
        ("a", "type"),
        ("BACKEND", "type"),
    ] {
        assert_eq!(pick(&ours, sv, f), pick(&theirs, sv, f), "{sv} {f}");
    }
    let (_, _, json) = get(bal.stats, "/stats;json", &[]);
    assert!(json.contains("\"svname\":\"a\""));
    let (st, _, html) = get(bal.stats, "/stats", &[]);
    assert!(st == 200 && html.contains("<td>a</td>"), "{html}");
    // -c: 0 valid, 1 invalid.
    let ok = std::process::Command::new(common::bin())
        .args(["-c", "--config"])
        .arg(bal.dir.join("b.toml"))
        .status()
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    std::fs::write(
        bal.dir.join("bad.toml"),
        "[[frontends]]\nname = \"x\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"missing\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["-c", "--config"])
        .arg(bal.dir.join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.toml:4"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn graceful_upgrade_hands_over_without_a_failed_request() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let mut old = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    old.wait_status("a", "UP");
    old.wait_status("b", "UP");
    let port = old.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done, failures) = std::thread::scope(|s| {
        let st = stop.clone();
        let load = s.spawn(move || {
            // A new connection per request: the hardest case for a hand-over. The listeners'
            // TCP_DEFER_ACCEPT keeps the old process from accepting a connection whose request
            // is still on its way (which Pingora would close unanswered at shutdown).
            common::get_until(port, &st)
        });
        std::thread::sleep(Duration::from_millis(300));
        let mut new = old.spawn_upgrade();
        std::thread::sleep(Duration::from_millis(300)); // the new process waits on the upgrade socket
        old.signal("QUIT"); // hand the listeners over, then drain and exit
        assert!(
            old.wait_exit(Duration::from_secs(20)).is_some(),
            "the old process exits after the hand-over"
        );
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let r = load.join().unwrap();
        assert!(new.try_wait().unwrap().is_none(), "the new process serves");
        assert_eq!(get(port, "/", &[]).0, 200);
        let _ = new.kill();
        let _ = new.wait();
        r
    });
    assert!(done > 50, "load ran: {done}");
    assert!(
        failures.is_empty(),
        "{} of {done} requests failed during the upgrade: {failures:?}",
        failures.len()
    );
}

/// One request written as is; the status of the answer.
fn post(port: u16, head: &str, body: &[u8]) -> u16 {
    common::status_of(&common::exchange(port, &[head.as_bytes(), body].concat()))
}

#[test]
fn maxconn_queues_requests_until_a_slot_frees_then_503_after_the_queue_timeout() {
    let a = Upstream::start("a");
    a.delay_ms.store(200, std::sync::atomic::Ordering::Relaxed);
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\ntimeouts = {{ connect = \"1s\", queue = \"3s\" }}\nservers = [ {{ name = \"a\", address = \"127.0.0.1:{}\", maxconn = 1 }} ]\n",
        a.port
    ));
    let port = bal.port;
    let codes: Vec<u16> = std::thread::scope(|s| {
        let h: Vec<_> = (0..4).map(|_| s.spawn(move || get(port, "/", &[]).0)).collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(codes, [200; 4], "queued, then served one at a time");
    let backend = bal.row("BACKEND");
    assert!(backend["qmax"].parse::<u32>().unwrap() >= 2, "{backend:?}");
    assert_eq!(bal.row("a")["smax"], "1", "never more than maxconn at the server");

    // A queue timeout shorter than the server's answer: the waiting request gets a 503.
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\ntimeouts = {{ connect = \"1s\", queue = \"50ms\" }}\nservers = [ {{ name = \"a\", address = \"127.0.0.1:{}\", maxconn = 1 }} ]\n",
        a.port
    ));
    let port = bal.port;
    let mut codes: Vec<u16> = std::thread::scope(|s| {
        let h: Vec<_> = (0..2).map(|_| s.spawn(move || get(port, "/", &[]).0)).collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    codes.sort();
    assert_eq!(codes, [200, 503]);
}

#[test]
fn request_bodies_above_the_limit_are_413() {
    let a = Upstream::start("a");
    let bal = Balancer::with_frontend(
        "max_body_size = \"1KiB\"",
        &format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])),
    );
    let head = |n: usize| format!("POST /write HTTP/1.0\r\nHost: x\r\nContent-Length: {n}\r\n\r\n");
    assert_eq!(post(bal.port, &head(500), &[b'x'; 500]), 200);
    assert_eq!(post(bal.port, &head(2048), &[b'x'; 2048]), 413);
    assert_eq!(a.hits(), 1, "a declared oversized body never reaches the server");
    let chunk = format!("{:x}\r\n{}\r\n", 1500, "y".repeat(1500));
    let chunked = format!(
        "POST /write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}0\r\n\r\n"
    );
    // A chunked body is streamed: the server may see the start, never more than the limit.
    assert_eq!(post(bal.port, &chunked, b""), 413);
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let a = Upstream::start("a");
    a.delay_ms.store(1000, std::sync::atomic::Ordering::Relaxed);
    let mut bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    let port = bal.port;
    let (code, body) = std::thread::scope(|s| {
        let slow = s.spawn(move || {
            let (c, _, b) = get(port, "/", &[]);
            (c, b)
        });
        std::thread::sleep(Duration::from_millis(300));
        bal.signal("TERM");
        slow.join().unwrap()
    });
    assert_eq!((code, body.as_str()), (200, "a"), "the request in flight was answered");
    assert!(
        bal.wait_exit(Duration::from_secs(15)).is_some(),
        "then the process exits"
    );
}

#[test]
fn server_host_names_resolve_at_start_and_unresolvable_ones_fail_the_check() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}servers = [ {{ name = \"a\", address = \"localhost:{}\" }} ]\n",
        a.port
    ));
    bal.wait_status("a", "UP");
    let (code, _, body) = get(bal.port, "/", &[]);
    assert_eq!((code, body.as_str()), (200, "a"));
    assert_eq!(
        bal.row("a")["addr"],
        format!("127.0.0.1:{}", a.port),
        "shown resolved, as HAProxy does"
    );
    std::fs::write(
        bal.dir.join("unresolvable.toml"),
        "[[frontends]]\nname = \"x\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backends]]\nname = \"b\"\nservers = [ { name = \"gone\", address = \"no-such-host.invalid:8086\" } ]\n",
    )
    .unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["-c", "--config"])
        .arg(bal.dir.join("unresolvable.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unresolvable.toml: backend 'b' server 'gone': 'no-such-host.invalid' cannot be resolved"),
        "{err}"
    );
}
