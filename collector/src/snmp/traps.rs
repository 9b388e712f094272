//! The trap receiver's wire side: a UDP socket that decodes SNMPv1 Trap-PDUs, v2c/v3 traps
//! and informs (answering informs), authenticates v3 with USM — a trap's keys localized to
//! its sender's engine on first sight, an inform's to our own engine — and hands over our
//! own types. What the application refuses (`Gate`) is dropped before an inform is answered,
//! so a refused inform is retried by its sender rather than acknowledged and lost.

use super::convert::from_lib;
use super::engine::{auth_protocol, priv_protocol};
use super::sockbuf::{self, OsSocket};
use super::{Oid, SnmpError, SnmpResult, Value, VarBind};
use async_snmp::notification::{Notification, NotificationAcceptance, NotificationEnvelope, NotificationReceiver};
use async_snmp::{AuthoritativeEngine, PersistedAuthoritativeEngine, Version};
use netpulse_config::TrapUser;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the application sees of a notification before it is accepted.
pub struct Envelope<'a> {
    pub source: SocketAddr,
    /// `1`, `2c` or `3`.
    pub version: &'static str,
    pub community: Option<&'a [u8]>,
    pub user: Option<&'a [u8]>,
    /// v3: the context engine id (a trap's sender engine, as agents send it).
    pub context_engine: Option<&'a [u8]>,
}

/// The application's decision on an [`Envelope`]: `true` accepts.
pub type Gate = Arc<dyn Fn(&Envelope<'_>) -> bool + Send + Sync>;

/// One accepted notification, in our types.
#[derive(Debug, Clone)]
pub struct Received {
    pub source: SocketAddr,
    pub version: &'static str,
    pub inform: bool,
    /// snmpTrapOID.0 (v1: enterprise and generic/specific trap as RFC 3584 §3.1 says).
    pub trap_oid: Option<Oid>,
    /// sysUpTime.0 (v1: the time-stamp), hundredths of a second.
    pub uptime: u32,
    /// The variable bindings after sysUpTime.0 and snmpTrapOID.0 (v1: all of them, then
    /// snmpTrapAddress.0 and snmpTrapEnterprise.0 as RFC 3584 adds them).
    pub varbinds: Vec<VarBind>,
}

/// Refusals the USM layer counted (RFC 3414 usmStats) since the socket opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UsmDrops {
    pub unknown_user: u64,
    pub bad_auth: u64,
    pub decrypt: u64,
    pub not_in_time: u64,
    pub unknown_engine: u64,
    pub unsupported_level: u64,
}

pub struct TrapSocket {
    rx: NotificationReceiver,
    /// The socket as the kernel sees it (None where /proc is not readable).
    os: Option<OsSocket>,
}

const SNMP_TRAP_ADDRESS: &[u32] = &[1, 3, 6, 1, 6, 3, 18, 1, 3, 0];
const SNMP_TRAP_ENTERPRISE: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0];

impl TrapSocket {
    /// Binds `addr`; `engine_id` is ours (informs v3), `boots` its boot count (must grow
    /// across restarts: senders cache it).
    pub async fn bind(addr: &str, users: &[TrapUser], engine_id: &[u8], boots: u32, gate: Gate) -> SnmpResult<Self> {
        let rx = Self::receiver(addr, users, engine_id, boots, gate).await?;
        let os = sockbuf::find(rx.local_addr());
        Ok(Self { rx, os })
    }

    /// Sizes the socket's kernel receive buffer: the size granted (None: the socket was not
    /// found, /proc unreadable).
    pub fn set_receive_buffer(&self, bytes: u64) -> Option<u64> {
        self.os?.set_receive_buffer(bytes)
    }

    /// Datagrams the kernel dropped on the socket (its buffer full) since it opened.
    pub fn overflow_drops(&self) -> Option<u64> {
        self.os?.drops()
    }

