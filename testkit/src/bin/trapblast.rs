//! A paced SNMPv2c trap sender for bench/traps.sh: `trapblast ADDR RATE SECONDS` sends RATE
//! linkDown traps a second (each unique: its request id and an ifIndex binding count up) for
//! SECONDS, in 1 ms slices, and prints how many it sent. Bounded in count and time.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        out.extend([0x82, (body.len() >> 8) as u8, body.len() as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn int(v: u32) -> Vec<u8> {
    tlv(0x02, &[0x00, (v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// A trap whose request id and ifIndex are `n`.
fn trap(n: u32) -> Vec<u8> {
    let oid = |b: &[u8]| tlv(0x06, b);
    let vb = |o: Vec<u8>, v: Vec<u8>| tlv(0x30, &[o, v].concat());
    let vbs = [
        vb(oid(&[0x2b, 6, 1, 2, 1, 1, 3, 0]), tlv(0x43, &[0x01, 0x00])),
        vb(
            oid(&[0x2b, 6, 1, 6, 3, 1, 1, 4, 1, 0]),
            oid(&[0x2b, 6, 1, 6, 3, 1, 1, 5, 3]),
        ),
        vb(oid(&[0x2b, 6, 1, 2, 1, 2, 2, 1, 1, 1]), int(n)),
        vb(oid(&[0x2b, 6, 1, 2, 1, 2, 2, 1, 7, 1]), int(1)),
        vb(oid(&[0x2b, 6, 1, 2, 1, 2, 2, 1, 8, 1]), int(2)),
    ]
    .concat();
    let pdu = tlv(0xa7, &[int(n), int(0), int(0), tlv(0x30, &vbs)].concat());
    tlv(0x30, &[int(1), tlv(0x04, b"public"), pdu].concat())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, to, rate, secs] = &args[..] else {
        eprintln!("usage: trapblast ADDR RATE SECONDS");
        std::process::exit(2);
    };
    let (rate, secs): (u64, u64) = (rate.parse().expect("RATE"), secs.parse().expect("SECONDS"));
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let total = rate * secs.min(3600);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // Due by now: rate × elapsed, sent in one burst per millisecond slice.
        let due = (rate * start.elapsed().as_micros() as u64 / 1_000_000).min(total);
        while sent < due {
            let _ = sock.send_to(&trap(sent as u32), to);
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
        if start.elapsed() > Duration::from_secs(secs + 10) {
            break;
        }
    }
    println!("{sent}");
}
