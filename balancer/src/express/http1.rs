//! HTTP/1 framing for the express lane, on bytes as they arrive: whether a request header
//! is plain enough for the lane, where a response header ends and how its body is framed
//! (Content-Length, chunked, until close), where a chunked body ends, and whether a server
//! connection is still in step afterwards. No I/O here; failures are [`FramingError`].

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

/// What an express request looks like, from its header.
pub struct Plain<'a> {
    pub head: bool,
    /// GET or HEAD: a response a cache could store.
    pub get_or_head: bool,
    pub path: &'a str,
    pub host: &'a str,
    /// Where the header ends in the bytes given (the body's first bytes follow).
    pub header_len: usize,
    /// Content-Length of the body (0: none).
    pub body: u64,
    /// The client closes after this request (`Connection: close`).
    pub closes: bool,
    /// The `Cookie` header values, for sticky sessions.
    pub cookies: CookieLines<'a>,
}

/// Up to four `Cookie` header values of a request.
#[derive(Default, Clone, Copy)]
pub struct CookieLines<'a>(pub [Option<&'a [u8]>; 4]);

impl<'a> CookieLines<'a> {
    /// The value of cookie `name`, if any.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let name = name.as_bytes();
        self.0
            .iter()
            .flatten()
            .flat_map(|v| v.split(|&c| c == b';'))
            .find_map(|c| {
                let c = c.trim_ascii();
                let eq = c.iter().position(|&x| x == b'=')?;
                (&c[..eq] == name).then(|| std::str::from_utf8(c[eq + 1..].trim_ascii()).ok())?
            })
    }

    pub fn any(&self) -> bool {
        self.0[0].is_some()
    }
}

/// `Some` when the request can take the express lane: any method but CONNECT, HTTP/1.1,
/// a body only by Content-Length (not chunked), no upgrade or `Expect`, origin-form target;
/// `head` is one complete header followed by no more than its body's first bytes.
pub fn plain(head: &[u8]) -> Option<Plain<'_>> {
    // Uninitialised header slots: zeroing 64 of them for every request is avoidable work.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
    let mut req = httparse::Request::new(&mut []);
    let httparse::Status::Complete(n) = req.parse_with_uninit_headers(head, &mut headers).ok()? else {
        return None;
    };
    let method = req.method?;
    let version = req.version?;
    // HTTP/1.0 clients get HTTP/1.1 answers on Pingora's path, as HAProxy gives them.
    if method == "CONNECT" || version == 0 {
        return None;
    }
    let (mut host, mut body, mut cookies, mut nc) = ("", None, CookieLines::default(), 0);
    let mut closes = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            host = std::str::from_utf8(h.value).ok()?;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) || body.is_some() {
                return None;
            }
            body = Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
        } else if name.eq_ignore_ascii_case(b"cookie") {
            *cookies.0.get_mut(nc)? = Some(h.value);
            nc += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            let has = |t: &[u8]| {
                h.value
                    .split(|&c| c == b',')
                    .any(|x| x.trim_ascii().eq_ignore_ascii_case(t))
            };
            if has(b"upgrade") {
                return None;
            }
            closes = has(b"close");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            return None;
        }
    }
    let body = body.unwrap_or(0);
    let target = req.path?;
    if !target.starts_with('/') || (head.len() - n) as u64 > body {
        return None;
    }
    Some(Plain {
        head: method == "HEAD",
        get_or_head: method == "GET" || method == "HEAD",
        path: target.split_once('?').map_or(target, |(p, _)| p),
        host,
        header_len: n,
        body,
        closes,
        cookies,
    })
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
    fn only_plain_requests_take_the_lane() {
        let ok = plain(b"GET /ping?x=1 HTTP/1.1\r\nHost: db\r\n\r\n").unwrap();
        assert_eq!(
            (ok.path, ok.host, ok.head, ok.body, ok.closes),
            ("/ping", "db", false, 0, false)
        );
        assert!(
            plain(b"HEAD / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .head
        );
        let post = plain(b"POST /write?db=x HTTP/1.1\r\nContent-Length: 5\r\n\r\ncpu ").unwrap();
        assert_eq!((post.body, post.header_len), (5, 48));
        assert!(plain(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap().closes);
        let c = plain(b"GET / HTTP/1.1\r\nCookie: a=1; SERVERID=g2\r\nCookie: b=2\r\n\r\n").unwrap();
        assert_eq!(
            (c.cookies.get("SERVERID"), c.cookies.get("b"), c.cookies.get("x")),
            (Some("g2"), Some("2"), None)
        );
        for no in [
            &b"POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST /w HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
            b"POST /w HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            b"POST /w HTTP/1.1\r\nContent-Length: 1\r\n\r\nabGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(plain(no).is_none(), "{}", String::from_utf8_lossy(no));
        }
    }

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
