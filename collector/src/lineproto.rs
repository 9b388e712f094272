//! InfluxDB line protocol: the point model and its encoder (escaping per the InfluxDB
//! reference). Hot path: no allocation per point beyond growing the output buffer.

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Int(i64),
    /// Only for values above `i64::MAX` (Counter64); see [`UnsignedMode`].
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(String),
}

/// A tag or field key, or a tag value shared between many points.
pub type Name = Arc<str>;

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub measurement: Name,
    /// Sorted by key (InfluxDB's preferred order); empty values are dropped on encode.
    pub tags: Vec<(Name, Name)>,
    pub fields: Vec<(Name, FieldValue)>,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
}

impl Point {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
    pub fn field(&self, key: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }
}

/// How an unsigned value above `i64::MAX` is written. Never wrapped into a negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsignedMode {
    /// `123u` (InfluxDB 2.x / v2 API, VictoriaMetrics).
    Native,
    /// A float (InfluxDB 1.x has no unsigned type): keeps magnitude, loses low digits.
    Float,
}

/// Appends `p` as one line (with `\n`). Returns false, writing nothing, when the point
/// has no valid field (line protocol cannot express a point without fields), or a measurement
/// that is empty once cleaned or that InfluxDB would read as a comment.
pub fn encode(p: &Point, mode: UnsignedMode, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    // A line starting with `#` is a comment to InfluxDB, and no escape makes it a measurement:
    // the point would vanish without an error (found by fuzzing). Refused here, and module
    // configuration refuses such a name (modules/mod.rs).
    escape(&p.measurement, &MEASUREMENT, out);
    if matches!(out.get(start), None | Some(b'#')) {
        out.truncate(start); // nothing left of the name, or a comment
        return false;
    }
    for (k, v) in &p.tags {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        out.push(b',');
        escape(k, &KEY, out);
        out.push(b'=');
        escape(v, &KEY, out);
    }
    let mut sep = b' ';
    let mut num = itoa::Buffer::new();
    for (k, v) in &p.fields {
        if k.is_empty() || matches!(v, FieldValue::Float(f) if !f.is_finite()) {
            continue;
        }
        out.push(sep);
        sep = b',';
        escape(k, &KEY, out);
        out.push(b'=');
        match v {
            FieldValue::Int(i) => {
                out.extend_from_slice(num.format(*i).as_bytes());
                out.push(b'i');
            }
            FieldValue::UInt(u) => match (mode, i64::try_from(*u)) {
                (_, Ok(i)) => {
                    out.extend_from_slice(num.format(i).as_bytes());
                    out.push(b'i');
                }
                (UnsignedMode::Native, Err(_)) => {
                    out.extend_from_slice(num.format(*u).as_bytes());
                    out.push(b'u');
                }
                (UnsignedMode::Float, Err(_)) => write_float(*u as f64, out),
            },
            FieldValue::Float(f) => write_float(*f, out),
            FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            FieldValue::Str(s) => {
                out.push(b'"');
                for &c in s.as_bytes() {
                    if c == b'"' || c == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                out.push(b'"');
            }
        }
    }
    if sep == b' ' {
        out.truncate(start);
        return false;
    }
    out.push(b' ');
    out.extend_from_slice(num.format(p.timestamp).as_bytes());
    out.push(b'\n');
    true
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{f}");
}

/// Escapes `special` bytes and backslashes with a backslash. Two things line protocol
/// cannot carry in a name are changed, by design: line breaks and tabs become (escaped)
/// spaces and other control bytes (the NUL padding some agents put in sysName or ifDescr) are
/// dropped — either made InfluxDB's parser reject the whole line (found by fuzzing,
/// fuzz/fuzz_targets/lineproto_roundtrip.rs) — and trailing backslashes are dropped (InfluxDB
/// rejects a name ending in one).
/// Bytes that need a backslash (or, for line breaks, a replacement) in a tag key, tag value
/// or field key. A table, because this scan runs over every name of every point.
const KEY: [bool; 256] = special(b",= \\\n\r\t");
/// The same for a measurement, where `=` is literal.
const MEASUREMENT: [bool; 256] = special(b", \\\n\r\t");

/// `bytes`, and every control byte (changed or dropped by [`escape`]).
const fn special(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[0x7f] = true;
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

fn escape(s: &str, special: &[bool; 256], out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    // Fast path: nearly every name is plain and copies through as it is.
    if bytes.last() != Some(&b'\\') && !bytes.iter().any(|&c| special[c as usize]) {
        out.extend_from_slice(bytes);
        return;
    }
    // Cleaned first, trimmed after: a backslash may end the name only once control bytes are
    // gone (found by fuzzing).
    let cleaned: Vec<u8> = bytes
        .iter()
        .filter_map(|&c| match c {
            b'\n' | b'\r' | b'\t' => Some(b' '),
            0..0x20 | 0x7f => None,
            c => Some(c),
        })
        .collect();
    let keep = cleaned.iter().rposition(|&c| c != b'\\').map_or(0, |i| i + 1);
    for &c in &cleaned[..keep] {
        if special[c as usize] {
            out.push(b'\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(fields: Vec<(&str, FieldValue)>) -> Point {
        Point {
            measurement: "interface".into(),
            tags: vec![
                ("ifDescr".into(), "Gi 0/1,uplink=core".into()),
                ("ifAlias".into(), "".into()),
                ("target".into(), "sw1".into()),
            ],
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            timestamp: 1_700_000_000_000_000_000,
        }
    }

    fn line(p: &Point, mode: UnsignedMode) -> String {
        let mut out = vec![];
        encode(p, mode, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_and_types() {
        let p = point(vec![
            ("ifHCInOctets", FieldValue::Int(42)),
            ("up", FieldValue::Bool(true)),
            ("load", FieldValue::Float(0.5)),
            ("descr", FieldValue::Str("say \"hi\" \\o/".into())),
        ]);
        assert_eq!(
            line(&p, UnsignedMode::Native),
            "interface,ifDescr=Gi\\ 0/1\\,uplink\\=core,target=sw1 ifHCInOctets=42i,up=true,load=0.5,descr=\"say \\\"hi\\\" \\\\o/\" 1700000000000000000\n"
        );
    }

    #[test]
    fn counter64_above_i64_is_never_wrapped() {
        let p = point(vec![("c", FieldValue::UInt(u64::MAX)), ("small", FieldValue::UInt(7))]);
        assert!(line(&p, UnsignedMode::Native).contains(" c=18446744073709551615u,small=7i "));
        assert!(line(&p, UnsignedMode::Float).contains(" c=18446744073709552000,small=7i "));
    }

    #[test]
    fn tabs_in_names_become_escaped_spaces() {
        let mut p = point(vec![("v", FieldValue::Int(1))]);
        p.tags = vec![("ifAlias".into(), "to\tcore".into())];
        p.measurement = "if\tstats".into();
        let text = line(&p, UnsignedMode::Native);
        assert!(text.starts_with("if\\ stats,ifAlias=to\\ core v=1i"), "{text:?}");
        let parsed: Vec<_> = influxdb_line_protocol::parse_lines(&text).collect();
        assert!(parsed[0].is_ok(), "{text:?}");
    }

    #[test]
    fn a_leading_hash_is_not_a_comment() {
        let mut p = point(vec![("v", FieldValue::Int(1))]);
        p.measurement = "#pu".into();
        let mut out = vec![];
        assert!(
            !encode(&p, UnsignedMode::Native, &mut out),
            "refused, not sent to vanish"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn other_control_bytes_in_names_are_dropped() {
        let mut p = point(vec![("v", FieldValue::Int(1))]);
        p.tags = vec![("sysName".into(), "sw1\0\0\u{7f}\u{1b}".into())];
        assert!(line(&p, UnsignedMode::Native).starts_with("interface,sysName=sw1 v=1i"));
    }

    #[test]
    fn names_cannot_end_in_a_backslash() {
        let mut p = point(vec![("v", FieldValue::Int(1))]);
        p.measurement = "C:\\".into();
        p.tags = vec![("path".into(), "a\\b\\".into())];
        assert_eq!(
            line(&p, UnsignedMode::Native),
            "C:,path=a\\\\b v=1i 1700000000000000000\n"
        );
    }

    #[test]
    fn no_fields_no_line() {
        let p = point(vec![("nan", FieldValue::Float(f64::NAN))]);
        let mut out = b"keep".to_vec();
        assert!(!encode(&p, UnsignedMode::Native, &mut out));
        assert_eq!(out, b"keep");
    }
}
