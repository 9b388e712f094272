//! Every network recording of `snmpsim-data` (74 real switches, routers, firewalls, wireless
//! controllers, appliances) served by snmpsim and polled with `profile = "auto"`: the profile
//! chosen is the vendor's wherever a shipped profile covers the sysObjectID, and the
//! `device_cpu` / `device_memory` values and `device_component` states equal the recording's,
//! computed here the MIB's way from the recording's own lines (an oracle written apart from the
//! profile files).

#[path = "device_profiles/components.rs"]
mod components;
mod harness;

use harness::Snmpsim;
use netpulse_collector::lineproto::{FieldValue, Point};
use netpulse_collector::poll::poll;
use netpulse_collector::registry::Registry;
use netpulse_collector::snmp::SnmpEngine;
use netpulse_collector::target::Target;
use netpulse_config::{CollectorConfig, Secret, SnmpDefaults, TargetConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The vendor each sysObjectID prefix belongs to, as the test knows it (longest first).
const VENDORS: &[(&str, &str)] = &[
    ("1.3.6.1.4.1.2011.2.235", "huawei-ibmc"),
    ("1.3.6.1.4.1.11.2.3.7.11", "hpe-procurve"),
    ("1.3.6.1.4.1.2011.10", "h3c-legacy"),
    ("1.3.6.1.4.1.2011.2", "huawei"),
    ("1.3.6.1.4.1.25506", "h3c"),
    ("1.3.6.1.4.1.12356", "fortinet"),
    ("1.3.6.1.4.1.14823", "aruba-controller"),
    ("1.3.6.1.4.1.25461", "paloalto"),
    ("1.3.6.1.4.1.2636", "juniper"),
    ("1.3.6.1.4.1.1991", "brocade-icx"),
    ("1.3.6.1.4.1.1588", "brocade-fc"),
    ("1.3.6.1.4.1.4881", "ruijie"),
    ("1.3.6.1.4.1.3902", "zte"),
    ("1.3.6.1.4.1.171", "dlink"),
    ("1.3.6.1.4.1.9", "cisco"),
];

fn vendor(sys_object_id: &str) -> &'static str {
    let within = |p: &str| sys_object_id == p || sys_object_id.starts_with(&format!("{p}."));
    VENDORS.iter().find(|(p, _)| within(p)).map_or("generic", |(_, v)| v)
}

/// A recording's lines under the subtrees read: OID → (snmprec type, value).
struct Rec(BTreeMap<String, (String, String)>);

impl Rec {
    /// A static number (snmpsim variations, `2:numeric` and the like, are not static).
    fn num(&self, oid: &str) -> Option<f64> {
        let (ty, v) = self.0.get(oid)?;
        if ty.contains(':') {
            return None;
        }
        v.parse().ok()
    }

    fn has(&self, oid: &str) -> bool {
        self.0.contains_key(oid)
    }

    /// Row indices of a column.
    fn rows(&self, column: &str) -> Vec<String> {
        let prefix = format!("{column}.");
        (self.0.range(prefix.clone()..))
            .take_while(|(o, _)| o.starts_with(&prefix))
            .map(|(o, _)| o[prefix.len()..].to_string())
            .collect()
    }

    fn text(&self, oid: &str) -> Option<String> {
        let (ty, v) = self.0.get(oid)?;
        Some(match ty.as_str() {
            "4x" => (0..v.len() / 2)
                .filter_map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).ok())
                .map(char::from)
                .collect(),
            _ => v.clone(),
        })
    }
}

/// What the MIBs say: CPU utilizations and memory (total bytes, utilization) of a recording,
/// `None` where the recording's value is not static.
#[derive(Default)]
struct Expected {
    cpu: Vec<Option<f64>>,
    memory: Vec<Option<(f64, f64)>>,
}

fn hr(r: &Rec, e: &mut Expected, cpu: bool, memory: bool) {
    if cpu {
        let col = "1.3.6.1.2.1.25.3.3.1.2";
        e.cpu.extend(r.rows(col).iter().map(|i| r.num(&format!("{col}.{i}"))));
    }
    if memory {
        let c = |n: u32, i: &str| format!("1.3.6.1.2.1.25.2.3.1.{n}.{i}");
        for i in r.rows("1.3.6.1.2.1.25.2.3.1.2") {
            let ram = r.text(&c(2, &i)).as_deref() == Some("1.3.6.1.2.1.25.2.1.2");
            let (units, size, used) = (r.num(&c(4, &i)), r.num(&c(5, &i)), r.num(&c(6, &i)));
            if ram && r.has(&c(5, &i)) && size != Some(0.0) {
                e.memory
                    .push(units.zip(size).zip(used).map(|((u, s), d)| (s * u, d / s * 100.0)));
            }
        }
    }
}

