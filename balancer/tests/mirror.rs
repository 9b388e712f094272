//! Write mirroring against two real InfluxDB 1.x replicas: every write answered 204 reaches
//! both, whatever happens to one replica or to the balancer; refused writes (bad line protocol,
//! too large, a full queue) get InfluxDB's answers and leave nothing behind.

mod common;

use common::{Balancer, free_port, runtime};
use netpulse_testkit::Influxd;
use netpulse_testkit::http::{http, http_with};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Frontend `influxdb`: writes routed to the mirroring backend, everything else balanced.
fn config(a: u16, b: u16, mirror: &str) -> String {
    format!(
        r#"[server]
threads = 2
[stats]
listen = "127.0.0.1:{{stats}}"
[runtime]
socket = "{{dir}}/runtime.sock"
[[frontends]]
name = "influxdb"
listen = ["127.0.0.1:{{port}}"]
backend = "influxdb"
routes = [ {{ path_prefix = "/write", backend = "influxdb-write" }}, {{ path_prefix = "/api/v2/write", backend = "influxdb-write" }} ]
[[backends]]
name = "influxdb"
health_check = {{ kind = "http", path = "/ping", expect_status = 204, interval = "500ms", rise = 1, fall = 1 }}
servers = [ {{ name = "influx-a", address = "127.0.0.1:{a}" }}, {{ name = "influx-b", address = "127.0.0.1:{b}" }} ]
[[backends]]
name = "influxdb-write"
mirror = {{ queue_dir = "{{dir}}/mirror", {mirror} }}
servers = [ {{ name = "influx-a", address = "127.0.0.1:{a}" }}, {{ name = "influx-b", address = "127.0.0.1:{b}" }} ]
"#
    )
}

fn write(port: u16, query: &str, body: &[u8]) -> (u16, String) {
    http_with(port, "POST", &format!("/write?db=telemetry{query}"), &[], body)
}

fn metric(bal: &Balancer, line_start: &str) -> f64 {
    let (_, _, text) = common::get(bal.stats, "/metrics", &[]);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded) until `measurement` holds `want` points in both replicas, then returns
