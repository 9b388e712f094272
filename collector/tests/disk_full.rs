//! Queues on a full disk (issue 19, defect 5), a small tmpfs this test mounts (root, as in CI),
//! shared by two outputs as a careless deployment would share it: a replica that is down never
//! starves the live one — the queue holding the most gives up its oldest points (counted as
//! `disk_full`) and every point still reaches the live replica; while a queue cannot take
//! points, `/ready` says so.

mod harness;

use harness::{Daemon, Influxd, Snmpd, http_with, tempdir};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
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

fn config(dir: &std::path::Path, disk: &Tmpfs, dead: u16, live: u16, agent: u16) -> std::path::PathBuf {
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"1h\"\n[circuit_breaker]\nrecovery_timeout = \"1h\"\n\
             [[outputs.influxdb]]\nname = \"dead\"\nurl = \"http://127.0.0.1:{dead}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{q}\"\nqueue_max_bytes = \"10MiB\"\n\
             [[outputs.influxdb]]\nname = \"live\"\nurl = \"http://127.0.0.1:{live}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{q}\"\nqueue_max_bytes = \"10MiB\"\nflush_interval = \"200ms\"\n\
             [[targets]]\nname = \"sw1\"\naddress = \"udp://127.0.0.1:{agent}\"\ncommunity = \"public\"\n",
            q = disk.0.display(),
        ),
    )
    .unwrap();
    cfg
}

fn metric(d: &Daemon, line_start: &str) -> f64 {
    let (_, text) = d.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_dead_replica_on_a_shared_full_disk_never_starves_the_live_one() {
    let agent = Snmpd::start("np-diskshare");
    let db = Influxd::start();
    let dir = tempdir("diskshare");
    let disk = Tmpfs::mount(&dir.join("disk"), "1m");
    let cfg = config(&dir, &disk, netpulse_testkit::free_tcp_port(), db.port, agent.port);
    let d = Daemon::start(&cfg, &[]);
    // A poll is some 2-10 KB per queue, by how many interfaces this machine's agent has:
    // polls go on until the dead replica's queue has filled the 1 MB disk and given way.
    let shed = || {
        metric(
            &d,
            "netpulse_output_points_dropped_total{output=\"dead\",reason=\"disk_full\"} ",
        )
    };
    // The scenario: one replica has been down a while, the other delivering. The first poll
    // reaches the live one (and the dead one's writer fails) before the disk fills.
    let (st, _) = http_with(d.api, "POST", "/collect", &[], br#"{"wait":true}"#);
    assert_eq!(st, 200);
    let first = Instant::now();
    while db.count("system", "sysUpTime") < 1 {
        assert!(
            first.elapsed() < Duration::from_secs(20),
            "the first poll never reached the live replica"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut polls = 1;
    let mut full_at = None;
    // Bounded: 1 MB fills within 500 polls of the smallest agent; 100 more after it did.
    while polls < 2000 && full_at.is_none_or(|f| polls < f + 100) {
        let (st, _) = http_with(d.api, "POST", "/collect", &[], br#"{"wait":true}"#);
        assert_eq!(st, 200);
        polls += 1;
        if full_at.is_none() && polls % 10 == 0 && shed() > 0.0 {
            full_at = Some(polls);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    while db.count("system", "sysUpTime") < polls {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "live replica has {} of {polls}: {}",
            db.count("system", "sysUpTime"),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        shed() > 0.0,
        "the disk did fill and the dead replica's queue gave way:\n{}",
        d.get("/metrics").1
    );
    for reason in ["disk_full", "queue_full"] {
        let live = metric(
            &d,
            &format!("netpulse_output_points_dropped_total{{output=\"live\",reason=\"{reason}\"}} "),
        );
        assert_eq!(live, 0.0, "the live replica lost nothing ({reason})");
    }
    assert!(
        d.log_text().contains("disk full: oldest queued points dropped"),
        "logged"
    );
}

#[test]
fn ready_says_when_a_queue_cannot_take_points() {
    let agent = Snmpd::start("np-diskfull");
    let db = Influxd::start();
    let dir = tempdir("diskfull");
    let disk = Tmpfs::mount(&dir.join("disk"), "96k");
    let cfg = config(&dir, &disk, netpulse_testkit::free_tcp_port(), db.port, agent.port);
    let d = Daemon::start(&cfg, &[]);
    assert_eq!(d.get("/ready").0, 200);
    // Something else takes the rest of the disk: once the queues have given up what they
    // hold, a poll's points fit nowhere.
    let filler = disk.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
        let _ = f.sync_all();
    }
    let started = Instant::now();
    let body = loop {
        let (st, _) = http_with(d.api, "POST", "/collect", &[], br#"{"wait":true}"#);
        assert_eq!(st, 200);
        let (st, body) = d.get("/ready");
        if st == 503 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never not ready; the disk filled? {}",
            d.log_text()
        );
    };
    assert!(body.contains("cannot take points"), "{body}");
    assert!(body.contains("\"output\""), "{body}");
    // Room again: the queues take points again, without a restart or a remount.
    std::fs::remove_file(&filler).unwrap();
    d.wait_for("/ready again once the disk has room", Duration::from_secs(30), |d| {
        let _ = http_with(d.api, "POST", "/collect", &[], br#"{"wait":true}"#);
        d.get("/ready").0 == 200
    });
}
