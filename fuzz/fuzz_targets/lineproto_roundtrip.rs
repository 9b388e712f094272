//! Line protocol: any point netpulse encodes is parsed back to the same measurement, tags and
//! fields by InfluxDB's own parser (`influxdb-line-protocol`), numbers keeping their type.
//! The fuzz input is cut into names and values; what the encoder refuses (empty names) is fine.
#![no_main]

use influxdb_line_protocol::{FieldValue as Parsed, parse_lines};
use libfuzzer_sys::fuzz_target;
use netpulse_collector::lineproto::{FieldValue, Point, UnsignedMode, encode};

/// A name as given and as it must come back (lineproto.rs changes names by design: line
/// breaks and tabs become spaces, other control bytes go, trailing backslashes go); `None`
/// when nothing would be left.
fn name(s: &str) -> Option<(String, String)> {
    let out: String = s
        .chars()
        .map(|c| if matches!(c, '\n' | '\r' | '\t') { ' ' } else { c })
        .filter(|c| !c.is_ascii_control())
        .collect();
    let out = out.trim_end_matches('\\').to_string();
    (!out.is_empty()).then(|| (s.to_string(), out))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parts: Vec<&str> = text.split('\u{1}').collect();
    let [m, tk, tv, fk, fv, nums @ ..] = parts.as_slice() else { return };
    let (Some((m, m_out)), Some((tk, tk_out)), Some((tv, tv_out)), Some((fk, fk_out))) =
        (name(m), name(tk), name(tv), name(fk))
    else {
        return;
    };
    if tk_out == fk_out || fk_out == "n" || fk_out == "u" {
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
        assert!(m_out.starts_with('#'), "only a comment-like measurement is refused");
        return;
    }
    let text = String::from_utf8(out).expect("line protocol is UTF-8");
    let lines: Vec<_> = parse_lines(&text).collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    let line = lines.into_iter().next().unwrap().unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(line.series.measurement.to_string(), m_out, "{text:?}");
    let tags = line.series.tag_set.expect("a tag");
    assert_eq!((tags[0].0.to_string(), tags[0].1.to_string()), (tk_out, tv_out), "{text:?}");
    let field = |k: &str| line.field_set.iter().find(|(n, _)| n.to_string() == k).map(|(_, v)| v.clone());
    match field(&fk_out) {
        Some(Parsed::String(s)) => assert_eq!(s.to_string(), fv, "{text:?}"),
        other => panic!("{other:?}: {text:?}"),
    }
    assert!(matches!(field("n"), Some(Parsed::I64(x)) if x == i), "{text:?}");
    // Counter64 values that fit an i64 go as integers (lineproto.rs: UInt only above i64::MAX).
    let want_u = if u <= i64::MAX as u64 { Parsed::I64(u as i64) } else { Parsed::U64(u) };
    assert_eq!(field("u"), Some(want_u), "{text:?}");
    assert_eq!(line.timestamp, Some(1_700_000_000_123_456_789));
});
