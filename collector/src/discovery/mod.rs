//! Discovery: sweep address ranges at a paced rate, identify every answer (sysName,
//! sysObjectID, engine id, profile) and find each device once, however many of its
//! addresses answered — by engine id, else by sysName and sysObjectID. The `discover`
//! command prints the result as targets; `[discovery]` in the daemon adds them.

pub mod addresses;
mod neighbors;
pub mod probe;
pub mod render;

use crate::profiles::Profiles;
use crate::snmp::{RequestPolicy, SnmpEngine, TargetSecurity};
use futures::StreamExt;
use netpulse_config::Cidr;
use netpulse_config::{TargetConfig, TargetDefaults, target_with};
use probe::{Answer, Pacer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What to sweep and how.
pub struct Sweep {
    pub ranges: Vec<Cidr>,
    pub exclude: Vec<Cidr>,
    /// UDP port asked on every address.
    pub port: u16,
    /// Credentials tried in order (each a partial target: version, community or v3 user).
    pub credentials: Vec<TargetDefaults>,
    /// Requests per second, over the whole sweep.
    pub rate: u32,
    /// Wait for an answer (no retransmission: a sweep costs one timeout, not several).
    pub timeout: Duration,
    /// Probes waiting for answers at once.
    pub concurrency: usize,
    /// Follow the LLDP and CDP neighbours of the devices found, into `within`.
    pub neighbors: bool,
    /// Where neighbours are followed (empty: the swept ranges). Excluded ranges stay excluded.
    pub within: Vec<Cidr>,
}

impl Sweep {
    /// The daemon's sweep (`[discovery]`); neighbours are followed inside `subnets`.
    pub fn from_config(d: &netpulse_config::DiscoveryConfig) -> Result<Self, String> {
        let parse = |list: &[String]| list.iter().map(|r| Cidr::parse(r)).collect::<Result<Vec<_>, _>>();
        Ok(Self {
            ranges: parse(&d.subnets)?,
            exclude: parse(&d.exclude)?,
            port: d.port,
            credentials: d.credentials.clone(),
            rate: d.rate,
            timeout: d.timeout.get(),
            concurrency: 1024,
            neighbors: d.neighbors,
            within: vec![],
        })
    }
}

/// How a device was told apart from the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    EngineId(Vec<u8>),
    NameAndObject(String, String),
    Address(IpAddr),
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::EngineId(id) => {
                f.write_str("engine id ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Identity::NameAndObject(n, o) => write!(f, "sysName {n:?} + sysObjectID {o}"),
            Identity::Address(a) => write!(f, "address {a} (no engine id, no sysName)"),
        }
    }
}

/// One device: the address it is polled on (its lowest answering one) and the others.
#[derive(Debug, Clone)]
pub struct Device {
    pub address: IpAddr,
    pub also: Vec<IpAddr>,
    pub answer: Answer,
    pub identity: Identity,
    /// The profile its sysObjectID chooses.
    pub profile: String,
}

/// What a sweep found and what it cost.
#[derive(Debug, Default)]
pub struct Report {
    pub devices: Vec<Device>,
    pub probed: usize,
    pub answered: usize,
    pub took: Duration,
    /// Neighbour addresses reported by the devices but outside `within` (not probed).
    pub outside: Vec<IpAddr>,
    /// Devices found by following neighbours (after the sweep).
    pub by_neighbors: usize,
    /// Which device an identity is (answers of one device on several addresses join it).
    by_identity: HashMap<Identity, usize>,
}

impl Report {
    /// Adds one answer: a new device (its index), or another address of a known one (`None`).
    fn add(&mut self, ip: IpAddr, answer: Answer, profiles: &Profiles) -> Option<usize> {
        self.answered += 1;
        let id = identity(ip, &answer);
        if let Some(&i) = self.by_identity.get(&id) {
            self.devices[i].also.push(ip);
            return None;
        }
        let profile = match &answer.sys_object_id {
            Some(o) => profiles.choose(o),
            None => profiles.fallback("the agent has no sysObjectID"),
        };
        self.by_identity.insert(id.clone(), self.devices.len());
        self.devices.push(Device {
            address: ip,
            also: vec![],
            profile: profile.profile.name.clone(),
            identity: id,
            answer,
        });
        Some(self.devices.len() - 1)
    }
}

/// The security a credential gives a probe (the same rule as a configured target's).
fn security(c: &TargetDefaults) -> TargetSecurity {
    crate::target::security(&target_with(String::new(), String::new(), c))
}

