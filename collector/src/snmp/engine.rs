//! The wire engine: `async-snmp` (pinned) behind [`SnmpSession`].
//!
//! One [`SnmpEngine`] per process holds a small pool of shared UDP sockets (responses are
//! matched by request-id for v1/v2c and msgID for v3, so a late reply to a timed-out
//! request is discarded, never taken for another request's answer), the SNMPv3 engine
//! cache (discovered engine IDs, boots and time) and the derived USM master keys, which
//! cost ~1 MB of hashing per password and are shared by every target with that password.

use super::convert::{convert, from_lib, to_lib_oid};
use super::{AgentStatus, Oid, SnmpError, SnmpResult, SnmpSession, SnmpVersion, VarBind};
use async_snmp::transport::{UdpHandle, UdpTransport};
use async_snmp::{Auth, Client, DesSaltState, EngineCache, MasterKeys, PersistedDesSaltState, Retry, UsmConfig};
use netpulse_config::{AuthProtocol, PrivProtocol, Secret};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How a target proves who we are.
#[derive(Clone, Debug)]
pub enum TargetSecurity {
    Community {
        version: SnmpVersion,
        community: Secret,
    },
    Usm {
        user: String,
        auth: Option<(AuthProtocol, Secret)>,
        privacy: Option<(PrivProtocol, Secret)>,
        context: Option<String>,
    },
}

impl TargetSecurity {
    pub fn version(&self) -> SnmpVersion {
        match self {
            TargetSecurity::Community { version, .. } => *version,
            TargetSecurity::Usm { .. } => SnmpVersion::V3,
        }
    }
}

/// Per-request behaviour of a session.
#[derive(Clone, Copy, Debug)]
pub struct RequestPolicy {
    pub timeout: Duration,
    pub retries: u32,
    pub max_varbinds: usize,
}

type KeyId = (AuthProtocol, String, Option<(PrivProtocol, String)>);

/// What a replica taking a v3 target over needs to skip USM discovery: the agent's engine
/// id, its advertised message size, the authenticated boots/time, and when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSnapshot {
    pub engine_id: Vec<u8>,
    pub msg_max_size: u32,
    pub boots: u32,
    pub time: u32,
    /// Unix seconds when `time` was the agent's time.
    pub at_unix: u64,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct SnmpEngine {
    v4: Vec<UdpTransport>,
    v6: OnceCell<Vec<UdpTransport>>,
    sockets: usize,
    engines: Arc<EngineCache>,
    keys: Mutex<HashMap<KeyId, MasterKeys>>,
    des_salt: Option<DesSaltState>,
}

impl SnmpEngine {
    /// Datagrams received so far that were not SNMP responses one could match (garbage, a
    /// truncated message, no request id): the transport drops them, so the request they
    /// answered ends in a timeout.
    pub fn malformed_datagrams(&self) -> u64 {
        let v6 = self.v6.get().map_or(&[][..], Vec::as_slice);
        self.v4.iter().chain(v6).map(|t| t.stats().malformed_datagrams).sum()
    }

    /// Binds `sockets` IPv4 UDP sockets (IPv6 ones are bound on first use).
    pub async fn new(sockets: usize) -> SnmpResult<Self> {
        let sockets = sockets.max(1);
        Ok(Self {
            v4: bind_pool("0.0.0.0:0", sockets).await?,
            v6: OnceCell::new(),
            sockets,
            engines: Arc::new(EngineCache::new()),
            keys: Mutex::new(HashMap::new()),
            des_salt: des_salt_state(),
        })
    }

    /// A session to one agent. Resolves `host` (DNS names allowed) once, here.
    pub async fn session(
        &self,
        host: &str,
        port: u16,
        security: &TargetSecurity,
        policy: RequestPolicy,
    ) -> SnmpResult<AsyncSnmpSession> {
        let addr = resolve(host, port).await?;
        let pool = if addr.is_ipv4() {
            &self.v4
        } else {
            self.v6.get_or_try_init(|| bind_pool("[::]:0", self.sockets)).await?
        };
        // The same agent always uses the same socket, which keeps its traffic in order.
        let transport = &pool[(hash_addr(&addr) as usize) % pool.len()];
        let auth = self.auth(security)?;
        let retry = Retry::fixed(policy.retries, Duration::ZERO).map_err(|e| SnmpError::Other(e.to_string()))?;
        let mut builder = Client::builder(addr, auth);
        if let (
            TargetSecurity::Usm {
                privacy: Some((PrivProtocol::Des, _)),
                ..
            },
            Some(des),
        ) = (security, &self.des_salt)
        {
            builder = builder.des_salt_state(des.clone());
        }
        let client = builder
            .request_timeout(policy.timeout)
            .retry(retry)
            .max_oids_per_request(policy.max_varbinds.max(1))
            .engine_cache(self.engines.clone())
            // Agents send unknownUser / wrongDigest / decryptionError Reports unauthenticated
            // (RFC 3414 has no key to sign them with): accept them so the operator gets the real
            // cause at once instead of a timeout. Data responses are still always authenticated.
            .allow_unauthenticated_v3_time_correction(true)
            .build_with(transport)
            .await
            .map_err(convert)?;
        Ok(AsyncSnmpSession {
            client,
            version: security.version(),
        })
    }

