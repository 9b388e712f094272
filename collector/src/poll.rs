//! One poll of one target: every module under the target's deadline, producing the
//! module points plus a `netpulse_poll` self point per module. A slow or dead agent
//! costs at most its own deadline; modules that finished keep their points.

use crate::lineproto::{FieldValue, Name, Point};
use crate::mapping::{Context, scalar_point, table_points};
use crate::modules::Module;
use crate::profiles::Matched;
use crate::snmp::Value;
use crate::snmp::walk::{get_scalars, walk_columns};
use crate::snmp::{Limited, Oid, SnmpEngine, SnmpError, SnmpSession};
use crate::target::{ProfileChoice, Target};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Extra attempts of a module after a transient (non-timeout) failure.
const MODULE_RETRIES: usize = 2;

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
    /// The device profile the poll used, and why.
    pub profile: Option<Matched>,
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
    // A profile known from an earlier poll sets the session's quirks (its timeout) too.
    let profiled = target.profile.matched().map(|m| target.with_profile(&m));
    let target = profiled.as_ref().unwrap_or(target);
    let malformed_before = engine.malformed_datagrams();
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
                let malformed = engine.malformed_datagrams() - malformed_before;
                if let Some(cause) = engine
                    .diagnose_v3_timeout(host, port, &target.security, target.policy)
                    .await
                {
                    outcome.explain_timeouts(target, &cause.to_string());
                } else if malformed > 0 {
                    // The sockets are shared, so the datagrams may be another agent's; said as such.
                    let cause = format!(
                        "no valid response (timeout); {malformed} malformed SNMP datagram(s) arrived meanwhile, probably this agent's"
                    );
                    tracing::warn!(target = %target.name, malformed, "malformed response");
                    outcome.explain_timeouts(target, &cause);
                }
            }
            outcome
        }
        Ok(Err(e)) => failed(target, e.to_string(), started.elapsed(), false),
        Err(_) => failed(
            target,
            "poll deadline exceeded while connecting".into(),
            started.elapsed(),
            false,
        ),
    }
}

/// Every module of `target` failed with `error` (`timed_out`: the agent did not answer).
fn failed(target: &Target, error: String, duration: Duration, timed_out: bool) -> PollOutcome {
    let modules: Vec<ModuleOutcome> = target
        .modules
        .iter()
        .map(|m| ModuleOutcome {
            module: m.name.clone(),
            error: Some(error.clone()),
            duration,
            varbinds: 0,
            requests: 0,
            timed_out,
        })
        .collect();
    let ts = now_ns();
    let points = modules.iter().map(|m| self_point(target, m, ts)).collect();
    PollOutcome {
        target: target.name.clone(),
        points,
        modules,
        profile: target.profile.matched(),
    }
}

/// The poll itself, over any session (tests use in-memory agents); a known profile comes applied.
pub async fn poll_session<S: SnmpSession>(session: &S, target: &Target, batch_size: usize) -> PollOutcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + target.deadline;
    // An agent that does not answer the first GET is not asked once per module as well.
    let known = target.profile.matched().is_some(); // then `poll` applied it (for its session)
    let (uptime, profile) = match identify(session, target, deadline).await {
        Ok(found) => found,
        Err(why) => return failed(target, why, started.elapsed(), true),
    };
    let profiled;
    let target = match &profile {
        Some(m) if !known => {
            profiled = target.with_profile(m);
            &profiled
        }
        _ => target,
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
        profile,
    }
}

/// One GET before the modules, when needed: sysUpTime when rates need the agent's clock (to
/// tell a restart, where counters began again, from a wrap), and sysObjectID while an `auto`
/// target's profile is not chosen yet. A failed GET leaves both for the next poll; one the
/// agent did not answer at all is the poll's answer (`Err`: why).
async fn identify<S: SnmpSession>(
    session: &S,
    target: &Target,
    deadline: tokio::time::Instant,
) -> Result<(Option<u32>, Option<Matched>), String> {
    let known = target.profile.matched();
    let choosing = match (&target.profile, &known) {
        (ProfileChoice::Auto { profiles, chosen }, None) => Some((profiles, chosen)),
        _ => None,
    };
    let mut oids = vec![];
    oids.extend(target.rates.as_ref().and(Oid::parse(SYS_UP_TIME)));
    oids.extend(choosing.and(Oid::parse(SYS_OBJECT_ID)));
    if oids.is_empty() {
        return Ok((None, known));
    }
    let vbs = match tokio::time::timeout_at(deadline, session.get(&oids)).await {
        Ok(Ok(vbs)) => vbs,
        Ok(Err(e)) if e.is_timeout() => return Err(e.to_string()),
        Ok(Err(_)) => return Ok((None, known)),
        Err(_) => return Err(format!("poll deadline of {:?} exceeded", target.deadline)),
    };
    let uptime = vbs.iter().find_map(|vb| match vb.value {
        Value::TimeTicks(t) => Some(t),
        _ => None,
    });
    let Some((profiles, chosen)) = choosing else {
        return Ok((uptime, known));
    };
    let id = vbs.iter().find_map(|vb| match &vb.value {
        Value::ObjectId(o) => Some(o.clone()),
        _ => None,
    });
    let m = match id {
        Some(id) => profiles.choose(&id),
        None => profiles.fallback("the agent has no sysObjectID"),
    };
    tracing::info!(target = %target.name, profile = %m.profile.name, why = %m.why, "device profile chosen");
    *chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(m.clone());
    Ok((uptime, Some(m)))
}