/// both replicas' rows.
fn converge(a: &Influxd, b: &Influxd, measurement: &str, field: &str, want: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (na, nb) = (a.count(measurement, field), b.count(measurement, field));
        if na == want && nb == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{measurement}: want {want} points in each replica, have {na} and {nb}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn both_replicas_get_every_write_while_one_is_stopped_for_a_minute() {
    let a = Influxd::start();
    let mut b = Influxd::start();
    let bal = Balancer::with_config(&config(a.port, b.port, "queue_max_bytes = \"64MiB\""));
    let port = bal.port;
    let stop = Arc::new(AtomicBool::new(false));
    // curl: explicit nanosecond timestamps, 20 lines a write.
    let curl_acked = Arc::new(AtomicU64::new(0));
    let curl = {
        let (stop, acked) = (stop.clone(), curl_acked.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            let deadline = Instant::now() + Duration::from_secs(100);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let body: String = (0..20)
                    .map(|k| {
                        format!(
                            "curl,writer=curl v={}i {}\n",
                            i + k,
                            1_700_000_000_000_000_000u64 + i + k
                        )
                    })
                    .collect();
                let out = Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@-"])
                    .arg(format!("http://127.0.0.1:{port}/write?db=telemetry"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .and_then(|mut c| {
                        use std::io::Write;
                        c.stdin.take().unwrap().write_all(body.as_bytes())?;
                        c.wait_with_output()
                    })
                    .unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout), "204", "curl write refused");
                acked.fetch_add(20, Ordering::Relaxed);
                i += 20;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // The Python `influxdb` client (Debian python3-influxdb): points without a time, one
    // series each; the balancer stamps them once, so both replicas store the same time.
    let script = format!(
        r#"
import time, sys
from influxdb import InfluxDBClient
c = InfluxDBClient(host="127.0.0.1", port={port}, database="telemetry", timeout=10)
n = 0
end = time.time() + 72
while time.time() < end:
    c.write_points([{{"measurement": "py", "tags": {{"seq": str(n + k)}}, "fields": {{"v": float(n + k)}}}} for k in range(5)])
    n += 5
    time.sleep(0.2)
print(n)
"#
    );
    let py = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    b.stop();
    bal.wait_status("influx-b", "DOWN");
    // Reads keep working through the balancer, on the replica that is up.
    let (st, body) = http(port, "GET", "/query?db=telemetry&q=SHOW+MEASUREMENTS", b"");
    assert_eq!(st, 200, "{body}");
    std::thread::sleep(Duration::from_secs(60));
    let queued = metric(
        &bal,
        "netpulse_balancer_mirror_queued_points{backend=\"influxdb-write\",server=\"influx-b\"} ",
    );
    assert!(queued > 0.0, "influx-b's writes wait in its queue");
    let oldest = metric(
        &bal,
        "netpulse_balancer_mirror_oldest_seconds{backend=\"influxdb-write\",server=\"influx-b\"} ",
    );
    assert!(
        oldest >= 50.0,
        "the oldest queued write is about a minute old: {oldest}"
    );
    b.restart();
    let py = py.wait_with_output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let py_points: u64 = String::from_utf8_lossy(&py.stdout).trim().parse().unwrap();
    stop.store(true, Ordering::Relaxed);
    curl.join().unwrap();
    let curl_points = curl_acked.load(Ordering::Relaxed);
    assert!(py_points > 300 && curl_points > 2000, "{py_points} {curl_points}");
    converge(&a, &b, "curl", "v", curl_points, Duration::from_secs(60));
    converge(&a, &b, "py", "v", py_points, Duration::from_secs(60));
    for m in ["curl", "py"] {
        assert_eq!(a.rows(m), b.rows(m), "{m}: the replicas hold exactly the same points");
    }
    // Every view shows the mirror: CSV (qcur), JSON, the runtime API, /metrics.
    let row = common::csv_rows(&bal.csv())
        .into_iter()
        .find(|r| r["pxname"] == "influxdb-write" && r["svname"] == "influx-b")
        .unwrap();
    assert_eq!(row.get("qcur").map(String::as_str), Some("0"), "{row:?}");
    let (_, _, json) = common::get(bal.stats, "/stats;json", &[]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let written = json["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pxname"] == "influxdb-write" && r["svname"] == "influx-b")
        .map(|r| r["mirror_written"].as_str().unwrap().parse::<u64>().unwrap());
    assert_eq!(written, Some(curl_points + py_points));
    let shown = runtime(&bal.dir.join("runtime.sock"), "show mirror");
    assert!(
        shown.contains("influxdb-write influx-b 0 ") && shown.contains("closed"),
        "{shown}"
    );
    let accepted = metric(
        &bal,
        "netpulse_balancer_mirror_points_accepted_total{backend=\"influxdb-write\"} ",
    );
    assert_eq!(accepted as u64, curl_points + py_points);
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let a = Influxd::start();
    let b = Influxd::start();
    let mut bal = Balancer::with_config(&config(a.port, b.port, "queue_max_bytes = \"64MiB\""));
    let port = bal.port;
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let ids: Vec<u64> = (i..i + 25).collect();
                let body: String = ids
                    .iter()
                    .map(|id| format!("k id={id}i {}\n", 1_700_000_000_000_000_000u64 + id))
                    .collect();
                let ok = std::panic::catch_unwind(|| write(port, "", body.as_bytes()).0 == 204).unwrap_or(false);
                if ok {
                    acked.lock().unwrap().extend(ids);
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
                i += 25;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    bal.restart(); // SIGKILL while writes flow, then the same config again
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 500, "writes flowed: {}", acked.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    for db in [&a, &b] {
        loop {
            let have: BTreeSet<u64> = (db.rows("k").iter()).filter_map(|r| r[1].as_u64()).collect();
            let missing = acked.difference(&have).count();
            if missing == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} acknowledged points never reached the replica on {}: {}",
                db.port,
                bal.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn a_full_queue_answers_503_and_loses_nothing() {
    let a = Influxd::start();
    let b_port = free_port();
    let bal = Balancer::with_config(&config(
        a.port,
        b_port,
        "queue_max_bytes = \"1MiB\", max_body = \"256KiB\"",
    ));
    // Values that do not compress much (queues hold writes gzipped).
    let line = |i: u64| {
        let noise = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        format!(
            "full,w=t v={i}i,n={}i {}\n",
            noise >> 2,
            1_700_000_000_000_000_000u64 + i
        )
    };
    let (mut acked, mut refused, mut i) = (0u64, None, 0u64);
    for _ in 0..400 {
        let body: String = (i..i + 1000).map(line).collect();
        let (st, text) = write(bal.port, "", body.as_bytes());
        match st {
            204 => acked += 1000,
            503 => {
                refused = Some(text);
                break;
            }
            other => panic!("{other}: {text}"),
        }
        i += 1000;
    }
    let refused = refused.expect("the queue of the replica that is down filled up");
    assert!(refused.contains("influx-b is full"), "{refused}");
    let full = metric(
        &bal,
        "netpulse_balancer_mirror_writes_refused_total{backend=\"influxdb-write\",reason=\"full\"} ",
    );
    assert_eq!(full, 1.0);
    let b = Influxd::start_on(b_port);
    converge(&a, &b, "full", "v", acked, Duration::from_secs(60));
    // Room again: writes are taken once the queue has drained.
    assert_eq!(write(bal.port, "", line(i).as_bytes()).0, 204);
}

#[test]
fn a_corrupt_queue_tail_is_cut_and_logged_and_the_rest_delivered() {
    let a = Influxd::start();
    let b_port = free_port();
    let mut bal = Balancer::with_config(&config(a.port, b_port, "queue_max_bytes = \"64MiB\""));
    for i in 0..10u64 {
        let body = format!("c v={i}i {}\n", 1_700_000_000_000_000_000u64 + i);
        assert_eq!(write(bal.port, "", body.as_bytes()).0, 204);
    }
    let queue = bal.dir.join("mirror/influxdb-write/influx-b");
    let seg = (std::fs::read_dir(&queue).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg") && std::fs::metadata(p).unwrap().len() > 0)
        .max()
        .expect("a segment with the queued writes");
    // A crash mid-append: half a record header and garbage after the last good record.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe]).unwrap();
    }
    let b = Influxd::start_on(b_port);
    bal.restart();
    converge(&a, &b, "c", "v", 10, Duration::from_secs(30));
    assert!(
        bal.log().contains("torn or corrupt queue records cut off"),
        "{}",
        bal.log()
    );
    let cut = metric(
        &bal,
        "netpulse_balancer_mirror_points_dropped_total{backend=\"influxdb-write\",reason=\"corrupt\",server=\"influx-b\"} ",
    );
    assert_eq!(cut, 1.0);
}

#[test]
fn bad_writes_get_influxdbs_answers_and_leave_nothing_behind() {
    let a = Influxd::start();
    let b = Influxd::start();
    let bal = Balancer::with_config(&config(a.port, b.port, "max_body = \"64KiB\""));
    let (st, text) = write(bal.port, "", b"good v=1i 1\nbad v=\n");
    assert_eq!(st, 400, "{text}");
    assert!(text.contains("unable to parse line 2"), "{text}");
    let big = "x v=1i\n".repeat(10_000);
    let (st, text) = write(bal.port, "", big.as_bytes());
    assert_eq!(st, 413, "{text}");
    assert_eq!(write(bal.port, "&precision=s", b"bogus v=1i 1\n").0, 204);
    let (st, text) = write(bal.port, "&precision=fortnight", b"p v=1i\n");
    assert_eq!(st, 400, "{text}");
    // gzip, as Telegraf sends it; lines without a time get the time of arrival, in seconds.
    let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"zipped,host=a v=1i\nzipped,host=b v=2i\n").unwrap();
    let gz = gz.finish().unwrap();
    let (st, text) = http_with(
        bal.port,
        "POST",
        "/write?db=telemetry&precision=s",
        &[("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(st, 204, "{text}");
    converge(&a, &b, "zipped", "v", 2, Duration::from_secs(30));
    converge(&a, &b, "bogus", "v", 1, Duration::from_secs(30));
    assert_eq!(a.rows("zipped"), b.rows("zipped"));
    let t = a.query("SELECT v FROM zipped");
    let time = t["results"][0]["series"][0]["values"][0][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!time.contains('.'), "stamped in whole seconds: {time}");
    assert_eq!(
        a.count("good", "v") + b.count("good", "v"),
        0,
        "a refused write is not half-taken"
    );
    for (reason, n) in [("invalid", 2.0), ("too_large", 1.0)] {
        let got = metric(
            &bal,
            &format!(
                "netpulse_balancer_mirror_writes_refused_total{{backend=\"influxdb-write\",reason=\"{reason}\"}} "
            ),
        );
        assert_eq!(got, n, "{reason}");
    }
    // The stats page, CSV and runtime API never show the write's credentials.
    let (st, _) = http_with(
        bal.port,
        "POST",
        "/write?db=telemetry",
        &[("Authorization", "Basic c2VjcmV0OnNlY3JldA==")],
        b"auth v=1i 5\n",
    );
    assert_eq!(st, 204);
    converge(&a, &b, "auth", "v", 1, Duration::from_secs(30));
    let all = [
        bal.csv(),
        common::get(bal.stats, "/stats;json", &[]).2,
        common::get(bal.stats, "/metrics", &[]).2,
        runtime(&bal.dir.join("runtime.sock"), "show mirror"),
        bal.log(),
    ]
    .join("\n");
    assert!(!all.contains("c2VjcmV0"), "credentials stay out of every view");
}

#[test]
fn an_in_place_upgrade_hands_the_queues_over_without_a_failed_write() {
    let a = Influxd::start();
    let b = Influxd::start();
    let mut old = Balancer::with_config(&config(a.port, b.port, "queue_max_bytes = \"64MiB\""));
    let port = old.port;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut acked, mut failed, mut i) = (0u64, vec![], 0u64);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let body: String = (i..i + 10)
                    .map(|id| format!("up id={id}i {}\n", 1_700_000_000_000_000_000u64 + id))
                    .collect();
                match write(port, "", body.as_bytes()) {
                    (204, _) => acked += 10,
                    other => failed.push(other),
                }
                i += 10;
            }
            (acked, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut new = old.spawn_upgrade();
    std::thread::sleep(Duration::from_millis(300));
    old.signal("QUIT");
    assert!(
        old.wait_exit(Duration::from_secs(30)).is_some(),
        "the old process exits"
    );
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = load.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} writes failed during the upgrade: {failed:?}",
        failed.len()
    );
    assert!(acked > 100, "writes flowed: {acked}");
    converge(&a, &b, "up", "id", acked, Duration::from_secs(30));
    assert!(old.log().contains("mirror queues released"), "{}", old.log());
    let _ = new.kill();
    let _ = new.wait();
}

#[test]
fn a_translated_haproxy_cfg_is_printed_as_native_toml_and_gains_mirroring() {
    let dir = netpulse_testkit::tempdir("mirror-migrate");
    let cfg = "defaults\n    mode http\n    timeout connect 5s\n    timeout server 30s\nfrontend influxdb\n    bind 127.0.0.1:18999\n    acl is_write path_beg /write\n    use_backend influxdb_write if is_write\n    default_backend influxdb\nbackend influxdb\n    server influx-a 127.0.0.1:18086\n    server influx-b 127.0.0.1:18087\nbackend influxdb_write\n    server influx-a 127.0.0.1:18086\n    server influx-b 127.0.0.1:18087\n";
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let out = Command::new(common::bin())
        .arg("-f")
        .arg(dir.join("haproxy.cfg"))
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let native = String::from_utf8(out.stdout).unwrap();
    assert!(native.contains("name = \"influxdb_write\""), "{native}");
    // What docs/haproxy-migration.md tells the operator to add under the write backend (last here).
    let mirrored = format!(
        "{native}\n[backends.mirror]\nqueue_dir = \"{}\"\n",
        dir.join("mirror").display()
    );
    std::fs::write(dir.join("balancer.toml"), &mirrored).unwrap();
    let check = Command::new(common::bin())
        .arg("-c")
        .arg("--config")
        .arg(dir.join("balancer.toml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let again = Command::new(common::bin())
        .arg("--config")
        .arg(dir.join("balancer.toml"))
        .arg("--print-config")
        .output()
        .unwrap();
    let text = String::from_utf8(again.stdout).unwrap();
    assert!(
        text.contains("[backends.mirror]") && text.contains("max_body = "),
        "{text}"
    );
}
