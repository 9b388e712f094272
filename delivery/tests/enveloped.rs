//! A writer delivering enveloped, gzipped records (the balancer's mirror) to a scripted server
//! on loopback: records with the same target share one multi-member gzip body sent as queued,
//! each keeps its path, query and credentials, and a 413 unpacks and splits the batch.

use netpulse_config::{CircuitBreakerConfig, HttpPoolConfig};
use netpulse_delivery::breaker::{Breaker, State};
use netpulse_delivery::endpoint::{Endpoint, Target};
use netpulse_delivery::queue::DiskQueue;
use netpulse_delivery::writer::{Framing, Replica, Step, Writer};
use netpulse_delivery::{Observer, Outcome, envelope, gzip};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// What the server received: (request line, authorization, lines of the unpacked body).
type Seen = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

/// Answers 413 to a body of more than `max_lines` lines, else 204; keeps connections alive.
fn server(max_lines: usize) -> (u16, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let mut head = String::new();
                    if r.read_line(&mut head).unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut len, mut auth) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "authorization" => auth = v.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let plain = String::from_utf8(gzip::gunzip(&body).unwrap()).unwrap();
                    let lines: Vec<String> = plain.lines().map(str::to_string).collect();
                    let status = if lines.len() > max_lines {
                        "413 Request Entity Too Large"
                    } else {
                        "204 No Content"
                    };
                    if lines.len() <= max_lines {
                        log.lock().unwrap().push((head.trim().to_string(), auth, lines));
                    }
                    write!(w, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").unwrap();
                }
            });
        }
    });
    (port, seen)
}

struct Count(Mutex<Outcome>);

impl Observer for Count {
    fn delivered(&self, o: Outcome) {
        let mut c = self.0.lock().unwrap();
        *c = *c + o;
    }
    fn write_seconds(&self, _: f64) {}
    fn breaker(&self, _: State) {}
    fn queue(&self, _: &DiskQueue) {}
}

fn target(path: &str, auth: &str) -> Target {
    let mut t = Target {
        path_and_query: path.into(),
        headers: vec![(
            hyper::header::AUTHORIZATION,
            hyper::header::HeaderValue::from_str(auth).unwrap(),
        )],
    };
    t.headers.push((
        hyper::header::CONTENT_ENCODING,
        hyper::header::HeaderValue::from_static("gzip"),
    ));
    t
}

#[tokio::test]
async fn gzipped_envelopes_share_a_body_per_target_and_split_on_413() {
    let (port, seen) = server(4);
    let dir = std::env::temp_dir().join(format!("np-enveloped-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (q, _) = DiskQueue::open(&dir, 8 << 20).unwrap();
    let replica = Replica::new("a".into(), q);
    let (db1, db2) = (
        target("/write?db=one&precision=s", "Basic b25l"),
        target("/write?db=two", "Token dHdv"),
    );
    for (t, lines) in [
        (&db1, "m v=1i 1\nm v=2i 2\nm v=3i 3\n"),
        (&db1, "m v=4i 4\nm v=5i 5\nm v=6i 6\n"),
        (&db2, "n v=1i 1\n"),
    ] {
        let mut payload = envelope::header(t, 64).unwrap();
        payload.extend_from_slice(&gzip::gzip(lines.as_bytes()));
        let points = lines.lines().count() as u32;
        replica.lock().append(&payload, points).unwrap();
    }
    replica.lock().sync().unwrap();
    let endpoint = Endpoint::new("a", &format!("http://127.0.0.1:{port}"), &HttpPoolConfig::default()).unwrap();
    let count = Arc::new(Count(Mutex::default()));
    let mut w = Writer::new(
        replica.clone(),
        endpoint,
        Framing::Enveloped,
        Breaker::new(&CircuitBreakerConfig::default()),
        1000,
        count.clone(),
    );
    for _ in 0..2 {
        assert!(matches!(w.step().await, Step::Delivered(_)));
    }
    assert!(matches!(w.step().await, Step::Empty));
    let got = seen.lock().unwrap().clone();
    // db one: 6 points in one body refused (413), then unpacked and sent as 3 + 3.
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, "POST /write?db=one&precision=s HTTP/1.1");
    assert_eq!(got[0].1, "Basic b25l");
    assert_eq!(got[0].2, ["m v=1i 1", "m v=2i 2", "m v=3i 3"]);
    assert_eq!(got[1].2, ["m v=4i 4", "m v=5i 5", "m v=6i 6"]);
    assert_eq!(
        (got[2].0.as_str(), got[2].1.as_str()),
        ("POST /write?db=two HTTP/1.1", "Token dHdv")
    );
    assert_eq!(got[2].2, ["n v=1i 1"]);
    assert_eq!(count.0.lock().unwrap().written, 7);
    assert!(replica.lock().is_empty());
}
