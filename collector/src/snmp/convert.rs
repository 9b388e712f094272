//! Translation between async-snmp's types and ours: OIDs, variable bindings, and its errors
//! into [`SnmpError`] (what an operator reads in `/targets` and the logs).

use super::{AgentStatus, Oid, SnmpError, Value, VarBind};
use async_snmp::{ErrorStatus, v3::ReportStatus};

pub(super) fn to_lib_oid(o: &Oid) -> async_snmp::Oid {
    async_snmp::Oid::from_slice(o.arcs())
}

pub(super) fn from_lib(vb: async_snmp::VarBind) -> VarBind {
    use async_snmp::Value as L;
    let value = match vb.value {
        L::Integer(i) => Value::Integer(i),
        L::OctetString(b) | L::Nsap(b) => Value::OctetString(b),
        L::Null => Value::Null,
        L::ObjectIdentifier(o) => Value::ObjectId(Oid::from_slice(o.arcs())),
        L::IpAddress(a) => Value::IpAddress(a),
        L::Counter32(v) => Value::Counter32(v),
        L::Gauge32(v) | L::UInteger32(v) => Value::Gauge32(v),
        L::TimeTicks(v) => Value::TimeTicks(v),
        L::Opaque(b) => Value::Opaque(b),
        L::Counter64(v) => Value::Counter64(v),
        L::NoSuchObject => Value::NoSuchObject,
        L::NoSuchInstance => Value::NoSuchInstance,
        L::EndOfMibView => Value::EndOfMibView,
        _ => Value::Null,
    };
    VarBind {
        oid: Oid::from_slice(vb.oid.arcs()),
        value,
    }
}

pub(super) fn convert(e: Box<async_snmp::Error>) -> SnmpError {
    use async_snmp::Error as E;
    match e.exchange_source() {
        E::Timeout { retries, .. } => SnmpError::Timeout { retries: *retries },
        E::Network { source, .. } => SnmpError::Network(source.to_string()),
        E::Auth { .. } => SnmpError::WrongAuth,
        E::Report { status, .. } => match status.as_ref() {
            ReportStatus::UnknownUserName { .. } => SnmpError::UnknownUser,
            ReportStatus::WrongDigest { .. } => SnmpError::WrongAuth,
            ReportStatus::DecryptionError { .. } => SnmpError::WrongPriv,
            ReportStatus::UnsupportedSecurityLevel { .. } => SnmpError::UnsupportedSecurityLevel,
            other => SnmpError::Report(other.to_string()),
        },
        E::Snmp { status, index, .. } => SnmpError::Agent {
            status: match status {
                ErrorStatus::TooBig => AgentStatus::TooBig,
                ErrorStatus::NoSuchName => AgentStatus::NoSuchName,
                ErrorStatus::GenErr => AgentStatus::GenErr,
                ErrorStatus::NoAccess => AgentStatus::NoAccess,
                ErrorStatus::AuthorizationError => AgentStatus::AuthorizationError,
                other => AgentStatus::Other(other.as_i32()),
            },
            index: *index,
        },
        E::WalkAborted { reason, .. } => SnmpError::Walk {
            column: String::new(),
            reason: reason.to_string(),
        },
        E::Decode(d) => SnmpError::Malformed(d.to_string()),
        E::MalformedResponse { .. } | E::ResponseShape { .. } => SnmpError::Malformed(e.to_string()),
        E::Privacy(p) => SnmpError::Other(format!("privacy: {p}")),
        other => SnmpError::Other(other.to_string()),
    }
}
