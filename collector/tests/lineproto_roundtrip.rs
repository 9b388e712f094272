//! Property: any measurement, tag and field string survives our encoding and a real
//! line-protocol parser (InfluxDB's `influxdb-line-protocol`), and numbers keep their type.

use influxdb_line_protocol::{FieldValue as Parsed, parse_lines};
use netpulse_collector::lineproto::{FieldValue, Point, UnsignedMode, encode};
use proptest::prelude::*;

/// Names: anything printable, including the characters line protocol must escape.
/// Line breaks and a trailing backslash cannot be carried in names (lineproto.rs
/// changes them by design and unit-tests that), so names here have neither.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,=\"\\\\_.:/\\-é€]{0,23}[a-zA-Z0-9 ,=\"_.:/\\-é€]"
}

fn field_string() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,=\"\\\\_.:/\\-é€\t]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn strings_survive(m in name(), tk in name(), tv in name(), fk in name(), fv in field_string(), i in any::<i64>(), u in any::<u64>()) {
        prop_assume!(tk != fk);
        let p = Point {
            measurement: m.as_str().into(),
            tags: vec![(tk.as_str().into(), tv.as_str().into())],
            fields: vec![(fk.as_str().into(), FieldValue::Str(fv.clone())), ("n".into(), FieldValue::Int(i)), ("u".into(), FieldValue::UInt(u))],
            timestamp: 1_700_000_000_123_456_789,
        };
        let mut out = vec![];
        prop_assert!(encode(&p, UnsignedMode::Native, &mut out));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = parse_lines(&text).collect();
        prop_assert_eq!(lines.len(), 1);
        let line = lines.into_iter().next().unwrap().map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(line.series.measurement.to_string(), m);
        let tags = line.series.tag_set.unwrap();
        prop_assert_eq!(tags[0].0.to_string(), tk);
        prop_assert_eq!(tags[0].1.to_string(), tv);
        prop_assert_eq!(&line.field_set[0].0.to_string(), &fk);
        match &line.field_set[0].1 { Parsed::String(s) => prop_assert_eq!(s.to_string(), fv), other => prop_assert!(false, "{other:?}") }
        prop_assert_eq!(&line.field_set[1].1, &Parsed::I64(i));
        let want_u = if u <= i64::MAX as u64 { Parsed::I64(u as i64) } else { Parsed::U64(u) };
        prop_assert_eq!(&line.field_set[2].1, &want_u);
        prop_assert_eq!(line.timestamp, Some(1_700_000_000_123_456_789));
    }
}
