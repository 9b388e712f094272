//! A frontend's `monitor_uri` (HAProxy `monitor-uri`): a request for exactly that target is
//! answered here — 200 while the balancer serves, 503 once it stops — without a backend, so
//! keepalived's check (deploy/keepalived) and outer load balancers see whether this node
//! serves. The answer closes the connection (checks open one per question).

/// HAProxy 2.6's body of the monitor answer.
const READY: &str = "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n";
const STOPPING: &str = "<html><body><h1>503 Service Unavailable</h1>\nThis node is stopping.\n</body></html>\n";

/// Whether `head` (a complete request header) asks for `uri`.
pub fn asks(head: &[u8], uri: &str) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    words.next();
    words.next() == Some(uri.as_bytes())
}

/// The whole answer and its status: 200 while serving, 503 when `stopping`.
pub fn answer(stopping: bool) -> (Vec<u8>, u16) {
    let (status, reason, body) = if stopping {
        (503, "Service Unavailable", STOPPING)
    } else {
        (200, "OK", READY)
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    (text.into_bytes(), status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_target_is_the_monitor() {
        assert!(asks(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "/healthz"));
        assert!(asks(b"HEAD /healthz HTTP/1.0\r\n\r\n", "/healthz"));
        assert!(!asks(b"GET /healthz?x=1 HTTP/1.1\r\n\r\n", "/healthz"));
        assert!(!asks(b"GET /healthzz HTTP/1.1\r\n\r\n", "/healthz"));
        assert!(!asks(b"GET /write HTTP/1.1\r\n\r\n", "/healthz"));
        let (a, s) = answer(false);
        assert_eq!(s, 200);
        assert!(
            String::from_utf8(a)
                .unwrap()
                .ends_with("Service ready.\n</body></html>\n")
        );
        assert_eq!(answer(true).1, 503);
    }
}
