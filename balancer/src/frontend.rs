//! A frontend as both request paths see it (the express lane and Pingora's proxy): which
//! backend a request goes to (routes by path and Host, HAProxy ACL semantics), its
//! timeouts and body limit, its counters, and the error answers written to its clients.

use crate::pool::Counters;
use netpulse_config::{Condition, Route, Test};
use std::sync::Arc;
use std::time::Duration;

pub struct Frontend {
    pub name: String,
    pub default_backend: usize,
    /// (route, backend), first match wins.
    pub routes: Vec<(Route, usize)>,
    /// HAProxy's `timeout client`: the longest wait on the client during a request.
    pub client_timeout: Duration,
    /// HAProxy's `timeout http-request`: a whole request header within this, else 408.
    pub http_request: Duration,
    /// HAProxy's `timeout http-keep-alive`: the idle wait for a kept-alive connection's next request.
    pub keep_alive: Duration,
    /// Largest request body in bytes.
    pub max_body: Option<u64>,
    pub counters: Arc<Counters>,
}

impl Frontend {
    /// The backend for a request: the first route whose conditions hold, else the default.
    pub fn route(&self, path: &str, host: &str) -> usize {
        self.routes
            .iter()
            .find(|(route, _)| matches(route, path, host))
            .map_or(self.default_backend, |(_, b)| *b)
    }
}

/// Whether every condition of `route` holds for this request.
fn matches(route: &Route, path: &str, host: &str) -> bool {
    (route.path_prefix.is_empty() || path.starts_with(&route.path_prefix))
        && route.when.iter().all(|c| holds(c, path, host))
}

/// One condition: any of its values matches (inverted by `negate`).
fn holds(c: &Condition, path: &str, host: &str) -> bool {
    let eq = |a: &str, b: &str| {
        if c.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let any = c.values.iter().any(|v| match c.test {
        Test::Path => eq(path, v),
        Test::PathPrefix => path.get(..v.len()).is_some_and(|p| eq(p, v)),
        Test::Host => eq(host, v),
        Test::HostDomain => host
            .split(['.', ':', '/'])
            .collect::<Vec<_>>()
            .windows(v.split('.').count())
            .any(|w| eq(&w.join("."), v)),
    });
    any != c.negate
}

/// An error answer: the status and the one-line reason its body gives (HAProxy's texts).
pub type ErrorAnswer = (u16, &'static str);

pub const BAD_REQUEST: ErrorAnswer = (400, "Bad Request: your browser sent an invalid request.");
pub const REQUEST_TIMEOUT: ErrorAnswer = (
    408,
    "Request Timeout: your browser didn't send a complete request in time.",
);
pub const PAYLOAD_TOO_LARGE: ErrorAnswer = (
    413,
    "Payload Too Large: the request body is larger than this frontend accepts.",
);
pub const INTERNAL_ERROR: ErrorAnswer = (500, "Internal Server Error.");
pub const BAD_GATEWAY: ErrorAnswer = (
    502,
    "Bad Gateway: the server returned an invalid or incomplete response.",
);
pub const NO_SERVER: ErrorAnswer = (
    503,
    "Service Unavailable: no server is available to handle this request.",
);
pub const CONNECT_TIMEOUT: ErrorAnswer = (503, "Service Unavailable: no server could be reached in time.");
pub const CONNECT_REFUSED: ErrorAnswer = (503, "Service Unavailable: no server accepted the connection.");
pub const GATEWAY_TIMEOUT: ErrorAnswer = (504, "Gateway Timeout: the server didn't respond in time.");
/// Any other status a request was refused with.
pub const OTHER: &str = "The request could not be handled.";

/// The body of every error answer: the status and why, on one line.
pub fn error_body(code: u16, why: &str) -> String {
    format!("{code} {why}\n")
}

/// A whole HTTP/1.1 error response that closes the connection, for the paths that answer
/// on the socket themselves (header deadline, express lane); the same body and cache
/// headers as Pingora's error responses.
pub fn error_page((code, why): ErrorAnswer) -> Vec<u8> {
    let body = error_body(code, why);
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("Error");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_match_like_haproxy_acls() {
        let c = |test, v: &[&str], negate, ignore_case| Condition {
            test,
            values: v.iter().map(|s| s.to_string()).collect(),
            negate,
            ignore_case,
        };
        assert!(holds(&c(Test::PathPrefix, &["/api", "/x"], false, false), "/x/1", "h"));
        assert!(!holds(&c(Test::PathPrefix, &["/API"], false, false), "/api/1", "h"));
        assert!(holds(&c(Test::PathPrefix, &["/API"], false, true), "/api/1", "h"));
        assert!(holds(&c(Test::Path, &["/a"], true, false), "/a/b", "h"));
        assert!(holds(
            &c(Test::Host, &["Grafana.example"], false, true),
            "/",
            "grafana.EXAMPLE"
        ));
        let dom = c(Test::HostDomain, &["example.com"], false, true);
        assert!(holds(&dom, "/", "www.example.com:8080"));
        assert!(holds(&dom, "/", "example.com"));
        assert!(!holds(&dom, "/", "badexample.com"));
    }

    #[test]
    fn routes_pick_the_first_match_else_the_default() {
        let route = |prefix: &str, backend| {
            let r = Route {
                path_prefix: prefix.into(),
                ..Default::default()
            };
            (r, backend)
        };
        let f = Frontend {
            name: "f".into(),
            default_backend: 0,
            routes: vec![route("/write", 1), route("/w", 2)],
            client_timeout: Duration::from_secs(1),
            http_request: Duration::from_secs(1),
            keep_alive: Duration::from_secs(1),
            max_body: None,
            counters: Arc::default(),
        };
        assert_eq!(f.route("/write?db=x", "h"), 1);
        assert_eq!(f.route("/wx", "h"), 2);
        assert_eq!(f.route("/query", "h"), 0);
    }

    #[test]
    fn error_pages_are_whole_responses() {
        let page = error_page(GATEWAY_TIMEOUT);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(n) = resp.parse(&page).unwrap() else {
            panic!("incomplete header")
        };
        assert_eq!((resp.code, resp.reason), (Some(504), Some("Gateway Timeout")));
        let len = resp.headers.iter().find(|h| h.name == "Content-Length").unwrap().value;
        assert_eq!(std::str::from_utf8(len).unwrap(), (page.len() - n).to_string());
        assert!(page.ends_with(b"504 Gateway Timeout: the server didn't respond in time.\n"));
        assert!(error_page(REQUEST_TIMEOUT).starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
    }
}
