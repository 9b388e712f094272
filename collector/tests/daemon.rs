//! The daemon against real agents and InfluxDB: schedule, both replicas, the API,
//! breakers opening and closing, single-flight collects, reload and drain.

mod harness;

use harness::{Daemon, Influxd, SlowAgent, Snmpd, http_with, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("collector.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn target(name: &str, port: u16, extra: &str) -> String {
    // Profiles off: these tests count the requests and points of the modules they name.
    format!(
        "[[targets]]\nname = \"{name}\"\naddress = \"udp://127.0.0.1:{port}\"\ncommunity = \"public\"\nprofile = \"none\"\n{extra}\n"
    )
}

fn output(name: &str, port: u16, dir: &Path) -> String {
    format!(
        "[[outputs.influxdb]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{}\"\nflush_interval = \"200ms\"\n",
        dir.join("queue").display()
    )
}

#[test]
fn three_intervals_reach_both_replicas_and_the_api_answers() {
    let agent = Snmpd::start("np-daemon");
    let (a, b) = (Influxd::start(), Influxd::start());
    let dir = tempdir("daemon");
    let cfg = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\n{}{}{}{}",
        output("influx-a", a.port, &dir),
        output("influx-b", b.port, &dir),
        target("sw1", agent.port, "modules = [\"system\", \"interfaces\"]"),
        target(
            "sw2",
            agent.port,
            "modules = [\"system\", \"interfaces\"]\nrates = true"
        ),
    );
    let d = Daemon::start(&write(&dir, &cfg), &[]);
    d.wait_for("three polls of each target", Duration::from_secs(15), |d| {
        d.metric("netpulse_polls_total{result=\"ok\"}") >= 6.0
    });
    let t = d.target("sw1");
    assert_eq!(t["breaker"], "closed");
    assert_eq!(t["last_poll"]["ok"], true);
    assert_eq!(t["address"], format!("udp://127.0.0.1:{}", agent.port));
    assert!(t["next_poll"].is_string() && t["owner"].is_string());
    d.wait_for(
        "both replicas hold three polls of each target",
        Duration::from_secs(10),
        |_| {
            let q = "SELECT count(\"sysUpTime\") FROM \"system\" GROUP BY \"target\"";
            let (ra, rb) = (a.query(q), b.query(q));
            let counts = |v: &serde_json::Value| -> Vec<u64> {
                v["results"][0]["series"]
                    .as_array()
                    .map(|s| s.iter().map(|x| x["values"][0][1].as_u64().unwrap_or(0)).collect())
                    .unwrap_or_default()
            };
            let (ca, cb) = (counts(&ra), counts(&rb));
            ca.len() == 2 && ca.iter().all(|&c| c >= 3) && ca == cb
        },
    );
    // Rates appear from the second poll on, per second, never negative.
    let r = a.query("SELECT \"ifInOctets_rate\" FROM \"interface\" WHERE \"target\" = 'sw1'");
    // (sw2 has rates; sw1 has none)
    assert!(r["results"][0]["series"].is_null(), "sw1 has no rates configured");
    d.wait_for("a rate point", Duration::from_secs(10), |_| {
        let v = a.query("SELECT min(\"ifInOctets_rate\") FROM \"interface\"");
        v["results"][0]["series"][0]["values"][0][1]
            .as_f64()
            .is_some_and(|m| m >= 0.0)
    });
    assert_eq!(d.get("/ready").0, 200);
    assert_eq!(d.json("/health")["status"], "ok");
    // promtool (Prometheus' own checker) accepts the exposition.
    let (_, text) = d.get("/metrics");
    assert!(text.contains("telemetry_collection_duration_seconds_bucket"));
    assert!(text.contains("netpulse_connection_pool_sockets") && text.contains("circuit_breaker"));
    assert!(!text.contains("sw1"), "no per-target labels");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .output_with(&text);
    assert!(check.0, "promtool: {}", check.1);
    check.1.clear();
}

