//! One address asked who it is: sysObjectID, sysName and snmpEngineID in one GET, each
//! credential in order until one is answered; every request paced by the sweep's [`Pacer`].

use crate::snmp::{AgentStatus, Oid, RequestPolicy, SnmpEngine, SnmpError, SnmpSession, TargetSecurity, Value};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const SYS_OBJECT_ID: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 2, 0];
const SYS_NAME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 5, 0];
const SYS_DESCR: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 1, 0];
/// SNMP-FRAMEWORK-MIB snmpEngineID.0: the agent's own identity, whatever address it answers on.
const ENGINE_ID: [u32; 11] = [1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0];

/// What an agent said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sys_object_id: Option<Oid>,
    pub sys_name: String,
    pub sys_descr: String,
    /// Its engine id (a v3 agent's from discovery; else snmpEngineID.0 when it has one).
    pub engine_id: Option<Vec<u8>>,
    /// Which credential it answered (index in the sweep's list).
    pub credential: usize,
}

/// Probes leave at most `rate` per second: each waits for its turn, none in bursts.
pub struct Pacer {
    next: Mutex<Instant>,
    gap: Duration,
}

impl Pacer {
    pub fn new(rate: u32) -> Self {
        Self {
            next: Mutex::new(Instant::now()),
            gap: Duration::from_secs(1) / rate.max(1),
        }
    }

    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.gap;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Asks `ip:port` with each credential in turn; `None` when none is answered.
pub async fn identify(
    engine: &SnmpEngine,
    ip: IpAddr,
    port: u16,
    credentials: &[TargetSecurity],
    policy: RequestPolicy,
    pacer: &Pacer,
) -> Option<Answer> {
    let host = ip.to_string();
    for (credential, security) in credentials.iter().enumerate() {
        pacer.wait().await;
        // A v3 session discovers the agent's engine first (one more request).
        let Ok(session) = engine.session(&host, port, security, policy).await else {
            continue;
        };
        let full = [&SYS_OBJECT_ID[..], &SYS_NAME, &SYS_DESCR, &ENGINE_ID].map(Oid::from_slice);
        let answer = match session.get(&full).await {
            // A v1 agent without SNMP-FRAMEWORK-MIB refuses the whole request: ask without it.
            Err(SnmpError::Agent {
                status: AgentStatus::NoSuchName,
                ..
            }) => {
                pacer.wait().await;
                session.get(&full[..3]).await
            }
            other => other,
        };
        let Ok(binds) = answer else { continue };
        let value = |i: usize| binds.get(i).map(|b| &b.value).filter(|v| !v.is_absent());
        let text = |i: usize| match value(i) {
            Some(Value::OctetString(s)) => String::from_utf8_lossy(s).trim().to_string(),
            _ => String::new(),
        };
        let engine_id = match value(3) {
            Some(Value::OctetString(s)) if !s.is_empty() => Some(s.to_vec()),
            _ => engine.engine_snapshot(&host, port).map(|s| s.engine_id),
        };
        return Some(Answer {
            sys_object_id: match value(0) {
                Some(Value::ObjectId(o)) => Some(o.clone()),
                _ => None,
            },
            sys_name: text(1),
            sys_descr: text(2),
            engine_id,
            credential,
        });
    }
    None
}
