//! deploy/systemd/netpulse-balancer.service as systemd would run it: `systemd-analyze verify`
//! and `security` (exposure <= 2.0), and its `systemctl reload` done for real — the unit's
//! ExecStart and ExecReload command lines run as systemd runs them (same order, `$MAINPID`
//! and `$NOTIFY_SOCKET` set) — under steady load: no request fails, the new process reports
//! MAINPID=itself with READY=1 before the old one exits, and a broken config aborts the
//! reload while the running process keeps serving.

mod common;

use common::{CHECK, Upstream, get, get_until, servers};
use netpulse_testkit::systemd::{NotifySocket, exposure, unit_copy, unit_values, verify};
use netpulse_testkit::{Proc, free_tcp_port, tempdir, wait_tcp};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn unit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/netpulse-balancer.service")
}

/// A unit command line with the installed paths replaced by the test's, as systemd expands it.
fn expand(line: &str, cfg: &Path, run: &Path, mainpid: u32) -> String {
    line.replace("/usr/bin/netpulse-balancer", common::bin().to_str().unwrap())
        .replace("/etc/netpulse/balancer.toml", cfg.to_str().unwrap())
        .replace("/run/netpulse-balancer", run.to_str().unwrap())
        .replace("$MAINPID", &mainpid.to_string())
}

/// The unit's `Environment=` assignments.
fn unit_env() -> Vec<(String, String)> {
    let vals = unit_values(&unit(), "Environment");
    vals.iter()
        .filter_map(|v| v.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let dir = tempdir("unit-balancer");
    let copy = unit_copy(
        &unit(),
        &dir,
        &[("/usr/bin/netpulse-balancer", common::bin().to_str().unwrap())],
    );
    if let Err(e) = verify(&copy) {
        panic!("systemd-analyze verify:\n{e}");
    }
    let (level, table) = exposure(&unit());
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{table}");
    assert_eq!(unit_values(&unit(), "Type"), ["notify"]);
    assert_eq!(
        unit_values(&unit(), "NotifyAccess"),
        ["all"],
        "the reloaded process becomes the main one"
    );
    // The process a reload starts gets no WATCHDOG_USEC from systemd: the unit sets the same.
    let wd: u64 = unit_values(&unit(), "WatchdogSec")[0].parse().unwrap();
    assert!(unit_env().contains(&("WATCHDOG_USEC".into(), (wd * 1_000_000).to_string())));
    // The example config's mirror queues live in the unit's StateDirectory (persistent, 0700,
    // writable under ProtectSystem=strict).
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/examples/balancer.toml");
    let cfg = netpulse_config::Loader::<netpulse_config::BalancerConfig>::new()
        .file(&example)
        .load()
        .unwrap();
    let state = format!("/var/lib/{}/", unit_values(&unit(), "StateDirectory")[0]);
    for b in &cfg.backends {
        if let Some(m) = &b.mirror {
            assert!(
                m.queue_dir.starts_with(&state),
                "{}: queue_dir {} is outside {state}",
                b.name,
                m.queue_dir
            );
        }
    }
    assert!(
        cfg.backends.iter().any(|b| b.mirror.is_some()),
        "the example mirrors writes"
    );
}

#[test]
fn systemctl_reload_hands_over_without_a_failed_request() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let dir = tempdir("reload-balancer");
    let (port, stats) = (free_tcp_port(), free_tcp_port());
    let cfg = dir.join("balancer.toml");
    let text = format!(
        "[server]\nthreads = 2\ngrace_period = \"2s\"\n[stats]\nlisten = \"127.0.0.1:{stats}\"\n[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{port}\"]\nbackend = \"web\"\n[[backends]]\nname = \"web\"\n{CHECK}{}",
        servers(&[(&a, 1), (&b, 1)])
    );
    std::fs::write(&cfg, &text).unwrap();
    let notify = NotifySocket::bind(&dir);
    let env = unit_env();
    let start = expand(&unit_values(&unit(), "ExecStart")[0], &cfg, &dir, 0);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("exec {start}"))
        .env("NOTIFY_SOCKET", &notify.path)
        .envs(env.clone());
    let mut old = Proc::spawn("netpulse-balancer", sh, &dir.join("log"));
    let first = notify.wait_for("READY=1", Duration::from_secs(20));
    assert!(
        !first.iter().any(|m| m.contains("MAINPID")),
        "a fresh start is the main process: {first:?}"
    );
    assert!(
        wait_tcp(port, Duration::from_millis(10)),
        "listening once READY is sent"
    );
    let old_pid = old.pid();
    let reload = |cfg: &Path| -> Vec<bool> {
        let mut ok = vec![];
        // systemd runs the ExecReload lines in order and stops at the first that fails.
        for line in unit_values(&unit(), "ExecReload") {
            let status = Command::new("sh")
                .arg("-c")
                .arg(expand(&line, cfg, &dir, old_pid))
                .env("NOTIFY_SOCKET", &notify.path)
                .envs(env.clone())
                .stdout(std::fs::File::create(dir.join("log.new")).unwrap())
                .stderr(std::fs::File::options().append(true).open(dir.join("log.new")).unwrap())
                .status()
                .unwrap();
            ok.push(status.success());
            if !status.success() {
                break;
            }
        }
        ok
    };

    // A broken config: the check line fails, nothing is signalled, the old process serves on.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[server]\nthreads = \"many\"\n").unwrap();
    assert_eq!(reload(&broken), [false]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(old.running(), "the running balancer is untouched");
    assert_eq!(get(port, "/", &[]).0, 200);

    let stop = AtomicBool::new(false);
    let (done, failures, new_pid) = std::thread::scope(|s| {
        let load = s.spawn(|| get_until(port, &stop));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(reload(&cfg), [true, true]);
        let msgs = notify.wait_for("READY=1", Duration::from_secs(20));
        let handed = msgs.last().unwrap();
        let new_pid: u32 = handed
            .lines()
            .find_map(|l| l.strip_prefix("MAINPID="))
            .unwrap_or_else(|| panic!("MAINPID with READY after a reload: {msgs:?}"))
            .parse()
            .unwrap();
        assert_ne!(new_pid, old_pid);
        assert!(old.running(), "MAINPID is reported before the old process exits");
        assert!(
            old.wait_exit(Duration::from_secs(20)).is_some(),
            "the old process drains and exits"
        );
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let (n, bad) = load.join().unwrap();
        (n, bad, new_pid)
    });
    let alive = Path::new("/proc").join(new_pid.to_string()).exists();
    assert!(alive, "the new main process serves");
    assert_eq!(get(port, "/", &[]).0, 200);
    let _ = Command::new("kill").arg(new_pid.to_string()).status();
    assert!(done > 50, "load ran: {done}");
    assert!(
        failures.is_empty(),
        "{} of {done} requests failed during the reload: {failures:?}",
        failures.len()
    );
}
