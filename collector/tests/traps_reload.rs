//! A reload (SIGHUP) that changes `[traps]` reopens the receivers with the new section: the
//! new port and community take traps from then on, the old ones do not; a section whose port
//! cannot be bound is refused in the log and the previous receivers reopen. And a target
//! addressed by a name is the sender of the traps from the address the name resolves to.

mod harness;

use harness::{Daemon, Influxd, free_udp_port, tempdir};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn write(file: &Path, dir: &Path, db: u16, port: u16, community: &str) {
    let text = format!(
        "[traps]\nlisten = [\"127.0.0.1:{port}\"]\ncommunities = [\"{community}\"]\n\
         [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{db}\"\ndatabase = \"telemetry\"\n\
         queue_dir = \"{}\"\nflush_interval = \"100ms\"\n\
         [[targets]]\nname = \"by-name\"\naddress = \"udp://localhost:9\"\ncommunity = \"x\"\nprofile = \"none\"\n\
         modules = [\"system\"]\ninterval = \"1h\"\n",
        dir.join("q").display()
    );
    std::fs::write(file, text).unwrap();
}

/// One v2c linkDown with `community` to `port`, its uptime `n` (so each is its own event).
fn trap(port: u16, community: &str, n: u32) {
    let out = Command::new("snmptrap")
        .args(["-M", "/nonexistent", "-m", "", "-v", "2c", "-c", community])
        .arg(format!("127.0.0.1:{port}"))
        .args([&n.to_string(), "1.3.6.1.6.3.1.1.5.3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The `target` tag of the trap with uptime `n`.
fn target_of(db: &Influxd, n: u32) -> Option<String> {
    let v = db.query(&format!("SELECT uptime, target FROM snmp_trap WHERE uptime = {n}"));
    v["results"][0]["series"][0]["values"][0][2]
        .as_str()
        .map(str::to_string)
}

fn uptimes(db: &Influxd) -> Vec<i64> {
    let v = db.query("SELECT uptime FROM snmp_trap");
    (v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter())
    .filter_map(|r| r[1].as_i64())
    .collect()
}

/// Sends traps numbered from `n` (one a second, ≤ 10 s) until one is written: its number.
fn until_written(db: &Influxd, port: u16, community: &str, n: u32) -> u32 {
    let start = Instant::now();
    for k in n.. {
        trap(port, community, k);
        std::thread::sleep(Duration::from_millis(300));
        if uptimes(db).contains(&(k as i64)) {
            return k;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "trap {community}@{port} never written"
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    unreachable!()
}

#[test]
fn a_reload_reopens_the_receivers_with_the_new_traps_section() {
    let db = Influxd::start();
    let dir = tempdir("traps-reload");
    let file = dir.join("collector.toml");
    let (p1, p2) = (free_udp_port(), free_udp_port());
    write(&file, &dir, db.port, p1, "first");
    let d = Daemon::start(&file, &[]);
    let mut n = until_written(&db, p1, "first", 100);
    // The target addressed by name (localhost) is the sender of traps from 127.0.0.1 once its
    // name has resolved (off the trap thread: the first traps may name none).
    while target_of(&db, n).as_deref() != Some("by-name") {
        assert!(n < 110, "traps from localhost never named the target by-name");
        n = until_written(&db, p1, "first", n + 1);
    }

    // Port and community change: the new ones take traps, the old community is refused.
    write(&file, &dir, db.port, p2, "second");
    d.signal("HUP");
    until_written(&db, p2, "second", 200);
    let refused = d.metric("netpulse_traps_dropped_total{reason=\"unknown_community\"}");
    trap(p2, "first", 300);
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.metric("netpulse_traps_dropped_total{reason=\"unknown_community\"}") <= refused {
        assert!(Instant::now() < deadline, "the old community still accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The old port is closed: nothing listens there any more.
    assert!(UdpSocket::bind(("127.0.0.1", p1)).is_ok(), "port {p1} still held");

    // A section that cannot start (its port taken): refused, the previous receivers reopen.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    write(&file, &dir, db.port, taken.local_addr().unwrap().port(), "third");
    d.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log_text().contains("the previous receivers reopened") {
        assert!(Instant::now() < deadline, "no refusal logged\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    until_written(&db, p2, "second", 400);
    assert!(!uptimes(&db).contains(&300), "a refused trap was written");
}
