//! The balancer's side listeners under hostile clients (issue 19, defects 9 and 10): a flood of
//! idle connections to the stats listener does not stop it answering, and the runtime socket
//! cuts a line that never ends instead of buffering it (memory stays bounded).

mod common;

use common::{Balancer, CHECK, Upstream, get, servers};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[test]
fn idle_connections_do_not_silence_the_stats_listener() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{CHECK}{}", servers(&[(&a, 1)])));
    bal.wait_status("a", "UP");
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", bal.stats)).unwrap())
        .collect();
    for path in ["/stats;csv", "/metrics"] {
        let started = Instant::now();
        let (code, _, body) = get(bal.stats, path, &[]);
        assert_eq!(code, 200, "{path}");
        assert!(!body.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} took {:?} with 300 idle connections",
            started.elapsed()
        );
    }
    drop(idle);
}

#[test]
fn the_runtime_socket_cuts_a_line_that_never_ends() {
    let a = Upstream::start("a");
    let sock = std::env::temp_dir().join(format!("np-rt-hostile-{}.sock", std::process::id()));
    let bal = Balancer::start(&format!(
        "[runtime]\nsocket = \"{}\"\nlevel = \"admin\"\n[[backends]]\nname = \"web\"\n{CHECK}{}",
        sock.display(),
        servers(&[(&a, 1)])
    ));
    bal.wait_status("a", "UP");
    let before = netpulse_testkit::rss_kib(bal.pid());
    let mut c = UnixStream::connect(&sock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 50 << 20 {
        if c.write_all(&chunk).is_err() {
            break; // cut off: the balancer closed the connection
        }
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(sent < 50 << 20, "the connection was cut, not read forever");
    assert!(answer.starts_with("Line too long"), "{answer:?}");
    let after = netpulse_testkit::rss_kib(bal.pid());
    assert!(after < before + 8 * 1024, "RSS {before} KiB -> {after} KiB");
    assert!(
        common::runtime(&sock, "show info").contains("Name:"),
        "the socket still serves"
    );
}

/// Writes `bytes` and reads until `want` complete answers arrived, the server closed, or 5 s.
fn answers(port: u16, bytes: &[u8], want: usize) -> (String, Duration) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = vec![];
    let mut buf = [0u8; 65536];
    while started.elapsed() < Duration::from_secs(5) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if String::from_utf8_lossy(&out).matches("HTTP/1.1 ").count() >= want {
            break;
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

#[test]
fn malformed_requests_are_refused_at_once_as_haproxy_refuses_them() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    let huge = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "y".repeat(70_000));
    let cases: [(&str, &[u8]); 7] = [
        (
            "TLS ClientHello on a plain port",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        ),
        ("HTTP/0.9", b"GET /\r\n"),
        ("NUL in the target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
        (
            "target without a leading slash",
            b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        (
            "conflicting Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
        ("a 70 KB header", huge.as_bytes()),
    ];
    for (what, bytes) in cases {
        let (answer, took) = answers(bal.port, bytes, 1);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{what}: {:?}",
            &answer[..answer.len().min(80)]
        );
        assert!(took < Duration::from_secs(2), "{what}: answered after {took:?}");
    }
    assert_eq!(a.hits(), 0, "nothing refused reached the server");
    assert_eq!(
        bal.row("FRONTEND")["ereq"],
        cases.len().to_string(),
        "each counted as a request error"
    );
}

#[test]
fn bare_lf_and_pipelined_requests_are_answered() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])));
    let (answer, took) = answers(bal.port, b"GET / HTTP/1.1\nHost: x\n\n", 1);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(took < Duration::from_secs(2), "bare LF answered at once: {took:?}");
    let three =
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    let (answer, _) = answers(bal.port, three, 3);
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 3, "{answer}");
    assert_eq!(a.hits(), 4);
}

/// A server that records each request header it gets and answers 200 with an empty body.
fn recording_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let log = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = vec![];
                let mut b = [0u8; 4096];
                loop {
                    let Ok(n) = c.read(&mut b) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&b[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() < i + 4 + len {
                            continue;
                        }
                        log.lock().unwrap().push(head);
                        buf.drain(..i + 4 + len);
                        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn identical_duplicate_content_lengths_reach_the_server_as_one() {
    let (port, seen) = recording_server();
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nservers = [ {{ name = \"s\", address = \"127.0.0.1:{port}\" }} ]\n"
    ));
    let req = b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
    let (answer, _) = answers(bal.port, req, 1);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    assert_eq!(
        heads[0].to_ascii_lowercase().matches("content-length").count(),
        1,
        "{}",
        heads[0]
    );
}

#[test]
fn hostile_request_shapes_get_haproxys_answers() {
    let a = Upstream::start("a");
    let cfg = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  timeout http-request 5s\nfrontend web\n  bind \"127.0.0.1:${FE_PORT}\"\n  default_backend web\nbackend web\n  server a \"127.0.0.1:${A}\"\n";
    let (hp, np) = (netpulse_testkit::free_tcp_port(), netpulse_testkit::free_tcp_port());
    let env = |fe: u16| vec![("FE_PORT", fe.to_string()), ("A", a.port.to_string())];
    let _hap = common::Haproxy::start(cfg, hp, &env(hp));
    let _bal = Balancer::from_haproxy_cfg(cfg, np, 0, &env(np));
    let huge = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "y".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("bare LF", b"GET / HTTP/1.1\nHost: x\n\n".to_vec()),
        ("HTTP/1.0", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ("TLS ClientHello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec()),
        ("HTTP/0.9", b"GET /\r\n".to_vec()),
        ("double space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("NUL in target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("no leading slash", b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("two Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec()),
        ("CL conflict", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec()),
        ("CL twice, same", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab".to_vec()),
        ("70 KB header", huge.into_bytes()),
        ("CL and TE", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n".to_vec()),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n".to_vec()),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec()),
        ("TE not chunked last", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec()),
    ];
    let mut differ = vec![];
    for (what, bytes) in &cases {
        let status = |port| common::status_of(&answers(port, bytes, 1).0);
        let (theirs, ours) = (status(hp), status(np));
        if theirs != ours {
            differ.push(format!("{what}: HAProxy {theirs}, netpulse {ours}"));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}

#[test]
fn idle_and_slowloris_floods_leave_the_frontend_answering_in_bounded_memory() {
    let a = Upstream::start("a");
    let bal = Balancer::with_frontend(
        "timeouts = { http_request = \"2s\" }\n",
        &format!("[[backends]]\nname = \"web\"\n{}", servers(&[(&a, 1)])),
    );
    let before = netpulse_testkit::rss_kib(bal.pid());
    let mut flood: Vec<std::net::TcpStream> = (0..500)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap())
        .collect();
    for (i, s) in flood.iter_mut().enumerate() {
        if i % 2 == 0 {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
        }
    }
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(get(bal.port, "/", &[]).0, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?} under the flood",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Bounded per connection (measured ~180 KiB each while a header trickles in: Pingora's
    // stream buffers; HAProxy holds ~32 KiB) and only until the header deadline.
    let during = netpulse_testkit::rss_kib(bal.pid());
    assert!(
        during < before + 500 * 256,
        "RSS {before} KiB -> {during} KiB with 500 hostile connections"
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut answered = 0;
    for s in flood.iter_mut().step_by(2) {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut b = [0u8; 64];
        if matches!(s.read(&mut b), Ok(n) if n > 0 && b.starts_with(b"HTTP/1.1 408")) {
            answered += 1;
        }
    }
    assert_eq!(
        answered, 250,
        "every slowloris connection got its 408 at the header deadline"
    );
}
