//! Against a real net-snmp `snmpd`: v1, v2c and the SNMPv3 user matrix, credential
//! errors, and an agent reboot (engineBoots change) under a long-lived engine.

mod harness;

use harness::{AUTH_PASS, PRIV_PASS, Snmpd, V3_USERS};
use netpulse_collector::lineproto::{FieldValue, Point};
use netpulse_collector::poll::{PollOutcome, poll};
use netpulse_collector::registry::Registry;
use netpulse_collector::snmp::SnmpEngine;
use netpulse_collector::target::Target;
use netpulse_config::{
    AuthProtocol, CollectorConfig, PrivProtocol, Secret, SnmpDefaults, SnmpVersion, TargetConfig, UsmKey,
};
use std::sync::Arc;
use tokio::sync::Semaphore;

fn proto<P: serde::de::DeserializeOwned>(name: &str) -> P {
    serde_json::from_value(serde_json::Value::String(name.into())).unwrap()
}

fn v2c(agent: &Snmpd, modules: &[&str]) -> TargetConfig {
    TargetConfig {
        name: "sw1".into(),
        address: agent.address(),
        community: Some(Secret::new("public")),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        ..TargetConfig::default()
    }
}

fn v3(agent: &Snmpd, user: &str, auth: (&str, &str), privacy: Option<(&str, &str)>) -> TargetConfig {
    TargetConfig {
        name: format!("v3-{user}"),
        address: agent.address(),
        version: SnmpVersion::V3,
        user: Some(user.into()),
        auth: Some(UsmKey::<AuthProtocol> {
            protocol: proto(auth.0),
            password: Secret::new(auth.1),
        }),
        privacy: privacy.map(|(p, pw)| UsmKey::<PrivProtocol> {
            protocol: proto(p),
            password: Secret::new(pw),
        }),
        modules: vec!["system".into()],
        ..TargetConfig::default()
    }
}

async fn poll_once(engine: &SnmpEngine, tc: &TargetConfig) -> PollOutcome {
    let snmp = SnmpDefaults {
        timeout: netpulse_config::Duration::from_millis(700),
        retries: 1,
        ..SnmpDefaults::default()
    };
    let cfg = CollectorConfig {
        snmp,
        ..CollectorConfig::default()
    };
    let target = Target::from_config(tc, &cfg, &Registry::builtin()).unwrap();
    poll(engine, &target, Arc::new(Semaphore::new(50)), 5).await
}

fn measurement<'a>(o: &'a PollOutcome, m: &str) -> Vec<&'a Point> {
    o.points.iter().filter(|p| &*p.measurement == m).collect()
}

fn str_field<'a>(p: &'a Point, k: &str) -> &'a str {
    match p.field(k) {
        Some(FieldValue::Str(s)) => s,
        other => panic!("{k}: {other:?}"),
    }
}

#[tokio::test]
async fn v2c_and_v1_poll_system_and_interfaces() {
    let agent = Snmpd::start("np-agent-1");
    let engine = SnmpEngine::new(2).await.unwrap();
    for version in [SnmpVersion::V2c, SnmpVersion::V1] {
        let tc = TargetConfig {
            version,
            ..v2c(&agent, &["system", "interfaces", "host_resources"])
        };
        let out = poll_once(&engine, &tc).await;
        assert!(out.ok(), "{version:?}: {:?}", out.errors().collect::<Vec<_>>());
        let sys = measurement(&out, "system");
        assert_eq!(sys.len(), 1);
        assert_eq!(sys[0].tag("sysName"), Some("np-agent-1"));
        assert_eq!(sys[0].tag("target"), Some("sw1"));
        assert_eq!(sys[0].tag("agent_host"), Some("127.0.0.1"));
        assert_eq!(str_field(sys[0], "sysLocation"), "lab-1");
        assert!(matches!(sys[0].field("sysUpTime"), Some(FieldValue::Int(t)) if *t >= 0));
        let ifs = measurement(&out, "interface");
        let lo = ifs
            .iter()
            .find(|p| p.tag("ifDescr") == Some("lo"))
            .expect("loopback interface");
        assert_eq!(lo.field("ifType"), Some(&FieldValue::Int(24)), "softwareLoopback");
        assert!(lo.tag("ifIndex").is_some());
        if version == SnmpVersion::V2c {
            assert!(lo.field("ifHCInOctets").is_some(), "64-bit counters on v2c");
        }
        assert!(!measurement(&out, "hr_storage").is_empty());
        let selfp = measurement(&out, "netpulse_poll");
        // Its three modules, the profile's metrics, and the generic profile's etherlike (net-snmp
        // has no dot3StatsTable here: an empty walk, still ok).
        assert_eq!(selfp.len(), 5, "three modules, the profile's and etherlike");
        assert!(selfp.iter().all(|p| p.field("ok") == Some(&FieldValue::Bool(true))));
    }
}

