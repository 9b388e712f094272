//! Kept-alive HTTP/1.1 clients, which take the express lane for plain GET/HEAD requests:
//! balancing and stats as on Pingora's path, zero errors when a server dies under load,
//! response framing (chunked, streamed, close-delimited, HEAD, 204) byte for byte, 504, and
//! the server connection kept with the client connection.

mod common;

use common::{Balancer, CHECK, KeepAlive, Upstream, failures_under_load, servers, three_checked};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn keep_alive_requests_are_balanced_and_counted() {
    let (a, b, c) = (Upstream::start("a"), Upstream::start("b"), Upstream::start("c"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{}",
        servers(&[(&a, 1), (&b, 1), (&c, 2)])
    ));
    let mut client = KeepAlive::new(bal.port);
    for _ in 0..400 {
        let (status, _, body) = client.request("GET", "/x?q=1");
        assert_eq!(status, 200);
        assert_eq!(body.len(), 1);
    }
    assert_eq!(client.connects, 1, "one client connection for all");
    assert_eq!((a.hits(), b.hits(), c.hits()), (100, 100, 200));
    bal.settle();
    let fe = bal.row("FRONTEND");
    assert_eq!(
        (fe["req_tot"].as_str(), fe["hrsp_2xx"].as_str(), fe["bout"].as_str()),
        ("400", "400", "400")
    );
    // Sessions are client connections (the harness's start-up probe is one too).
    assert_eq!(fe["scur"], "1", "one client connection, open");
    for (name, n) in [("a", "100"), ("b", "100"), ("c", "200")] {
        let row = bal.row(name);
        assert_eq!(
            (row["stot"].as_str(), row["lbtot"].as_str(), row["bout"].as_str()),
            (n, n, n),
            "{name}"
        );
        assert_eq!(row["scur"], "0", "{name}: slot given back");
    }
    assert_eq!(bal.row("BACKEND")["stot"], "400");
}

#[test]
fn killing_a_backend_under_keep_alive_load_loses_no_request() {
    let ([a, mut b, c], bal) = three_checked();
    let port = bal.port;
    let keep_alive_client = || {
        let mut client = KeepAlive::new(port);
        (0..2500)
            .filter(|_| {
                let (status, _, body) = client.request("GET", "/");
                status != 200 || body.len() != 1
            })
            .count()
    };
    let failures = failures_under_load(keep_alive_client, || b.kill());
    assert_eq!(failures, 0, "zero client-visible errors");
    assert!(b.hits() > 0, "b served some before it died");
    assert!(a.hits() + b.hits() + c.hits() >= 10_000);
}

#[test]
fn graceful_upgrade_under_keep_alive_load_loses_no_request() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let mut old = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    old.wait_status("b", "UP");
    let port = old.port;
    let client = |stop: &std::sync::atomic::AtomicBool| {
        let mut client = KeepAlive::new(port);
        let (mut n, mut bad) = (0usize, vec![]);
        while !stop.load(Ordering::Relaxed) && n < 200_000 {
            n += 1;
            let (status, head, _) = client.request("GET", "/");
            if status != 200 {
                bad.push(format!("{status} {head:?}"));
            }
        }
        if client.connects < 2 {
            bad.push("never moved to the new process on a new connection".into());
        }
        (n, bad)
    };
    let (results, mut new) = common::upgrade_under_load(&mut old, 4, client, || ());
    let _ = (new.kill(), new.wait());
    for (n, bad) in results {
        assert!(n > 50, "load ran: {n}");
        assert!(bad.is_empty(), "{} of {n} failed: {bad:?}", bad.len());
    }
}

/// A server answering by path with hand-written HTTP/1.1 framings; counts connections.
fn scripted_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            count.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn);
                loop {
                    let mut first = String::new();
                    if r.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let mut words = first.split(' ');
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let w = r.get_mut();
                    let _ = match (method, path) {
                        ("HEAD", _) => w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
                        (_, "/chunked") => {
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
                            std::thread::sleep(Duration::from_millis(30));
                            w.write_all(b"lo\r\n6;x=y\r\n world\r\n0\r\n\r\n")
                        }
                        (_, "/big") => {
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
                            let block: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
                            (0..1000).try_for_each(|_| w.write_all(&block))
                        }
                        (_, "/nocontent") => w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n"),
                        (_, "/ws") => {
                            // A WebSocket server (Grafana Live): 101, then the bytes echoed.
                            let _ = w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
                            let mut b = [0u8; 4096];
                            loop {
                                match std::io::Read::read(&mut r, &mut b) {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if r.get_mut().write_all(&b[..n]).is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                        (_, "/close") => {
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                            return;
                        }
                        (_, "/idle-close") => {
                            // Keeps the connection open, then drops it as an idle keep-alive
                            // timeout would: no `Connection: close` warned of it.
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
                            std::thread::sleep(Duration::from_millis(100));
                            return;
                        }
                        (_, "/nolen") => {
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the server closes");
                            return;
                        }
                        _ => w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
                    };
                }
            });
        }
    });
    (port, accepted)
}

