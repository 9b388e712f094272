//! One poll of one target: every module under the target's deadline, producing the
//! module points plus a `netpulse_poll` self point per module. A slow or dead agent
//! costs at most its own deadline; modules that finished keep their points.

use crate::lineproto::{FieldValue, Name, Point};
use crate::mapping::{Context, scalar_point, table_points};
use crate::modules::Module;
use crate::snmp::walk::{get_scalars, walk_columns};
use crate::snmp::{Limited, Oid, SnmpEngine, SnmpError, SnmpSession};
use crate::target::Target;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct ModuleOutcome {
    pub module: String,
    pub error: Option<String>,
    pub duration: Duration,
    pub varbinds: usize,
    pub requests: u32,
    /// The agent did not answer (as opposed to answering with an error).
    pub timed_out: bool,
}

#[derive(Debug, Clone)]
pub struct PollOutcome {
    pub target: Name,
    pub points: Vec<Point>,
    pub modules: Vec<ModuleOutcome>,
}

impl PollOutcome {
    pub fn ok(&self) -> bool {
        self.modules.iter().all(|m| m.error.is_none())
    }
    /// Replaces bare timeouts with their diagnosed cause (also in the self points).
    fn explain_timeouts(&mut self, target: &Target, cause: &str) {
        for m in self.modules.iter_mut().filter(|m| m.timed_out) {
            m.error = Some(cause.to_string());
        }
        let ts = self
            .points
            .iter()
            .find(|p| &*p.measurement == "netpulse_poll")
            .map_or_else(now_ns, |p| p.timestamp);
        self.points.retain(|p| &*p.measurement != "netpulse_poll");
        self.points
            .extend(self.modules.iter().map(|m| self_point(target, m, ts)));
    }