/// net-snmp's own agent gets the `net-snmp` profile: a device_cpu point per hrProcessorLoad the
/// agent has (snmpd computes them after its first minute of samples), and memory whose total is
/// UCD's memTotalReal as snmpget reads it.
#[tokio::test]
async fn net_snmp_gets_its_profile_and_ucd_health() {
    let agent = Snmpd::start("np-agent-prof");
    let get = |oid: &str| {
        let o = std::process::Command::new("snmpget")
            .args(["-v2c", "-c", "public", "-Ovq", "-m", ""])
            .arg(agent.address().trim_start_matches("udp://"))
            .arg(oid)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        text.split_whitespace().next().and_then(|v| v.parse::<i64>().ok())
    };
    let engine = SnmpEngine::new(2).await.unwrap();
    let out = poll_once(&engine, &v2c(&agent, &["system"])).await;
    assert!(out.ok(), "{:?}", out.errors().collect::<Vec<_>>());
    let m = out.profile.as_ref().expect("a profile");
    assert_eq!(m.profile.name, "net-snmp", "{}", m.why);
    assert!(m.why.contains("starts with 1.3.6.1.4.1.8072.3.2"), "{}", m.why);
    let total_kb = get("1.3.6.1.4.1.2021.4.5.0").expect("memTotalReal");
    let mem = measurement(&out, "device_memory");
    assert_eq!(mem.len(), 1);
    assert_eq!(mem[0].tag("profile"), Some("net-snmp"));
    assert_eq!(mem[0].field("total_bytes"), Some(&FieldValue::Int(total_kb * 1024)));
    let walk = std::process::Command::new("snmpwalk")
        .args(["-v2c", "-c", "public", "-On", "-m", ""])
        .arg(agent.address().trim_start_matches("udp://"))
        .arg("1.3.6.1.2.1.25.3.3.1.2")
        .output()
        .unwrap();
    let processors = (String::from_utf8_lossy(&walk.stdout).lines())
        .filter(|l| l.contains(" = INTEGER: "))
        .count();
    let cpu = measurement(&out, "device_cpu");
    assert_eq!(cpu.len(), processors, "a point per processor load the agent has");
    for p in cpu {
        assert_eq!(p.tag("profile"), Some("net-snmp"));
        assert!(matches!(p.field("utilization"), Some(FieldValue::Float(u)) if (0.0..=100.0).contains(u)));
    }
}

#[tokio::test]
async fn every_v3_user_polls() {
    let agent = Snmpd::start("np-agent-v3");
    let engine = SnmpEngine::new(2).await.unwrap();
    for (user, auth, privacy) in V3_USERS {
        let tc = v3(&agent, user, (auth, AUTH_PASS), privacy.map(|p| (p, PRIV_PASS)));
        let out = poll_once(&engine, &tc).await;
        assert!(out.ok(), "{user}: {:?}", out.errors().collect::<Vec<_>>());
        assert_eq!(
            measurement(&out, "system")[0].tag("sysName"),
            Some("np-agent-v3"),
            "{user}"
        );
    }
}

#[tokio::test]
async fn v3_credential_errors_are_named() {
    let agent = Snmpd::start("np-agent-err");
    let engine = SnmpEngine::new(1).await.unwrap();
    let cases = [
        (v3(&agent, "nobody", ("sha256", AUTH_PASS), None), "unknown user name"),
        (
            v3(
                &agent,
                "sha256_aes128",
                ("sha256", "wrongpass123"),
                Some(("aes128", PRIV_PASS)),
            ),
            "wrong authentication",
        ),
        (
            v3(&agent, "sha256_aes128", ("md5", AUTH_PASS), Some(("aes128", PRIV_PASS))),
            "wrong authentication",
        ),
        (
            v3(
                &agent,
                "sha256_aes128",
                ("sha256", AUTH_PASS),
                Some(("aes128", "wrongpriv123")),
            ),
            "wrong privacy",
        ),
    ];
    for (tc, expect) in cases {
        let out = poll_once(&engine, &tc).await;
        let errors: Vec<String> = out.errors().collect();
        assert!(
            errors.len() == 1 && errors[0].contains(expect),
            "{}: {errors:?}",
            tc.name
        );
        let selfp = measurement(&out, "netpulse_poll")[0];
        assert!(str_field(selfp, "error").contains(expect));
        // The secret never leaks into what we report.
        assert!(!errors[0].contains("wrongpass123") && !errors[0].contains(AUTH_PASS));
    }
}

#[tokio::test]
async fn v3_survives_agent_reboot() {
    let mut agent = Snmpd::start("np-agent-reboot");
    let engine = SnmpEngine::new(1).await.unwrap();
    let tc = v3(
        &agent,
        "sha512_aes256",
        ("sha512", AUTH_PASS),
        Some(("aes256", PRIV_PASS)),
    );
    assert!(poll_once(&engine, &tc).await.ok());
    // snmpd persists engineBoots; a restart increments it and resets engineTime.
    agent.restart();
    let out = poll_once(&engine, &tc).await;
    assert!(out.ok(), "after reboot: {:?}", out.errors().collect::<Vec<_>>());
    agent.restart();
    assert!(poll_once(&engine, &tc).await.ok(), "after a second reboot");
}
