//! The stats listener's HTTP: one small request per connection (GET, or the admin form's
//! POST with its body), read under a deadline, answered and closed. Not a hot path.

use crate::stats::Stats;
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

async fn read(stream: &mut tokio::net::TcpStream) -> Option<Request> {
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

impl Stats {
    pub(crate) async fn serve(&self, mut stream: tokio::net::TcpStream) {
        let req = read(&mut stream).await.unwrap_or_default();
        let (code, ctype, body, location) = self.respond(&req);
        let reason = match code {
            200 => "OK",
            303 => "See Other",
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "Not Found",
        };
        let mut head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-cache\r\n",
            body.len()
        );
        if let Some(l) = location {
            head.push_str(&format!("Location: {l}\r\n"));
        }
        if code == 401 {
            head.push_str(&format!(
                "WWW-Authenticate: Basic realm=\"{}\"\r\n",
                self.realm.replace('"', "'")
            ));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
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