/// Rows of `table`.`n` for each `n` of the tuple, where `keep` holds.
fn each(r: &Rec, table: &str, key: u32, mut f: impl FnMut(&dyn Fn(u32) -> Option<f64>, &str)) {
    for i in r.rows(&format!("{table}.{key}")) {
        let get = |n: u32| r.num(&format!("{table}.{n}.{i}"));
        f(&get, &i);
    }
}

fn expected(profile: &str, r: &Rec) -> Expected {
    let mut e = Expected::default();
    let pct = |used: f64, total: f64| used / total * 100.0;
    match profile {
        "cisco" => {
            let t = "1.3.6.1.4.1.9.9.109.1.1.1.1";
            let mut idx = r.rows(&format!("{t}.8"));
            idx.extend(
                r.rows(&format!("{t}.5"))
                    .into_iter()
                    .filter(|i| !r.has(&format!("{t}.8.{i}"))),
            );
            idx.sort();
            idx.dedup();
            for i in idx {
                e.cpu
                    .push(r.num(&format!("{t}.8.{i}")).or(r.num(&format!("{t}.5.{i}"))));
            }
            let aireos = |n: u32| r.num(&format!("1.3.6.1.4.1.14179.1.1.5.{n}.0"));
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.14179.1.1.5.1.0");
            if r.has("1.3.6.1.4.1.14179.1.1.5.2.0") {
                e.memory
                    .push(aireos(2).zip(aireos(3)).map(|(t, f)| (t * 1024.0, pct(t - f, t))));
            }
            each(
                r,
                "1.3.6.1.4.1.9.9.48.1.1.1",
                5,
                |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                    e.memory.push(g(5).zip(g(6)).map(|(u, f)| (u + f, pct(u, u + f))));
                },
            );
            each(r, t, 12, |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                e.memory
                    .push(g(12).zip(g(13)).map(|(u, f)| ((u + f) * 1024.0, pct(u, u + f))));
            });
        }
        "juniper" => {
            let t = "1.3.6.1.4.1.2636.3.1.13.1";
            for i in r.rows(&format!("{t}.8")) {
                if !r
                    .text(&format!("{t}.5.{i}"))
                    .unwrap_or_default()
                    .contains("Routing Engine")
                {
                    continue;
                }
                e.cpu.push(r.num(&format!("{t}.8.{i}")));
                let mb = r.num(&format!("{t}.15.{i}"));
                if mb != Some(0.0) && r.has(&format!("{t}.15.{i}")) {
                    e.memory
                        .push(mb.zip(r.num(&format!("{t}.11.{i}"))).map(|(m, b)| (m * 1048576.0, b)));
                }
            }
        }
        "huawei" | "h3c" | "h3c-legacy" => {
            let tables: &[(&str, [u32; 3])] = match profile {
                "huawei" => &[("1.3.6.1.4.1.2011.5.25.31.1.1.1.1", [5, 7, 9])],
                _ => &[
                    ("1.3.6.1.4.1.25506.2.6.1.1.1.1", [6, 8, 10]),
                    ("1.3.6.1.4.1.2011.10.2.6.1.1.1.1", [6, 8, 10]),
                ],
            };
            for (t, [cpu, usage, size]) in tables {
                // Boards: a memory size (-1 where the agent cannot say it) — they carry the CPU.
                each(r, t, *size, |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                    let size = g(*size);
                    if size.is_some_and(|s| s != 0.0) {
                        e.cpu.push(g(*cpu));
                    }
                    if size.is_some_and(|s| s > 0.0) {
                        e.memory.push(size.zip(g(*usage)));
                    }
                });
            }
        }
        "hpe-procurve" => {
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.11.2.14.11.5.1.9.6.1.0");
            each(
                r,
                "1.3.6.1.4.1.11.2.14.11.5.1.1.2.1.1.1",
                5,
                |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                    e.memory.push(g(5).zip(g(7)).map(|(t, a)| (t, pct(a, t))));
                },
            );
        }
        "dlink" => {
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.171.12.1.1.6.3.0");
            each(
                r,
                "1.3.6.1.4.1.171.12.1.1.9.1",
                2,
                |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                    if g(2).is_some_and(|t| t > 0.0) {
                        e.memory.push(g(2).zip(g(4)).map(|(t, u)| (t * 1024.0, u)));
                    }
                },
            );
        }
        "brocade-icx" => {
            let g = |n: u32| r.num(&format!("1.3.6.1.4.1.1991.1.1.2.1.{n}.0"));
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.1991.1.1.2.1.52.0");
            if r.has("1.3.6.1.4.1.1991.1.1.2.1.54.0") {
                e.memory.push(g(54).zip(g(53)));
            }
        }
        "fortinet" => {
            let g = |n: u32| r.num(&format!("1.3.6.1.4.1.12356.101.4.1.{n}.0"));
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.12356.101.4.1.3.0");
            if r.has("1.3.6.1.4.1.12356.101.4.1.5.0") {
                e.memory.push(g(5).zip(g(4)).map(|(c, u)| (c * 1024.0, u)));
            }
        }
        "aruba-controller" => {
            let col = "1.3.6.1.4.1.14823.2.2.1.1.1.9.1.3";
            e.cpu.extend(r.rows(col).iter().map(|i| r.num(&format!("{col}.{i}"))));
            hr(r, &mut e, false, true);
        }
        "ruijie" => {
            scalar(r, &mut e.cpu, "1.3.6.1.4.1.4881.1.1.10.2.36.1.1.3.0");
            each(
                r,
                "1.3.6.1.4.1.4881.1.1.10.2.35.1.1.1",
                3,
                |g: &dyn Fn(u32) -> Option<f64>, _: &str| {
                    e.memory.push(g(6).zip(g(3)).map(|(s, u)| (s * 1024.0, u)));
                },
            );
        }
        // Profiles that keep the standard MIBs' metrics.
        _ => hr(r, &mut e, true, true),
    }
    e
}

