//! `POST /collect`: an ad-hoc poll of some or all targets. Three steps, each able to
//! refuse with the answer the client must see: the request is read and validated (401 for
//! the token, 413 for the body, 400 naming the field), admitted (429 when the collect slots
//! are taken; joining a poll already running is always admitted), then answered (200 with
//! the results when waiting, 202 with an id otherwise). Concurrent collects of one target
//! share one poll.

use super::reply::{Refusal, Resp, json_resp};
use crate::daemon::Core;
use crate::daemon::state::{Entry, PollFuture};
use crate::poll::PollOutcome;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

static COLLECT_IDS: AtomicU64 = AtomicU64::new(1);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct CollectRequest {
    targets: Option<Vec<String>>,
    modules: Option<Vec<String>>,
    wait: Option<bool>,
    timeout: Option<String>,
}

/// A request that passed validation: what to poll and how to answer.
struct Collect {
    names: Vec<String>,
    entries: Vec<Arc<Entry>>,
    modules: Option<Vec<String>>,
    wait: bool,
    timeout: Duration,
}

pub async fn collect(core: Arc<Core>, req: Request<Incoming>) -> Resp {
    if !super::request::token_ok(&core, &req) {
        let why = "missing or wrong bearer token (Authorization: Bearer …)";
        return Refusal::new(StatusCode::UNAUTHORIZED, why).response();
    }
    let admitted = async {
        let collect = validate(&core, read(&core, req).await?)?;
        let (polls, permit) = admit(&core, &collect)?;
        Ok::<_, Refusal>((collect, polls, permit))
    };
    match admitted.await {
        Ok((collect, polls, permit)) => respond(core, collect, polls, permit).await,
        Err(refusal) => refusal.response(),
    }
}

/// The body as a request (empty: every target).
async fn read(core: &Core, req: Request<Incoming>) -> Result<CollectRequest, Refusal> {
    let body = super::request::body(core, req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CollectRequest::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Refusal {
            field: (path != ".").then_some(path),
            ..Refusal::new(StatusCode::BAD_REQUEST, format!("invalid request body: {}", e.inner()))
        }
    })
}

/// Checks the timeout, the targets (known, not an empty list) and the modules (polled on
/// at least one of them); each error names its field.
fn validate(core: &Core, request: CollectRequest) -> Result<Collect, Refusal> {
    let timeout = match request.timeout.as_deref().map(humantime::parse_duration) {
        None => Duration::from_secs(30),
        Some(Ok(d)) if !d.is_zero() && d <= Duration::from_secs(3600) => d,
        Some(_) => {
            let why = "timeout must be a duration like \"30s\" (at most 1h)";
            return Err(Refusal::bad("timeout", why));
        }
    };
    let names: Vec<String> = match request.targets {
        Some(t) if t.is_empty() => {
            let why = "targets is empty (omit it to collect every target)";
            return Err(Refusal::bad("targets", why));
        }
        Some(t) => t,
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
        let Some(e) = core.entry(n) else {
            return Err(Refusal::bad(format!("targets[{i}]"), format!("unknown target {n:?}")));
        };
        entries.push(e);
    }
    for (i, m) in request.modules.iter().flatten().enumerate() {
        if !entries
            .iter()
            .any(|e| e.target().modules.iter().any(|tm| &tm.name == m))
        {
            let why = format!("module {m:?} is not polled on these targets");
            return Err(Refusal::bad(format!("modules[{i}]"), why));
        }
    }
    Ok(Collect {
        names,
        entries,
        modules: request.modules,
        wait: request.wait != Some(false),
        timeout,
    })
}

/// Load shedding: collects that start polls have their own slots, so scheduled polls keep
/// theirs. Joining a poll already running costs nothing and is always admitted. Returns
/// the polls (started or joined) and the slot they hold, if any.
fn admit(core: &Arc<Core>, c: &Collect) -> Result<(Vec<Work>, Option<OwnedSemaphorePermit>), Refusal> {
    let key = c.modules.as_ref().map_or_else(|| "*".to_string(), |m| m.join(","));
    if let Some(cluster) = &core.cluster {
        // The replicas share one poll: only the one that polls takes a slot (in `results`);
        // waiting for another replica's poll costs nothing. Shed load when all are taken.
        if core.collect_slots.available_permits() == 0 {
            return Err(too_many());
        }
        let shared = c.entries.iter().map(|e| Work::Shared(e.clone(), cluster.clone()));
        return Ok((shared.collect(), None));
    }
    let admission = core.collect_admission.lock().unwrap_or_else(|p| p.into_inner());
    let joins_only =
        (c.entries.iter()).all(|e| e.inflight.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key));
    let permit = if joins_only {
        None
    } else {
        let Ok(p) = core.collect_slots.clone().try_acquire_owned() else {
            return Err(too_many());
        };
        Some(p)
    };
    let polls = (c.entries.iter())
        .map(|e| Work::Started(core.poll(e, c.modules.clone())))
        .collect();
    drop(admission);
    Ok((polls, permit))
}

