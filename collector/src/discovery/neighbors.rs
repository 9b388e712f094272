//! Following neighbours: the management addresses each device found reports for its LLDP
//! (LLDP-MIB lldpRemManAddrTable) and CDP (CISCO-CDP-MIB cdpCacheAddress) neighbours are
//! probed in turn — only inside the allowed ranges and never in an excluded one — round after
//! round until no new address appears. Every request, table reads included, is paced.

use super::addresses::inside;
use super::probe::{Answer, Pacer};
use super::{Report, Sweep, probe_all};
use crate::profiles::Profiles;
use crate::snmp::walk::{WalkLimits, walk_columns};
use crate::snmp::{
    Oid, RequestPolicy, SnmpEngine, SnmpResult, SnmpSession, SnmpVersion, TargetSecurity, Value, VarBind,
};
use netpulse_config::Cidr;
use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

/// lldpRemManAddrIfSubtype: walked for its index, which holds the address.
const LLDP_MAN_ADDR: [u32; 11] = [1, 0, 8802, 1, 1, 2, 1, 4, 2, 1, 3];
/// cdpCacheAddress: four octets for an IPv4 neighbour.
const CDP_ADDRESS: [u32; 14] = [1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 4];
/// A crawl ends after this many rounds even if addresses keep appearing.
const MAX_ROUNDS: usize = 32;

/// A session whose every request first waits for the sweep's pace.
struct Paced<'a, S> {
    inner: S,
    pacer: &'a Pacer,
}

impl<S: SnmpSession> SnmpSession for Paced<'_, S> {
    fn version(&self) -> SnmpVersion {
        self.inner.version()
    }
    async fn get(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        self.pacer.wait().await;
        self.inner.get(oids).await
    }
    async fn get_next(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
        self.pacer.wait().await;
        self.inner.get_next(oids).await
    }
    async fn get_bulk(&self, oids: &[Oid], max_repetitions: u32) -> SnmpResult<Vec<VarBind>> {
        self.pacer.wait().await;
        self.inner.get_bulk(oids, max_repetitions).await
    }
}

/// Crawls from the devices in `report`, adding what answers; `probed` holds every address
/// already asked (the sweep's), so none is asked twice.
#[allow(clippy::too_many_arguments)] // the sweep's parts, passed as the sweep holds them
pub(super) async fn follow(
    engine: &SnmpEngine,
    s: &Sweep,
    within: &[Cidr],
    credentials: &[TargetSecurity],
    policy: RequestPolicy,
    pacer: &Pacer,
    profiles: &Profiles,
    report: &mut Report,
    probed: &mut HashSet<IpAddr>,
) {
    let mut frontier: Vec<usize> = (0..report.devices.len()).collect();
    let mut outside = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let mut next = vec![];
        for &i in &frontier {
            let d = &report.devices[i];
            for ip in read(
                engine,
                d.address,
                s.port,
                &credentials[d.answer.credential],
                policy,
                pacer,
            )
            .await
            {
                if !probed.insert(ip) {
                    continue;
                }
                if inside(within, ip) && !inside(&s.exclude, ip) {
                    next.push(ip);
                } else {
                    outside.insert(ip);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        next.sort_unstable();
        report.probed += next.len();
        let answers: Vec<(IpAddr, Answer)> = probe_all(engine, &next, s, credentials, policy, pacer).await;
        frontier = answers
            .into_iter()
            .filter_map(|(ip, a)| report.add(ip, a, profiles))
            .collect();
        report.by_neighbors += frontier.len();
    }
    report.outside = outside.into_iter().collect();
}

/// The neighbour addresses one device reports (none when it has neither table).
async fn read(
    engine: &SnmpEngine,
    ip: IpAddr,
    port: u16,
    security: &TargetSecurity,
    policy: RequestPolicy,
    pacer: &Pacer,
) -> Vec<IpAddr> {
    let Ok(inner) = engine.session(&ip.to_string(), port, security, policy).await else {
        return vec![];
    };
    let session = Paced { inner, pacer };
    let limits = WalkLimits {
        max_varbinds: 20,
        max_repetitions: 20,
        max_rows: 4096,
        allow_non_increasing: false,
        no_getbulk: false,
    };
    let columns = [Oid::from_slice(&LLDP_MAN_ADDR), Oid::from_slice(&CDP_ADDRESS)];
    let mut requests = 0;
    let Ok(walked) = walk_columns(&session, &columns, &limits, &mut requests).await else {
        return vec![];
    };
    let mut out: Vec<IpAddr> = walked[0].iter().filter_map(|(index, _)| lldp_address(index)).collect();
    out.extend(walked[1].iter().filter_map(|(_, v)| match v {
        Value::OctetString(b) if b.len() == 4 => Some(IpAddr::from([b[0], b[1], b[2], b[3]])),
        _ => None,
    }));
    out
}

/// The address in an lldpRemManAddrTable index: timeMark.localPort.remIndex.subtype.len.octets
/// (subtype 1: IPv4, 2: IPv6).
fn lldp_address(index: &[u32]) -> Option<IpAddr> {
    let [_, _, _, subtype, len, octets @ ..] = index else {
        return None;
    };
    let bytes: Vec<u8> = octets.iter().map(|&o| u8::try_from(o).ok()).collect::<Option<_>>()?;
    match (subtype, len, bytes.len()) {
        (1, 4, 4) => Some(IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])),
        (2, 16, 16) => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lldp_indexes_give_their_management_address() {
        assert_eq!(
            lldp_address(&[130, 545, 4, 1, 4, 10, 220, 2, 1]),
            Some("10.220.2.1".parse().unwrap())
        );
        let v6 = [0, 1, 1, 2, 16, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(lldp_address(&v6), Some("fd00::1".parse().unwrap()));
        assert_eq!(lldp_address(&[0, 1, 1, 1, 4, 10, 0, 300, 1]), None);
        assert_eq!(lldp_address(&[0, 1, 1, 3, 6, 1, 2, 3, 4, 5, 6]), None);
        assert_eq!(lldp_address(&[0, 1]), None);
    }
}
