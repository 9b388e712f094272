//! The cluster routes: `GET /cluster` (members, their state, last heartbeat, targets owned,
//! and the members the assignment uses), `PUT /targets/NAME` and `DELETE /targets/NAME`
//! (run-time targets, stored in Redis for every replica; token-protected like `/collect`).

use super::reply::{Refusal, Resp, json_resp};
use super::request::token_ok;
use crate::daemon::Core;
use crate::daemon::targets::PutError;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn ms_rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub fn cluster(core: &Core) -> Resp {
    let Some(c) = &core.cluster else {
        return json_resp(StatusCode::OK, json!({ "mode": "standalone", "replica": core.replica }));
    };
    let (members, assignment, now_ms) = c.members();
    let list: Vec<Value> = (members.iter())
        .map(|m| {
            json!({
                "id": m.id,
                "state": if m.draining { "draining" } else { "active" },
                "last_heartbeat": ms_rfc3339(m.heartbeat_ms),
                "heartbeat_age_ms": now_ms.saturating_sub(m.heartbeat_ms),
                "targets_owned": m.owned,
            })
        })
        .collect();
    json_resp(
        StatusCode::OK,
        json!({
            "mode": "cluster",
            "replica": c.id,
            "redis": c.redis_state().0,
            "redis_error": c.redis_state().1,
            "members": list,
            "assignment": assignment,
        }),
    )
}

/// `PUT` or `DELETE /targets/NAME`.
pub async fn change_target(core: Arc<Core>, req: Request<Incoming>, name: String) -> Resp {
    match change(core, req, name).await {
        Ok(r) => r,
        Err(refusal) => refusal.response(),
    }
}

async fn change(core: Arc<Core>, req: Request<Incoming>, name: String) -> Result<Resp, Refusal> {
    if !token_ok(&core, &req) {
        let why = "missing or wrong bearer token (Authorization: Bearer …)";
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, why));
    }
    let Some(c) = core.cluster.clone() else {
        let why = "run-time targets are kept in Redis: enable [cluster] (or set REDIS_URL)";
        return Err(Refusal::new(StatusCode::CONFLICT, why));
    };
    if name.is_empty() || name.len() > 200 || name.chars().any(|ch| ch.is_control() || ch == '/') {
        return Err(Refusal::bad("name", "a target name of 1-200 characters, without '/'"));
    }
    let unavailable = |e: crate::cluster::store::StoreError| {
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, format!("not stored: {e}"))
    };
    if req.method() == Method::DELETE {
        if core.is_config_target(&name) {
            let why = format!("{name:?} is a target of the configuration file; remove it there");
            return Err(Refusal::new(StatusCode::CONFLICT, why));
        }
        let held = c.changing().await;
        return match c.delete_target(&name).await.map_err(unavailable)? {
            true => {
                let _ = core.apply_runtime_change(&name, None);
                drop(held);
                Ok(json_resp(StatusCode::OK, json!({ "deleted": name })))
            }
            false => Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no run-time target {name:?}"),
            )),
        };
    }
    let body = super::request::body(&core, req).await?;
    let existed = core.put_runtime_target(&c, &name, &body).await.map_err(|e| match e {
        PutError::Invalid(i) => Refusal {
            field: i.field.filter(|f| !f.is_empty()),
            ..Refusal::new(
                if i.conflict {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                },
                i.message,
            )
        },
        PutError::Store(e) => unavailable(e),
    })?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_resp(status, json!({ "stored": name })))
}