/// A scalar gives a point when the agent has it (its value `None` when not static).
fn scalar(r: &Rec, out: &mut Vec<Option<f64>>, oid: &str) {
    if r.has(oid) {
        out.push(r.num(oid));
    }
}

/// Every network recording: (community, path).
fn recordings() -> Vec<(String, PathBuf)> {
    let root = harness::recording("network/x")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = vec![];
    for dir in std::fs::read_dir(root.join("network")).unwrap().flatten() {
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            let stem = name.trim_end_matches(".bz2").trim_end_matches(".snmprec").to_string();
            let kind = dir.file_name().to_string_lossy().to_string();
            out.push((format!("{kind}-{stem}"), f.path()));
        }
    }
    out.sort();
    out
}

/// The lines of `path` under `prefixes` (and sysObjectID), written to `out` for snmpsim and
/// returned for the oracle. bz2 recordings are streamed through bzcat.
fn filter(path: &Path, prefixes: &[String], out: &Path) -> Rec {
    let mut child = Command::new(if path.extension().is_some_and(|e| e == "bz2") {
        "bzcat"
    } else {
        "cat"
    })
    .arg(path)
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let mut lines = BTreeMap::new();
    for line in reader.split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        let mut parts = line.splitn(3, '|');
        let (Some(oid), Some(ty), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if prefixes.iter().any(|p| oid.starts_with(p.as_str())) {
            writeln!(w, "{line}").unwrap();
            lines.insert(oid.to_string(), (ty.to_string(), v.trim_end().to_string()));
        }
    }
    child.wait().unwrap();
    Rec(lines)
}

