//! Thousands of silent targets never starve a live one: the live target is polled at its
//! interval (points in InfluxDB), `/ready` says the scheduler misses slots, removed targets'
//! waiting polls are dropped, and SIGTERM ends within `shutdown_grace` despite the backlog.

mod harness;

use harness::{Daemon, Influxd, SilentAgent, SlowAgent, Snmpd, tempdir};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const SILENT: usize = 2_000;

fn config(dir: &Path, influx: u16, live: u16, silent: u16, silent_count: usize) -> String {
    let mut c = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\nshutdown_grace = \"5s\"\n\
         [snmp]\ntimeout = \"1s\"\nretries = 1\n\
         [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{influx}\"\ndatabase = \"telemetry\"\n\
         queue_dir = \"{}\"\nflush_interval = \"200ms\"\n\
         [[targets]]\nname = \"live\"\naddress = \"udp://127.0.0.1:{live}\"\ncommunity = \"public\"\n\
         modules = [\"system\"]\nprofile = \"none\"\n",
        dir.join("queue").display()
    );
    for i in 0..silent_count {
        let _ = write!(
            c,
            "[[targets]]\nname = \"dead-{i}\"\naddress = \"udp://127.0.0.1:{silent}\"\ncommunity = \"public\"\n\
             modules = [\"system\"]\nprofile = \"none\"\ninterval = \"10s\"\n"
        );
    }
    c
}

#[test]
fn a_live_target_is_polled_at_its_interval_among_thousands_of_silent_ones() {
    let agent = Snmpd::start("np-fair");
    let silent = SilentAgent::start();
    let influx = Influxd::start();
    let dir = tempdir("fair-schedule");
    let file = dir.join("collector.toml");
    std::fs::write(&file, config(&dir, influx.port, agent.port, silent.port, SILENT)).unwrap();
    let mut d = Daemon::start(&file, &[]);

    // 2,000 polls of 2 s each are due every 10 s on 20 slots: most of them cannot run. The
    // live target (1 s) must still be polled every second, from the time its first poll
    // (unproven, on the half of the slots the silent targets share) has answered.
    d.wait_for("the live target's first answer", Duration::from_secs(15), |d| {
        d.target("live")["last_poll"]["ok"] == true && influx.count("system", "sysUpTime") > 0
    });
    let before = influx.count("system", "sysUpTime");
    let window = Duration::from_secs(12);
    std::thread::sleep(window);
    let polled = influx.count("system", "sysUpTime") - before;
    if polled < 9 {
        let log = d.log_text();
        panic!(
            "the live target was polled {polled} times in {window:?} (interval 1 s) beside {SILENT} silent targets\n{}\n{}\n{}",
            d.target("live"),
            d.json("/health"),
            &log[log.len().saturating_sub(3000)..]
        );
    }
    // The silent targets miss their slots (counted), the answering one does not: ready.
    let (status, body) = d.get("/ready");
    assert_eq!(status, 200, "{body}");
    let health = d.json("/health");
    assert_eq!(health["status"], "ok");
    let missed = &health["scheduler"]["missed_slots_last_minute"];
    assert!(missed["unproven"].as_u64().unwrap() > 100, "{health}");
    assert_eq!(missed["answering"], 0, "{health}");
    assert!(health["scheduler"]["slots_in_use"].as_u64().unwrap() <= 20, "{health}");

    // Half of the silent targets removed: their waiting polls are dropped, never started.
    std::fs::write(&file, config(&dir, influx.port, agent.port, silent.port, SILENT / 2)).unwrap();
    d.child.signal("HUP");
    d.wait_for("the removed targets' polls dropped", Duration::from_secs(10), |d| {
        d.metric("netpulse_polls_skipped_total{reason=\"deleted\"}") > 0.0
    });
    let started = Instant::now();
    d.child.signal("TERM");
    let status = d
        .child
        .wait_exit(Duration::from_secs(20))
        .expect("the collector did not stop");
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(7),
        "SIGTERM took {took:?} with shutdown_grace = 5s and a backlog of silent targets"
    );
}

#[test]
fn ready_fails_while_answering_targets_miss_their_slots() {
    let agent = Snmpd::start("np-fair-slow");
    let slow = SlowAgent::start(agent.port, Duration::from_millis(700));
    let influx = Influxd::start();
    let dir = tempdir("fair-ready");
    let mut c = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\nmax_concurrent_targets = 1\n\
         [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\n\
         queue_dir = \"{}\"\n",
        influx.port,
        dir.join("queue").display()
    );
    for i in 0..4 {
        let _ = write!(
            c,
            "[[targets]]\nname = \"slow-{i}\"\naddress = \"udp://127.0.0.1:{}\"\ncommunity = \"public\"\n\
             modules = [\"system\"]\nprofile = \"none\"\n",
            slow.port
        );
    }
    let file = dir.join("collector.toml");
    std::fs::write(&file, c).unwrap();
    let d = Daemon::start(&file, &[]);
    // Four 0.7 s polls due every second on one slot: the answering targets miss slots.
    d.wait_for("/ready to report missed slots", Duration::from_secs(20), |d| {
        d.get("/ready").0 == 503
    });
    let (_, body) = d.get("/ready");
    assert!(
        body.contains("missing slots") && body.contains("max_concurrent_targets (1)"),
        "{body}"
    );
    assert!(d.metric("netpulse_polls_skipped_total{reason=\"missed_slot\"}") > 0.0);
}
