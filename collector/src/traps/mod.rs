//! SNMP traps and informs as events (docs/traps.md): their names (`names`), the point one
//! becomes (`event`), what is refused before an inform is answered (`gate`), and their
//! metrics. The receiver that wires these to the daemon's queues is `daemon/traps.rs`; the
//! wire side is `snmp/traps.rs`.

pub mod event;
pub mod gate;
pub mod metrics;
pub mod names;

/// The receiver's engine id when `[traps] engine_id` is unset: stable for a replica id, so
/// senders' cached engine ids stay valid across restarts. RFC 3411 format: an enterprise
/// number with the high bit set (net-snmp's 8072, as the SPEC's example), format 5 (octets),
/// then 8 octets derived from the replica id.
pub fn default_engine_id(replica: &str) -> Vec<u8> {
    // The cluster's fixed hash: the same in every build and on every machine.
    let h = crate::cluster::assign::hash(replica.as_bytes());
    let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x05];
    id.extend_from_slice(&h.to_be_bytes());
    id
}

/// The engine's boot count: minutes since 2020, so it grows across restarts without a state
/// file (RFC 3414 wants it never to go back; senders cache it).
pub fn engine_boots() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs.saturating_sub(1_577_836_800) / 60)
        .unwrap_or(i32::MAX as u32)
        .clamp(1, i32::MAX as u32 - 1)
}
