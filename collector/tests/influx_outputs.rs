//! Durable output to clustered InfluxDB, against real servers: two InfluxDB 1.x replicas
//! end with identical point sets, including after a replica outage and a SIGKILL of the
//! collector mid-flush; VictoriaMetrics takes the v2 write API.

mod harness;

use harness::{Influxd, Snmpd, VictoriaMetrics, collector_bin, free_tcp_port, tempdir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &Path, agent: &Snmpd, outputs: &[(&str, String)]) -> std::path::PathBuf {
    let mut c = String::from("[collector]\nflush_timeout = \"3s\"\n[circuit_breaker]\nrecovery_timeout = \"1s\"\n");
    for (name, block) in outputs {
        c.push_str(&format!(
            "[[outputs.influxdb]]\nname = \"{name}\"\nqueue_dir = \"{}\"\n{block}\n",
            dir.join("queue").display()
        ));
    }
    c.push_str(&format!(
        "[[targets]]\nname = \"sw1\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\", \"interfaces\"]\nprofile = \"none\"\ntags = {{ site = \"lab\" }}\n",
        agent.address()
    ));
    let path = dir.join("collector.toml");
    std::fs::write(&path, c).unwrap();
    path
}

fn v1(port: u16) -> String {
    format!("url = \"http://127.0.0.1:{port}\"\napi = \"v1\"\ndatabase = \"telemetry\"")
}

fn once(cfg: &Path) -> i32 {
    Command::new(collector_bin())
        .arg("--config")
        .arg(cfg)
        .arg("--once")
        .env("RUST_LOG", "warn")
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}

/// Every stored point of a measurement, as JSON, for set equality between replicas.
fn all(db: &Influxd, measurement: &str) -> serde_json::Value {
    db.query(&format!("SELECT * FROM \"{measurement}\" ORDER BY time"))["results"][0]["series"].clone()
}

#[test]
fn both_replicas_get_every_point() {
    let agent = Snmpd::start("np-out");
    let (a, b) = (Influxd::start(), Influxd::start());
    let dir = tempdir("out");
    let cfg = config(&dir, &agent, &[("influx-a", v1(a.port)), ("influx-b", v1(b.port))]);
    assert_eq!(once(&cfg), 0);
    assert_eq!(once(&cfg), 0);
    let ifs = a.count("interface", "ifInOctets");
    assert!(ifs >= 2, "two polls of at least one interface: {ifs}");
    assert_eq!(a.count("system", "sysUpTime"), 2);
    assert_eq!(a.count("netpulse_poll", "duration_ms"), 4);
    for m in ["interface", "system", "netpulse_poll"] {
        assert_eq!(all(&a, m), all(&b, m), "{m} differs between replicas");
    }
    let sys = a.query("SELECT \"sysLocation\", \"site\", \"sysName\" FROM \"system\" LIMIT 1");
    let row = &sys["results"][0]["series"][0]["values"][0];
    assert_eq!(
        (row[1].as_str(), row[2].as_str(), row[3].as_str()),
        (Some("lab-1"), Some("lab"), Some("np-out"))
    );
}

