//! The front door's reading of a request header, before either request path sees it: where
//! it ends (CRLF or bare LF lines), whether pipelined bytes after a bodyless request belong to
//! the next request, and what HAProxy 2.6 refuses with 400 at once — a TLS handshake on a
//! plain port, HTTP/0.9, a malformed request line (control bytes, double spaces, a target that
//! is not origin, absolute, authority or `*` form), two `Host` headers (the server would see
//! one and the routing use another), conflicting `Content-Length`s, too many headers. Identical
//! duplicate `Content-Length`s are merged into one, as HAProxy does. The same parse gives the
//! express lane its reading of the header (`lane::Scan`): one parse per request.

use super::lane::{LaneHead, Scan};

/// At most this many header fields (HAProxy's default limit is 101).
const MAX_HEADERS: usize = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// More bytes are needed.
    Incomplete,
    /// Refused with 400; why, for the log.
    Bad(&'static str),
    /// The header is `buf[..end]`; `body` when a body follows; `rewritten` replaces
    /// `buf[..end]` when duplicates were merged; `lane` when the express lane may take it
    /// (ranges into the header as forwarded: `rewritten` if any).
    Complete {
        end: usize,
        body: bool,
        rewritten: Option<Vec<u8>>,
        lane: Option<LaneHead>,
    },
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request line, once it is complete: `METHOD SP TARGET SP HTTP/1.x`. Runs of spaces
/// between the parts are taken as one, as HAProxy takes them: `Ok(Some(line))` is the line
/// with single spaces, to forward instead.
fn request_line(line: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Up to four words without allocating (this runs for every request).
    let (mut words, mut n) = ([&b""[..]; 4], 0);
    for w in line.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        if n == 4 {
            break;
        }
        words[n] = w;
        n += 1;
    }
    let [method, target, version] = match n {
        3 => [words[0], words[1], words[2]],
        2 => return Err("HTTP/0.9 request"),
        _ => return Err("malformed request line"),
    };
    if method.is_empty() || !method.iter().all(|b| tchar(*b)) {
        return Err("malformed method");
    }
    if target.is_empty() || !target.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err("malformed request target");
    }
    let form_ok = target[0] == b'/'
        || target == b"*"
        || target.starts_with(b"http://")
        || target.starts_with(b"https://")
        || (method == b"CONNECT" && target.contains(&b':'));
    if !form_ok {
        return Err("request target not in origin, absolute, authority or asterisk form");
    }
    if !matches!(version, b"HTTP/1.1" | b"HTTP/1.0") {
        return Err("unsupported HTTP version");
    }
    let single = method.len() + target.len() + version.len() + 2 == line.len();
    Ok((!single).then(|| [method, b" ", target, b" ", version].concat()))
}

/// Where the header of `buf` ends (after its empty line), with CRLF or bare LF lines.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    // One pass that stops at the first blank line: the body behind it (an 8 KiB write often
    // arrives with its header) is never scanned.
    let mut i = from.saturating_sub(3);
    while let Some(at) = buf[i..].iter().position(|b| *b == b'\n') {
        let nl = i + at;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// Examines the bytes read so far; `from` is where the latest read's bytes start.
pub fn examine(buf: &[u8], from: usize) -> Head {
    if buf.first() == Some(&0x16) {
        return Head::Bad("TLS handshake on a plain HTTP port");
    }
    let Some(eol) = buf.iter().position(|b| *b == b'\n') else {
        return Head::Incomplete;
    };
    let line = match request_line(&buf[..eol]) {
        Ok(line) => line,
        Err(why) => return Head::Bad(why),
    };
    let Some(end) = header_end(buf, from.min(eol)) else {
        return Head::Incomplete;
    };
    let folded = unfold(&buf[eol + 1..end]);
    match (line, folded) {
        (None, None) => fields(&buf[..end], end),
        (line, folded) => {
            let mut fixed = line.unwrap_or_else(|| buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]).to_vec());
            fixed.extend_from_slice(b"\r\n");
            fixed.extend_from_slice(folded.as_deref().unwrap_or(&buf[eol + 1..end]));
            match fields(&fixed, end) {
                // A merge rewrote the header again: the lane's ranges are not into it.
                Head::Complete {
                    end,
                    body,
                    rewritten,
                    lane,
                } => Head::Complete {
                    end,
                    body,
                    lane: lane.filter(|_| rewritten.is_none()),
                    rewritten: Some(rewritten.unwrap_or(fixed)),
                },
                other => other,
            }
        }
    }
}