/// Sweeps: every address probed once per credential until answered, at most `rate`
/// requests a second; the answers grouped into devices.
pub async fn sweep(engine: &SnmpEngine, s: &Sweep, profiles: &Profiles) -> Result<Report, String> {
    let addresses = addresses::expand(&s.ranges, &s.exclude)?;
    let credentials: Vec<TargetSecurity> = s.credentials.iter().map(security).collect();
    if credentials.is_empty() {
        return Err("no credential to probe with (a community or a v3 user)".into());
    }
    let policy = RequestPolicy {
        timeout: s.timeout,
        retries: 0,
        max_varbinds: 8,
    };
    let pacer = Pacer::new(s.rate);
    let started = Instant::now();
    let mut report = Report::default();
    let answers = probe_all(engine, &addresses, s, &credentials, policy, &pacer).await;
    report.probed = addresses.len();
    for (ip, answer) in answers {
        report.add(ip, answer, profiles);
    }
    if s.neighbors {
        let within = if s.within.is_empty() { &s.ranges } else { &s.within };
        let mut probed: std::collections::HashSet<IpAddr> = addresses.into_iter().collect();
        neighbors::follow(
            engine,
            s,
            within,
            &credentials,
            policy,
            &pacer,
            profiles,
            &mut report,
            &mut probed,
        )
        .await;
    }
    report.took = started.elapsed();
    Ok(report)
}

/// Probes `addresses` (paced, `concurrency` at once); the answers in address order.
async fn probe_all(
    engine: &SnmpEngine,
    addresses: &[IpAddr],
    s: &Sweep,
    credentials: &[TargetSecurity],
    policy: RequestPolicy,
    pacer: &Pacer,
) -> Vec<(IpAddr, Answer)> {
    let mut answers: Vec<(IpAddr, Answer)> = futures::stream::iter(addresses.iter().copied())
        .map(|ip| async move {
            let a = probe::identify(engine, ip, s.port, credentials, policy, pacer).await;
            a.map(|a| (ip, a))
        })
        .buffer_unordered(s.concurrency.max(1))
        .filter_map(|a| async move { a })
        .collect()
        .await;
    answers.sort_by_key(|(ip, _)| *ip);
    answers
}

/// The identity that tells one device from another: its engine id (the same on every
/// address it answers), else its sysName with its sysObjectID, else the address alone.
pub fn identity(ip: IpAddr, a: &Answer) -> Identity {
    match &a.engine_id {
        Some(id) if id.iter().any(|b| *b != 0) => Identity::EngineId(id.clone()),
        _ if !a.sys_name.is_empty() => Identity::NameAndObject(
            a.sys_name.clone(),
            a.sys_object_id.as_ref().map(|o| o.to_string()).unwrap_or_default(),
        ),
        _ => Identity::Address(ip),
    }
}

/// The devices as targets: named by sysName (made unique; the address when it has none),
/// with the credential that answered and the profile chosen.
pub fn targets(devices: &[Device], port: u16, credentials: &[TargetDefaults]) -> Vec<TargetConfig> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    devices
        .iter()
        .map(|d| {
            let base = name_of(d);
            let n = taken.entry(base.clone()).or_default();
            *n += 1;
            let name = if *n == 1 { base } else { format!("{base}-{n}") };
            let address = match d.address {
                IpAddr::V4(a) => format!("udp://{a}:{port}"),
                IpAddr::V6(a) => format!("udp://[{a}]:{port}"),
            };
            let mut t = target_with(name, address, &credentials[d.answer.credential]);
            t.profile = d.profile.clone();
            t
        })
        .collect()
}

/// A target name from sysName: the characters a tag and a URL path take as they are.
fn name_of(d: &Device) -> String {
    let clean: String = (d.answer.sys_name.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    if clean.is_empty() { d.address.to_string() } else { clean }
}

/// A found target as JSON with its secrets in clear — for where run-time targets live (Redis,
/// the 0600 state file) and for `discover --show-secrets`, never for logs: `Secret` itself
/// serializes as `***`.
pub fn exposed_json(t: &TargetConfig) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(c) = &t.community {
        v["community"] = c.expose().into();
    }
    for (key, k) in [
        ("auth", t.auth.as_ref().map(|k| &k.password)),
        ("priv", t.privacy.as_ref().map(|k| &k.password)),
    ] {
        if let Some(p) = k {
            v[key]["password"] = p.expose().into();
        }
    }
    v
}