    /// The authenticated engine state of the agent at `host` (an IP; a DNS name is not
    /// resolved here and gives `None`), for another replica (`seed_engine`).
    pub fn engine_snapshot(&self, host: &str, port: u16) -> Option<EngineSnapshot> {
        let addr = SocketAddr::new(host.parse().ok()?, port);
        let state = self.engines.get(&addr)?;
        let t = state.authenticated_time()?;
        Some(EngineSnapshot {
            engine_id: state.engine_id().to_vec(),
            msg_max_size: state.msg_max_size().as_u32(),
            boots: t.boots(),
            time: t.latest_received_time(),
            at_unix: unix_secs(),
        })
    }

    /// Seeds the engine cache with another replica's snapshot of the agent, its time moved
    /// on by the seconds since it was read; a bad snapshot changes nothing (discovery runs).
    pub fn seed_engine(&self, host: &str, port: u16, s: &EngineSnapshot) {
        let Ok(ip) = host.parse() else { return };
        let addr = SocketAddr::new(ip, port);
        if self.engines.get(&addr).is_some() {
            return;
        }
        let Ok(size) = async_snmp::MessageSize::try_from(s.msg_max_size) else {
            return;
        };
        let Ok(engine) = async_snmp::DiscoveredEngine::new(s.engine_id.clone(), size) else {
            return;
        };
        let elapsed = u32::try_from(unix_secs().saturating_sub(s.at_unix)).unwrap_or(u32::MAX);
        let _ = self
            .engines
            .seed_authenticated(addr, engine, s.boots, s.time.saturating_add(elapsed));
    }

    /// After a v3 authPriv request timed out: was it the privacy key? Agents drop what
    /// they cannot decrypt without a word (net-snmp does), so ask again with authNoPriv:
    /// an answer, or "unsupported security level", proves the agent and the auth key fine.
    pub async fn diagnose_v3_timeout(
        &self,
        host: &str,
        port: u16,
        security: &TargetSecurity,
        policy: RequestPolicy,
    ) -> Option<SnmpError> {
        let TargetSecurity::Usm {
            user,
            auth: Some(auth),
            privacy: Some(_),
            context,
        } = security
        else {
            return None;
        };
        let probe = TargetSecurity::Usm {
            user: user.clone(),
            auth: Some(auth.clone()),
            privacy: None,
            context: context.clone(),
        };
        let session = self
            .session(host, port, &probe, RequestPolicy { retries: 0, ..policy })
            .await
            .ok()?;
        let sys_uptime = Oid::parse("1.3.6.1.2.1.1.3.0")?;
        match session.get(&[sys_uptime]).await {
            // Answered at authNoPriv (data, or a refusal of that level): auth is right.
            Ok(_)
            | Err(
                SnmpError::UnsupportedSecurityLevel
                | SnmpError::Agent {
                    status: AgentStatus::AuthorizationError,
                    ..
                },
            ) => Some(SnmpError::WrongPriv),
            Err(SnmpError::Timeout { .. }) => None,
            Err(other) => Some(other),
        }
    }

    fn auth(&self, security: &TargetSecurity) -> SnmpResult<Auth> {
        match security {
            TargetSecurity::Community {
                version: SnmpVersion::V1,
                community,
            } => Ok(Auth::v1(community.expose())),
            TargetSecurity::Community { community, .. } => Ok(Auth::v2c(community.expose())),
            TargetSecurity::Usm {
                user,
                auth,
                privacy,
                context,
            } => {
                let mut cfg = UsmConfig::new(user.clone().into_bytes());
                if let Some(ctx) = context {
                    cfg = cfg.context_name(ctx.clone().into_bytes());
                }
                if let Some((ap, apw)) = auth {
                    let id: KeyId = (
                        *ap,
                        apw.expose().to_string(),
                        privacy.as_ref().map(|(p, pw)| (*p, pw.expose().to_string())),
                    );
                    let keys = self.master_keys(id)?;
                    cfg = cfg
                        .with_master_keys(keys)
                        .map_err(|e| SnmpError::Other(format!("USM keys: {e}")))?;
                }
                Ok(cfg.into())
            }
        }
    }