/// Every OID any shipped profile reads, and the system group.
fn subtrees() -> Vec<String> {
    let registry = Registry::builtin();
    let profiles = registry.profiles();
    let mut out = vec!["1.3.6.1.2.1.1.".to_string()];
    for name in profiles.names() {
        let p = profiles.get(name).unwrap();
        for d in &p.module.derived {
            out.extend(d.columns.iter().map(|c| format!("{}.", c.oid)));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn values(points: &[Point], measurement: &str, field: &str) -> Vec<f64> {
    let mut v: Vec<f64> = (points.iter().filter(|p| &*p.measurement == measurement))
        .filter_map(|p| match p.field(field)? {
            FieldValue::Float(f) => Some(*f),
            FieldValue::Int(i) => Some(*i as f64),
            _ => None,
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Every static expected value is among netpulse's, and there are as many points.
fn same(name: &str, what: &str, expected: &[Option<f64>], ours: &[f64]) {
    assert_eq!(
        ours.len(),
        expected.len(),
        "{name}: {what}: netpulse {ours:?}, the MIB {expected:?}"
    );
    let mut left = ours.to_vec();
    for e in expected.iter().flatten() {
        let at = left.iter().position(|o| (o - e).abs() <= 1e-6 * e.abs().max(1.0));
        let at = at.unwrap_or_else(|| panic!("{name}: {what}: {e} expected, netpulse has {ours:?}"));
        left.remove(at);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_network_recording_gets_its_vendors_profile_and_its_values() {
    let all = recordings();
    assert!(all.len() >= 74, "snmpsim-data's network recordings: {}", all.len());
    let prefixes = subtrees();
    let mut recs = BTreeMap::new();
    let sim = Snmpsim::serve(&all[0].0, |data| {
        for (name, path) in &all {
            recs.insert(
                name.clone(),
                filter(path, &prefixes, &data.join(format!("{name}.snmprec"))),
            );
        }
    });
    let engine = SnmpEngine::new(2).await.unwrap();
    let registry = Registry::builtin();
    let cfg = CollectorConfig {
        snmp: SnmpDefaults {
            timeout: netpulse_config::Duration::from_secs(3),
            ..SnmpDefaults::default()
        },
        ..CollectorConfig::default()
    };
    let (mut with_cpu, mut with_memory, mut vendor_matched, mut with_components) = (0, 0, 0, 0);
    for (name, rec) in &recs {
        let tc = TargetConfig {
            name: name.clone(),
            address: format!("udp://127.0.0.1:{}", sim.port),
            community: Some(Secret::new(name.as_str())),
            modules: vec!["system".into()],
            ..TargetConfig::default()
        };
        let target = Target::from_config(&tc, &cfg, &registry).unwrap();
        let out = poll(&engine, &target, Arc::new(tokio::sync::Semaphore::new(20)), 2).await;
        let id = rec.text("1.3.6.1.2.1.1.2.0").unwrap_or_default();
        let want = vendor(&id);
        let got = out.profile.as_ref().map(|m| m.profile.name.clone());
        assert_eq!(
            got.as_deref(),
            Some(want),
            "{name} (sysObjectID {id:?}): {:?}",
            out.profile.as_ref().map(|m| &m.why)
        );
        vendor_matched += usize::from(want != "generic");
        let e = expected(want, rec);
        let cpu = values(&out.points, "device_cpu", "utilization");
        same(name, "device_cpu utilization", &e.cpu, &cpu);
        let totals: Vec<Option<f64>> = e.memory.iter().map(|m| m.map(|(t, _)| t)).collect();
        let utils: Vec<Option<f64>> = e.memory.iter().map(|m| m.map(|(_, u)| u)).collect();
        same(
            name,
            "device_memory total_bytes",
            &totals,
            &values(&out.points, "device_memory", "total_bytes"),
        );
        same(
            name,
            "device_memory utilization",
            &utils,
            &values(&out.points, "device_memory", "utilization"),
        );
        let comps = components::expected(want, rec);
        components::check(name, &comps, &out.points);
        with_components += usize::from(!comps.is_empty());
        with_cpu += usize::from(!cpu.is_empty());
        with_memory += usize::from(!e.memory.is_empty());
        eprintln!(
            "{name:55} {want:18} cpu {:2} memory {:2} components {:2}",
            cpu.len(),
            e.memory.len(),
            comps.len()
        );
    }
    eprintln!(
        "{vendor_matched} recordings matched a vendor profile; {with_cpu} have device_cpu, {with_memory} device_memory, {with_components} device_component"
    );
    assert!(with_cpu >= 34, "device_cpu for {with_cpu} recordings");
    assert!(with_memory >= 24, "device_memory for {with_memory} recordings");
    assert!(
        with_components >= 15,
        "device_component for {with_components} recordings"
    );
}
