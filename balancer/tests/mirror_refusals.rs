//! Hostile and unlucky writes to a mirroring backend against two real InfluxDB 1.x replicas
//! (issue 24, items 1–5): what InfluxDB refuses is refused up front with its words; a write a
//! server refuses permanently once queued is set aside, counted and kept, and never blocks
//! the writes behind it; on a full queue filesystem a write is in every queue or in none, and
//! the queues recover when room returns, without a remount.

mod common;

use common::{Balancer, runtime};
use netpulse_testkit::Influxd;
use netpulse_testkit::http::http_with;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn config(a: u16, b: u16, queue_dir: &str, client: &str) -> String {
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
backend = "influxdb-write"
timeouts = {{ client = "{client}" }}
[[backends]]
name = "influxdb-write"
mirror = {{ queue_dir = "{queue_dir}", flush_interval = "100ms" }}
servers = [ {{ name = "influx-a", address = "127.0.0.1:{a}" }}, {{ name = "influx-b", address = "127.0.0.1:{b}" }} ]
"#
    )
}

fn metric(bal: &Balancer, line_start: &str) -> u64 {
    let (_, _, text) = common::get(bal.stats, "/metrics", &[]);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn influx_q(i: &Influxd, q: &str) {
    let (s, body) = http_with(i.port, "POST", "/query", &[], format!("q={q}").as_bytes());
    assert_eq!(s, 200, "{q}: {body}");
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn what_influxdb_refuses_is_refused_up_front_with_its_words() {
    let (a, b) = (Influxd::start(), Influxd::start());
    let bal = Balancer::with_config(&config(a.port, b.port, "{dir}/mirror", "1s"));
    let port = bal.port;
    // The same requests straight to InfluxDB, then through the balancer: the same status.
    let cases: [(&str, &str, &[u8]); 5] = [
        ("POST", "/write", b"m v=1\n"),
        ("POST", "/write?db=nonexist", b"m v=1\n"),
        ("POST", "/write?db=telemetry", b"m v=1e999\n"),
        ("GET", "/write?db=telemetry", b""),
        ("POST", "/api/v2/write?org=o&bucket=telemetry", b"m v=1\n"),
    ];
    for (method, path, body) in cases {
        let (want, influx_says) = http_with(a.port, method, path, &[], body);
        let (got, ours) = http_with(port, method, path, &[], body);
        assert!(
            (400..500).contains(&want),
            "{method} {path}: InfluxDB itself answers {want}"
        );
        assert_eq!(
            got, want,
            "{method} {path}: InfluxDB answers {want} {influx_says}; the mirror {ours}"
        );
    }
    let (_, body) = http_with(port, "POST", "/write", &[], b"m v=1\n");
    assert!(body.contains("database is required"), "{body}");
    let (_, body) = http_with(port, "POST", "/write?db=nonexist", &[], b"m v=1\n");
    assert!(body.contains("database not found"), "{body}");
    // A body that stops arriving: 408, not 400.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"POST /write?db=telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm v=1")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = vec![0; 512];
    let n = s.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Nothing of it was queued or written; the refusals are counted by reason.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(a.count("m", "v") + b.count("m", "v"), 0);
    for (reason, n) in [("invalid", 2), ("unknown_database", 2), ("method", 1), ("stalled", 1)] {
        let got = metric(
            &bal,
            &format!(
                "netpulse_balancer_mirror_writes_refused_total{{backend=\"influxdb-write\",reason=\"{reason}\"}} "
            ),
        );
        assert!(got >= n, "{reason}: {got} refusals counted, want {n}");
    }
    assert!(
        bal.log().matches("mirrored write refused").count() <= 6,
        "one log line per reason:\n{}",
        bal.log()
    );
}

#[test]
fn a_write_refused_once_queued_is_set_aside_and_the_writes_behind_it_go_on() {
    let (a, b) = (Influxd::start(), Influxd::start());
    for i in [&a, &b] {
        influx_q(i, "CREATE DATABASE doomed");
    }
    let bal = Balancer::with_config(&config(a.port, b.port, "{dir}/mirror", "10s"));
    let port = bal.port;
    // The database exists when the probe asks; then it is dropped on both servers.
    assert_eq!(http_with(port, "POST", "/write?db=doomed", &[], b"early v=1\n").0, 204);
    wait_for("the first write", Duration::from_secs(10), || {
        metric(
            &bal,
            "netpulse_balancer_mirror_points_written_total{backend=\"influxdb-write\",server=\"influx-b\"} ",
        ) == 1
    });
    for i in [&a, &b] {
        influx_q(i, "DROP DATABASE doomed");
    }
    let poisoned: String = (0..5)
        .map(|k| format!("late v={k} {}\n", 1_700_000_000_000_000_000u64 + k))
        .collect();
    assert_eq!(
        http_with(port, "POST", "/write?db=doomed", &[], poisoned.as_bytes()).0,
        204
    );
    let started = Instant::now();
    for k in 0..20 {
        let (s, body) = http_with(
            port,
            "POST",
            "/write?db=telemetry",
            &[],
            format!("behind v={k}\n").as_bytes(),
        );
        assert_eq!(s, 204, "{body}");
    }
    wait_for("the writes behind the poisoned one", Duration::from_secs(5), || {
        a.count("behind", "v") == 20 && b.count("behind", "v") == 20
    });
    let took = started.elapsed();
    for server in ["influx-a", "influx-b"] {
        let set_aside = metric(
            &bal,
            &format!(
                "netpulse_balancer_mirror_points_set_aside_total{{backend=\"influxdb-write\",server=\"{server}\"}} "
            ),
        );
        assert_eq!(set_aside, 5, "{server}: the poisoned write's points are counted");
        let dir = bal.dir.join("mirror/influxdb-write").join(server).join("set-aside");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        let body = names
            .iter()
            .find(|n| n.ends_with("-404.lp.gz"))
            .expect("the body is kept");
        let mut plain = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(dir.join(body)).unwrap())
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain.lines().count(), 5, "{plain}");
        assert!(plain.starts_with("late v=0 "), "{plain}");
        let meta = std::fs::read_to_string(dir.join(body.replace(".lp.gz", ".json"))).unwrap();
        assert!(
            meta.contains("/write?db=doomed") && meta.contains("database not found"),
            "{meta}"
        );
    }
    let shown = runtime(&bal.dir.join("runtime.sock"), "show mirror");
    assert!(shown.contains("set_aside") && shown.contains(" 5 closed"), "{shown}");
    let lines = bal.log().matches("refuses this write permanently").count();
    assert_eq!(lines, 2, "one line per server and cause:\n{}", bal.log());
    eprintln!("the writes behind a poisoned one were in both replicas {took:?} after it");
    // The cause fixed (the database created again): the writers' replays deliver what was set
    // aside and forget it.
    for i in [&a, &b] {
        influx_q(i, "CREATE DATABASE doomed");
    }
    let late = |i: &Influxd| {
        let (_, body) = http_with(i.port, "POST", "/query", &[], b"db=doomed&q=SELECT+count(v)+FROM+late");
        body.contains(",5]")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(late(&a) && late(&b)) {
        let log = bal.log();
        assert!(
            Instant::now() < deadline,
            "the set-aside writes replayed: not within 30 s\n{}",
            &log[log.len().saturating_sub(3000)..]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for server in ["influx-a", "influx-b"] {
        let dir = bal.dir.join("mirror/influxdb-write").join(server).join("set-aside");
        wait_for("the replayed batch forgotten", Duration::from_secs(5), || {
            std::fs::read_dir(&dir).unwrap().flatten().count() == 0
        });
    }
}

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root (CI runs as root)");
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn on_a_full_queue_disk_a_write_is_in_every_queue_or_none_and_the_queues_recover() {
    let a = Influxd::start();
    let mut b = Influxd::start();
    let disk = Tmpfs::mount(&std::env::temp_dir().join(format!("np-mirror-full-{}", std::process::id())));
    let bal = Balancer::with_config(&config(a.port, b.port, &disk.0.display().to_string(), "10s"));
    let port = bal.port;
    b.stop();
    // Writes of 300 incompressible-ish points until the disk is full, then a few more.
    let (mut acked, mut refused) = (vec![], vec![]);
    let started = Instant::now();
    for w in 0..2000u64 {
        let body: String = (0..300)
            .map(|k| {
                let noise = (w * 7919 + k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                format!(
                    "full,w={w} v={k}i,s=\"{noise:x}\" {}\n",
                    1_700_000_000_000_000_000 + w * 1000 + k
                )
            })
            .collect();
        let (s, text) = http_with(port, "POST", "/write?db=telemetry", &[], body.as_bytes());
        match s {
            204 => acked.push(w),
            503 => refused.push(w),
            _ => panic!("write {w}: {s} {text}"),
        }
        if refused.len() >= 10 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    assert!(
        refused.len() >= 10 && acked.len() >= 2,
        "acked {} refused {}",
        acked.len(),
        refused.len()
    );
    // Room returns: the stopped replica is back and its queue drains.
    b.restart();
    let want = 300 * acked.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(a.count("full", "v") == want && b.count("full", "v") == want) {
        let log = bal.log();
        assert!(
            Instant::now() < deadline,
            "both replicas converge: want {want}, have {} and {}\n{}\n{}",
            a.count("full", "v"),
            b.count("full", "v"),
            runtime(&bal.dir.join("runtime.sock"), "show mirror"),
            &log[log.len().saturating_sub(4000)..]
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for i in [&a, &b] {
        let got = i.query("SELECT count(v) FROM full GROUP BY w");
        let series = got["results"][0]["series"].as_array().cloned().unwrap_or_default();
        let ws: std::collections::BTreeSet<u64> = series
            .iter()
            .map(|s| s["tags"]["w"].as_str().unwrap().parse().unwrap())
            .collect();
        let want: std::collections::BTreeSet<u64> = acked.iter().copied().collect();
        assert_eq!(ws, want, "exactly the writes answered 204, none of those answered 503");
    }
    // No deadlock: the queues took their acknowledgements and take writes again.
    wait_for("writes accepted again", Duration::from_secs(20), || {
        http_with(port, "POST", "/write?db=telemetry", &[], b"after v=1i\n").0 == 204
    });
    wait_for("the write after", Duration::from_secs(20), || {
        a.count("after", "v") >= 1 && b.count("after", "v") >= 1
    });
}
