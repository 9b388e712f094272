//! The example configurations in `config/examples/` load and validate as they are shown to
//! users, with the values the documentation promises.

use netpulse_config::{BalancerConfig, CollectorConfig, Loader};
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

#[test]
fn the_collector_example_is_valid() {
    let cfg: CollectorConfig = Loader::new().file(example("collector.toml")).load().unwrap();
    assert_eq!(cfg.collector.max_concurrent_targets, 20);
    assert!(!cfg.targets.is_empty(), "the example shows targets");
    let traps = cfg.traps.expect("the example shows the trap receiver");
    assert_eq!((traps.listen.len(), traps.users.len(), traps.names.len()), (2, 1, 1));
}

#[test]
fn the_targets_file_example_is_valid() {
    let path = example("targets.d/site-a.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let targets = netpulse_config::read_targets_file("site-a.toml", &text, &CollectorConfig::default()).unwrap();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["core-sw1", "edge-r1", "edge-r2"]);
    assert_eq!(targets[0].community.as_ref().unwrap().expose(), "public");
    assert_eq!(targets[1].tags.get("site").map(String::as_str), Some("a"));
    assert_eq!(targets[1].tags.get("role").map(String::as_str), Some("edge"));
    assert!(
        targets[2].community.is_none(),
        "the community of [defaults] is not a v3 target's"
    );
    assert_eq!(targets[2].modules, ["system", "interfaces"]);
}

#[test]
fn the_balancer_example_is_valid() {
    let cfg = Loader::<BalancerConfig>::new()
        .file(example("balancer.toml"))
        .load()
        .unwrap();
    let names: Vec<&str> = cfg.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["influxdb", "grafana"]);
    let influx = &cfg.backends[0];
    assert_eq!(influx.health_check.as_ref().unwrap().expect_status, Some(204));
    assert_eq!(influx.servers[1].address, "127.0.0.1:18087");
    let grafana = cfg.backends.iter().find(|b| b.name == "grafana").unwrap();
    assert_eq!(grafana.sticky.as_ref().unwrap().cookie, "SERVERID");
    // Writes go to every replica: /write and /api/v2/write route to the mirroring backend.
    let write = cfg
        .backends
        .iter()
        .find(|b| b.mirror.is_some())
        .expect("a mirroring backend");
    let servers = |b: &netpulse_config::Backend| b.servers.iter().map(|s| s.address.clone()).collect::<Vec<_>>();
    assert_eq!(
        servers(write),
        servers(influx),
        "the mirror writes to the replicas reads come from"
    );
    for path in ["/write", "/api/v2/write"] {
        assert!(
            (cfg.frontends[0].routes.iter()).any(|r| r.path_prefix == path && r.backend == write.name),
            "{path}"
        );
    }
    assert_eq!(cfg.stats.listen, "0.0.0.0:8404");
}
