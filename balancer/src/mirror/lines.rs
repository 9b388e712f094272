//! What a mirrored write's body becomes before it is queued: every line checked as line
//! protocol, and lines without a timestamp given the time of arrival in the write's precision,
//! so every server stores the same point and a write replayed after an outage keeps its time.
//!
//! InfluxDB's own parser (`influxdb-line-protocol`, a port of the Go one) decides; it costs a
//! third of the balancer's CPU on a write, so a byte scanner takes the common shape first
//! (plain names, numbers, booleans, strings without escapes, an integer timestamp) and hands
//! anything else, from that line on, to the parser. The scanner only ever accepts lines the
//! parser accepts (a differential test holds it to that).

use influxdb_line_protocol::{parse_lines, split_lines};

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

/// Appends `body`'s lines to `out`, each checked, a timestamp added where missing (`now` in the
/// precision's unit); blank lines and comments are left out. Returns the points.
pub fn stamp(body: &[u8], now: i64, out: &mut Vec<u8>) -> Result<u32, Invalid> {
    let text = std::str::from_utf8(body).map_err(|e| Invalid {
        line: lines_before(&body[..e.valid_up_to()]) + 1,
        why: "not UTF-8".into(),
    })?;
    let mut time = itoa::Buffer::new();
    let now = time.format(now).as_bytes();
    let mut points = 0u32;
    let mut at = 0;
    while at < body.len() {
        let end = memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i);
        let line = body[at..end].strip_suffix(b"\r").unwrap_or(&body[at..end]);
        match fast(line) {
            Shape::Skip => {}
            Shape::Point { timed } => {
                emit(out, line, timed, now);
                points += 1;
            }
            Shape::Unsure => return slow(text, at, now, out, points),
        }
        at = end + 1;
    }
    Ok(points)
}

/// One point as queued: the line, the arrival time when it had none, a newline.
fn emit(out: &mut Vec<u8>, line: &[u8], timed: bool, now: &[u8]) {
    out.extend_from_slice(line);
    if !timed {
        out.push(b' ');
        out.extend_from_slice(now);
    }
    out.push(b'\n');
}

