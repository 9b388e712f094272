//! The stats listener's HTTP: one small request per connection (GET, or the admin form's
//! POST with its body), read under a deadline, answered and closed. Not a hot path.

use base64::Engine;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bodies above this are refused (the admin form is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub auth: Option<String>,
    pub body: Vec<u8>,
}

/// Parses what was read; `None` until the head (and the body it announces) is complete.
fn parse(buf: &[u8]) -> Option<Request> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let (mut auth, mut len) = (None, 0usize);
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_string());
            } else if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0).min(MAX_BODY);
            }
        }
    }
    let body = buf.get(end + 4..end + 4 + len)?.to_vec();
    Some(Request {
        method,
        path,
        auth,
        body,
    })
}

pub async fn read(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(2048);
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(r) = parse(&buf) {
                return Some(r);
            }
            if buf.len() > MAX_BODY + 16 * 1024 {
                return None;
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.ok()?
}

/// What the stats listener answers.
pub struct Answer {
    pub code: u16,
    pub content_type: &'static str,
    pub body: String,
    /// `Location` of a redirect.
    pub location: Option<String>,
}

impl Answer {
    pub fn new(code: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            code,
            content_type,
            body: body.into(),
            location: None,
        }
    }
}

/// Writes `a` and closes; a 401 asks for basic auth in `realm`.
pub async fn write(stream: &mut tokio::net::TcpStream, a: Answer, realm: &str) {
    let reason = match a.code {
        200 => "OK",
        303 => "See Other",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-cache\r\n",
        a.code,
        a.content_type,
        a.body.len()
    );
    if let Some(l) = a.location {
        head.push_str(&format!("Location: {l}\r\n"));
    }
    if a.code == 401 {
        head.push_str(&format!(
            "WWW-Authenticate: Basic realm=\"{}\"\r\n",
            realm.replace('"', "'")
        ));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(a.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The `Authorization` value of basic auth: `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_value() {
        assert_eq!(super::basic("admin", "s3cret"), "Basic YWRtaW46czNjcmV0");
        assert_eq!(super::basic("a", ""), "Basic YTo=");
    }

    #[test]
    fn head_and_body() {
        let r =
            super::parse(b"POST /stats HTTP/1.1\r\nAuthorization: Basic x\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.auth.as_deref()),
            ("POST", "/stats", Some("Basic x"))
        );
        assert_eq!(r.body, b"abc");
        assert!(
            super::parse(b"POST /stats HTTP/1.1\r\nContent-Length: 3\r\n\r\nab").is_none(),
            "body incomplete"
        );
        assert_eq!(
            super::parse(b"GET /stats;csv HTTP/1.0\r\n\r\n").unwrap().path,
            "/stats;csv"
        );
    }
}
