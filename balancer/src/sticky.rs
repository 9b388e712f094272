//! Sticky-session semantics (HAProxy `cookie NAME insert indirect nocache`), one definition
//! for both request paths: the persistence cookie is removed before the server sees the
//! request (`indirect`), and a response that starts or moves a session carries
//! `Set-Cookie: NAME=VALUE; path=/`, plus `Cache-Control: private` when a cache could store
//! it (`nocache`, as HAProxy 2.6 decides it: a GET or HEAD, a cacheable status, freshness or
//! validator headers, not already private — compared side by side in the tests). Pingora's
//! hooks apply these to parsed headers, the express lane to raw header bytes.

use crate::head_edit;

/// The `Set-Cookie` value for a session on the server whose cookie value is `value`.
pub fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; path=/")
}

/// The `Cache-Control` a response that sets the persistence cookie gets (`nocache`).
pub const CACHE_CONTROL: &str = "private";

/// A Cookie header's value without cookie `name` (`None` when nothing is left).
pub fn strip_cookie(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split_once('=').is_none_or(|(k, _)| k != name))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The `Cookie` line a request's header block should carry once cookie `name` is taken out
/// of its Cookie headers, which become one (as Pingora's path sends them); empty when
/// nothing is left. The Cookie lines themselves are the caller's to drop.
pub fn remaining_cookies(head: &[u8], name: &str) -> String {
    let cookies: Vec<&str> = head_edit::lines(head)
        .filter_map(|line| head_edit::value(line, "cookie"))
        .collect();
    strip_cookie(&cookies.join("; "), name).map_or(String::new(), |rest| format!("Cookie: {rest}\r\n"))
}

/// A response's raw bytes (`header_len` bytes of header, then body bytes) with the session's
/// `Set-Cookie` added, and `Cache-Control: private` when `private`; and the new header length.
pub fn insert_in_response(bytes: &[u8], header_len: usize, name: &str, value: &str, private: bool) -> (Vec<u8>, usize) {
    let mut added = format!("Set-Cookie: {}\r\n", set_cookie(name, value));
    if private {
        added.push_str(&format!("Cache-Control: {CACHE_CONTROL}\r\n"));
    }
    head_edit::edit(bytes, header_len, &[], &added)
}

/// Whether a shared cache could store this response (so a session cookie set in it needs
/// `Cache-Control: private`): a cacheable status with freshness (`max-age`, `Expires`) or a
/// validator (`Last-Modified`, `ETag`), and nothing that already forbids storing it. The
/// request's method is the caller's to check (GET or HEAD only).
pub fn cacheable<'a>(status: u16, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    if ![200, 203, 204, 206, 300, 301, 410].contains(&status) {
        return false;
    }
    let mut fresh = false;
    for (name, value) in headers {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("cache-control") {
            for d in value.split(|&c| c == b',').map(<[u8]>::trim_ascii) {
                let d = d.to_ascii_lowercase();
                let forbids = [&b"private"[..], b"no-cache", b"no-store", b"max-age=0", b"s-maxage=0"];
                if forbids.contains(&&d[..]) {
                    return false;
                }
                fresh |= d.starts_with(b"max-age") || d.starts_with(b"s-maxage") || d == b"public";
            }
        } else if is("pragma") && value.eq_ignore_ascii_case(b"no-cache") {
            return false;
        } else if is("expires") || is("last-modified") || is("etag") {
            fresh = true;
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persistence_cookie_never_reaches_the_server() {
        assert_eq!(
            strip_cookie("a=1; SERVERID=x; c=3", "SERVERID").as_deref(),
            Some("a=1; c=3")
        );
        assert_eq!(strip_cookie("SERVERID=x", "SERVERID"), None);
        let req = b"GET / HTTP/1.1\r\nHost: g\r\nCookie: a=1; SERVERID=g2\r\ncookie: b=2\r\n\r\nBODY";
        let head_len = req.len() - 4;
        let strip = |r: &[u8], len| head_edit::edit(r, len, &["cookie"], &remaining_cookies(&r[..len], "SERVERID")).0;
        assert_eq!(
            strip(req, head_len),
            b"GET / HTTP/1.1\r\nHost: g\r\nCookie: a=1; b=2\r\n\r\nBODY"
        );
        let only = b"GET / HTTP/1.1\r\nCookie: SERVERID=g2\r\n\r\n";
        assert_eq!(strip(only, only.len()), b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn a_new_session_gets_its_cookie_and_no_caching() {
        let resp = b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok";
        let (out, len) = insert_in_response(resp, resp.len() - 2, "SERVERID", "g1", true);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\nSet-Cookie: SERVERID=g1; path=/\r\nCache-Control: private\r\n\r\nok"
        );
        assert_eq!(&out[len..], b"ok");
        let (out, _) = insert_in_response(resp, resp.len() - 2, "SERVERID", "g1", false);
        assert!(!String::from_utf8(out).unwrap().contains("private"));
    }

    #[test]
    fn cacheable_as_haproxy_decides_it() {
        let c = |status, hs: &[(&str, &str)]| cacheable(status, hs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())));
        assert!(!c(200, &[]), "no freshness, no validator");
        assert!(c(200, &[("Cache-Control", "max-age=60")]));
        assert!(c(200, &[("Last-Modified", "Mon, 01 Dec 2026 00:00:00 GMT")]));
        assert!(c(200, &[("ETag", "\"a\"")]));
        assert!(c(200, &[("Expires", "x"), ("Cache-Control", "max-age=3600")]));
        assert!(!c(200, &[("Cache-Control", "private, max-age=60")]));
        assert!(!c(404, &[("Cache-Control", "max-age=60")]));
        assert!(!c(500, &[("Cache-Control", "max-age=60")]));
    }
}