fn lines_before(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn memchr(c: u8, b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// InfluxDB's parser from byte `from` on (lines split as it splits them: a quoted string may
/// hold a newline).
fn slow(text: &str, from: usize, now: &[u8], out: &mut Vec<u8>, mut points: u32) -> Result<u32, Invalid> {
    let base = text.as_ptr() as usize;
    for line in split_lines(&text[from..]) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let number = || lines_before(&text.as_bytes()[..line.as_ptr() as usize - base]) + 1;
        let mut parsed = parse_lines(line);
        let timed = match (parsed.next(), parsed.next()) {
            (None, _) => continue, // blank or comment
            (Some(Ok(l)), None) => {
                // The parser reads 1e999 as infinity; InfluxDB refuses it (and NaN).
                let finite = (l.field_set.iter())
                    .all(|(_, v)| !matches!(v, influxdb_line_protocol::FieldValue::F64(f) if !f.is_finite()));
                if !finite {
                    return Err(Invalid {
                        line: number(),
                        why: "invalid float: out of range".into(),
                    });
                }
                l.timestamp.is_some()
            }
            (Some(Err(e)), _) => {
                return Err(Invalid {
                    line: number(),
                    why: e.to_string(),
                });
            }
            (Some(Ok(_)), Some(_)) => {
                return Err(Invalid {
                    line: number(),
                    why: "not one point".into(),
                });
            }
        };
        // The point without the leading blanks or comment lines the parser skipped.
        emit(out, skip_leading(line).as_bytes(), timed, now);
        points += 1;
    }
    Ok(points)
}

/// What the parser skips before a point: blanks, and comment lines.
fn skip_leading(mut s: &str) -> &str {
    loop {
        s = s.trim_start_matches([' ', '\t', '\n']);
        if s.starts_with('#') {
            s = s.find('\n').map_or("", |i| &s[i..]);
        } else {
            return s;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// Blank or a comment.
    Skip,
    Point {
        timed: bool,
    },
    /// Not the common shape: the parser decides.
    Unsure,
}

/// The common shape of a line, scanned once: `measurement(,key=value)* field=value(,…)*[ ts]`,
/// single spaces, no escapes, no tabs or NULs, no quotes outside string values.
fn fast(line: &[u8]) -> Shape {
    let Some(first) = line.iter().position(|&c| c != b' ' && c != b'\t') else {
        return Shape::Skip;
    };
    match line[first] {
        // A quote or a backslash in a comment can change where the parser's lines end: it decides.
        b'#' if line.iter().any(|&c| c == b'"' || c == b'\\') => return Shape::Unsure,
        b'#' => return Shape::Skip,
        // Leading blanks before a point: rare; the parser's rules.
        _ if first > 0 => return Shape::Unsure,
        _ => {}
    }
    let mut s = Scan { b: line, i: 0 };
    if !s.run(b" ,", b"\t\\\0") {
        return Shape::Unsure;
    }
    while s.eat(b',') {
        if !(s.run(b"=", b" ,\t\\\0\"") && s.eat(b'=') && s.run(b" ,", b"\t\\\0=\"")) {
            return Shape::Unsure;
        }
    }
    if !s.eat(b' ') {
        return Shape::Unsure;
    }
    loop {
        if !(s.run(b"=", b" ,\t\\\0\"") && s.eat(b'=') && s.value()) {
            return Shape::Unsure;
        }
        if !s.eat(b',') {
            break;
        }
    }
    match s.peek() {
        None => Shape::Point { timed: false },
        Some(b' ') => {
            s.i += 1;
            let ok = std::str::from_utf8(&line[s.i..]).is_ok_and(|t| int_text(t, true) && t.parse::<i64>().is_ok());
            if ok {
                Shape::Point { timed: true }
            } else {
                Shape::Unsure
            }
        }
        Some(_) => Shape::Unsure,
    }
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    /// A non-empty run of bytes up to one of `ends` (or the end of the line); false on any
    /// byte of `unsure`.
    fn run(&mut self, ends: &[u8], unsure: &[u8]) -> bool {
        let from = self.i;
        while let Some(c) = self.peek() {
            if ends.contains(&c) {
                break;
            }
            if unsure.contains(&c) {
                return false;
            }
            self.i += 1;
        }
        self.i > from
    }

    /// A field value: integer `-?\d+i`, unsigned `\d+u`, float `-?\d+(\.\d+)?([eE][+-]?\d+)?`,
    /// one of InfluxDB's boolean words, or a string without backslashes.
    fn value(&mut self) -> bool {
        let from = self.i;
        if self.eat(b'"') {
            while let Some(c) = self.peek() {
                self.i += 1;
                match c {
                    b'"' => return true,
                    b'\\' => return false,
                    _ => {}
                }
            }
            return false;
        }
        let end = (self.b[from..].iter())
            .position(|&c| c == b',' || c == b' ')
            .map_or(self.b.len(), |n| from + n);
        self.i = end;
        let Ok(text) = std::str::from_utf8(&self.b[from..end]) else {
            return false;
        };
        if let Some(n) = text.strip_suffix('i') {
            return int_text(n, true) && n.parse::<i64>().is_ok();
        }
        if let Some(n) = text.strip_suffix('u') {
            return int_text(n, false) && n.parse::<u64>().is_ok();
        }
        if matches!(
            text,
            "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
        ) {
            return true;
        }
        float_text(text)
    }
}

fn int_text(n: &str, signed: bool) -> bool {
    let d = if signed { n.strip_prefix('-').unwrap_or(n) } else { n };
    !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())
}

fn float_text(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let shape =
        digits(int) && frac.is_none_or(digits) && exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    // Only a large exponent or a very long number can leave f64's range (1e999): the parser,
    // which refuses it, decides those.
    shape && ((exp.is_none() && int.len() < 300) || t.parse::<f64>().is_ok_and(f64::is_finite))
}

#[cfg(test)]
mod tests;
