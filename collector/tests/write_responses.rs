//! How the writer answers a difficult replica (a small scripted HTTP server): 503 with
//! Retry-After is honoured, 413 splits the batch, 400 drops only the rejected part, and
//! what the server stored plus what was counted as dropped is exactly what was queued.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use netpulse_collector::lineproto::{FieldValue, Point};
use netpulse_collector::output::OutputSet;
use netpulse_collector::output::metrics::METRICS;
use netpulse_config::{CollectorConfig, InfluxOutput};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    requests: Vec<(u16, usize)>,
    stored: Vec<String>,
}

/// First request: 503 Retry-After 1. Then: more than 50 lines → 413; a batch holding a
/// `bad` line → 400 (InfluxDB-style error); otherwise 204 and the lines are stored.
async fn serve(seen: Arc<Mutex<Seen>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        assert_eq!(req.headers()["content-encoding"], "gzip");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut text = String::new();
                        flate2::read::GzDecoder::new(&body[..])
                            .read_to_string(&mut text)
                            .unwrap();
                        let lines: Vec<String> = text.lines().map(String::from).collect();
                        let mut s = seen.lock().unwrap();
                        let (status, msg) = if s.requests.is_empty() {
                            (503, "overloaded")
                        } else if lines.len() > 50 {
                            (413, "request entity too large")
                        } else if lines.iter().any(|l| l.starts_with("bad")) {
                            (400, "{\"error\":\"field type conflict\"}")
                        } else {
                            s.stored.extend(lines.iter().cloned());
                            (204, "")
                        };
                        s.requests.push((status, lines.len()));
                        let mut resp = Response::builder().status(status);
                        if status == 503 {
                            resp = resp.header("Retry-After", "1");
                        }
                        Ok::<_, std::convert::Infallible>(resp.body(Full::new(Bytes::from(msg))).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

fn points(measurement: &str, n: usize, base: i64) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            measurement: measurement.into(),
            tags: vec![("target".into(), "sw1".into())],
            fields: vec![("v".into(), FieldValue::Int(i as i64))],
            timestamp: base + i as i64,
        })
        .collect()
}

#[tokio::test]
async fn retry_after_split_and_reject() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = serve(seen.clone()).await;
    let dir = std::env::temp_dir().join(format!("np-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = CollectorConfig::default();
    cfg.outputs.influxdb.push(InfluxOutput {
        name: "scripted".into(),
        url: format!("http://127.0.0.1:{port}"),
        database: Some("telemetry".into()),
        queue_dir: dir.display().to_string(),
        ..InfluxOutput::default()
    });
    let outputs = OutputSet::open(&cfg).unwrap();
    outputs.enqueue(&points("good", 100, 0));
    outputs.enqueue(&points("bad", 1, 1000));
    outputs.enqueue(&points("good", 20, 2000));
    outputs.commit();
    let mut writers = outputs.writers(&cfg).unwrap();
    let started = Instant::now();
    assert!(
        writers[0]
            .drain(tokio::time::Instant::now() + Duration::from_secs(20))
            .await,
        "queue drained"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );

    let s = seen.lock().unwrap();
    assert_eq!(s.requests[0], (503, 121));
    assert_eq!(s.requests[1], (413, 121), "the whole batch retried after the wait");
    assert!(s.requests.iter().any(|(st, _)| *st == 400));
    let rejected: usize = s.requests.iter().filter(|(st, _)| *st == 400).map(|(_, n)| n).sum();
    let written = METRICS.written.with_label_values(&["scripted"]).get() as usize;
    let dropped = METRICS.dropped.with_label_values(&["scripted", "rejected"]).get() as usize;
    assert_eq!(written, s.stored.len());
    assert_eq!(dropped, rejected);
    assert_eq!(
        written + dropped,
        121,
        "every queued point was stored or counted as dropped"
    );
    assert!(rejected < 121 / 2, "only the rejected part was dropped: {rejected}");
    assert!(!s.stored.iter().any(|l| l.starts_with("bad")));
    assert_eq!(outputs.pending_points("scripted"), 0);
    assert_eq!(METRICS.queued.with_label_values(&["scripted"]).get(), 0);
}

#[tokio::test]
async fn full_queue_drops_oldest_and_counts() {
    let dir = std::env::temp_dir().join(format!("np-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = CollectorConfig::default();
    cfg.outputs.influxdb.push(InfluxOutput {
        name: "tiny".into(),
        url: "http://127.0.0.1:9".into(), // nothing listens: everything stays queued
        database: Some("telemetry".into()),
        queue_dir: dir.display().to_string(),
        queue_max_bytes: netpulse_config::ByteSize(64 * 1024),
        ..InfluxOutput::default()
    });
    let outputs = OutputSet::open(&cfg).unwrap();
    for round in 0..100 {
        outputs.enqueue(&points("good", 30, round * 100));
    }
    outputs.commit();
    let dropped = METRICS.dropped.with_label_values(&["tiny", "queue_full"]).get();
    let queued = outputs.pending_points("tiny");
    assert!(dropped > 0, "the bound was reached");
    assert_eq!(dropped + queued, 3000, "every point is queued or counted as dropped");
    assert_eq!(METRICS.queued.with_label_values(&["tiny"]).get() as u64, queued);
    assert!(METRICS.queue_bytes.with_label_values(&["tiny"]).get() <= 64 * 1024 + 8192);
}
