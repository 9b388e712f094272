//! One dead and one slow agent never hold back the others: each poll is bounded by its
//! own deadline, and polls run concurrently.

mod harness;

use harness::{SilentAgent, SlowAgent, Snmpd};
use netpulse_collector::registry::Registry;
use netpulse_collector::run::poll_all;
use netpulse_collector::target::Target;
use netpulse_config::{CollectorConfig, Duration as Dur, Secret, TargetConfig};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn target(name: &str, port: u16) -> TargetConfig {
    TargetConfig {
        name: name.into(),
        address: format!("udp://127.0.0.1:{port}"),
        community: Some(Secret::new("public")),
        modules: vec!["system".into(), "interfaces".into()],
        ..TargetConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_slow_agents_do_not_stall_others() {
    let agent = Snmpd::start("np-fast");
    let silent = SilentAgent::start();
    let slow = SlowAgent::start(agent.port, Duration::from_millis(250));
    let mut cfg = CollectorConfig::default();
    cfg.snmp.timeout = Dur::from_millis(1000);
    cfg.snmp.retries = 1;
    cfg.snmp.poll_deadline = Dur::from_secs(4);
    cfg.targets = vec![
        target("dead", silent.port),
        target("slow", slow.port),
        target("fast", agent.port),
    ];
    let registry = Registry::builtin();
    let targets: Vec<Target> = cfg
        .targets
        .iter()
        .map(|t| Target::from_config(t, &cfg, &registry).unwrap())
        .collect();

    let start = Instant::now();
    let mut done = HashMap::new();
    poll_all(&cfg, targets, |o| {
        done.insert(o.target.to_string(), (start.elapsed(), o));
    })
    .await
    .unwrap();

    let (fast_t, fast) = &done["fast"];
    assert!(fast.ok(), "{:?}", fast.errors().collect::<Vec<_>>());
    assert!(
        *fast_t < Duration::from_millis(1500),
        "the healthy agent waited for others: {fast_t:?}"
    );
    assert!(fast.points.iter().any(|p| &*p.measurement == "interface"));

    let (slow_t, slow_o) = &done["slow"];
    assert!(
        slow_o.ok(),
        "a slow agent within its timeout still answers: {:?}",
        slow_o.errors().collect::<Vec<_>>()
    );
    assert!(*slow_t >= Duration::from_millis(250));

    let (dead_t, dead) = &done["dead"];
    let errors: Vec<String> = dead.errors().collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("no response")), "{errors:?}");
    // 1 s timeout × (1 + 1 retry) per module, modules concurrent: ~2 s, well under the deadline.
    assert!(
        *dead_t < Duration::from_secs(4),
        "dead agent bounded by its deadline: {dead_t:?}"
    );
}

#[tokio::test]
async fn poll_deadline_cuts_a_slow_walk() {
    let agent = Snmpd::start("np-slow-walk");
    // Every response takes 300 ms: the interfaces walk needs several, the deadline allows ~3.
    let slow = SlowAgent::start(agent.port, Duration::from_millis(300));
    let mut cfg = CollectorConfig::default();
    cfg.snmp.poll_deadline = Dur::from_millis(1000);
    cfg.snmp.max_varbinds_per_request = 5; // many small requests
    cfg.targets = vec![TargetConfig {
        modules: vec!["interfaces".into()],
        ..target("slow-walk", slow.port)
    }];
    let targets = vec![Target::from_config(&cfg.targets[0], &cfg, &Registry::builtin()).unwrap()];
    let start = Instant::now();
    let mut outcome = None;
    poll_all(&cfg, targets, |o| outcome = Some(o)).await.unwrap();
    let o = outcome.unwrap();
    assert!(start.elapsed() < Duration::from_millis(1800), "{:?}", start.elapsed());
    let errors: Vec<String> = o.errors().collect();
    assert!(errors[0].contains("deadline"), "{errors:?}");
}
