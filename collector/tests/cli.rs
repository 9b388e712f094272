//! The `netpulse-collector` binary: exit codes, `--check-config`, `--test` output.

mod harness;

use harness::{SilentAgent, Snmpd, collector_bin, tempdir};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(collector_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const CONFIG: &str = r#"
[collector]
interval = "30s"

[[outputs.influxdb]]
name = "influx-a"
url = "http://127.0.0.1:18086"
database = "telemetry"
password = "influx-secret-pw"

[[targets]]
name = "core-sw1"
address = "udp://127.0.0.1:1161"
community = "community-secret"
tags = { site = "fra1" }

[[targets]]
name = "edge-r1"
address = "udp://[::1]:161"
version = "3"
user = "netpulse"
auth = { protocol = "sha256", password = "v3-auth-secret" }
priv = { protocol = "aes128", password = "v3-priv-secret" }

[traps]
listen = ["127.0.0.1:1162"]
communities = ["trap-community-secret"]

[[traps.users]]
user = "trapuser"
auth = { protocol = "sha512", password = "trap-auth-secret" }
priv = { protocol = "aes256", password = "trap-priv-secret" }
"#;

#[test]
fn check_config_masks_every_secret() {
    let dir = tempdir("cli");
    let file = dir.join("c.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let (code, out, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{err}");
    for secret in [
        "community-secret",
        "v3-auth-secret",
        "v3-priv-secret",
        "influx-secret-pw",
        "trap-community-secret",
        "trap-auth-secret",
        "trap-priv-secret",
    ] {
        assert!(!out.contains(secret) && !err.contains(secret), "{secret} leaked");
    }
    assert!(out.contains("community = \"***\""), "{out}");
    assert!(out.contains("interval = \"30s\""), "{out}");
    assert!(
        out.contains("[traps]") && out.contains("communities = [\"***\"]"),
        "the trap settings are shown: {out}"
    );
    assert!(
        out.contains("user = \"trapuser\"") && out.contains("dedup_window = \"10s\""),
        "{out}"
    );
    assert!(out.contains("max_concurrent_targets = 20"), "defaults are shown: {out}");
}

#[test]
fn invalid_config_exits_2_naming_file_line_and_key() {
    let dir = tempdir("cli");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[[targets]]\nname = \"a\"\naddress = \"udp://h\"\ncommunity = \"c\"\nmodules = [\"system\", \"bogus\"]\n",
    )
    .unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:5") && err.contains("targets[0].modules[1]") && err.contains("unknown module \"bogus\""),
        "{err}"
    );
    let (code, _, err) = run(&["--test", "--target", "udp://127.0.0.1:1", "--snmp-version", "4"]);
    assert_eq!(code, 2);
    assert!(err.contains("--snmp-version"), "{err}");
}

#[test]
fn test_mode_prints_line_protocol_and_exit_codes() {
    let agent = Snmpd::start("np-cli");
    let (code, out, err) = run(&[
        "--test",
        "--target",
        &agent.address(),
        "--community",
        "public",
        "--module",
        "system,interfaces",
    ]);
    assert_eq!(code, 0, "{err}");
    // Which device profile, and why, beside the points.
    assert!(
        err.contains("profile net-snmp (sysObjectID 1.3.6.1.4.1.8072.3.2."),
        "{err}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("device_memory,") && l.contains("profile=net-snmp")),
        "{out}"
    );
    let system = out.lines().find(|l| l.starts_with("system,")).expect("a system line");
    assert!(system.contains("sysName=np-cli"), "{system}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("interface,") && l.contains("ifDescr=lo")),
        "{out}"
    );
    assert!(
        !out.contains("public") && !err.contains("public"),
        "the community never appears"
    );

    let dead = SilentAgent::start();
    let addr = format!("udp://127.0.0.1:{}", dead.port);
    let (code, out, err) = run(&[
        "--test",
        "--target",
        &addr,
        "--community",
        "public",
        "--module",
        "system",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("target 127.0.0.1:{}", dead.port)) && err.contains("no response"),
        "{err}"
    );
    assert!(out.contains("netpulse_poll,") && out.contains("ok=false"), "{out}");
}

/// Issue 19, defect 11: a short interval needs no jitter setting, an explicit jitter too long
/// is named at its line, `--snmp-version` takes only 1, 2c or 3, and logs written to a file
/// carry no terminal colour codes.
#[test]
fn short_intervals_versions_and_plain_logs() {
    let dir = tempdir("cli-small");
    let file = dir.join("c.toml");
    std::fs::write(&file, "[collector]\ninterval = \"5s\"\n").unwrap();
    let (code, out, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(&file, "[collector]\ninterval = \"5s\"\njitter = \"6s\"\n").unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2);
    assert!(err.contains("c.toml:3") && err.contains("jitter"), "{err}");
    let (code, _, err) = run(&[
        "--config",
        file.to_str().unwrap(),
        "--snmp-version",
        "4",
        "--check-config",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--snmp-version") && err.contains('4'), "{err}");

    let agent = SilentAgent::start();
    let out = Command::new(collector_bin())
        .args([
            "--target",
            &format!("udp://127.0.0.1:{}", agent.port),
            "--community",
            "c",
            "--test",
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.is_empty(), "something was logged");
    assert!(!log.contains('\u{1b}'), "no ANSI codes in a redirected log: {log:?}");
}

/// A profile of the user's is read from `profiles_dir`; a broken one is refused naming its file
/// and line, and a target naming an unknown profile is named at its key.
#[test]
fn profiles_dir_is_checked_with_file_and_line() {
    let dir = tempdir("cli-profiles");
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let ok = "[[profile]]\nname = \"lab\"\nextends = [\"generic\"]\nsys_object_ids = [\"1.3.6.1.4.1.424242\"]\n";
    std::fs::write(profiles.join("lab.toml"), ok).unwrap();
    let file = dir.join("c.toml");
    let config = |profile: &str| {
        format!(
            "[collector]\nprofiles_dir = \"{}\"\n[[targets]]\nname = \"a\"\naddress = \"udp://192.0.2.1\"\ncommunity = \"c\"\nprofile = \"{profile}\"\n",
            profiles.display()
        )
    };
    std::fs::write(&file, config("lab")).unwrap();
    let (code, out, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(&file, config("nosuch")).unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("c.toml:7: `targets[0].profile`") && err.contains("unknown profile \"nosuch\""),
        "{err}"
    );
    std::fs::write(&file, config("lab")).unwrap();
    std::fs::write(profiles.join("lab.toml"), format!("{ok}\n[[profile.metric]]\nmeasurement = \"device_cpu\"\ncolumns = {{ a = \"1.3.6\" }}\ntags = {{ cpu = \"index\" }}\nfields = {{ utilization = \"a *\" }}\n")).unwrap();
    let (code, _, err) = run(&["--config", file.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2);
    assert!(err.contains("lab.toml:6") && err.contains("utilization"), "{err}");
}