trait OutputWith {
    fn output_with(&mut self, stdin: &str) -> (bool, String);
}

impl OutputWith for Command {
    fn output_with(&mut self, stdin: &str) -> (bool, String) {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

#[test]
fn breaker_opens_on_a_dead_agent_and_closes_when_it_returns() {
    let mut agent = Snmpd::start("np-breaker");
    let healthy = Snmpd::start("np-healthy");
    let dir = tempdir("breaker");
    let cfg = format!(
        "[collector]\ninterval = \"500ms\"\njitter = \"0s\"\n[snmp]\ntimeout = \"200ms\"\nretries = 0\n[circuit_breaker]\nfailure_threshold = 2\nrecovery_timeout = \"2s\"\nsuccess_threshold = 2\n{}{}",
        target("flaky", agent.port, "modules = [\"system\"]"),
        target("steady", healthy.port, "modules = [\"system\"]"),
    );
    let d = Daemon::start(&write(&dir, &cfg), &[]);
    d.wait_for("a first good poll", Duration::from_secs(10), |d| {
        d.target("flaky")["last_poll"]["ok"] == true
    });
    agent.stop();
    d.wait_for("the breaker to open", Duration::from_secs(10), |d| {
        d.target("flaky")["breaker"] == "open"
    });
    assert_eq!(d.metric("netpulse_circuit_breaker_open_targets"), 1.0);
    let before = d.target("steady")["last_poll"]["time"].clone();
    std::thread::sleep(Duration::from_millis(1200));
    assert_ne!(
        d.target("steady")["last_poll"]["time"],
        before,
        "other targets keep their schedule"
    );
    assert!(d.metric("netpulse_polls_skipped_total{reason=\"circuit_open\"}") >= 1.0);
    agent.restart();
    let mut seen_half_open = false;
    d.wait_for("the breaker to close", Duration::from_secs(15), |d| {
        let s = d.target("flaky")["breaker"].clone();
        seen_half_open |= s == "half_open";
        s == "closed"
    });
    assert!(seen_half_open, "went through half_open");
    assert_eq!(d.metric("netpulse_circuit_breaker_open_targets"), 0.0);
    let log = d.log_text();
    assert!(
        log.matches("target circuit breaker changed state").count() >= 3,
        "{log}"
    );
    assert!(log.contains("flaky"));
}

#[test]
fn concurrent_collects_share_one_poll_and_bad_requests_are_refused() {
    let agent = Snmpd::start("np-collect");
    let slow = SlowAgent::start(agent.port, Duration::from_millis(400));
    let other = SlowAgent::start(agent.port, Duration::from_millis(1500));
    let dir = tempdir("collect");
    let cfg = format!(
        "[collector]\ninterval = \"1h\"\n[api]\nmax_concurrent_collects = 1\n{}{}",
        target("sw1", slow.port, "modules = [\"system\"]"),
        target("sw2", other.port, "modules = [\"system\"]")
    );
    let d = Daemon::start(&write(&dir, &cfg), &[("NETPULSE_API__TOKEN", "t0ken-for-tests")]);
    let auth = [("Authorization", "Bearer t0ken-for-tests")];
    std::thread::sleep(Duration::from_millis(300));
    let before = slow.seen.load(std::sync::atomic::Ordering::Relaxed);
    let api = d.api;
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..100)
            .map(|_| s.spawn(move || http_with(api, "POST", "/collect", &auth, br#"{"targets":["sw1"]}"#)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let after = slow.seen.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1, "one poll (one GET) on the wire for 100 collects");
    assert!(
        answers.iter().all(|(st, _)| *st == 200),
        "{:?}",
        answers.iter().find(|(st, _)| *st != 200)
    );
    assert!(answers.iter().all(|a| a.1 == answers[0].1), "100 identical answers");
    let v: serde_json::Value = serde_json::from_str(&answers[0].1).unwrap();
    assert_eq!(v["results"][0]["target"], "sw1");
    assert_eq!(v["results"][0]["ok"], true);
    assert!(v["results"][0]["points"].as_u64().unwrap() >= 2);

    let post = |body: &[u8], h: &[(&str, &str)]| http_with(api, "POST", "/collect", h, body);
    let (st, body) = post(b"{\"targets\": [", &auth);
    assert!(st == 400 && body.contains("invalid request body"), "{st} {body}");
    let (st, body) = post(br#"{"targets":["sw1","nope"]}"#, &auth);
    assert!(
        st == 400 && body.contains("unknown target \\\"nope\\\"") && body.contains("targets[1]"),
        "{body}"
    );
    let (st, body) = post(br#"{"wait": 3}"#, &auth);
    assert!(st == 400 && body.contains("\"field\":\"wait\""), "{body}");
    let (st, _) = post(br#"{"targets":["sw1"]}"#, &[]);
    assert_eq!(st, 401);
    let (st, _) = post(br#"{"targets":["sw1"]}"#, &[("Authorization", "Bearer wrong")]);
    assert_eq!(st, 401);
    let (st, _) = post(&vec![b' '; 200_000], &auth);
    assert_eq!(st, 413);
    // Saturation: one collect slot; a second collect that needs a new poll is shed.
    let (st, body) = post(br#"{"targets":["sw2"],"wait":false}"#, &auth);
    assert!(st == 202 && body.contains("\"id\""), "{body}");
    let (st, body) = post(br#"{"targets":["sw1"]}"#, &auth);
    assert!(st == 429 && body.contains("retry"), "{st} {body}");
    assert!(
        d.log_text().find("t0ken-for-tests").is_none(),
        "the token is never logged"
    );
}

#[test]
fn sighup_reloads_and_a_broken_file_keeps_the_old_config() {
    let agent = Snmpd::start("np-reload");
    let dir = tempdir("reload");
    let path = write(
        &dir,
        &format!("[collector]\ninterval = \"1h\"\n{}", target("sw1", agent.port, "")),
    );
    let d = Daemon::start(&path, &[]);
    let names = |d: &Daemon| -> Vec<String> {
        d.json("/targets")["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&d), ["sw1"]);
    write(
        &dir,
        &format!(
            "[collector]\ninterval = \"1h\"\n{}{}",
            target("sw2", agent.port, ""),
            target("sw3", agent.port, "")
        ),
    );
    d.signal("HUP");
    d.wait_for("the new target list", Duration::from_secs(5), |d| {
        names(d) == ["sw2", "sw3"]
    });
    write(&dir, "[collector]\ninterval = \n");
    d.signal("HUP");
    d.wait_for("the rejection in the log", Duration::from_secs(5), |d| {
        d.log_text().contains("new configuration rejected")
    });
    assert!(
        d.log_text().contains("collector.toml:2"),
        "the reason names file and line"
    );
    assert_eq!(names(&d), ["sw2", "sw3"], "the old configuration keeps running");
    assert_eq!(d.get("/health").0, 200);
}

#[test]
fn sigterm_during_a_poll_finishes_it_and_flushes() {
    let agent = Snmpd::start("np-term");
    let slow = SlowAgent::start(agent.port, Duration::from_millis(1000));
    let db = Influxd::start();
    let dir = tempdir("term");
    let cfg = format!(
        "[collector]\ninterval = \"1h\"\nshutdown_grace = \"8s\"\n{}{}",
        output("influx", db.port, &dir),
        target("sw1", slow.port, "modules = [\"system\"]")
    );
    let mut d = Daemon::start(&write(&dir, &cfg), &[]);
    let (st, _) = http_with(d.api, "POST", "/collect", &[], br#"{"wait":false}"#);
    assert_eq!(st, 202);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    d.signal("TERM");
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "exits within the grace period"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit 0 after a clean drain");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "it waited for the poll in flight"
    );
    assert_eq!(
        db.count("system", "sysUpTime"),
        1,
        "the in-flight poll's points were flushed"
    );
}
