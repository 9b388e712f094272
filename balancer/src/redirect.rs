//! The answer of a plain-HTTP listener whose frontend has `redirect_https` (HAProxy
//! `redirect scheme https`): the same Host and path under `https://`, with no body.

/// For one complete request header: (the whole response, its status, whether the
/// connection stays open for the next request). `keep` false: it closes anyway.
pub fn answer(head: &[u8], code: u16, keep: bool) -> (Vec<u8>, u16, bool) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = matches!(req.parse(head), Ok(httparse::Status::Complete(_)));
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(|h| h.trim().strip_suffix(":80").unwrap_or(h.trim()));
    let (Some(path), Some(host), true) = (req.path, host, parsed) else {
        let page = crate::frontend::error_page(crate::frontend::BAD_REQUEST);
        return (page, 400, false);
    };
    // A body would have to be read and thrown away first; closing is simpler and rare.
    let has_body = req.headers.iter().any(|h| {
        (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
    });
    let closes = req.version != Some(1)
        || req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection")
                && h.value
                    .split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        });
    let keep = keep && !has_body && !closes;
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("Redirect");
    let connection = if keep { "keep-alive" } else { "close" };
    let text = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nLocation: https://{host}{path}\r\nCache-Control: no-cache\r\nConnection: {connection}\r\n\r\n"
    );
    (text.into_bytes(), code, keep)
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn same_host_and_path_under_https() {
        let (a, code, keep) = answer(
            b"GET /d/x?orgId=1 HTTP/1.1\r\nHost: grafana.example:80\r\n\r\n",
            301,
            true,
        );
        let a = String::from_utf8(a).unwrap();
        assert!(a.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{a}");
        assert!(
            a.contains("\r\nLocation: https://grafana.example/d/x?orgId=1\r\n"),
            "{a}"
        );
        assert!(a.contains("Connection: keep-alive"));
        assert_eq!((code, keep), (301, true));
    }

    #[test]
    fn bodies_and_closing_clients_are_closed_and_no_host_is_a_400() {
        let (_, _, keep) = answer(
            b"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            302,
            true,
        );
        assert!(!keep);
        let (_, _, keep) = answer(b"GET / HTTP/1.0\r\nHost: h\r\n\r\n", 302, true);
        assert!(!keep);
        let (a, code, keep) = answer(b"GET / HTTP/1.1\r\n\r\n", 302, true);
        assert_eq!((code, keep), (400, false));
        assert!(a.starts_with(b"HTTP/1.1 400"));
    }
}
