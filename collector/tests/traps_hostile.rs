//! Hostile input to the trap receiver: garbage, every truncation of a valid trap, lying BER
//! lengths, a datagram of thousands of bindings, one sender flooding. Each is refused or
//! bounded; none stops the receiver — a valid trap after them is written.

mod harness;

use harness::{Daemon, Influxd, free_udp_port, tempdir};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

fn int(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = (0..7)
        .take_while(|&i| (b[i] == 0 && b[i + 1] < 0x80) || (b[i] == 0xff && b[i + 1] >= 0x80))
        .count();
    tlv(0x02, &b[skip..])
}

fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut groups = vec![(a & 0x7f) as u8];
        let mut rest = a >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    tlv(0x06, &body)
}

/// A v2c SNMPv2-Trap with `extra` bindings (`1.3.6.1.4.1.99.N = INTEGER N`).
fn v2c_trap(community: &str, trap: &[u32], extra: usize) -> Vec<u8> {
    let mut vbs = tlv(0x30, &[oid(&[1, 3, 6, 1, 2, 1, 1, 3, 0]), tlv(0x43, &[0x10])].concat());
    vbs.extend(tlv(
        0x30,
        &[oid(&[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]), oid(trap)].concat(),
    ));
    for n in 0..extra {
        vbs.extend(tlv(
            0x30,
            &[oid(&[1, 3, 6, 1, 4, 1, 99, n as u32]), int(n as i64)].concat(),
        ));
    }
    let pdu = tlv(0xa7, &[int(4711), int(0), int(0), tlv(0x30, &vbs)].concat());
    tlv(0x30, &[int(1), tlv(0x04, community.as_bytes()), pdu].concat())
}

#[test]
fn garbage_truncation_floods_and_giants_never_stop_the_receiver() {
    let db = Influxd::start();
    let dir = tempdir("traps-hostile");
    let port = free_udp_port();
    let file = dir.join("collector.toml");
    std::fs::write(
        &file,
        format!(
            "[traps]\nlisten = [\"127.0.0.1:{port}\"]\nrate_limit = {{ per_source = 20, burst = 40 }}\n\
             [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\n\
             queue_dir = \"{}\"\nflush_interval = \"100ms\"\n",
            db.port,
            dir.join("q").display()
        ),
    )
    .unwrap();
    let mut d = Daemon::start(&file, &[]);
    let to = format!("127.0.0.1:{port}");
    // Each hostile kind from its own source address, so the flood's bucket is its own.
    let from = |last: u8| UdpSocket::bind(format!("127.0.0.{last}:0")).unwrap();

    let junk = from(11);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for n in 0..500usize {
        let len = 1 + n % 1400;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        junk.send_to(&bytes, &to).unwrap();
    }
    let valid = v2c_trap("public", &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3], 3);
    let cut = from(12);
    for end in 0..valid.len() {
        cut.send_to(&valid[..end], &to).unwrap();
    }
    // Lengths that lie: a SEQUENCE claiming 2 GB, an OID claiming more than the datagram.
    let liar = from(13);
    liar.send_to(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01], &to)
        .unwrap();
    let mut long_oid = valid.clone();
    let at = long_oid.iter().position(|&b| b == 0x06).unwrap();
    long_oid[at + 1] = 0x7f;
    liar.send_to(&long_oid, &to).unwrap();
    // The most bindings one datagram holds (about 4,000): written with the bound on fields.
    let giant = v2c_trap("public", &[1, 3, 6, 1, 4, 1, 99, 0, 1], 4000);
    assert!(giant.len() < 65_000, "{}", giant.len());
    from(14).send_to(&giant, &to).unwrap();
    // The giant (64 KB of the socket's buffer) taken before the flood arrives.
    std::thread::sleep(Duration::from_millis(300));
    // One sender flooding: its bucket (burst 40) refuses the rest, counted. 2,000 traps/s in
    // slices of 20 — a flood for the bucket (20/s), not for the socket's buffer, which a loaded
    // CI machine could overflow with 200 datagrams at once (then neither written nor counted).
    let flood = from(15);
    for slice in 0..10 {
        for _ in 0..20 {
            flood
                .send_to(&v2c_trap("public", &[1, 3, 6, 1, 6, 3, 1, 1, 5, 5], 0), &to)
                .unwrap();
        }
        if slice < 9 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // Still receiving: a valid trap afterwards is written.
    let ok = v2c_trap("public", &[1, 3, 6, 1, 6, 3, 1, 1, 5, 4], 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        from(16).send_to(&ok, &to).unwrap();
        if db.count("snmp_trap", "uptime") > 0
            && db.query("SELECT count(uptime) FROM snmp_trap WHERE \"trap\" = 'linkUp'")["results"][0]["series"]
                .is_array()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the receiver stopped\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(300));
    }
    let giant = db.query("SELECT varbinds_dropped FROM snmp_trap WHERE \"trap\" = '1.3.6.1.4.1.99.0.1'");
    assert_eq!(
        giant["results"][0]["series"][0]["values"][0][1].as_i64(),
        Some(4000 - 256),
        "the giant is written with 256 bindings and the rest counted: {giant}"
    );
    let written = db.query("SELECT count(uptime) FROM snmp_trap WHERE \"trap\" = 'authenticationFailure'");
    let written = written["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0);
    let limited = d.metric("netpulse_traps_dropped_total{reason=\"rate_limited\"}");
    assert!(
        (40..=60).contains(&written),
        "the flood's burst and refill are written: {written}"
    );
    assert_eq!(
        written as f64 + limited,
        200.0,
        "every flooded trap is written or counted"
    );
    // What could not be decoded is counted: the truncations (one per byte of the valid trap,
    // the few that still parse aside), the lying lengths, most of the random junk.
    let malformed = d.metric("netpulse_traps_dropped_total{reason=\"malformed\"}");
    assert!(
        malformed >= (valid.len() - 5 + 2) as f64 && malformed <= (500 + valid.len() + 2) as f64,
        "malformed datagrams counted: {malformed}"
    );
    assert!(d.child.try_wait().unwrap().is_none(), "the collector is alive");
}

/// The decoder the receiver uses, without a socket: a valid trap decodes to its notification
/// and bindings; every truncation of it is an error, never a panic.
#[test]
fn the_decoder_takes_a_trap_and_refuses_every_truncation() {
    use netpulse_collector::snmp::traps::decode_community_notification;
    let src = "127.0.0.1:9".parse().unwrap();
    let valid = v2c_trap("public", &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3], 3);
    let r = decode_community_notification(&valid, src).unwrap();
    assert_eq!(
        (r.version, r.inform, r.uptime, r.varbinds.len()),
        ("2c", false, 0x10, 3)
    );
    assert_eq!(r.trap_oid.unwrap().arcs(), [1, 3, 6, 1, 6, 3, 1, 1, 5, 3]);
    for end in 0..valid.len() {
        assert!(
            decode_community_notification(&valid[..end], src).is_err(),
            "{end} bytes"
        );
    }
}
