//! deploy/systemd/netpulse-collector.service as systemd would run it: `systemd-analyze verify`
//! and `security` (exposure <= 2.0) on the unit, and the daemon speaking the unit's `Type=notify`
//! protocol on a real notify socket (READY, WATCHDOG, RELOADING/READY on the unit's reload
//! signal, STOPPING), with a stop timeout longer than the drain it allows.

mod harness;

use harness::{Snmpd, collector_bin, tempdir};
use netpulse_testkit::systemd::{NotifySocket, exposure, unit_copy, unit_values, verify};
use netpulse_testkit::{Proc, free_tcp_port, wait_tcp};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn unit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/netpulse-collector.service")
}

fn secs(v: &str) -> u64 {
    let v = v.trim();
    v.strip_suffix('s')
        .unwrap_or(v)
        .parse()
        .unwrap_or_else(|_| panic!("seconds: {v}"))
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let dir = tempdir("unit-collector");
    let bin = collector_bin();
    let copy = unit_copy(&unit(), &dir, &[("/usr/bin/netpulse-collector", bin.to_str().unwrap())]);
    if let Err(e) = verify(&copy) {
        panic!("systemd-analyze verify:\n{e}");
    }
    let (level, table) = exposure(&unit());
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{table}");
    assert_eq!(unit_values(&unit(), "Type"), ["notify"]);
    // The trap receiver's default port is privileged: the unit grants exactly that.
    let trap_ports: Vec<u16> = (netpulse_config::TrapsConfig::default().listen.iter())
        .map(|l| l.parse::<std::net::SocketAddr>().unwrap().port())
        .collect();
    assert!(trap_ports.iter().all(|p| *p < 1024), "{trap_ports:?}");
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        assert_eq!(unit_values(&unit(), key), ["CAP_NET_BIND_SERVICE"], "{key}");
    }
    assert_eq!(unit_values(&unit(), "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    // The default drain ([collector] shutdown_grace, 30 s) fits inside the stop timeout.
    let stop = secs(&unit_values(&unit(), "TimeoutStopSec")[0]);
    assert!(stop > 30, "TimeoutStopSec {stop}s must exceed the 30s shutdown_grace");
    assert!(!unit_values(&unit(), "StateDirectory").is_empty());
}

/// The collector on `cfg` as systemd starts the unit: a notify socket, a 0.4 s watchdog, and
/// `env`; (the socket, the API port, the process).
fn under_systemd(dir: &std::path::Path, cfg: &std::path::Path, env: &[(&str, &str)]) -> (NotifySocket, u16, Proc) {
    let notify = NotifySocket::bind(dir);
    let api = free_tcp_port();
    let mut cmd = Command::new(collector_bin());
    cmd.arg("--config")
        .arg(cfg)
        .env("NETPULSE_API__LISTEN", format!("127.0.0.1:{api}"))
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .envs(env.iter().copied());
    let p = Proc::spawn("netpulse-collector", cmd, &dir.join("log"));
    (notify, api, p)
}

#[test]
fn the_daemon_speaks_the_units_notify_protocol() {
    let agent = Snmpd::start("np-notify");
    let dir = tempdir("notify-collector");
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"1h\"\n[[targets]]\nname = \"sw1\"\naddress = \"udp://127.0.0.1:{}\"\ncommunity = \"public\"\n",
            agent.port
        ),
    )
    .unwrap();
    let (notify, api, mut p) = under_systemd(&dir, &cfg, &[]);
    notify.wait_for("READY=1", Duration::from_secs(20));
    assert!(
        wait_tcp(api, Duration::from_millis(10)),
        "the API answers once READY is sent"
    );
    notify.wait_for("WATCHDOG=1", Duration::from_secs(2));
    p.signal("HUP"); // the unit's ExecReload
    notify.wait_for("RELOADING=1", Duration::from_secs(5));
    notify.wait_for("READY=1", Duration::from_secs(5));
    p.signal("TERM");
    notify.wait_for("STOPPING=1", Duration::from_secs(5));
    assert!(
        p.wait_exit(Duration::from_secs(35)).is_some_and(|s| s.success()),
        "{}",
        p.log_text()
    );
}

/// A stalled scheduler stops the watchdog pings (so systemd restarts the collector), and
/// `/health` says so.
#[test]
fn the_watchdog_is_pinged_only_while_the_scheduler_runs() {
    let dir = tempdir("notify-stall");
    let cfg = dir.join("collector.toml");
    std::fs::write(&cfg, "[collector]\ninterval = \"1h\"\n").unwrap();
    let (notify, api, mut p) = under_systemd(&dir, &cfg, &[("NETPULSE_FAULT_STALL_SCHEDULER", "2")]);
    notify.wait_for("READY=1", Duration::from_secs(20));
    notify.wait_for("WATCHDOG=1", Duration::from_secs(2));
    // Stalled at 2 s, not alive after 10 s more: the pings stop by ~12 s.
    let started = std::time::Instant::now();
    let mut last_ping = started;
    while started.elapsed() < Duration::from_secs(16) {
        if let Some(m) = notify.recv(Duration::from_millis(500))
            && m.contains("WATCHDOG=1")
        {
            last_ping = std::time::Instant::now();
        }
    }
    let quiet = started.elapsed() - last_ping.duration_since(started);
    assert!(
        quiet >= Duration::from_secs(3),
        "pings went on while the scheduler was stalled"
    );
    assert!(
        last_ping.duration_since(started) >= Duration::from_secs(5),
        "pings stopped too early"
    );
    let (status, body) = netpulse_testkit::http::http(api, "GET", "/health", b"");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("stalled"), "{body}");
    assert!(p.log_text().contains("no more watchdog pings"));
    p.kill();
}