    fn master_keys(&self, id: KeyId) -> SnmpResult<MasterKeys> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(&id) {
            return Ok(k.clone());
        }
        let (ap, apw, privacy) = &id;
        let mut mk = MasterKeys::new(auth_protocol(*ap), apw.as_bytes())
            .map_err(|e| SnmpError::Other(format!("auth key: {e}")))?;
        if let Some((pp, ppw)) = privacy {
            mk = mk
                .with_privacy(priv_protocol(*pp), ppw.as_bytes())
                .map_err(|e| SnmpError::Other(format!("privacy key: {e}")))?;
        }
        keys.insert(id, mk.clone());
        Ok(mk)
    }
}

/// DES salts must never repeat under one key. The salt's high half is a sender epoch:
/// taking it from the clock gives every process start a fresh epoch without a state file.
fn des_salt_state() -> Option<DesSaltState> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let epoch = u32::try_from(secs.saturating_sub(1_600_000_000)).ok()?.max(1);
    let previous = PersistedDesSaltState::new(epoch).ok()?;
    DesSaltState::restart(previous, |_| Ok::<(), std::convert::Infallible>(())).ok()
}

async fn bind_pool(addr: &str, n: usize) -> SnmpResult<Vec<UdpTransport>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(UdpTransport::bind(addr).await.map_err(convert)?);
    }
    Ok(v)
}

async fn resolve(host: &str, port: u16) -> SnmpResult<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| SnmpError::Network(format!("cannot resolve {host:?}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| SnmpError::Network(format!("{host:?} resolves to no address")))
}

fn hash_addr(addr: &SocketAddr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    addr.hash(&mut h);
    h.finish()
}

pub(super) fn auth_protocol(p: AuthProtocol) -> async_snmp::AuthProtocol {
    use async_snmp::AuthProtocol as A;
    match p {
        AuthProtocol::Md5 => A::Md5,
        AuthProtocol::Sha => A::Sha1,
        AuthProtocol::Sha224 => A::Sha224,
        AuthProtocol::Sha256 => A::Sha256,
        AuthProtocol::Sha384 => A::Sha384,
        AuthProtocol::Sha512 => A::Sha512,
    }
}

pub(super) fn priv_protocol(p: PrivProtocol) -> async_snmp::PrivProtocol {
    use async_snmp::PrivProtocol as P;
    match p {
        PrivProtocol::Des => P::Des,
        PrivProtocol::Aes128 => P::Aes128,
        // net-snmp and RFC drafts extend short keys the Blumenthal way; Cisco the Reeder way.
        PrivProtocol::Aes192 => P::Aes192Blumenthal,
        PrivProtocol::Aes256 => P::Aes256Blumenthal,
        PrivProtocol::Aes192c => P::Aes192Reeder,
        PrivProtocol::Aes256c => P::Aes256Reeder,
    }
}

/// A connected agent session; cheap to clone.
#[derive(Clone)]
pub struct AsyncSnmpSession {
    client: Client<UdpHandle>,
    version: SnmpVersion,
}

impl SnmpSession for AsyncSnmpSession {
    fn version(&self) -> SnmpVersion {
        self.version
    }

    async fn get(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        let oids: Vec<async_snmp::Oid> = oids.iter().map(to_lib_oid).collect();
        let r = self.client.get_many(&oids).await.map_err(convert)?;
        Ok(r.varbinds.into_iter().map(from_lib).collect())
    }

    async fn get_next(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        let oids: Vec<async_snmp::Oid> = oids.iter().map(to_lib_oid).collect();
        let r = self.client.get_next_many(&oids).await.map_err(convert)?;
        Ok(r.varbinds.into_iter().map(from_lib).collect())
    }

    async fn get_bulk(&self, oids: &[Oid], max_repetitions: u32) -> SnmpResult<Vec<VarBind>> {
        let oids: Vec<async_snmp::Oid> = oids.iter().map(to_lib_oid).collect();
        let r = self.client.get_bulk(&oids, 0, max_repetitions).await.map_err(convert)?;
        Ok(r.into_iter().map(from_lib).collect())
    }
}

/// Decodes one v1/v2c response datagram into our bindings (benchmarks and fuzzing use
/// this to measure and harden exactly the decode path polls take).
pub fn decode_community_response(datagram: &[u8]) -> SnmpResult<Vec<VarBind>> {
    use async_snmp::message::{CommunityMessage, CommunityPdu};
    let msg = CommunityMessage::decode(
        bytes::Bytes::copy_from_slice(datagram),
        async_snmp::DecodeConfig::default(),
    )
    .map_err(|e| SnmpError::Malformed(e.to_string()))?
    .value;
    match msg.into_parts().2 {
        CommunityPdu::Standard(pdu) => Ok(pdu.into_varbinds().into_iter().map(from_lib).collect()),
        CommunityPdu::TrapV1(_) => Err(SnmpError::Malformed("a v1 trap is not a response".into())),
    }
}
