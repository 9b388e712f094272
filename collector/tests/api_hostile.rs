//! The collector API against hostile or sloppy clients (issue 19, defect 6), on raw sockets:
//! a malformed chunked body and a body cut short get 400 (not 413), a body dripping slower
//! than the read deadline gets 408 and the connection back, an oversized one 413, and the
//! bearer scheme is case-insensitive.

mod harness;

use harness::{Daemon, Snmpd, tempdir};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

fn daemon() -> (Snmpd, Daemon) {
    let agent = Snmpd::start("np-hostile");
    let dir = tempdir("hostile");
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"1h\"\n[api]\ntoken = \"s3cret-token\"\nmax_body_bytes = \"4KiB\"\n[[targets]]\nname = \"sw1\"\naddress = \"udp://127.0.0.1:{}\"\ncommunity = \"public\"\n",
            agent.port
        ),
    )
    .unwrap();
    let d = Daemon::start(&cfg, &[]);
    (agent, d)
}

/// Writes `head` then `body`, optionally closes the writing side, and returns the status.
fn exchange(port: u16, head: &str, body: &[u8], close_write: bool) -> (u16, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    if close_write {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    (
        text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        started.elapsed(),
    )
}

const AUTH: &str = "Authorization: Bearer s3cret-token\r\n";

#[test]
fn bad_bodies_get_the_right_4xx_and_the_scheme_is_case_insensitive() {
    let (_agent, d) = daemon();
    let body = br#"{"wait":false}"#;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let head = format!(
            "POST /collect HTTP/1.1\r\nHost: x\r\nAuthorization: {scheme} s3cret-token\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        assert_eq!(exchange(d.api, &head, body, false).0, 202, "{scheme}");
    }
    let head = format!(
        "POST /collect HTTP/1.1\r\nHost: x\r\nAuthorization: Basic s3cret-token\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert_eq!(exchange(d.api, &head, body, false).0, 401, "another scheme");

    let chunked = format!("POST /collect HTTP/1.1\r\nHost: x\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        exchange(d.api, &chunked, b"ZZ\r\nnot hex\r\n0\r\n\r\n", false).0,
        400,
        "malformed chunk size"
    );
    let cut = format!("POST /collect HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n");
    assert_eq!(
        exchange(d.api, &cut, br#"{"wait":"#, true).0,
        400,
        "body cut short by the client"
    );
    let big = vec![b' '; 8192];
    let head = format!(
        "POST /collect HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: {}\r\n\r\n",
        big.len()
    );
    assert_eq!(exchange(d.api, &head, &big, false).0, 413, "over max_body_bytes");
}

#[test]
fn a_dripping_body_times_out_with_408() {
    let (_agent, d) = daemon();
    let head = format!("POST /collect HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n");
    let (status, took) = exchange(d.api, &head, br#"{"wait":"#, false);
    assert_eq!(status, 408);
    assert!(took < Duration::from_secs(15), "answered at the deadline: {took:?}");
    assert_eq!(d.get("/health").0, 200);
}

#[test]
fn idle_and_slowloris_floods_leave_the_api_answering_in_bounded_memory() {
    let (_agent, d) = daemon();
    let before = netpulse_testkit::rss_kib(d.child.pid());
    let mut flood: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(("127.0.0.1", d.api)).unwrap())
        .collect();
    // Half of them trickle a header byte by byte (slowloris).
    for (i, s) in flood.iter_mut().enumerate() {
        if i % 2 == 0 {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ");
        }
    }
    // A blocked API would answer at the 10 s header deadline or not at all; the bound leaves
    // room for a loaded 2-core CI machine accepting the 500 connections first.
    let mut fastest = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(d.get("/health").0, 200);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "/health took {took:?} under the flood");
        fastest = fastest.min(took);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        fastest < Duration::from_secs(1),
        "/health never answered within 1 s under the flood (fastest {fastest:?})"
    );
    let during = netpulse_testkit::rss_kib(d.child.pid());
    assert!(
        during < before + 32 * 1024,
        "RSS {before} KiB -> {during} KiB with 500 hostile connections"
    );
    // The header deadline closes the trickling ones.
    std::thread::sleep(Duration::from_secs(11));
    let mut closed = 0;
    for s in flood.iter_mut().step_by(2) {
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut b = [0u8; 256];
        if s.read(&mut b).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 250,
        "every slowloris connection was answered or closed by the header deadline"
    );
}
