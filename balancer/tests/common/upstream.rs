//! Real HTTP servers on free loopback ports (hyper) that count what they receive, answer
//! their name, and can fail their health endpoint or go away.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP server answering `name` on every path; `/health` answers 200 or 500.
pub struct Upstream {
    pub name: String,
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    pub healthy: Arc<AtomicBool>,
    pub cookies: Arc<Mutex<Vec<String>>>,
    /// Milliseconds every answer is held back.
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
    task: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    /// On a port the kernel picks (no race with other tests for a "free" port).
    pub fn start(name: &str) -> Self {
        Self::start_on(name, 0)
    }

    pub fn start_on(name: &str, port: u16) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let cookies = Arc::new(Mutex::new(vec![]));
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (h, he, c, st, n, dl) = (
            hits.clone(),
            healthy.clone(),
            cookies.clone(),
            stop.clone(),
            name.to_string(),
            delay_ms.clone(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let task = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                loop {
                    let accept = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                    if st.load(Ordering::Relaxed) {
                        return; // dropping the listener and every connection task: the server is gone
                    }
                    let Ok(Ok((stream, _))) = accept else { continue };
                    let (h, he, c, n, st, dl) = (h.clone(), he.clone(), c.clone(), n.clone(), st.clone(), dl.clone());
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let (h, he, c, n, dl) = (h.clone(), he.clone(), c.clone(), n.clone(), dl.clone());
                            async move {
                                if req.uri().path() == "/health" {
                                    let code = if he.load(Ordering::Relaxed) { 200 } else { 500 };
                                    return Ok::<_, std::convert::Infallible>(Response::builder().status(code).body(Full::new(Bytes::from("health"))).unwrap());
                                }
                                h.fetch_add(1, Ordering::Relaxed);
                                let delay = dl.load(Ordering::Relaxed);
                                if delay > 0 {
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                // `/cached…` answers with freshness, as a cacheable page does.
                                let cached = req.uri().path().starts_with("/cached");
                                if let Some(v) = req.headers().get("cookie").and_then(|v| v.to_str().ok()) {
                                    c.lock().unwrap().push(v.to_string());
                                }
                                // A request body is answered with its length and checksum.
                                use http_body_util::BodyExt;
                                let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                if body.is_empty() {
                                    let mut r = Response::new(Full::new(Bytes::from(n)));
                                    if cached {
                                        r.headers_mut().insert("cache-control", hyper::header::HeaderValue::from_static("max-age=60"));
                                    }
                                    return Ok(r);
                                }
                                Ok(Response::new(Full::new(Bytes::from(format!("{n} {} {}", body.len(), checksum(&body))))))
                            }
                        });
                        let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        loop {
                            tokio::select! {
                                _ = &mut conn => return,
                                _ = tokio::time::sleep(Duration::from_millis(50)) => if st.load(Ordering::Relaxed) { return },
                            }
                        }
                    });
                }
            });
        });
        let port = rx.recv().unwrap();
        Self {
            name: name.into(),
            port,
            hits,
            healthy,
            cookies,
            delay_ms,
            task: Some(task),
            stop,
        }
    }

    /// Closes the listener and every connection (like a SIGKILLed server).
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.join();
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the servers answer for a request body: a position-weighted sum of its bytes.
pub fn checksum(body: &[u8]) -> u64 {
    body.iter().enumerate().fold(0u64, |s, (i, &b)| {
        s.wrapping_add((i as u64 + 1).wrapping_mul(u64::from(b)))
    })
}