#[test]
fn outage_and_sigkill_mid_flush_lose_nothing() {
    let agent = Snmpd::start("np-drill");
    let a = Influxd::start();
    let b_port = free_tcp_port(); // replica B is down: nothing listens here yet
    let dir = tempdir("drill");
    let cfg = config(&dir, &agent, &[("influx-a", v1(a.port)), ("influx-b", v1(b_port))]);

    // Several polls while B is down: A gets them, B's queue keeps them.
    for _ in 0..3 {
        assert_eq!(once(&cfg), 1, "undelivered points make --once exit 1");
    }
    // One more run, SIGKILLed while it keeps trying to flush to B.
    let mut child = Command::new(collector_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--once")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();

    // B comes back; the next run delivers the backlog in order, then its own poll.
    let b = Influxd::start_on(b_port);
    assert_eq!(once(&cfg), 0);
    let per_poll = a.count("system", "sysUpTime");
    assert_eq!(per_poll, 5, "A has all five polls");
    for (m, f) in [
        ("system", "sysUpTime"),
        ("interface", "ifInOctets"),
        ("netpulse_poll", "duration_ms"),
    ] {
        assert_eq!(a.count(m, f), b.count(m, f), "{m}: same count on both replicas");
        assert_eq!(all(&a, m), all(&b, m), "{m}: same points on both replicas");
    }
}

#[test]
fn victoria_metrics_takes_the_v2_api() {
    let agent = Snmpd::start("np-vm");
    let vm = VictoriaMetrics::start();
    let dir = tempdir("vm-out");
    let block = format!(
        "url = \"http://127.0.0.1:{}\"\napi = \"v2\"\norg = \"netpulse\"\nbucket = \"telemetry\"\ntoken = \"vm-token\"",
        vm.port
    );
    let cfg = config(&dir, &agent, &[("vm", block)]);
    assert_eq!(once(&cfg), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut series = vec![];
    while Instant::now() < deadline {
        series = vm.export("interface_ifInOctets");
        if !series.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!series.is_empty(), "interface points arrived");
    let m = &series[0]["metric"];
    assert_eq!(m["target"], "sw1");
    assert_eq!(m["site"], "lab");
    assert!(m["ifDescr"].is_string());
    assert!(!vm.export("system_sysUpTime").is_empty());
}

/// `--once` with `round_interval` floors a target's points to the target's own `interval`
/// (it used the collector-wide one: two runs a second apart wrote one point, not two).
#[test]
fn once_aligns_to_each_targets_own_interval() {
    let agent = Snmpd::start("np-align");
    let db = Influxd::start();
    let dir = tempdir("align");
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"60s\"\nround_interval = true\nflush_timeout = \"3s\"\n\
             [[outputs.influxdb]]\nname = \"a\"\nqueue_dir = \"{}\"\n{}\n\
             [[targets]]\nname = \"sw1\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\ninterval = \"1s\"\n",
            dir.join("queue").display(),
            v1(db.port),
            agent.address()
        ),
    )
    .unwrap();
    assert_eq!(once(&cfg), 0);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(once(&cfg), 0);
    let rows = db.query("SELECT \"sysUpTime\" FROM \"system\"");
    let times: Vec<i64> = rows["results"][0]["series"][0]["values"]
        .as_array()
        .expect("points stored")
        .iter()
        .map(|r| {
            let t = humantime::parse_rfc3339(r[0].as_str().unwrap()).unwrap();
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
        })
        .collect();
    assert_eq!(times.len(), 2, "one point per 1 s slot: {times:?}");
    assert!(
        times.iter().all(|t| t % 1_000_000_000 == 0),
        "floored to the second: {times:?}"
    );
    assert!(
        times[1] - times[0] < 60_000_000_000,
        "not floored to the collector's 60 s"
    );
}

/// Issue 19, defect 3: a damaged queue folder (an ack file of binary garbage, a directory where
/// a segment file would be) never stops the collector: it starts, polls and delivers.
#[test]
fn a_damaged_queue_folder_does_not_stop_the_collector() {
    let agent = Snmpd::start("np-damaged");
    let db = Influxd::start();
    let dir = tempdir("damaged");
    let cfg = config(&dir, &agent, &[("influx-a", v1(db.port))]);
    let q = dir.join("queue").join("influx-a");
    std::fs::create_dir_all(q.join("00000000000000000007.seg")).unwrap();
    std::fs::write(q.join("ack"), b"\xff\xfe\x00garbage").unwrap();
    assert_eq!(once(&cfg), 0, "starts, polls, delivers");
    assert_eq!(db.count("system", "sysUpTime"), 1);
    assert!(q.join("00000000000000000007.seg").is_dir(), "left alone");
}
