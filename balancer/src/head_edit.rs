//! Editing raw HTTP/1 header bytes for the express lane, which forwards requests and
//! responses as bytes: header lines dropped by name, lines added before the blank line,
//! the body bytes after the header kept as they are.

/// `bytes` (`header_len` bytes of header, then body bytes) without the header lines named in
/// `drop` (any case) and with `add` (whole lines, each ending in CRLF) at the header's end;
/// and the new header length.
pub fn edit(bytes: &[u8], header_len: usize, drop: &[&str], add: &str) -> (Vec<u8>, usize) {
    let (head, body) = bytes.split_at(header_len);
    let mut out = Vec::with_capacity(bytes.len() + add.len());
    for line in lines(head) {
        if !drop.iter().any(|name| value(line, name).is_some()) {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(add.as_bytes());
    out.extend_from_slice(b"\r\n");
    let len = out.len();
    out.extend_from_slice(body);
    (out, len)
}

/// The lines of a header block (each with its line end), without the blank line ending it.
pub fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split_inclusive(|&c| c == b'\n').filter(|l| l.trim_ascii() != b"")
}

/// The value of header line `line` if its name is `name` (any case).
pub fn value<'a>(line: &'a [u8], name: &str) -> Option<&'a str> {
    let colon = line.iter().position(|&c| c == b':')?;
    if !line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
        return None;
    }
    std::str::from_utf8(line[colon + 1..].trim_ascii()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_adds_lines_and_keeps_the_body() {
        let resp = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\nconnection: x\r\n\r\nok";
        let (out, len) = edit(resp, resp.len() - 2, &["connection"], "Connection: close\r\n");
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        );
        assert_eq!(&out[len..], b"ok");
        let req = b"GET / HTTP/1.1\nHost: h\nConnection: close\n\n";
        let (out, _) = edit(req, req.len(), &["connection"], "");
        assert_eq!(out, b"GET / HTTP/1.1\nHost: h\n\r\n");
    }
}
