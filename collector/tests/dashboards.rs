//! The Grafana dashboards and provisioning files of grafana/, proven against what the
//! collector really writes: a collector polls snmpsim recordings of real devices (a Cisco
//! switch, an Arista switch with sensors, a Vyatta router with host resources) and a net-snmp agent (plus one target that never answers) into a real InfluxDB, then every
//! InfluxQL query of every panel and template variable — with `$timeFilter`, `$__interval` and
//! the variables substituted as Grafana does for "All" — must return series. (PromQL panels
//! are evaluated against a real Prometheus in tests/alerting.rs.)

mod harness;

use harness::{Daemon, Influxd, SilentAgent, Snmpd, Snmpsim, tempdir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn grafana(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana").join(rel)
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(grafana("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A query as Grafana sends it with every variable at "All".
fn substitute(q: &str) -> String {
    let mut q = q
        .replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "2s");
    for v in ["$site", "$target", "$ifName"] {
        q = q.replace(v, ".*");
    }
    q
}

#[test]
fn dashboards_are_well_formed_and_use_the_provisioned_datasources() {
    let ds = std::fs::read_to_string(grafana("provisioning/datasources/netpulse.yaml")).unwrap();
    assert!(
        ds.starts_with("#") && ds.contains("apiVersion: 1\n"),
        "provisioning format"
    );
    for (uid, kind) in [("netpulse-influxdb", "influxdb"), ("netpulse-prometheus", "prometheus")] {
        assert!(
            ds.contains(&format!("uid: {uid}\n    type: {kind}\n")),
            "datasource {uid}"
        );
    }
    assert!(
        ds.contains("url: http://balancer:8086"),
        "InfluxDB through the balancer"
    );
    let provider = std::fs::read_to_string(grafana("provisioning/dashboards/netpulse.yaml")).unwrap();
    assert!(provider.contains("type: file") && provider.contains("path: /var/lib/grafana/dashboards/netpulse"));
    let all = dashboards();
    assert_eq!(
        all.len(),
        4,
        "network overview, device detail, collector fleet, balancer"
    );
    let mut uids = vec![];
    for (file, d) in &all {
        let uid = d["uid"].as_str().unwrap_or_else(|| panic!("{file}: uid"));
        assert!(!uids.contains(&uid), "{file}: uid {uid} used twice");
        uids.push(uid);
        assert!(
            d["title"].as_str().is_some_and(|t| t.starts_with("netpulse")),
            "{file}: title"
        );
        assert!(d["schemaVersion"].as_u64().is_some(), "{file}: schemaVersion");
        let mut ids = vec![];
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!ids.contains(&p["id"]), "{file}: panel id {} twice", p["id"]);
            ids.push(p["id"].clone());
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{file}/{title}: what it answers"
            );
            let uid = p["datasource"]["uid"].as_str().unwrap_or_default();
            assert!(
                uid == "netpulse-influxdb" || uid == "netpulse-prometheus",
                "{file}/{title}: datasource {uid}"
            );
            let g = &p["gridPos"];
            assert!(
                g["w"].as_u64().is_some_and(|w| w <= 24) && g["h"].as_u64().is_some(),
                "{file}/{title}: gridPos"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}/{title}: no query");
            for t in targets {
                assert!(
                    t["query"].is_string() || t["expr"].is_string(),
                    "{file}/{title}: query text"
                );
            }
        }
    }
}

#[test]
fn every_influxql_query_returns_series_from_real_device_data() {
    let agent = Snmpd::start("np-dash");
    let sim = Snmpsim::start(&[
        "network/switch/cisco-c3560",
        "cloud/arista-dcs-7150s-52-cl",
        "network/router/vyatta-unknown",
    ]);
    let silent = SilentAgent::start();
    let db = Influxd::start();
    let dir = tempdir("dash");
    let mut cfg = format!(
        "[collector]\ninterval = \"2s\"\njitter = \"0s\"\n[snmp]\ntimeout = \"2s\"\nretries = 0\n\
         [[outputs.influxdb]]\nname = \"influx\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{}\"\nflush_interval = \"200ms\"\n",
        db.port,
        dir.join("queue").display()
    );
    let targets = [
        (
            "linux-1",
            agent.address(),
            "public",
            "[\"system\", \"interfaces\", \"host_resources\"]",
        ),
        (
            "c3560",
            format!("udp://127.0.0.1:{}", sim.port),
            "cisco-c3560",
            "[\"system\", \"interfaces\"]",
        ),
        (
            "arista",
            format!("udp://127.0.0.1:{}", sim.port),
            "arista-dcs-7150s-52-cl",
            "[\"system\", \"interfaces\", \"entity_sensors\"]",
        ),
        (
            "vyatta",
            format!("udp://127.0.0.1:{}", sim.port),
            "vyatta-unknown",
            "[\"system\", \"interfaces\", \"host_resources\"]",
        ),
        (
            "gone",
            format!("udp://127.0.0.1:{}", silent.port),
            "public",
            "[\"system\"]",
        ),
    ];
    for (name, addr, community, modules) in targets {
        cfg.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\naddress = \"{addr}\"\ncommunity = \"{community}\"\nmodules = {modules}\nrates = true\ntags = {{ site = \"lab\" }}\n"
        ));
    }
    let path = dir.join("collector.toml");
    std::fs::write(&path, cfg).unwrap();
    let d = Daemon::start(&path, &[]);
    // Enough polls for rates and derivatives of every counter.
    d.wait_for("four polls of every answering target", Duration::from_secs(60), |_| {
        db.count("netpulse_poll", "duration_ms") >= 4 * 12
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut proven = 0;
    for (file, dash) in dashboards() {
        let mut queries: Vec<(String, String)> = vec![];
        for v in dash["templating"]["list"].as_array().into_iter().flatten() {
            if v["datasource"]["uid"] == "netpulse-influxdb" {
                queries.push((
                    format!("variable {}", v["name"]),
                    v["query"].as_str().unwrap().to_string(),
                ));
            }
        }
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                if let Some(q) = t["query"].as_str() {
                    queries.push((format!("panel {:?}", p["title"].as_str().unwrap()), q.to_string()));
                }
            }
        }
        for (what, q) in queries {
            let sent = substitute(&q);
            let v = db.query(&sent);
            let r = &v["results"][0];
            assert!(r["error"].is_null(), "{file}: {what}: {}\n{sent}", r["error"]);
            let series = r["series"].as_array().map_or(0, Vec::len);
            assert!(
                series > 0,
                "{file}: {what} returns nothing:\n{sent}\npoll errors: {}",
                db.query(
                    "SELECT \"error\", \"module\", \"target\" FROM \"netpulse_poll\" WHERE \"ok\" = false LIMIT 20"
                )
            );
            proven += 1;
        }
    }
    eprintln!("{proven} InfluxQL queries (panels and template variables) return series");
    assert!(proven >= 15);
}