/// The balancer with one server `s`, a [`scripted_server`], and its accepted connections.
fn behind_a_scripted_server() -> (Balancer, Arc<AtomicUsize>) {
    let (port, accepted) = scripted_server();
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nservers = [ {{ name = \"s\", address = \"127.0.0.1:{port}\" }} ]\n"
    ));
    (bal, accepted)
}

#[test]
fn every_response_framing_arrives_byte_for_byte() {
    let (bal, accepted) = behind_a_scripted_server();
    let mut c = KeepAlive::new(bal.port);
    assert_eq!(c.request("GET", "/").2, b"hi");
    assert_eq!(c.request("GET", "/chunked").2, b"hello world");
    assert_eq!(
        c.request("GET", "/").2,
        b"hi",
        "the chunked end was found: still in step"
    );
    let (status, head, body) = c.request("HEAD", "/");
    assert_eq!((status, body.len()), (200, 0));
    assert!(head.to_ascii_lowercase().contains("content-length: 5"), "{head}");
    assert_eq!(c.request("GET", "/nocontent").0, 204);
    let big = c.request("GET", "/big").2;
    assert_eq!(big.len(), 1_000_000);
    assert!(big.chunks(1000).all(|b| b[0] == b'a' && b[25] == b'z' && b[26] == b'a'));
    assert_eq!(c.request("GET", "/").2, b"hi");
    assert_eq!(
        (c.connects, accepted.load(Ordering::Relaxed)),
        (1, 1),
        "one connection each side so far"
    );
    // The server's `Connection: close` reaches the client, which reconnects.
    let (status, head, body) = c.request("GET", "/close");
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert_eq!(c.request("GET", "/").2, b"hi");
    // A body that ends when the server closes: the client connection closes after it too.
    assert_eq!(c.request("GET", "/nolen").2, b"until the server closes");
    assert_eq!(c.request("GET", "/").2, b"hi");
    assert_eq!(c.connects, 3);
    bal.settle();
    let row = bal.row("s");
    assert_eq!(row["stot"], "11");
    assert_eq!(row["hrsp_2xx"], "11");
    assert!(row["bout"].parse::<u64>().unwrap() > 1_000_000, "{row:?}");
}

#[test]
fn a_server_connection_closed_while_idle_is_replaced_unseen() {
    let (bal, accepted) = behind_a_scripted_server();
    let mut c = KeepAlive::new(bal.port);
    for round in 1..=3 {
        assert_eq!(c.request("GET", "/idle-close").2, b"hi", "round {round}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(c.request("GET", "/").2, b"hi");
    assert_eq!(c.connects, 1, "the client never saw the server's closes");
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        4,
        "a new server connection after each close"
    );
    bal.settle();
    let row = bal.row("s");
    assert_eq!(
        (row["stot"].as_str(), row["eresp"].as_str(), row["hrsp_2xx"].as_str()),
        ("4", "0", "4")
    );
}

#[test]
fn a_slow_server_on_a_kept_alive_connection_is_504_once() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\ntimeouts = {{ connect = \"1s\", server = \"300ms\" }}\n{}",
        servers(&[(&a, 1)])
    ));
    let mut c = KeepAlive::new(bal.port);
    assert_eq!(c.request("GET", "/").0, 200);
    a.delay_ms.store(1500, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (status, _, body) = c.request("GET", "/");
    assert_eq!(status, 504);
    assert!(String::from_utf8_lossy(&body).contains("Gateway Timeout"));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(a.hits(), 2, "not asked twice");
    bal.settle();
    assert_eq!(bal.row("a")["eresp"], "1");
    assert_eq!(bal.row("BACKEND")["hrsp_5xx"], "1");
}

/// Line protocol of about `len` bytes, as InfluxDB writers send it.
fn lines(len: usize, seed: usize) -> Vec<u8> {
    let mut out = String::with_capacity(len + 100);
    let mut i = 0;
    while out.len() < len {
        out += &format!(
            "ifHCInOctets,host=sw{seed},ifName=Gi0/{i} value={}i 1764892800000000000\n",
            i * 7919
        );
        i += 1;
    }
    out.into_bytes()
}

#[test]
fn bodies_stream_through_the_lane_intact_and_counted() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\n{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    let mut client = KeepAlive::new(bal.port);
    let mut sent = 0;
    for (i, (method, size)) in [
        ("POST", 8 * 1024),
        ("POST", 256 * 1024),
        ("PUT", 100),
        ("DELETE", 1),
        ("POST", 8 * 1024),
    ]
    .into_iter()
    .enumerate()
    {
        let body = lines(size, i);
        sent += body.len();
        let (status, _, answer) = client.send(method, "/write?db=net", "", &body);
        assert_eq!(status, 200, "{method} {size}");
        let answer = String::from_utf8(answer).unwrap();
        let (_, rest) = answer.split_once(' ').unwrap();
        assert_eq!(
            rest,
            format!("{} {}", body.len(), common::checksum(&body)),
            "{method} {size}: intact"
        );
    }
    // A client that closes after its request is answered and closed.
    let (status, head, _) = client.send("POST", "/write", "Connection: close\r\n", &lines(2000, 9));
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert_eq!(client.connects, 1, "one client connection for all");
    bal.settle();
    let fe = bal.row("FRONTEND");
    assert_eq!(
        (fe["req_tot"].as_str(), fe["scur"].as_str()),
        ("6", "0"),
        "closed by the last request"
    );
    assert!(
        fe["bin"].parse::<usize>().unwrap() >= sent,
        "request bodies counted in: {fe:?}"
    );
    assert_eq!(a.hits() + b.hits(), 6);
}

#[test]
fn sticky_sessions_keep_their_server_on_the_lane() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::start(&format!(
        "[[backends]]\nname = \"web\"\nsticky = {{ cookie = \"SERVERID\" }}\n{}",
        servers(&[(&a, 1), (&b, 1)])
    ));
    let mut client = KeepAlive::new(bal.port);
    let (status, head, first) = client.request("GET", "/");
    assert_eq!(status, 200);
    let lower = head.to_ascii_lowercase();
    let cookie = lower
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("a new session gets its cookie: {head}"))
        .to_string();
    assert!(
        !lower.contains("cache-control: private"),
        "not cacheable anyway: {head}"
    );
    let (_, cached, _) = KeepAlive::new(bal.port).request("GET", "/cached");
    assert!(
        cached.to_ascii_lowercase().contains("cache-control: private"),
        "nocache: {cached}"
    );
    let value = cookie.split(';').next().unwrap().trim().to_string();
    assert!(value.starts_with("serverid="), "{cookie}");
    let value = &head[head.to_ascii_lowercase().find(&value).unwrap()..][..value.len()];
    for _ in 0..20 {
        let (status, head, body) = client.send("GET", "/d/x", &format!("Cookie: theme=dark; {value}\r\n"), &[]);
        assert_eq!((status, &body), (200, &first), "the session's server every time");
        assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    }
    let (status, _, body) = client.send(
        "POST",
        "/api/ds/query",
        &format!("Cookie: {value}\r\n"),
        &lines(3000, 1),
    );
    assert_eq!(status, 200);
    assert!(body.starts_with(&first), "a body in the session too");
    let seen = [&a, &b].map(|u| u.cookies.lock().unwrap().clone()).concat();
    assert!(
        seen.iter().all(|c| !c.contains("SERVERID")),
        "the persistence cookie never reaches a server: {seen:?}"
    );
    assert!(
        seen.iter().filter(|c| c.as_str() == "theme=dark").count() >= 20,
        "{seen:?}"
    );
    // A session for a server that is gone: redispatched, with the new server's cookie.
    let (status, head, _) = client.send("GET", "/", "Cookie: SERVERID=nope\r\n", &[]);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("set-cookie: serverid="), "{head}");
    assert_eq!(client.connects, 1);
}

