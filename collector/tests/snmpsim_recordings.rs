//! Recordings of real switches and routers (snmpsim-data) served by snmpsim: what
//! netpulse reports for `system`, `interfaces` and `etherlike` (dot3StatsTable) equals, value for
//! value, what net-snmp's `snmpbulkwalk -On` returns for the same subtrees (strings compared as
//! raw bytes, `-Ox`).

mod harness;

use harness::Snmpsim;
use netpulse_collector::lineproto::{FieldValue, Point};
use netpulse_collector::mapping::octets;
use netpulse_collector::poll::poll;
use netpulse_collector::registry::Registry;
use netpulse_collector::snmp::SnmpEngine;
use netpulse_collector::target::Target;
use netpulse_config::{CollectorConfig, Secret, SnmpDefaults, TargetConfig};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

const RECORDINGS: &[&str] = &[
    "network/switch/cisco-c3560",
    "network/switch/dlink-des3200",
    "network/switch/hpe-procurve-516733-b21",
    "network/router/juniper-mx960-16-1r6-7-a",
    "network/router/huawei-s5720",
    "network/router/cisco-unmarked-0",
];

/// `snmpbulkwalk -On` output: OID → value rendered the way netpulse renders it.
fn bulkwalk(port: u16, community: &str, subtree: &str) -> HashMap<String, String> {
    let out = Command::new("snmpbulkwalk")
        .args([
            "-v2c", "-c", community, "-m", "", "-On", "-Oe", "-Ot", "-Ox", "-t", "3", "-r", "1", "-Cr25",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg(subtree)
        .output()
        .expect("snmpbulkwalk (Debian snmp) is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut raw: Vec<(String, String)> = vec![];
    for line in text.lines() {
        match line.strip_prefix('.').and_then(|l| l.split_once(" = ")) {
            Some((oid, rest)) => raw.push((oid.to_string(), rest.to_string())),
            // Long hex strings continue on the next lines.
            None => raw
                .last_mut()
                .expect("continuation after a value")
                .1
                .push_str(&format!(" {line}")),
        }
    }
    raw.into_iter().map(|(oid, v)| (oid, render(&v))).collect()
}

fn render(v: &str) -> String {
    let (ty, val) = v.split_once(": ").unwrap_or(("", v));
    match ty {
        "STRING" => {
            let s = val.strip_prefix('"').unwrap_or(val);
            let s = s.strip_suffix('"').unwrap_or(s);
            octets(s.replace("\\\"", "\"").replace("\\\\", "\\").as_bytes())
        }
        "Hex-STRING" => {
            let bytes: Vec<u8> = val
                .split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            octets(&bytes)
        }
        "OID" => val.trim_start_matches('.').to_string(),
        _ if v == "\"\"" => String::new(),
        _ => val.to_string(),
    }
}

fn show(v: &FieldValue) -> String {
    match v {
        FieldValue::Int(i) => i.to_string(),
        FieldValue::UInt(u) => u.to_string(),
        FieldValue::Float(f) => f.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Str(s) => s.clone(),
    }
}

/// Every (column, index) netpulse requested and snmpbulkwalk saw must match.
fn compare(name: &str, registry: &Registry, points: &[Point], walked: &HashMap<String, String>) -> usize {
    let mut checked = 0;
    // Table points by (measurement, ifIndex): both tables are indexed by it.
    let by_index: HashMap<(&str, &str), &Point> = points
        .iter()
        .filter(|p| &*p.measurement != "system")
        .filter_map(|p| Some(((&*p.measurement, p.tag("ifIndex")?), p)))
        .collect();
    let sys = points.iter().find(|p| &*p.measurement == "system");
    for module in ["system", "interfaces", "etherlike"] {
        let m = registry.get(module).unwrap();
        let objects = m
            .scalars
            .iter()
            .flat_map(|g| g.objects.iter())
            .chain(m.tables.iter().flat_map(|t| t.columns.iter()));
        for obj in objects {
            let prefix = format!("{}.", obj.oid);
            for (oid, theirs) in walked.iter().filter(|(o, _)| o.starts_with(&prefix)) {
                let index = &oid[prefix.len()..];
                let point = match m.tables.first() {
                    None => sys,
                    Some(t) => by_index.get(&(&*t.measurement, index)).copied(),
                };
                let point = point.unwrap_or_else(|| panic!("{name}: no point for {oid}"));
                let ours = if obj.tag {
                    point.tag(&obj.name).map(str::to_string)
                } else {
                    point.field(&obj.name).map(show)
                };
                if theirs.is_empty() && ours.is_none() {
                    continue; // empty tags are omitted by design
                }
                assert_eq!(ours.as_deref(), Some(theirs.as_str()), "{name}: {} ({oid})", obj.name);
                checked += 1;
            }
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_match_snmpbulkwalk() {
    let sim = Snmpsim::start(RECORDINGS);
    let engine = SnmpEngine::new(2).await.unwrap();
    let registry = Registry::builtin();
    let snmp = SnmpDefaults {
        timeout: netpulse_config::Duration::from_secs(3),
        ..SnmpDefaults::default()
    };
    let cfg = CollectorConfig {
        snmp,
        ..CollectorConfig::default()
    };
    let (mut total, mut ether) = (0, 0);
    for rel in RECORDINGS {
        let community = rel.rsplit('/').next().unwrap();
        let tc = TargetConfig {
            name: community.into(),
            address: format!("udp://127.0.0.1:{}", sim.port),
            community: Some(Secret::new(community)),
            modules: vec!["system".into(), "interfaces".into(), "etherlike".into()],
            ..TargetConfig::default()
        };
        let target = Target::from_config(&tc, &cfg, &registry).unwrap();
        let out = poll(&engine, &target, Arc::new(tokio::sync::Semaphore::new(20)), 2).await;
        assert!(out.ok(), "{community}: {:?}", out.errors().collect::<Vec<_>>());
        let mut walked = bulkwalk(sim.port, community, ".1.3.6.1.2.1.1");
        walked.extend(bulkwalk(sim.port, community, ".1.3.6.1.2.1.2.2"));
        walked.extend(bulkwalk(sim.port, community, ".1.3.6.1.2.1.31.1.1"));
        walked.extend(bulkwalk(sim.port, community, ".1.3.6.1.2.1.10.7.2"));
        let n = compare(community, &registry, &out.points, &walked);
        let interfaces = out.points.iter().filter(|p| &*p.measurement == "interface").count();
        assert!(interfaces >= 10, "{community}: only {interfaces} interfaces");
        assert!(n > interfaces * 10, "{community}: compared only {n} values");
        total += n;
        ether += out.points.iter().filter(|p| &*p.measurement == "ether_stats").count();
    }
    // Most of these switches carry EtherLike-MIB: its rows were compared too.
    assert!(ether >= 50, "ether_stats rows: {ether}");
    eprintln!("compared {total} values with snmpbulkwalk");
}
