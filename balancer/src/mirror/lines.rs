//! What a mirrored write's body becomes before it is queued: every line parsed as line
//! protocol (InfluxDB's own parser; the first bad line is named in the `400`), and lines
//! without a timestamp given the time of arrival in the write's precision, so every server
//! stores the same point and a write replayed after an outage keeps its time.

use influxdb_line_protocol::parse_lines;

/// A body that is not line protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse line {line}: {why}")]
pub struct Invalid {
    pub line: usize,
    pub why: String,
}

/// Nanoseconds per unit of an InfluxDB `precision` (v1 and v2 spellings; default ns).
pub fn unit_ns(precision: Option<&str>) -> Option<i64> {
    Some(match precision.unwrap_or("ns") {
        "" | "n" | "ns" => 1,
        "u" | "us" | "µ" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// The body to queue and its points: each line checked, timestamps added where missing
/// (`now` in the precision's unit). Blank lines and comments are left out.
pub fn stamp(body: &[u8], now: i64) -> Result<(Vec<u8>, u32), Invalid> {
    let text = std::str::from_utf8(body).map_err(|e| Invalid {
        line: body[..e.valid_up_to()].iter().filter(|&&c| c == b'\n').count() + 1,
        why: "not UTF-8".into(),
    })?;
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    let mut points = 0u32;
    let mut stamp = itoa::Buffer::new();
    let now = stamp.format(now).as_bytes().to_vec();
    for (i, line) in text.split('\n').enumerate() {
        let trimmed = line.trim_end_matches('\r');
        let content = trimmed.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut parsed = parse_lines(trimmed);
        let has_time = match (parsed.next(), parsed.next()) {
            (Some(Ok(l)), None) => l.timestamp.is_some(),
            (Some(Err(e)), _) => {
                return Err(Invalid {
                    line: i + 1,
                    why: e.to_string(),
                });
            }
            _ => {
                return Err(Invalid {
                    line: i + 1,
                    why: "not one point".into(),
                });
            }
        };
        out.extend_from_slice(trimmed.as_bytes());
        if !has_time {
            out.push(b' ');
            out.extend_from_slice(&now);
        }
        out.push(b'\n');
        points += 1;
    }
    Ok((out, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_time_get_the_arrival_time() {
        let (out, n) = stamp(b"cpu,host=a v=1 17\n\n# note\nmem v=2i\r\n", 99).unwrap();
        assert_eq!(out, b"cpu,host=a v=1 17\nmem v=2i 99\n");
        assert_eq!(n, 2);
    }

    #[test]
    fn the_first_bad_line_is_named() {
        let e = stamp(b"cpu v=1\ncpu v=\n", 1).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(stamp(b"a v=1\n\xff", 1).unwrap_err().line, 2);
    }

    #[test]
    fn precisions() {
        assert_eq!(unit_ns(None), Some(1));
        assert_eq!(unit_ns(Some("s")), Some(1_000_000_000));
        assert_eq!(unit_ns(Some("ms")), Some(1_000_000));
        assert_eq!(unit_ns(Some("fortnight")), None);
    }
}
