//! The HTTP API (docs/http-api.md): `/health`, `/ready`, `/metrics`, `/targets`, and
//! `POST /collect` (in `collect`). Bad requests get a 4xx naming the field; the token is
//! compared in constant time and never logged.

mod cluster;
pub(crate) mod collect;
mod reply;
mod request;

use super::Core;
use crate::metrics::METRICS;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reply::{error, json_resp};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

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

async fn route(core: Arc<Core>, req: Request<Incoming>) -> reply::Resp {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => health(&core),
        (&Method::GET, "/ready") => ready(&core),
        (&Method::GET, "/metrics") => {
            METRICS.snmp_malformed.set(core.engine.malformed_datagrams() as i64);
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
        (&Method::GET, "/cluster") => cluster::cluster(&core),
        (&Method::PUT | &Method::DELETE, path) if path.starts_with("/targets/") => {
            let name = percent_decode(&path["/targets/".len()..]);
            cluster::change_target(core, req, name).await
        }
        (&Method::POST, "/collect") => {
            let resp = collect::collect(core, req).await;
            METRICS.collects.with_label_values(&[resp.status().as_str()]).inc();
            resp
        }
        (_, "/health" | "/ready" | "/metrics" | "/targets" | "/collect" | "/cluster") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", None)
        }
        (_, path) => error(StatusCode::NOT_FOUND, format!("no such route {path}"), None),
    }
}

/// `%XX` escapes of a path segment decoded (a target name may hold any character but '/').
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Who polls `name` on schedule: this replica standalone; in cluster mode the member the
/// assignment (`members`) gives it to.
fn owner(core: &Core, members: &[String], name: &str) -> Value {
    json!(crate::cluster::assign::owner(name, members).unwrap_or(&core.replica))
}

fn targets(core: &Core) -> Value {
    let members = core.cluster.as_ref().map(|c| c.members().1).unwrap_or_default();
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
                "profile": t.profile.name(),
                "breaker": breaker,
                "last_poll": last,
                "next_poll": st.next_poll.map(rfc3339),
                "polling": e.busy(),
                "owner": owner(core, &members, &t.name),
            })
        })
        .collect();
    json!({ "replica": core.replica, "targets": list })
}

/// Liveness: the scheduler loop runs. The slot figures are for the operator; an overloaded
/// collector is alive (restarting it would not help), so it is `/ready` that fails.
fn health(core: &Core) -> reply::Resp {
    let missed = core.admission.missed_last_minute();
    let scheduler = json!({
        "slots": core.config().collector.max_concurrent_targets,
        "slots_in_use": core.admission.in_use(),
        "polls_waiting": core.admission.waiting(),
        "missed_slots_last_minute": {"answering": missed.0, "unproven": missed.1},
    });
    if core.alive() {
        json_resp(StatusCode::OK, json!({"status": "ok", "scheduler": scheduler}))
    } else {
        json_resp(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "stalled", "reason": "the scheduler loop has not run for 10s", "scheduler": scheduler}),
        )
    }
}

/// Readiness: every output can take points, and targets that answer get their slots (silent
/// ones missing theirs is their agents' fault, not this collector's: `/health` counts them).
fn ready(core: &Core) -> reply::Resp {
    if let Some((output, reason)) = core.outputs.saturated() {
        return json_resp(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not_ready", "output": output, "reason": reason}),
        );
    }
    let (missed, _) = core.admission.missed_last_minute();
    if missed > 0 {
        let reason = format!(
            "the scheduler missed {missed} polls of answering targets in the last minute: more polls are due than \
             collector.max_concurrent_targets ({}) slots can run",
            core.config().collector.max_concurrent_targets
        );
        return json_resp(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not_ready", "scheduler": "missing slots", "reason": reason}),
        );
    }
    json_resp(StatusCode::OK, json!({"status": "ready"}))
}
