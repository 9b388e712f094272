//! A queue folder on a full disk (issue 19, defect 5, first part): when a queue cannot take
//! points, `/ready` says so (503 naming the output and the reason) instead of claiming ready,
//! and recovers once points are durable again. The disk is a small tmpfs this test mounts
//! (root, as in CI), shared by both outputs as a careless deployment would share it.

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

#[test]
fn ready_says_when_a_queue_cannot_take_points() {
    let agent = Snmpd::start("np-diskfull");
    let db = Influxd::start();
    let dir = tempdir("diskfull");
    let disk = Tmpfs::mount(&dir.join("disk"), "96k");
    let dead = netpulse_testkit::free_tcp_port();
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"1h\"\n[circuit_breaker]\nrecovery_timeout = \"1h\"\n\
             [[outputs.influxdb]]\nname = \"dead\"\nurl = \"http://127.0.0.1:{dead}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{q}\"\nqueue_max_bytes = \"10MiB\"\n\
             [[outputs.influxdb]]\nname = \"live\"\nurl = \"http://127.0.0.1:{live}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{q}\"\nqueue_max_bytes = \"10MiB\"\nflush_interval = \"200ms\"\n\
             [[targets]]\nname = \"sw1\"\naddress = \"udp://127.0.0.1:{port}\"\ncommunity = \"public\"\n",
            q = disk.0.display(),
            live = db.port,
            port = agent.port
        ),
    )
    .unwrap();
    let d = Daemon::start(&cfg, &[]);
    assert_eq!(d.get("/ready").0, 200);
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
}
