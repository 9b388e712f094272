//! Line protocol: any point netpulse encodes is parsed back to the same measurement, tags and
//! fields by InfluxDB's own parser (`influxdb-line-protocol`), numbers keeping their type.
//! The fuzz input is cut into names and values; what the encoder refuses (empty names) is fine.
#![no_main]

use influxdb_line_protocol::{FieldValue as Parsed, parse_lines};
use libfuzzer_sys::fuzz_target;
use netpulse_collector::lineproto::{FieldValue, Point, UnsignedMode, encode};

/// Names cannot carry line breaks or end in a backslash (lineproto.rs changes those by design).
fn name(s: &str) -> Option<String> {
    let n: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    (!n.is_empty() && !n.ends_with('\\')).then_some(n)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts: Vec<&str> = text.split('\u{1}').collect();
    let [m, tk, tv, fk, fv, nums @ ..] = parts.as_slice() else { return };
    let (Some(m), Some(tk), Some(tv), Some(fk)) = (name(m), name(tk), name(tv), name(fk)) else { return };
    if tk == fk || fk == "n" || fk == "u" {
        return;
    }
    let i = nums.first().and_then(|n| n.parse::<i64>().ok()).unwrap_or(-7);
    let u = nums.get(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(u64::MAX);
    let fv: String = fv.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let p = Point {
        measurement: m.as_str().into(),
        tags: vec![(tk.as_str().into(), tv.as_str().into())],
        fields: vec![
            (fk.as_str().into(), FieldValue::Str(fv.clone())),
            ("n".into(), FieldValue::Int(i)),
            ("u".into(), FieldValue::UInt(u)),
        ],
        timestamp: 1_700_000_000_123_456_789,
    };
    let mut out = vec![];
    if !encode(&p, UnsignedMode::Native, &mut out) {
        return;
    }
    let text = String::from_utf8(out).expect("line protocol is UTF-8");
    let lines: Vec<_> = parse_lines(&text).collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    let line = lines.into_iter().next().unwrap().unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(line.series.measurement.to_string(), m, "{text:?}");
    let tags = line.series.tag_set.expect("a tag");
    assert_eq!((tags[0].0.to_string(), tags[0].1.to_string()), (tk, tv), "{text:?}");
    let field = |k: &str| line.field_set.iter().find(|(n, _)| n.to_string() == k).map(|(_, v)| v.clone());
    match field(&fk) {
        Some(Parsed::String(s)) => assert_eq!(s.to_string(), fv, "{text:?}"),
        other => panic!("{other:?}: {text:?}"),
    }
    assert!(matches!(field("n"), Some(Parsed::I64(x)) if x == i), "{text:?}");
    assert!(matches!(field("u"), Some(Parsed::U64(x)) if x == u), "{text:?}");
    assert_eq!(line.timestamp, Some(1_700_000_000_123_456_789));
});
