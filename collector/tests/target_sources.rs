//! Targets without a restart (`[targets_from]`): a targets file edited while the daemon runs,
//! a broken edit refused and named, and an HTTP SD inventory that fails keeping its last set —
//! each against a real net-snmp agent, points checked in InfluxDB.

mod harness;

use harness::{Daemon, Influxd, Snmpd, collector_bin, tempdir};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes `text` to `path` as an editor that saves atomically does (a temporary file renamed).
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn base(dir: &Path, influx: u16, sources: &str) -> std::path::PathBuf {
    let cfg = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\n\n\
         [[outputs.influxdb]]\nname = \"influx-a\"\nurl = \"http://127.0.0.1:{influx}\"\ndatabase = \"telemetry\"\n\
         queue_dir = \"{}\"\nflush_interval = \"200ms\"\n\n\
         [targets_from]\n{sources}\n\n[targets_from.defaults]\ncommunity = \"public\"\nprofile = \"none\"\nmodules = [\"system\"]\n",
        dir.join("queue").display()
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn polled_ok(d: &Daemon, name: &str) -> bool {
    d.target(name)["last_poll"]["ok"] == true
}

fn points_of(influx: &Influxd, target: &str) -> u64 {
    let v = influx.query(&format!(
        "SELECT count(\"sysUpTime\") FROM \"system\" WHERE \"target\" = '{target}'"
    ));
    v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0)
}

#[test]
fn a_targets_file_edited_while_running_takes_effect_within_seconds() {
    let agent = Snmpd::start("np-sources");
    let influx = Influxd::start();
    let dir = tempdir("sources-files");
    std::fs::create_dir_all(dir.join("targets.d")).unwrap();
    let file = dir.join("targets.d/lab.toml");
    let entry = |name: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\naddress = \"udp://127.0.0.1:{}\"\n",
            agent.port
        )
    };
    save(
        &file,
        &format!("[defaults]\ntags = {{ site = \"lab\" }}\n\n{}", entry("f1")),
    );
    let pattern = format!(
        "files = [\"{}/targets.d/*.toml\"]\ncheck_interval = \"500ms\"",
        dir.display()
    );
    let config = base(&dir, influx.port, &pattern);
    let d = Daemon::start(&config, &[]);
    d.wait_for("f1 polled", Duration::from_secs(10), |d| polled_ok(d, "f1"));
    assert_eq!(d.target("f1")["address"], format!("udp://127.0.0.1:{}", agent.port));

    // An edit: f1 out, f2 in — polled within 5 s, f1 no longer.
    save(&file, &entry("f2"));
    let edited = Instant::now();
    d.wait_for("f2 polled after the edit", Duration::from_secs(5), |d| {
        polled_ok(d, "f2")
    });
    let took = edited.elapsed();
    assert!(d.target("f1").is_null(), "f1 still listed: {}", d.json("/targets"));
    eprintln!("new target polled {took:?} after the edit");
    d.wait_for("f2's points in InfluxDB", Duration::from_secs(10), |_| {
        points_of(&influx, "f2") >= 2
    });
    let f1_points = points_of(&influx, "f1");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(points_of(&influx, "f1"), f1_points, "f1 was polled after its removal");

    // A broken edit: refused with file:line, f2 kept and still polled.
    save(
        &file,
        &format!(
            "{}\n[[targets]]\nname = \"f3\"\naddress = \"tcp://nowhere\"\n",
            entry("f2")
        ),
    );
    d.wait_for("the refusal logged", Duration::from_secs(5), |d| {
        d.log_text().contains("lab.toml:7") && d.log_text().contains("targets[1].address")
    });
    assert_eq!(d.metric("netpulse_target_source_errors_total{source=\"files\"}"), 1.0);
    d.wait_for("the files source shown failing", Duration::from_secs(5), |d| {
        d.metric("netpulse_target_source_failing{source=\"files\"}") == 1.0
    });
    let before = points_of(&influx, "f2");
    d.wait_for("f2 still polled", Duration::from_secs(10), |_| {
        points_of(&influx, "f2") >= before + 2
    });
    assert!(d.target("f3").is_null());
    let check = std::process::Command::new(collector_bin())
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lab.toml:7") && stderr.contains("unsupported scheme"),
        "{stderr}"
    );

    // The file removed: its targets go.
    std::fs::remove_file(&file).unwrap();
    d.wait_for("f2 gone with its file", Duration::from_secs(5), |d| {
        d.target("f2").is_null()
    });
    assert!(!d.log_text().contains("public"), "a community reached the log");
}

/// A one-thread HTTP server answering every request with the current (status, body).
fn inventory() -> (u16, Arc<Mutex<(u16, String)>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(Mutex::new((200, "[]".to_string())));
    let shared = answer.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let (status, body) = shared.lock().unwrap().clone();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, answer)
}

#[test]
fn http_sd_feeds_targets_and_keeps_the_last_set_when_it_fails() {
    let agent = Snmpd::start("np-sd");
    let influx = Influxd::start();
    let dir = tempdir("sources-sd");
    let (port, answer) = inventory();
    let group = |name: &str| {
        format!(
            r#"[{{"targets": ["127.0.0.1:{}"], "labels": {{"name": "{name}", "site": "inv", "__meta_netbox_id": "7"}}}}]"#,
            agent.port
        )
    };
    *answer.lock().unwrap() = (200, group("sd1"));
    let sd =
        format!("http_sd = {{ url = \"http://127.0.0.1:{port}/targets\", refresh = \"1s\", timeout = \"500ms\" }}");
    let d = Daemon::start(&base(&dir, influx.port, &sd), &[]);
    d.wait_for("sd1 polled", Duration::from_secs(10), |d| polled_ok(d, "sd1"));
    d.wait_for("sd1's points, tagged from its labels", Duration::from_secs(10), |_| {
        let v =
            influx.query("SELECT count(\"sysUpTime\") FROM \"system\" WHERE \"site\" = 'inv' AND \"target\" = 'sd1'");
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0) >= 1
    });

    // The inventory fails (500, then garbage): sd1 stays and is still polled.
    for (status, body) in [(500, "oops".to_string()), (200, "{not json".to_string())] {
        *answer.lock().unwrap() = (status, body);
        let errors = d.metric("netpulse_target_source_errors_total{source=\"http_sd\"}");
        d.wait_for("a failed refresh counted", Duration::from_secs(5), |d| {
            d.metric("netpulse_target_source_errors_total{source=\"http_sd\"}") > errors
        });
        d.wait_for("the HTTP SD source shown failing", Duration::from_secs(5), |d| {
            d.metric("netpulse_target_source_failing{source=\"http_sd\"}") == 1.0
        });
        let before = points_of(&influx, "sd1");
        d.wait_for("sd1 still polled", Duration::from_secs(10), |_| {
            points_of(&influx, "sd1") >= before + 2
        });
    }
    assert!(d.log_text().contains("HTTP SD failed"), "{}", d.log_text());

    // It answers again, with another device: the list follows.
    *answer.lock().unwrap() = (200, group("sd2"));
    d.wait_for("sd2 polled, sd1 gone", Duration::from_secs(10), |d| {
        polled_ok(d, "sd2") && d.target("sd1").is_null()
    });
    assert_eq!(d.metric("netpulse_target_source_targets{source=\"http_sd\"}"), 1.0);
    assert_eq!(d.metric("netpulse_target_source_failing{source=\"http_sd\"}"), 0.0);
}
