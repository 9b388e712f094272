//! The durable queue's recovery from arbitrary bytes: a segment scan finds only valid records,
//! in order, without overlap and within bounded work; opening a queue folder whose segment and
//! `ack` file hold arbitrary bytes never fails or panics, and every record it then delivers is
//! one the scan found valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpulse_delivery::queue::{DiskQueue, scan_bytes};

fuzz_target!(|data: &[u8]| {
    let s = scan_bytes(data);
    let mut last = None;
    for (at, _) in &s.records {
        assert!(last.is_none_or(|l| *at > l), "records in order");
        last = Some(*at);
    }
    assert!(s.end as usize <= data.len());
    // The first bytes (up to 32) are the ack file, the rest one segment.
    let cut = data.len().min(data.first().map_or(0, |b| (*b % 33) as usize));
    let dir = std::env::temp_dir().join(format!("netpulse-fuzz-queue-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ack"), &data[..cut]).unwrap();
    std::fs::write(dir.join("00000000000000000001.seg"), &data[cut..]).unwrap();
    let (mut q, rec) = DiskQueue::open(&dir, 1 << 20).expect("damage never fails an open");
    let seg = scan_bytes(&data[cut..]);
    assert!(rec.records as usize <= seg.records.len());
    let got = q.peek(u64::MAX, usize::MAX).expect("reads");
    assert_eq!(got.len() as u64, rec.records);
    for r in &got {
        assert!(seg.records.iter().any(|(at, _)| *at == r.at.offset), "only valid records");
    }
});