    /// `module: error` lines of the failed modules.
    pub fn errors(&self) -> impl Iterator<Item = String> + '_ {
        self.modules
            .iter()
            .filter_map(|m| m.error.as_ref().map(|e| format!("module {}: {e}", m.module)))
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Polls `target` through `engine`; requests share the `ops` permits.
pub async fn poll(engine: &SnmpEngine, target: &Target, ops: Arc<Semaphore>, batch_size: usize) -> PollOutcome {
    let started = Instant::now();
    let connect = engine.session(
        &target.address.host,
        target.address.port,
        &target.security,
        target.policy,
    );
    match tokio::time::timeout(target.deadline, connect).await {
        Ok(Ok(session)) => {
            let mut outcome = poll_session(
                &Limited {
                    inner: session,
                    permits: ops,
                },
                target,
                batch_size,
            )
            .await;
            if outcome.modules.iter().any(|m| m.timed_out) {
                let (host, port) = (&target.address.host, target.address.port);
                if let Some(cause) = engine
                    .diagnose_v3_timeout(host, port, &target.security, target.policy)
                    .await
                {
                    outcome.explain_timeouts(target, &cause.to_string());
                }
            }
            outcome
        }
        Ok(Err(e)) => failed(target, e.to_string(), started.elapsed()),
        Err(_) => failed(
            target,
            "poll deadline exceeded while connecting".into(),
            started.elapsed(),
        ),
    }
}

fn failed(target: &Target, error: String, duration: Duration) -> PollOutcome {
    let modules: Vec<ModuleOutcome> = target
        .modules
        .iter()
        .map(|m| ModuleOutcome {
            module: m.name.clone(),
            error: Some(error.clone()),
            duration,
            varbinds: 0,
            requests: 0,
            timed_out: false,
        })
        .collect();
    let ts = now_ns();
    let points = modules.iter().map(|m| self_point(target, m, ts)).collect();
    PollOutcome {
        target: target.name.clone(),
        points,
        modules,
    }
}

/// The poll itself, over any session (tests use in-memory agents).
pub async fn poll_session<S: SnmpSession>(session: &S, target: &Target, batch_size: usize) -> PollOutcome {
    let deadline = tokio::time::Instant::now() + target.deadline;
    // Rates need the agent's clock to tell a restart (counters began again) from a wrap.
    let uptime = match &target.rates {
        Some(_) => uptime(session, deadline).await,
        None => None,
    };
    let runs: Vec<_> = target
        .modules
        .iter()
        .map(|m| run_module(session, target, m, deadline, uptime))
        .collect();
    let results: Vec<(ModuleOutcome, Vec<Point>)> =
        futures::stream::iter(runs).buffered(batch_size.max(1)).collect().await;
    let ts = now_ns();
    let mut points = vec![];
    let mut modules = vec![];
    for (outcome, pts) in results {
        points.extend(pts);
        points.push(self_point(target, &outcome, ts));
        modules.push(outcome);
    }
    PollOutcome {
        target: target.name.clone(),
        points,
        modules,
    }
}

async fn uptime<S: SnmpSession>(session: &S, deadline: tokio::time::Instant) -> Option<u32> {
    let oid = Oid::parse("1.3.6.1.2.1.1.3.0")?;
    match tokio::time::timeout_at(deadline, session.get(&[oid])).await {
        Ok(Ok(vbs)) => vbs.into_iter().find_map(|vb| match vb.value {
            crate::snmp::Value::TimeTicks(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

async fn run_module<S: SnmpSession>(
    session: &S,
    target: &Target,
    m: &Module,
    deadline: tokio::time::Instant,
    uptime: Option<u32>,
) -> (ModuleOutcome, Vec<Point>) {
    let started = Instant::now();
    let mut requests = 0u32;
    let res = tokio::time::timeout_at(deadline, poll_module(session, target, m, &mut requests, uptime)).await;
    let duration = started.elapsed();
    let (points, varbinds, error, timed_out) = match res {
        Ok(Ok((points, varbinds))) => (points, varbinds, None, false),
        Ok(Err(e)) => (vec![], 0, Some(e.to_string()), e.is_timeout()),
        Err(_) => (
            vec![],
            0,
            Some(format!("poll deadline of {:?} exceeded", target.deadline)),
            true,
        ),
    };
    (
        ModuleOutcome {
            module: m.name.clone(),
            error,
            duration,
            varbinds,
            requests,
            timed_out,
        },
        points,
    )
}

async fn poll_module<S: SnmpSession>(
    s: &S,
    target: &Target,
    m: &Module,
    requests: &mut u32,
    uptime: Option<u32>,
) -> Result<(Vec<Point>, usize), SnmpError> {
    let rates = target.rates.as_deref().map(|t| (t, uptime));
    let mut points = vec![];
    let mut varbinds = 0;
    if let Some(group) = &m.scalars {
        let oids: Vec<Oid> = group.objects.iter().map(|o| o.oid.child(0)).collect();
        let vbs = get_scalars(s, &oids, &target.limits, requests).await?;
        varbinds += vbs.len();
        let ctx = Context {
            base_tags: &target.tags,
            timestamp: now_ns(),
            rates,
        };
        points.extend(scalar_point(group, &vbs, &ctx));
    }
    for group in &m.tables {
        let oids: Vec<Oid> = group.columns.iter().map(|c| c.oid.clone()).collect();
        let cols = walk_columns(s, &oids, &target.limits, requests).await?;
        varbinds += cols.iter().map(Vec::len).sum::<usize>();
        let ctx = Context {
            base_tags: &target.tags,
            timestamp: now_ns(),
            rates,
        };
        points.extend(table_points(group, cols, &ctx));
    }
    Ok((points, varbinds))
}

fn self_point(target: &Target, m: &ModuleOutcome, ts: i64) -> Point {
    let mut tags = target.tags.clone();
    tags.push(("module".into(), m.module.as_str().into()));
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let mut fields: Vec<(Name, FieldValue)> = vec![
        (
            "duration_ms".into(),
            FieldValue::Float(m.duration.as_micros() as f64 / 1000.0),
        ),
        ("varbinds".into(), FieldValue::Int(m.varbinds as i64)),
        ("ok".into(), FieldValue::Bool(m.error.is_none())),
    ];
    if let Some(e) = &m.error {
        fields.push(("error".into(), FieldValue::Str(e.clone())));
    }
    Point {
        measurement: "netpulse_poll".into(),
        tags,
        fields,
        timestamp: ts,
    }
}
