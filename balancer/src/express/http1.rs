//! HTTP/1 response framing for the express lane, on bytes as they arrive: where a response
//! header ends and how its body is framed (Content-Length, chunked, until close), where a
//! chunked body ends, and whether a server connection is still in step afterwards. No I/O here; failures are [`FramingError`].

/// Why a server's response cannot be forwarded by the lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("not an HTTP/1 response header")]
    Malformed,
    #[error("an interim (1xx) response")]
    Interim,
    #[error("a Content-Length that is not a number")]
    BadLength,
    #[error("two different Content-Length values")]
    ConflictingLength,
    #[error("a malformed chunk")]
    BadChunk,
}

/// How the response body ends.
#[derive(Debug, PartialEq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// No length: the body runs until the server closes.
    Close,
}

pub struct Response {
    pub status: u16,
    pub header_len: usize,
    pub framing: Framing,
    /// The server will close after this response.
    pub closes: bool,
}

/// The response header in `buf`, `None` while incomplete; `head`: answers a HEAD request.
pub fn response(buf: &[u8], head: bool) -> Result<Option<Response>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FramingError::Malformed),
    };
    let status = resp.code.ok_or(FramingError::Malformed)?;
    // 1xx needs an Expect or Upgrade, which never take this lane.
    if status < 200 {
        return Err(FramingError::Interim);
    }
    let (mut length, mut chunked, mut closes) = (None, false, resp.version == Some(0));
    let mut close_delimited = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::BadLength);
            }
            let v = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if length.is_some_and(|l| l != v) {
                return Err(FramingError::ConflictingLength);
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Chunked only when it is the last coding; otherwise the body runs to the close.
            let last = h.value.rsplit(|&c| c == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            close_delimited |= !chunked;
        } else if name.eq_ignore_ascii_case(b"connection") {
            let has = |token: &[u8]| {
                h.value
                    .split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            closes = has(b"close") || (resp.version == Some(0) && !has(b"keep-alive"));
        }
    }
    let framing = if head || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if close_delimited {
        Framing::Close
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::Close
    };
    Ok(Some(Response {
        status,
        header_len: n,
        framing,
        closes,
    }))
}

/// Finds where a chunked body ends, fed the body bytes as they pass by.
#[derive(Default)]
pub struct ChunkScanner {
    state: Chunk,
    size: u64,
    /// Bytes of the current chunk's data still to skip.
    left: u64,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Chunk {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    /// In a trailer line with text.
    TrailerLine,
    TrailerLineLf,
    Done,
}

impl ChunkScanner {
    /// Consumes `bytes`; `Ok(Some(n))` when the body ends after `n` of them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, FramingError> {
        let bad = FramingError::BadChunk;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match self.state {
                Chunk::Size => match c {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (c as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self.size.checked_mul(16).and_then(|s| s.checked_add(d)).ok_or(bad)?;
                    }
                    b';' | b' ' | b'\t' => self.state = Chunk::Ext,
                    b'\r' => self.state = Chunk::SizeLf,
                    _ => return Err(bad),
                },
                Chunk::Ext => {
                    if c == b'\r' {
                        self.state = Chunk::SizeLf;
                    }
                }
                Chunk::SizeLf => {
                    if c != b'\n' {
                        return Err(bad);
                    }
                    self.left = self.size;
                    self.state = if self.size == 0 { Chunk::Trailer } else { Chunk::Data };
                    self.size = 0;
                }
                Chunk::Data => {
                    let take = (self.left).min((bytes.len() - i) as u64);
                    self.left -= take;
                    i += take as usize;
                    if self.left == 0 {
                        self.state = Chunk::DataCr;
                    }
                    continue;
                }
                Chunk::DataCr => self.state = if c == b'\r' { Chunk::DataLf } else { return Err(bad) },
                Chunk::DataLf => self.state = if c == b'\n' { Chunk::Size } else { return Err(bad) },
                Chunk::Trailer => {
                    self.state = if c == b'\r' {
                        Chunk::TrailerLf
                    } else {
                        Chunk::TrailerLine
                    }
                }
                Chunk::TrailerLf => {
                    if c != b'\n' {
                        return Err(bad);
                    }
                    self.state = Chunk::Done;
                    return Ok(Some(i + 1));
                }
                Chunk::TrailerLine => {
                    if c == b'\r' {
                        self.state = Chunk::TrailerLineLf;
                    }
                }
                Chunk::TrailerLineLf => self.state = if c == b'\n' { Chunk::Trailer } else { return Err(bad) },
                Chunk::Done => return Ok(Some(i)),
            }
            i += 1;
        }
        Ok(None)
    }
}

/// After `new` body bytes (`body` in all): (the response is complete, nothing was read past
/// its end). Bytes past the end, or a broken chunk, mean a confused server: not reused.
pub fn progress(framing: &Framing, chunks: &mut ChunkScanner, new: &[u8], body: u64) -> (bool, bool) {
    match framing {
        Framing::Length(l) => (body >= *l, body <= *l),
        Framing::Chunked => match chunks.feed(new) {
            Ok(Some(n)) => (true, n == new.len()),
            Ok(None) => (false, true),
            Err(_) => (true, false),
        },
        Framing::Close => (false, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing() {
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false)
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.framing, r.closes), (200, Framing::Length(5), false));
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Length(0), "HEAD has no body");
        let r = response(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(r.framing, Framing::Length(0));
        let r = response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r = response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.framing, Framing::Close, "not chunked last: until the close");
        let r = response(b"HTTP/1.0 200 OK\r\n\r\n", false).unwrap().unwrap();
        assert_eq!((r.framing, r.closes), (Framing::Close, true));
        let r = response(
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(r.closes);
        let r = response(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.closes, r.framing),
            (false, Framing::Length(2)),
            "HTTP/1.0 kept alive"
        );
        for bad in ["-1", "", "1 2", "99999999999999999999", "+5"] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert!(response(text.as_bytes(), false).is_err(), "Content-Length: {bad:?}");
        }
        assert!(response(b"HTTP/1.1 200 OK\r\nContent-Le", false).unwrap().is_none());
        assert!(
            response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            )
            .is_err()
        );
        assert!(response(b"HTTP/1.1 100 Continue\r\n\r\n", false).is_err());
        assert!(response(b"garbage\r\n\r\n", false).is_err());
    }

    #[test]
    fn chunked_end_found_across_pieces() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..body.len() {
            let mut s = ChunkScanner::default();
            let first = s.feed(&body[..split]).unwrap();
            let end = match first {
                Some(n) => n,
                None => split + s.feed(&body[split..]).unwrap().expect("ends"),
            };
            assert_eq!(end, body.len(), "split at {split}");
        }
        let mut s = ChunkScanner::default();
        assert_eq!(s.feed(b"0\r\n\r\nNEXT").unwrap(), Some(5));
        assert!(ChunkScanner::default().feed(b"zz\r\n").is_err());
    }
}