/// The header fields with obsolete line folding (a line that starts with a space or a tab
/// continues the previous value) replaced by one space, as RFC 9112 asks of a proxy and HAProxy
/// does; `None` when nothing is folded.
fn unfold(fields: &[u8]) -> Option<Vec<u8>> {
    let folded = |i: usize| fields[i] == b'\n' && matches!(fields.get(i + 1), Some(b' ' | b'\t'));
    if !(0..fields.len()).any(folded) {
        return None;
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut i = 0;
    while i < fields.len() {
        if folded(i) {
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            out.push(b' ');
            i += 1;
            while matches!(fields.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
        } else {
            out.push(fields[i]);
            i += 1;
        }
    }
    Some(out)
}

fn fields(head: &[u8], end: usize) -> Head {
    // Uninitialised slots: this runs for every request, and zeroing them costs.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let header_len = match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Bad("malformed header"),
        Err(httparse::Error::TooManyHeaders) => return Head::Bad("too many header fields"),
        Err(_) => return Head::Bad("malformed header field"),
    };
    let (mut hosts, mut lengths, mut chunked) = (0, vec![], false);
    let mut lane = Scan::new(head, req.method.unwrap_or(""), req.version.unwrap_or(0));
    for h in req.headers.iter() {
        lane.field(h.name, h.value);
        if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map(str::trim).unwrap_or("");
            match v.parse::<u64>() {
                Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => lengths.push(n),
                _ => return Head::Bad("malformed Content-Length"),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    if hosts > 1 {
        return Head::Bad("more than one Host header");
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Head::Bad("conflicting Content-Length headers");
    }
    let body = chunked || lengths.first().is_some_and(|n| *n > 0);
    let rewritten = (lengths.len() > 1).then(|| {
        merge_lengths(
            req.method.unwrap_or("GET"),
            req.path.unwrap_or("/"),
            req.version.unwrap_or(1),
            req.headers,
        )
    });
    let lane = match rewritten {
        None => lane.finish(req.path.unwrap_or(""), header_len),
        Some(_) => None,
    };
    Head::Complete {
        end,
        body,
        rewritten,
        lane,
    }
}

/// The header again with one `Content-Length` where it had identical duplicates.
fn merge_lengths(method: &str, path: &str, version: u8, headers: &[httparse::Header<'_>]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.{version}\r\n").into_bytes();
    let mut seen = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            if seen {
                continue;
            }
            seen = true;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(b: &[u8]) -> Head {
        examine(b, 0)
    }

    #[test]
    fn ends_with_crlf_or_bare_lf() {
        let a = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n";
        let lane = |h: &[u8]| super::super::lane::plain(h).map(|_| ());
        assert!(matches!(
            done(a),
            Head::Complete {
                end: 27,
                body: false,
                rewritten: None,
                lane: Some(_)
            }
        ));
        assert_eq!(lane(&a[..27]), Some(()));
        let b = b"GET / HTTP/1.1\nHost: x\n\n";
        let Head::Complete {
            end,
            body: false,
            rewritten: None,
            lane: Some(l),
        } = done(b)
        else {
            panic!("{:?}", done(b))
        };
        assert_eq!((end, l.view(b).map(|p| p.host)), (b.len(), Some("x")));
        assert_eq!(done(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Incomplete);
        let post = b"POST /write HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde";
        assert!(matches!(done(post), Head::Complete { body: true, .. }));
    }

    #[test]
    fn refuses_what_haproxy_refuses() {
        for (bytes, why) in [
            (&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], "TLS"),
            (b"GET /\r\n", "HTTP/0.9"),
            (b"GET /a\x00b HTTP/1.1\r\n\r\n", "NUL in the target"),
            (b"GET /a\x01 HTTP/1.1\r\n\r\n", "control byte"),
            (b"GET index.html HTTP/1.1\r\n\r\n", "no leading slash"),
            (b"GET / HTTP/2.0\r\n\r\n", "version"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Host"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                "CL conflict",
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", "bad CL"),
            (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", "control byte in a value"),
        ] {
            assert!(matches!(done(bytes), Head::Bad(_)), "{why}: {:?}", done(bytes));
        }
        let many: String = (0..120).map(|i| format!("X-{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(done(req.as_bytes()), Head::Bad(_)));
        assert_eq!(
            done(b"OPTIONS * HTTP/1.1\r\n\r\n"),
            Head::Complete {
                end: 22,
                body: false,
                rewritten: None,
                lane: None
            }
        );
    }

    #[test]
    fn runs_of_spaces_in_the_request_line_become_one() {
        let Head::Complete { rewritten: Some(r), .. } = done(b"GET  /x   HTTP/1.1\r\nHost: x\r\n\r\n") else {
            panic!()
        };
        assert_eq!(r, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn folded_values_are_unfolded() {
        let Head::Complete {
            rewritten: Some(r),
            lane: Some(l),
            ..
        } = done(b"GET /f?q HTTP/1.1\r\nX-A: one\r\n  two\r\nHost: x\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(r, b"GET /f?q HTTP/1.1\r\nX-A: one two\r\nHost: x\r\n\r\n");
        let p = l.view(&r).expect("the lane reads the header as forwarded");
        assert_eq!((p.path, p.host, p.header_len), ("/f", "x", r.len()));
    }

    #[test]
    fn the_lane_reads_what_the_front_door_parsed() {
        for req in [
            &b"GET /a?b HTTP/1.1\r\nHost: db\r\nCookie: S=s1\r\nConnection: close\r\n\r\n"[..],
            b"POST /write?db=t HTTP/1.1\r\nHost: db\r\nContent-Length: 4\r\n\r\ncpu ",
            b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ] {
            let Head::Complete { end, body, lane, .. } = done(req) else {
                panic!()
            };
            let kept = if body { req } else { &req[..end] };
            let ours = lane
                .and_then(|l| l.view(kept))
                .map(|p| (p.path, p.host, p.body, p.closes));
            let alone = super::super::lane::plain(kept).map(|p| (p.path, p.host, p.body, p.closes));
            assert_eq!(ours, alone, "{}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn identical_content_lengths_merge_into_one() {
        let req = b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        let Head::Complete {
            rewritten: Some(r),
            body: true,
            ..
        } = done(req)
        else {
            panic!()
        };
        assert_eq!(r, b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
    }
}
