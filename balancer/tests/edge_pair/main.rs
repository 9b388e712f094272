//! The balancer pair of deploy/keepalived, for real: two nodes in network namespaces on a bridge,
//! each a netpulse-balancer and keepalived running the shipped unicast node file (addresses,
//! interface and script path put in), clients on the bridge asking through the virtual IP, two
//! HTTP servers and two InfluxDB replicas behind. The master's balancer is SIGKILLed: the address
//! moves to the other node within 3 s, a sticky session keeps its server, a TLS session resumes
//! there (the shared ticket-keys file), and the mirrored writes the dead node acknowledged wait on
//! its disk; then the other node's link goes down and the address moves back, and once the first
//! node is back every acknowledged write is in both replicas. Requests refused while the address still points at the dead balancer are
//! counted and printed (a client that retries within 2 s loses none).

#[path = "../common/mod.rs"]
mod common;
mod lab;

use common::tls::s_client_request_to;
use lab::{Lab, VIP, holder, sh};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// influx-b (down while the writes came) returns: it gets what node b accepted at once; what
/// the dead node a accepted waits on a's disk. The number of those.
fn held_by_the_dead_node(lab: &mut Lab, acked: usize) -> u64 {
    lab.influx[1].restart();
    let start = Instant::now();
    while lab.influx[1].count("edge_write", "v") < (acked - 20) as u64 {
        assert!(start.elapsed() < Duration::from_secs(20), "node b delivers its writes");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    let held = acked as u64 - lab.influx[1].count("edge_write", "v");
    assert_eq!(held, 20, "the writes node a accepted wait on its disk while it is down");
    held
}

/// Waits (30 s) until both replicas hold every acknowledged write.
fn both_replicas_hold(lab: &Lab, acked: usize) {
    let counts = || {
        (
            lab.influx[0].count("edge_write", "v"),
            lab.influx[1].count("edge_write", "v"),
        )
    };
    let start = Instant::now();
    while counts() != (acked as u64, acked as u64) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "acknowledged {acked}: (influx-a, influx-b) {:?}",
            counts()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_virtual_ip_moves_within_3_s_when_the_master_s_balancer_dies_or_its_link_goes_down() {
    let mut lab = Lab::start();
    let dir = lab.dir.clone();
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
    lab.influx[1].stop();
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
    let held_by_a = held_by_the_dead_node(&mut lab, acked);

    // 2. a's balancer returns: b keeps the address (nopreempt). Then b's link goes down: a takes it.
    lab.balancer("a", "balancer-a2");
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
    both_replicas_hold(&lab, acked);
    eprintln!(
        "{acked} writes acknowledged; {held_by_a} of them waited on node a's disk while it was down; all in both replicas once it returned"
    );
}