/// A poll of `name`'s `modules` now, started as `POST /collect` with `wait: false` starts it:
/// the same single flight, slots and (cluster) one poll among the replicas. For event-driven
/// polls (a linkDown trap). False when refused: unknown target, modules it does not poll,
/// or every collect slot taken.
pub fn trigger(core: &Arc<Core>, name: &str, modules: Vec<String>) -> bool {
    let Some(e) = core.entry(name) else { return false };
    let polled: Vec<String> = (modules.into_iter())
        .filter(|m| e.target().modules.iter().any(|tm| &tm.name == m))
        .collect();
    if polled.is_empty() {
        return false;
    }
    let c = Collect {
        names: vec![name.to_string()],
        entries: vec![e],
        modules: Some(polled),
        wait: false,
        timeout: Duration::from_secs(30),
    };
    let Ok((polls, permit)) = admit(core, &c) else {
        return false;
    };
    let work = results(core, &c, polls);
    tokio::spawn(async move {
        futures::future::join_all(work).await;
        drop(permit);
    });
    true
}

fn too_many() -> Refusal {
    Refusal {
        retry_after: Some("1"),
        ..Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many collects in progress; retry later",
        )
    }
}

/// One target's part of a collect: a poll started here, or one shared across replicas.
enum Work {
    Started(PollFuture),
    Shared(Arc<Entry>, Arc<crate::cluster::Cluster>),
}

fn result(o: &PollOutcome) -> Value {
    let ms = o
        .modules
        .iter()
        .map(|m| m.duration)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0;
    json!({ "target": &*o.target, "ok": o.ok(), "points": o.points.len(), "duration_ms": ms, "error": o.errors().next() })
}

fn late(name: &str, timeout: Duration) -> Value {
    json!({ "target": name, "ok": false, "points": 0, "duration_ms": timeout.as_secs_f64() * 1000.0, "error": format!("no result within {timeout:?}; the poll goes on") })
}

/// Each target's result: its own poll's, or (cluster) the one poll the replicas shared.
fn results(core: &Arc<Core>, c: &Collect, polls: Vec<Work>) -> Vec<futures::future::BoxFuture<'static, Value>> {
    let key = c.modules.as_ref().map_or_else(|| "*".to_string(), |m| m.join(","));
    (c.names.iter().zip(polls))
        .map(|(name, work)| {
            let (core, name, modules, timeout) = (core.clone(), name.clone(), c.modules.clone(), c.timeout);
            let lock = format!("{name}|{key}");
            async move {
                match work {
                    Work::Started(f) => result(&*f.await),
                    Work::Shared(e, cluster) => {
                        let local = || async {
                            let _slot = core.collect_slots.clone().acquire_owned().await;
                            result(&*core.poll(&e, modules).await)
                        };
                        let shared = cluster.shared_collect(&lock, timeout, local);
                        shared.await.unwrap_or_else(|| late(&name, timeout))
                    }
                }
            }
            .boxed()
        })
        .collect()
}

/// 202 with an id (the polls go on), or 200 with each target's result within the timeout.
async fn respond(core: Arc<Core>, c: Collect, polls: Vec<Work>, permit: Option<OwnedSemaphorePermit>) -> Resp {
    let work = results(&core, &c, polls);
    if !c.wait {
        let id = COLLECT_IDS.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            futures::future::join_all(work).await;
            drop(permit);
        });
        return json_resp(StatusCode::ACCEPTED, json!({ "id": id }));
    }
    let timeout = c.timeout;
    let waited = tokio::time::timeout(timeout, futures::future::join_all(work)).await;
    drop(permit);
    let results: Vec<Value> = match waited {
        Ok(results) => results,
        Err(_) => c.names.iter().map(|n| late(n, timeout)).collect(),
    };
    json_resp(StatusCode::OK, json!({ "results": results }))
}
