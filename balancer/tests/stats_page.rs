//! The stats HTML page rendered by a real browser (Debian's headless Chromium): every server
//! is on the rendered page and the screenshot is a real image. And the proxy's answers to
//! malformed requests, oversized headers and clients that vanish: the right status, and the
//! balancer keeps serving.

mod common;

use common::{Balancer, Upstream, exchange, get, servers};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempdir("chromium-profile");
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium (Debian) is installed by scripts/test")
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("np-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn stats_page_renders_in_headless_chromium_with_every_server() {
    let (a, b, c) = (
        Upstream::start("alpha"),
        Upstream::start("bravo"),
        Upstream::start("charlie"),
    );
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nhealth_check = {{ kind = \"http\", path = \"/health\", interval = \"200ms\" }}\n{}",
        servers(&[(&a, 1), (&b, 2), (&c, 1)])
    ));
    bal.wait_status("alpha", "UP");
    let url = format!("http://127.0.0.1:{}/stats", bal.stats);
    let dom = chromium(&["--dump-dom", &url]);
    let html = String::from_utf8_lossy(&dom.stdout);
    for name in ["alpha", "bravo", "charlie", "FRONTEND", "BACKEND", "web"] {
        assert!(html.contains(name), "{name} missing from the rendered page: {html}");
    }
    assert!(html.contains("UP"), "{html}");
    let shot = tempdir("shot").join("stats.png");
    let out = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1400,900",
        &url,
    ]);
    let png =
        std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 5_000,
        "a real picture, not a blank page: {} bytes",
        png.len()
    );
}

#[test]
fn malformed_and_oversized_requests_get_4xx_and_the_balancer_stays_up() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    assert_eq!(get(bal.port, "/", &[]).0, 200);
    let garbage = exchange(bal.port, b"\x16\x03\x01\x02\x00GARBAGE\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage:?}");
    let bad_header = exchange(bal.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    assert!(bad_header.starts_with("HTTP/1.1 400"), "{bad_header:?}");
    // 2 MiB of headers: refused, never buffered without bound.
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2048 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(1000)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let answer = exchange(bal.port, &big);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // Clients that send half a request and vanish.
    for _ in 0..50 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Part");
    }
    assert_eq!(a.hits(), 1, "nothing malformed reached the server");
    for _ in 0..20 {
        assert_eq!(get(bal.port, "/", &[]).0, 200, "still serving");
    }
}

#[test]
fn a_silent_client_does_not_block_the_stats_page() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    let _silent: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", bal.stats)).unwrap())
        .collect();
    let started = std::time::Instant::now();
    let (code, _, csv) = get(bal.stats, "/stats;csv", &[]);
    assert_eq!(code, 200);
    assert!(csv.starts_with("# pxname,svname,"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered while others stay silent"
    );
}

/// Reads what arrives within `quiet` of silence (or until the peer closes).
fn read_for(s: &mut std::net::TcpStream, quiet: Duration) -> (String, bool) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let (mut out, mut chunk) = (vec![], [0u8; 4096]);
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

#[test]
fn kept_alive_connections_get_the_header_deadline_and_an_idle_limit() {
    let a = Upstream::start("a");
    let bal = Balancer::with_frontend(
        "timeouts = { http_request = \"1s\", http_keep_alive = \"2s\" }",
        &format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])),
    );
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    // A slowloris that sends one good request first, then trickles the second.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    s.write_all(request).unwrap();
    let (first, closed) = read_for(&mut s, Duration::from_millis(300));
    assert!(first.starts_with("HTTP/1.1 200") && !closed, "{first:?}");
    // Idle for less than the keep-alive timeout, then one byte every 150 ms.
    std::thread::sleep(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let mut answer = String::new();
    for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let (got, closed) = read_for(&mut s, Duration::from_millis(150));
        answer += &got;
        if closed || !answer.is_empty() {
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let t = started.elapsed();
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(3),
        "deadline from the first byte: {t:?}"
    );
    assert_eq!(a.hits(), 1, "only the complete request reached the server");
    assert_eq!(bal.row("FRONTEND")["ereq"], "1");
    // An idle kept-alive connection is closed silently after `http_keep_alive`, not `client`.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    idle.write_all(request).unwrap();
    let (first, _) = read_for(&mut idle, Duration::from_millis(300));
    assert!(first.starts_with("HTTP/1.1 200"), "{first:?}");
    let started = std::time::Instant::now();
    let (rest, closed) = read_for(&mut idle, Duration::from_secs(10));
    let t = started.elapsed();
    assert!(closed && rest.is_empty(), "{rest:?}");
    assert!(t >= Duration::from_millis(1500) && t < Duration::from_secs(5), "{t:?}");
    assert_eq!(bal.row("FRONTEND")["ereq"], "1", "an idle close is not a request error");
    // Requests that keep coming on one connection are all served.
    let mut busy = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    for i in 0..5 {
        busy.write_all(request).unwrap();
        let (got, closed) = read_for(&mut busy, Duration::from_millis(300));
        assert!(got.starts_with("HTTP/1.1 200") && !closed, "request {i}: {got:?}");
    }
    assert_eq!(a.hits(), 7);
}

#[test]
fn a_slowloris_header_gets_408_at_the_http_request_deadline() {
    let a = Upstream::start("a");
    let bal = Balancer::with_frontend(
        "timeouts = { http_request = \"1s\" }",
        &format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])),
    );
    // A connection that never sends a byte (a browser's preconnect) is closed without a 408.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    // One header byte every 150 ms: each read is quick, the whole header never completes.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![];
    for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let mut chunk = [0u8; 512];
        if let Ok(n) = s.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..n]);
            if n == 0 || !answer.is_empty() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let t = started.elapsed();
    assert!(t >= Duration::from_millis(900) && t < Duration::from_secs(4), "{t:?}");
    assert_eq!(a.hits(), 0);
    assert_eq!(bal.row("FRONTEND")["ereq"], "1");
    // A normal client on the same frontend is unaffected, also one whose header takes two writes.
    assert_eq!(get(bal.port, "/", &[]).0, 200);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"\r\n").unwrap();
    let mut out = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}");
    silent.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut nothing = vec![];
    let _ = silent.read_to_end(&mut nothing);
    assert!(nothing.is_empty(), "{:?}", String::from_utf8_lossy(&nothing));
    assert_eq!(
        bal.row("FRONTEND")["ereq"],
        "1",
        "a silent connection is not a request error"
    );
}

#[test]
fn metrics_pass_promtool_and_match_the_traffic() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nhealth_check = {{ kind = \"http\", path = \"/health\", interval = \"200ms\" }}\n{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    bal.wait_status("a", "UP");
    bal.wait_status("b", "UP");
    for _ in 0..10 {
        assert_eq!(get(bal.port, "/", &[]).0, 200);
    }
    let metrics = get(bal.stats, "/metrics", &[]).2;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian prometheus) is installed by scripts/test");
    promtool.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "netpulse_balancer_server_up{backend=\"web\",server=\"a\"} 1",
        "netpulse_balancer_server_requests_total{backend=\"web\",server=\"a\"} 5",
        "netpulse_balancer_server_responses_total{backend=\"web\",code=\"2xx\",server=\"b\"} 5",
        "netpulse_balancer_frontend_requests_total{frontend=\"web\"} 10",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing:\n{metrics}");
    }
}
