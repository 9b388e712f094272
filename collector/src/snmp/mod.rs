//! The SNMP boundary: our own small types and the [`SnmpSession`] trait the rest of the
//! collector is written against. The wire engine behind it (`engine.rs`, today the
//! pinned `async-snmp` crate) can be replaced without touching modules or mapping.

mod convert;
mod engine;
mod limit;
pub mod oid;
pub mod sockbuf;
pub mod traps;
pub mod walk;

pub use engine::{
    AsyncSnmpSession, EngineSnapshot, RequestPolicy, SnmpEngine, TargetSecurity, decode_community_response,
};
pub use limit::Limited;
pub use oid::Oid;

use bytes::Bytes;
use std::future::Future;

pub use netpulse_config::SnmpVersion;

/// A value as the agent sent it, with its SMI type kept (rates need Counter32 vs Counter64).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i32),
    OctetString(Bytes),
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Bytes),
    Counter64(u64),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    /// An exception or NULL: the agent has no value here.
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VarBind {
    pub oid: Oid,
    pub value: Value,
}

/// Why a request failed; the poll layer adds the target's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnmpError {
    #[error("no response after {retries} retries (timeout)")]
    Timeout { retries: u32 },
    #[error("network error: {0}")]
    Network(String),
    #[error("SNMPv3: unknown user name")]
    UnknownUser,
    #[error("SNMPv3: wrong authentication password or protocol (wrong digest)")]
    WrongAuth,
    #[error("SNMPv3: wrong privacy password or protocol (the agent cannot decrypt our requests)")]
    WrongPriv,
    #[error("SNMPv3: security level not supported for this user")]
    UnsupportedSecurityLevel,
    #[error("SNMPv3: {0}")]
    Report(String),
    #[error("agent error {status} at varbind {index}")]
    Agent { status: AgentStatus, index: u32 },
    #[error("walk of {column} aborted: {reason}")]
    Walk { column: String, reason: String },
    #[error("bad response: {0}")]
    Malformed(String),
    #[error("{0}")]
    Other(String),
}

impl SnmpError {
    /// Errors that say the agent is unreachable or silent (counted against its breaker).
    pub fn is_timeout(&self) -> bool {
        matches!(self, SnmpError::Timeout { .. })
    }

    /// Failures worth trying again soon: the next attempt may well succeed. Not timeouts
    /// (the engine retransmitted already) and not answers that will not change (auth,
    /// unknown user, noAccess, a walk that misbehaves).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SnmpError::Network(_)
                | SnmpError::Malformed(_)
                | SnmpError::Agent {
                    status: AgentStatus::GenErr,
                    ..
                }
        )
    }
}

/// The agent's error-status (RFC 3416), as far as we act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    TooBig,
    NoSuchName,
    GenErr,
    NoAccess,
    AuthorizationError,
    Other(i32),
}

impl std::fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentStatus::TooBig => f.write_str("tooBig"),
            AgentStatus::NoSuchName => f.write_str("noSuchName"),
            AgentStatus::GenErr => f.write_str("genErr"),
            AgentStatus::NoAccess => f.write_str("noAccess"),
            AgentStatus::AuthorizationError => f.write_str("authorizationError"),
            AgentStatus::Other(n) => write!(f, "status {n}"),
        }
    }
}

pub type SnmpResult<T> = Result<T, SnmpError>;

/// One agent, as seen by modules. Implementations send each call as one request
/// (retried on timeout) and must be cheap to share between concurrent module polls.
pub trait SnmpSession: Send + Sync {
    fn version(&self) -> SnmpVersion;
    /// GET; the answer has one binding per requested OID, in order.
    fn get(&self, oids: &[Oid]) -> impl Future<Output = SnmpResult<Vec<VarBind>>> + Send;
    /// GETNEXT; one binding per requested OID.
    fn get_next(&self, oids: &[Oid]) -> impl Future<Output = SnmpResult<Vec<VarBind>>> + Send;
    /// GETBULK with non-repeaters 0: up to `max_repetitions` rows, interleaved by OID.
    fn get_bulk(&self, oids: &[Oid], max_repetitions: u32) -> impl Future<Output = SnmpResult<Vec<VarBind>>> + Send;
}
