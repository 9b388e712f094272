//! Whether a request header is plain enough for the express lane, and what the lane needs
//! of it: any method but CONNECT, HTTP/1.1, a body only by Content-Length (not chunked), no
//! upgrade or `Expect`, an origin-form target. [`Scan`] reads the fields as the front door's
//! one parse walks them (`head`), so a request header is parsed once per request;
//! [`LaneHead`] keeps what it found as byte ranges, which outlive that parse.

use std::ops::Range;

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

/// A lane request's header, as ranges into the header bytes it was scanned from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaneHead {
    head: bool,
    get_or_head: bool,
    path: Range<usize>,
    host: Range<usize>,
    header_len: usize,
    body: u64,
    closes: bool,
    cookies: [Option<Range<usize>>; 4],
}

impl LaneHead {
    /// The request over `bytes` (its header, then no more than its body's first bytes):
    /// `None` when more than the body follows (pipelined bytes are not the lane's).
    pub fn view<'a>(&self, bytes: &'a [u8]) -> Option<Plain<'a>> {
        if bytes.len() < self.header_len || (bytes.len() - self.header_len) as u64 > self.body {
            return None;
        }
        let text = |r: &Range<usize>| std::str::from_utf8(&bytes[r.clone()]).ok();
        let mut cookies = CookieLines::default();
        for (slot, r) in cookies.0.iter_mut().zip(&self.cookies) {
            *slot = r.as_ref().map(|r| &bytes[r.clone()]);
        }
        Some(Plain {
            head: self.head,
            get_or_head: self.get_or_head,
            path: text(&self.path)?,
            host: text(&self.host)?,
            header_len: self.header_len,
            body: self.body,
            closes: self.closes,
            cookies,
        })
    }
}

/// The lane's reading of the header fields, one at a time, during a parse of `base`.
pub struct Scan<'a> {
    base: &'a [u8],
    /// Still a lane request.
    ok: bool,
    head: LaneHead,
    has_length: bool,
    cookies: usize,
}

impl<'a> Scan<'a> {
    pub fn new(base: &'a [u8], method: &str, version: u8) -> Self {
        Self {
            base,
            // HTTP/1.0 clients get HTTP/1.1 answers on Pingora's path, as HAProxy gives them.
            ok: method != "CONNECT" && version == 1,
            head: LaneHead {
                head: method == "HEAD",
                get_or_head: method == "GET" || method == "HEAD",
                ..LaneHead::default()
            },
            has_length: false,
            cookies: 0,
        }
    }

    /// Where `part` (a slice of `base`) lies in `base`.
    fn range(&self, part: &[u8]) -> Range<usize> {
        let start = (part.as_ptr() as usize).wrapping_sub(self.base.as_ptr() as usize);
        start..start + part.len()
    }

    pub fn field(&mut self, name: &str, value: &[u8]) {
        if !self.ok {
            return;
        }
        let name = name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            self.head.host = self.range(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let v = value.trim_ascii();
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) || self.has_length {
                self.ok = false;
                return;
            }
            self.has_length = true;
            self.head.body = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        } else if name.eq_ignore_ascii_case(b"cookie") {
            let r = self.range(value);
            match self.head.cookies.get_mut(self.cookies) {
                Some(slot) => *slot = Some(r),
                None => self.ok = false,
            }
            self.cookies += 1;
        } else if name.eq_ignore_ascii_case(b"connection") {
            let has = |t: &[u8]| {
                value
                    .split(|&c| c == b',')
                    .any(|x| x.trim_ascii().eq_ignore_ascii_case(t))
            };
            if has(b"upgrade") {
                self.ok = false;
            }
            self.head.closes = has(b"close");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
        {
            self.ok = false;
        }
    }

    /// The lane's header when the request is one; `target` as parsed, `header_len` where
    /// the header ends in `base`.
    pub fn finish(mut self, target: &str, header_len: usize) -> Option<LaneHead> {
        if !self.ok || !target.starts_with('/') {
            return None;
        }
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        self.head.path = self.range(path.as_bytes());
        self.head.header_len = header_len;
        Some(self.head)
    }
}

/// `Some` when the request can take the express lane; `head` is one complete header
/// followed by no more than its body's first bytes. (The balancer takes the front door's
/// scan instead; this parses on its own, for tests and the fuzzer's oracle.)
#[cfg_attr(not(test), allow(dead_code))]
pub fn plain(head: &[u8]) -> Option<Plain<'_>> {
    // More slots than the front door allows fields: its limit is the one that refuses.
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(n) = req.parse(head).ok()? else {
        return None;
    };
    let mut scan = Scan::new(head, req.method?, req.version?);
    for h in req.headers.iter() {
        scan.field(h.name, h.value);
    }
    scan.finish(req.path?, n)?.view(head)
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
            b"GET / HTTP/1.1\r\nCookie: a\r\nCookie: b\r\nCookie: c\r\nCookie: d\r\nCookie: e\r\n\r\n",
        ] {
            assert!(plain(no).is_none(), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn a_scan_outlives_its_parse_as_ranges() {
        let bytes = b"POST /w?db=t HTTP/1.1\r\nHost: h\r\nCookie: S=g1\r\nContent-Length: 4\r\n\r\ncpu ".to_vec();
        let lane = plain(&bytes).map(|p| (p.path.len(), p.header_len)).unwrap();
        let mut scan = Scan::new(&bytes, "POST", 1);
        scan.field("Host", &bytes[29..30]);
        scan.field("Cookie", &bytes[40..44]);
        scan.field("Content-Length", &bytes[62..63]);
        let head = scan
            .finish(std::str::from_utf8(&bytes[5..12]).unwrap(), lane.1)
            .unwrap();
        let copy = bytes.clone();
        let p = head.view(&copy).unwrap();
        assert_eq!((p.path, p.host, p.body, p.cookies.get("S")), ("/w", "h", 4, Some("g1")));
        assert_eq!(p.path.len(), lane.0);
        assert!(
            head.view(&[copy.as_slice(), b"x"].concat()).is_none(),
            "more than the body"
        );
    }
}
