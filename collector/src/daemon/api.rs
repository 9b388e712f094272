//! The HTTP API (SPEC §4): `/health`, `/ready`, `/metrics`, `/targets`, `POST /collect`.
//! Bad requests get a 4xx naming the field; the token is compared in constant time and
//! never logged; concurrent collects of one target share one poll.

use super::Core;
use crate::metrics::METRICS;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

static COLLECT_IDS: AtomicU64 = AtomicU64::new(1);

type Resp = Response<Full<Bytes>>;

fn json_resp(status: StatusCode, v: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Resp {
    let mut v = json!({ "error": message.into() });
    if let Some(f) = field {
        v["field"] = json!(f);
    }
    json_resp(status, v)
}

pub async fn serve(core: Arc<Core>, listener: tokio::net::TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let core = core.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let core = core.clone();
                async move { Ok::<_, std::convert::Infallible>(route(core, req).await) }
            });
            // Slow clients cannot hold a connection open without sending headers.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(core: Arc<Core>, req: Request<Incoming>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => {
            if core.alive() {
                json_resp(StatusCode::OK, json!({"status": "ok"}))
            } else {
                json_resp(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "stalled", "reason": "the scheduler loop has not run for 10s"}),
                )
            }
        }
        (&Method::GET, "/ready") => match core.outputs.saturated() {
            None => json_resp(StatusCode::OK, json!({"status": "ready"})),
            Some((output, reason)) => json_resp(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "not_ready", "output": output, "reason": reason}),
            ),
        },
        (&Method::GET, "/metrics") => {
            METRICS
                .pool_in_flight
                .set((core.config().collector.max_concurrent_operations - core.ops.available_permits()) as i64);
            let mut r = Response::new(Full::new(Bytes::from(crate::metrics::render())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::GET, "/targets") => json_resp(StatusCode::OK, targets(&core)),
        (&Method::POST, "/collect") => {
            let resp = collect(core, req).await;
            METRICS.collects.with_label_values(&[resp.status().as_str()]).inc();
            resp
        }
        (_, "/health" | "/ready" | "/metrics" | "/targets" | "/collect") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", None)
        }
        (_, path) => error(StatusCode::NOT_FOUND, format!("no such route {path}"), None),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn targets(core: &Core) -> Value {
    let entries: Vec<_> = core
        .targets
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let t = e.target();
            let mut st = e.state();
            let breaker = st.breaker.state().as_str();
            let last = st.last.as_ref().map(|l| {
                json!({
                    "time": rfc3339(l.at),
                    "duration_ms": l.duration.as_secs_f64() * 1000.0,
                    "ok": l.ok,
                    "error": l.error,
                    "points": l.points,
                })
            });
            json!({
                "name": &*t.name,
                "address": format!("udp://{}", t.address),
                "version": t.security.version().as_str(),
                "modules": t.modules.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                "breaker": breaker,
                "last_poll": last,
                "next_poll": st.next_poll.map(rfc3339),
                "polling": e.busy(),
                "owner": core.replica,
            })
        })
        .collect();
    json!({ "replica": core.replica, "targets": list })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct CollectRequest {
    targets: Option<Vec<String>>,
    modules: Option<Vec<String>>,
    wait: Option<bool>,
    timeout: Option<String>,
}

fn token_ok(core: &Core, req: &Request<Incoming>) -> bool {
    let cfg = core.config();
    let Some(token) = &cfg.api.token else { return true };
    let Some(given) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn collect(core: Arc<Core>, req: Request<Incoming>) -> Resp {
    if !token_ok(&core, &req) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer …)",
            None,
        );
    }
    let cfg = core.config();
    let limit = cfg.api.max_body_bytes.0 as usize;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
                None,
            );
        }
    };
    let request: CollectRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CollectRequest::default()
    } else {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize(de) {
            Ok(r) => r,
            Err(e) => {
                let path = e.path().to_string();
                let field = (path != ".").then_some(path);
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid request body: {}", e.inner()),
                    field.as_deref(),
                );
            }
        }
    };
    let timeout = match request.timeout.as_deref().map(humantime::parse_duration) {
        None => Duration::from_secs(30),
        Some(Ok(d)) if !d.is_zero() && d <= Duration::from_secs(3600) => d,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "timeout must be a duration like \"30s\" (at most 1h)",
                Some("timeout"),
            );
        }
    };
    let names: Vec<String> = match &request.targets {
        Some(t) if t.is_empty() => {
            return error(
                StatusCode::BAD_REQUEST,
                "targets is empty (omit it to collect every target)",
                Some("targets"),
            );
        }
        Some(t) => t.clone(),
        None => core
            .targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect(),
    };
    let mut entries = vec![];
    for (i, n) in names.iter().enumerate() {
        match core.entry(n) {
            Some(e) => entries.push(e),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown target {n:?}"),
                    Some(&format!("targets[{i}]")),
                );
            }
        }
    }
    if let Some(mods) = &request.modules {
        for (i, m) in mods.iter().enumerate() {
            if !entries
                .iter()
                .any(|e| e.target().modules.iter().any(|tm| &tm.name == m))
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("module {m:?} is not polled on these targets"),
                    Some(&format!("modules[{i}]")),
                );
            }
        }
    }
    // Load shedding: collects that start polls have their own slots, so scheduled polls keep
    // theirs. Joining a poll already running costs nothing and always succeeds.
    let key = request
        .modules
        .as_ref()
        .map_or_else(|| "*".to_string(), |m| m.join(","));
    let admission = core.collect_admission.lock().unwrap_or_else(|p| p.into_inner());
    let joins_only = entries
        .iter()
        .all(|e| e.inflight.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key));
    let permit = if joins_only {
        None
    } else {
        match core.collect_slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many collects in progress; retry later",
                    None,
                );
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            }
        }
    };
    let polls: Vec<_> = entries.iter().map(|e| core.poll(e, request.modules.clone())).collect();
    drop(admission);
    if request.wait == Some(false) {
        let id = COLLECT_IDS.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            futures::future::join_all(polls).await;
            drop(permit);
        });
        return json_resp(StatusCode::ACCEPTED, json!({ "id": id }));
    }
    let waited = tokio::time::timeout(timeout, futures::future::join_all(polls.clone())).await;
    drop(permit);
    let results: Vec<Value> = match waited {
        Ok(outcomes) => outcomes
            .iter()
            .map(|o| {
                let ms = o.modules.iter().map(|m| m.duration).max().unwrap_or_default().as_secs_f64() * 1000.0;
                json!({ "target": &*o.target, "ok": o.ok(), "points": o.points.len(), "duration_ms": ms, "error": o.errors().next() })
            })
            .collect(),
        Err(_) => names
            .iter()
            .map(|n| json!({ "target": n, "ok": false, "points": 0, "duration_ms": timeout.as_secs_f64() * 1000.0, "error": format!("no result within {timeout:?}; the poll goes on") }))
            .collect(),
    };
    json_resp(StatusCode::OK, json!({ "results": results }))
}
