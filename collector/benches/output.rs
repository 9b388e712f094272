//! Output hot paths: line-protocol encode + gzip (points/s on one core), and the durable
//! queue's append + acknowledge with group commit, plus what an fsync per record costs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netpulse_collector::lineproto::{FieldValue, Name, Point, UnsignedMode, encode};
use netpulse_delivery::gzip::gzip;
use netpulse_delivery::queue::DiskQueue;
use std::hint::black_box;
use std::io::Write;

/// Interface points as the `interfaces` module makes them (6 tags, 22 fields).
fn interface_points(n: usize) -> Vec<Point> {
    let fields: Vec<Name> = [
        "ifHCInOctets",
        "ifHCOutOctets",
        "ifHCInUcastPkts",
        "ifHCOutUcastPkts",
        "ifHCInMulticastPkts",
        "ifHCOutMulticastPkts",
        "ifHCInBroadcastPkts",
        "ifHCOutBroadcastPkts",
        "ifInOctets",
        "ifOutOctets",
        "ifInErrors",
        "ifOutErrors",
        "ifInDiscards",
        "ifOutDiscards",
        "ifInUnknownProtos",
        "ifOperStatus",
        "ifAdminStatus",
        "ifSpeed",
        "ifHighSpeed",
        "ifMtu",
        "ifType",
        "ifLastChange",
    ]
    .iter()
    .map(|f| Name::from(*f))
    .collect();
    (0..n)
        .map(|i| Point {
            measurement: "interface".into(),
            tags: vec![
                ("agent_host".into(), "192.0.2.1".into()),
                ("ifDescr".into(), format!("GigabitEthernet1/0/{}", i % 48).into()),
                ("ifIndex".into(), (i % 48).to_string().into()),
                ("ifName".into(), format!("Gi1/0/{}", i % 48).into()),
                ("site".into(), "fra1".into()),
                ("target".into(), format!("sw{}", i / 48).into()),
            ],
            fields: fields
                .iter()
                .enumerate()
                .map(|(k, f)| (f.clone(), FieldValue::Int((i * 7919 + k * 104_729) as i64)))
                .collect(),
            timestamp: 1_700_000_000_000_000_000 + i as i64,
        })
        .collect()
}

/// Small points (a `netpulse_poll` self point: 4 tags, 3 fields, ~150 bytes).
fn small_points(n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            measurement: "netpulse_poll".into(),
            tags: vec![
                ("agent_host".into(), "192.0.2.1".into()),
                ("module".into(), "interfaces".into()),
                ("site".into(), "fra1".into()),
                ("target".into(), format!("sw{i}").into()),
            ],
            fields: vec![
                ("duration_ms".into(), FieldValue::Float(12.345)),
                ("varbinds".into(), FieldValue::Int(1056)),
                ("ok".into(), FieldValue::Bool(true)),
            ],
            timestamp: 1_700_000_000_000_000_000 + i as i64,
        })
        .collect()
}

/// What a bench does with the encoded batch (its result keeps the work from being optimised out).
type Compress<'a> = &'a dyn Fn(&[u8]) -> usize;

fn encode_gzip(c: &mut Criterion) {
    let pts = interface_points(5000);
    let small = small_points(5000);
    let mut g = c.benchmark_group("output");
    // Encodes a set into `out` (cleared first), as the poller does before queueing.
    let encode_all = |set: &[Point], out: &mut Vec<u8>| {
        out.clear();
        for p in set {
            encode(p, UnsignedMode::Native, out);
        }
    };
    let avg = |set: &[Point]| {
        let mut b = vec![];
        encode_all(set, &mut b);
        b.len() / set.len()
    };
    eprintln!(
        "interface point: {} bytes of line protocol on average; small point: {}",
        avg(&pts),
        avg(&small)
    );
    g.throughput(Throughput::Elements(pts.len() as u64));
    // What the writer used before igzip: zlib level 1 (zlib-rs), for the ratio.
    let zlib = |out: &[u8]| {
        let mut z = flate2::write::GzEncoder::new(Vec::with_capacity(out.len() / 4), flate2::Compression::fast());
        z.write_all(out).unwrap();
        z.finish().unwrap().len()
    };
    let compressors: [(&str, &[Point], Compress); 4] = [
        ("encode_5000_points", &pts, &|out| out.len()),
        ("encode_gzip_5000_interface_points", &pts, &|out| gzip(out).len()),
        ("encode_gzip_5000_small_points", &small, &|out| gzip(out).len()),
        ("encode_zlib_5000_interface_points", &pts, &zlib),
    ];
    for (name, set, compress) in compressors {
        g.bench_function(name, |b| {
            let mut out = Vec::with_capacity(4 << 20);
            b.iter(|| {
                encode_all(set, &mut out);
                black_box(compress(&out))
            })
        });
    }
    g.finish();
}

fn queue(c: &mut Criterion) {
    let pts = interface_points(100);
    let mut record = Vec::new();
    for p in &pts {
        encode(p, UnsignedMode::Native, &mut record);
    }
    let dir = std::env::temp_dir().join(format!("np-bench-queue-{}", std::process::id()));
    let mut g = c.benchmark_group("queue");
    // 100 records of 100 points, one fsync for the lot (group commit), then peek + ack.
    g.throughput(Throughput::Elements(100 * 100));
    g.bench_function("append_sync_ack_10000_points_group_commit", |b| {
        let _ = std::fs::remove_dir_all(&dir);
        let (mut q, _) = DiskQueue::open(&dir, 1 << 30).unwrap();
        b.iter(|| {
            for _ in 0..100 {
                q.append(&record, 100).unwrap();
            }
            q.sync().unwrap();
            let recs = q.peek(u64::MAX, usize::MAX).unwrap();
            q.ack(recs.last().unwrap().next, 10_000).unwrap();
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("append_fsync_each_100_points", |b| {
        let _ = std::fs::remove_dir_all(&dir);
        let (mut q, _) = DiskQueue::open(&dir, 1 << 30).unwrap();
        b.iter(|| {
            q.append(&record, 100).unwrap();
            q.sync().unwrap();
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, encode_gzip, queue);
criterion_main!(benches);