#[test]
fn killing_a_backend_under_post_load_loses_no_request() {
    let ([a, mut b, c], bal) = three_checked();
    let port = bal.port;
    let body = lines(8 * 1024, 0);
    let expect = format!("{} {}", body.len(), common::checksum(&body));
    let writer = || {
        let mut client = KeepAlive::new(port);
        (0..800)
            .filter(|_| {
                let (status, _, answer) = client.send("POST", "/write?db=net", "", &body);
                status != 200 || !String::from_utf8_lossy(&answer).ends_with(&expect)
            })
            .count()
    };
    let failed = failures_under_load(writer, || b.kill());
    assert_eq!(failed, 0, "POSTs failed while a server died");
    assert!(a.hits() > 0 && c.hits() > 0);
}

#[test]
fn a_websocket_upgrade_passes_through() {
    let (bal, _) = behind_a_scripted_server();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", bal.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: grafana\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "closed after {head:?}");
        head += &line;
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
    // Frames both ways after the upgrade (a masked text frame "live", echoed).
    for round in 0..3 {
        let frame = [0x81u8, 0x84, 1, 2, 3, 4, b'l' ^ 1, b'i' ^ 2, b'v' ^ 3, b'e' ^ 4];
        s.write_all(&frame).unwrap();
        let mut back = [0u8; 10];
        std::io::Read::read_exact(&mut r, &mut back).unwrap();
        assert_eq!(back, frame, "round {round}");
    }
}

#[test]
fn close_per_request_clients_share_kept_server_connections() {
    let (bal, accepted) = behind_a_scripted_server();
    for i in 0..50 {
        let answer = common::exchange(
            bal.port,
            format!("GET /n{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(
            answer.contains("\r\nConnection: close\r\n") && answer.ends_with("\r\n\r\nhi"),
            "{answer:?}"
        );
    }
    // Two worker threads, each with its pool: a handful of server connections, not fifty.
    let n = accepted.load(Ordering::Relaxed);
    assert!(n <= 4, "{n} server connections for 50 client connections");
    bal.settle();
    assert_eq!(bal.row("s")["stot"], "50");
}
