//! Trap datagrams as the receiver takes them: decoded (v1 converted as RFC 3584 says), named,
//! made a point and encoded as line protocol — the whole path after the socket. Any bytes: an
//! error or a line InfluxDB reads, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpulse_collector::lineproto::{UnsignedMode, encode};
use netpulse_collector::snmp::traps::decode_community_notification;
use netpulse_collector::traps::{event, names::Names};
use std::sync::LazyLock;

static NAMES: LazyLock<Names> = LazyLock::new(|| Names::new(&[]).expect("shipped names"));

fuzz_target!(|data: &[u8]| {
    let Ok(r) = decode_community_notification(data, "127.0.0.1:162".parse().unwrap()) else { return };
    let (trap, _) = event::trap_name(&r, &NAMES);
    let p = event::point(&r, &trap, &NAMES, None, 1);
    assert!(p.fields.len() <= event::MAX_FIELDS + 3);
    let mut out = vec![];
    if encode(&p, UnsignedMode::Float, &mut out) {
        assert!(out.ends_with(b"\n") && out.starts_with(b"snmp_trap,"), "{}", String::from_utf8_lossy(&out));
    }
});
