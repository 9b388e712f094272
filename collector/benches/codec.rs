//! Hot path per varbind: decode a GETBULK response datagram (as polls do), join the
//! interface table, and encode line protocol. Reports time per varbind.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netpulse_collector::lineproto::{UnsignedMode, encode};
use netpulse_collector::mapping::{Context, table_points};
use netpulse_collector::registry::Registry;
use netpulse_collector::snmp::{Value, decode_community_response};
use std::hint::black_box;

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 128 {
        v.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend(bytes);
    }
    v.extend_from_slice(content);
    v
}

fn uint(tag: u8, x: u64) -> Vec<u8> {
    let mut b: Vec<u8> = x.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
    if b.first().is_none_or(|f| f & 0x80 != 0) {
        b.insert(0, 0);
    }
    tlv(tag, &b)
}

fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut c = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut rest = a >> 7;
        while rest > 0 {
            chunk.insert(0, 0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        c.extend(chunk);
    }
    tlv(0x06, &c)
}

/// A v2c response with 48 rows × the 8 ifXTable HC counters (row-major, as GETBULK).
fn response(rows: u32) -> (Vec<u8>, usize) {
    let mut vbs = vec![];
    let cols = [6u32, 7, 8, 9, 10, 11, 12, 13];
    for r in 1..=rows {
        for c in cols {
            let o = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, c, r];
            let mut vb = oid(&o);
            vb.extend(uint(0x46, 1_000_000_007u64 * u64::from(r * c)));
            vbs.extend(tlv(0x30, &vb));
        }
    }
    let mut pdu = uint(0x02, 12345);
    pdu.extend(uint(0x02, 0));
    pdu.extend(uint(0x02, 0));
    pdu.extend(tlv(0x30, &vbs));
    let mut msg = uint(0x02, 1);
    msg.extend(tlv(0x04, b"public"));
    msg.extend(tlv(0xA2, &pdu));
    (tlv(0x30, &msg), (rows as usize) * cols.len())
}

fn bench(c: &mut Criterion) {
    let (datagram, n) = response(48);
    let registry = Registry::builtin();
    let interfaces = registry.get("interfaces").unwrap();
    let group = &interfaces.tables[0];
    let base = vec![
        ("agent_host".into(), "192.0.2.1".into()),
        ("target".into(), "core-sw1".into()),
    ];
    let mut g = c.benchmark_group("per_varbind");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("decode", |b| {
        b.iter(|| decode_community_response(black_box(&datagram)).unwrap())
    });
    g.bench_function("decode_map_encode", |b| {
        let mut out = Vec::with_capacity(64 * 1024);
        b.iter(|| {
            let vbs = decode_community_response(black_box(&datagram)).unwrap();
            let mut columns = vec![Vec::new(); group.columns.len()];
            for vb in vbs {
                if let Some(ci) = group.columns.iter().position(|c| vb.oid.starts_with(&c.oid)) {
                    let idx = vb.oid.suffix_after(&group.columns[ci].oid).unwrap().to_vec();
                    columns[ci].push((idx, vb.value));
                }
            }
            let pts = table_points(
                group,
                columns,
                &Context {
                    base_tags: &base,
                    timestamp: 1_700_000_000_000_000_000,
                    rates: None,
                },
            );
            out.clear();
            for p in &pts {
                encode(p, UnsignedMode::Native, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
    let vbs = decode_community_response(&datagram).unwrap();
    assert_eq!(vbs.len(), n);
    assert!(matches!(vbs[0].value, Value::Counter64(_)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