    async fn receiver(
        addr: &str,
        users: &[TrapUser],
        engine_id: &[u8],
        boots: u32,
        gate: Gate,
    ) -> SnmpResult<NotificationReceiver> {
        let lib = |e: Box<async_snmp::Error>| SnmpError::Other(format!("trap receiver on {addr}: {e}"));
        let persisted = PersistedAuthoritativeEngine::new(engine_id.to_vec(), boots).map_err(lib)?;
        let engine =
            AuthoritativeEngine::restart(persisted, |_| Ok::<(), std::convert::Infallible>(())).map_err(lib)?;
        let mut b = NotificationReceiver::builder()
            .bind(addr)
            .authoritative_engine(engine)
            .acceptance_policy(move |n: &NotificationEnvelope<'_>| {
                let env = Envelope {
                    source: n.source,
                    version: version(n.version),
                    community: n.community.map(async_snmp::Community::as_bytes),
                    user: n.username,
                    context_engine: n.context_engine_id,
                };
                if gate(&env) {
                    NotificationAcceptance::Accept
                } else {
                    NotificationAcceptance::Reject
                }
            });
        for u in users {
            let (auth, privacy) = (u.auth.as_ref(), u.privacy.as_ref());
            b = b
                .usm_user(u.user.clone().into_bytes(), |x| match (auth, privacy) {
                    (Some(a), Some(p)) => x.auth_priv(
                        auth_protocol(a.protocol),
                        a.password.expose().as_bytes(),
                        priv_protocol(p.protocol),
                        p.password.expose().as_bytes(),
                    ),
                    (Some(a), None) => x.auth(auth_protocol(a.protocol), a.password.expose().as_bytes()),
                    _ => Ok(x),
                })
                .map_err(|e| SnmpError::Other(format!("trap user {:?}: {e}", u.user)))?;
        }
        b.build().await.map_err(lib)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.rx.local_addr()
    }

    /// The next accepted notification (malformed and refused datagrams are skipped).
    pub async fn recv(&self) -> SnmpResult<Received> {
        let r = self.rx.recv().await.map_err(super::convert::convert)?;
        let inform = r.notification.is_confirmed();
        let version = version(r.notification.version());
        let trap_oid = (r.notification.trap_oid().ok()).map(|o| Oid::from_slice(o.arcs()));
        let uptime = r.notification.uptime();
        let varbinds = match r.notification {
            Notification::TrapV1 { trap, .. } => v1_varbinds(&trap),
            Notification::TrapV2c { varbinds, .. }
            | Notification::TrapV3 { varbinds, .. }
            | Notification::InformV2c { varbinds, .. }
            | Notification::InformV3 { varbinds, .. } => varbinds.into_iter().map(from_lib).collect(),
        };
        Ok(Received {
            source: r.source,
            version,
            inform,
            trap_oid,
            uptime,
            varbinds,
        })
    }

    pub fn usm_drops(&self) -> UsmDrops {
        let r = &self.rx;
        UsmDrops {
            unknown_user: r.usm_unknown_usernames().into(),
            bad_auth: r.usm_wrong_digests().into(),
            decrypt: r.usm_decryption_errors().into(),
            not_in_time: r.usm_not_in_time_windows().into(),
            unknown_engine: r.usm_unknown_engine_ids().into(),
            unsupported_level: r.usm_unsupported_sec_levels().into(),
        }
    }
}

/// A v1 trap's bindings, then snmpTrapAddress.0 and snmpTrapEnterprise.0 (RFC 3584 §3.1).
fn v1_varbinds(trap: &async_snmp::pdu::TrapV1Pdu) -> Vec<VarBind> {
    let mut v: Vec<VarBind> = trap.varbinds().iter().cloned().map(from_lib).collect();
    v.push(VarBind {
        oid: Oid::from_slice(SNMP_TRAP_ADDRESS),
        value: Value::IpAddress(trap.agent_addr()),
    });
    v.push(VarBind {
        oid: Oid::from_slice(SNMP_TRAP_ENTERPRISE),
        value: Value::ObjectId(Oid::from_slice(trap.enterprise().arcs())),
    });
    v
}

/// Decodes a v1/v2c notification datagram without a socket or a gate — the trap fuzz target's
/// entry into the same decoder and conversion the receiver uses.
pub fn decode_community_notification(datagram: &[u8], source: SocketAddr) -> SnmpResult<Received> {
    use async_snmp::message::{CommunityMessage, CommunityPdu};
    use async_snmp::pdu::PduType;
    let msg = CommunityMessage::decode(
        bytes::Bytes::copy_from_slice(datagram),
        async_snmp::DecodeConfig::default(),
    )
    .map_err(|e| SnmpError::Malformed(e.to_string()))?
    .value;
    let (v, _, pdu) = msg.into_parts();
    let version = version(v);
    match pdu {
        CommunityPdu::TrapV1(trap) => Ok(Received {
            source,
            version,
            inform: false,
            trap_oid: trap.v2_trap_oid().ok().map(|o| Oid::from_slice(o.arcs())),
            uptime: trap.time_stamp(),
            varbinds: v1_varbinds(&trap),
        }),
        CommunityPdu::Standard(pdu) if matches!(pdu.pdu_type(), PduType::TrapV2 | PduType::InformRequest) => {
            let inform = pdu.pdu_type() == PduType::InformRequest;
            let mut all = pdu.into_varbinds().into_iter().map(from_lib);
            let uptime = match all.next().map(|b| b.value) {
                Some(Value::TimeTicks(t)) => t,
                _ => return Err(SnmpError::Malformed("the first binding is not sysUpTime.0".into())),
            };
            let trap_oid = match all.next().map(|b| b.value) {
                Some(Value::ObjectId(o)) => Some(o),
                _ => return Err(SnmpError::Malformed("the second binding is not snmpTrapOID.0".into())),
            };
            Ok(Received {
                source,
                version,
                inform,
                trap_oid,
                uptime,
                varbinds: all.collect(),
            })
        }
        CommunityPdu::Standard(_) => Err(SnmpError::Malformed("not a notification".into())),
    }
}

fn version(v: Version) -> &'static str {
    match v {
        Version::V1 => "1",
        Version::V2c => "2c",
        _ => "3",
    }
}