const SYS_UP_TIME: &str = "1.3.6.1.2.1.1.3.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";

async fn run_module<S: SnmpSession>(
    session: &S,
    target: &Target,
    m: &Module,
    deadline: tokio::time::Instant,
    uptime: Option<u32>,
) -> (ModuleOutcome, Vec<Point>) {
    let started = Instant::now();
    let mut requests = 0u32;
    // Timeouts were already retransmitted by the engine (`retries`); transient failures of
    // another kind (a network error, a garbled or genErr answer) get the module tried again
    // after an exponential, jittered pause, as long as the deadline allows.
    let mut pauses = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(MODULE_RETRIES)
        .with_jitter()
        .build();
    let res = loop {
        let attempt = tokio::time::timeout_at(deadline, poll_module(session, target, m, &mut requests, uptime)).await;
        match (&attempt, pauses.next()) {
            (Ok(Err(e)), Some(pause)) if e.is_transient() && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(target = %target.name, module = %m.name, error = %e, ?pause, "retrying module");
                tokio::time::sleep(pause).await;
            }
            _ => break attempt,
        }
    };
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
    let ctx = Context {
        base_tags: &target.tags,
        timestamp: now_ns(),
        rates: None,
    };
    let (derived, n) = crate::profiles::poll::points(s, target, m, &ctx, requests).await?;
    points.extend(derived);
    varbinds += n;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::snmp::{SnmpResult, SnmpVersion, Value, VarBind};
    use netpulse_config::{CollectorConfig, Secret, TargetConfig};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers sysName after `failures` network errors.
    struct Flaky {
        failures: AtomicU32,
        error: SnmpError,
    }

    impl SnmpSession for Flaky {
        fn version(&self) -> SnmpVersion {
            SnmpVersion::V2c
        }
        async fn get(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(self.error.clone());
            }
            Ok(oids
                .iter()
                .map(|o| VarBind {
                    oid: o.clone(),
                    value: Value::OctetString("sw1".into()),
                })
                .collect())
        }
        async fn get_next(&self, _: &[Oid]) -> SnmpResult<Vec<VarBind>> {
            unreachable!()
        }
        async fn get_bulk(&self, _: &[Oid], _: u32) -> SnmpResult<Vec<VarBind>> {
            unreachable!()
        }
    }

    fn target() -> Target {
        let tc = TargetConfig {
            name: "sw1".into(),
            address: "udp://192.0.2.1".into(),
            community: Some(Secret::new("public")),
            modules: vec!["system".into()],
            profile: "none".into(),
            ..TargetConfig::default()
        };
        Target::from_config(&tc, &CollectorConfig::default(), &Registry::builtin()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_backoff() {
        let s = Flaky {
            failures: AtomicU32::new(2),
            error: SnmpError::Network("connection refused".into()),
        };
        let out = poll_session(&s, &target(), 1).await;
        assert!(out.ok(), "{:?}", out.errors().collect::<Vec<_>>());
        assert_eq!(out.modules[0].requests, 3);
        // Three transient failures are one too many: the error is reported.
        let s = Flaky {
            failures: AtomicU32::new(3),
            error: SnmpError::Network("connection refused".into()),
        };
        assert!(!poll_session(&s, &target(), 1).await.ok());
        // Timeouts are not retried here (the engine retransmitted already).
        let s = Flaky {
            failures: AtomicU32::new(1),
            error: SnmpError::Timeout { retries: 2 },
        };
        let out = poll_session(&s, &target(), 1).await;
        assert_eq!((out.ok(), out.modules[0].requests), (false, 1));
    }
}
