//! Side by side with net-snmp's `snmptrapd`: the same traps (v1, v2c, v3 authPriv, every SMI
//! type) sent to both; every variable binding snmptrapd prints (numeric OID, type, value) is in
//! netpulse's point under its object's name, with the same value and a matching type.

mod harness;

use harness::{Daemon, Influxd, Proc, free_udp_port, tempdir};
use netpulse_collector::snmp::Oid;
use netpulse_collector::traps::names::Names;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const ENGINE: &str = "0x80001f8804736964652d6279";

/// The traps, as `snmptrap` arguments after the destination (`{to}` replaced).
fn traps() -> Vec<Vec<&'static str>> {
    let typed = [
        "1.3.6.1.2.1.2.2.1.1.7",
        "i",
        "7",
        "1.3.6.1.2.1.2.2.1.2.7",
        "s",
        "ge-0/0/7 uplink",
        "1.3.6.1.2.1.2.2.1.8.7",
        "i",
        "2",
        "1.3.6.1.4.1.99.1",
        "u",
        "4294967295",
        "1.3.6.1.4.1.99.2",
        "c",
        "8",
        "1.3.6.1.4.1.99.3",
        "C",
        "18446744073709551615",
        "1.3.6.1.4.1.99.4",
        "t",
        "55",
        "1.3.6.1.4.1.99.5",
        "x",
        "0102FF00",
        "1.3.6.1.4.1.99.6",
        "o",
        "1.3.6.1.4.1.8072.3.2.10",
        "1.3.6.1.4.1.99.7",
        "a",
        "10.1.2.3",
        "1.3.6.1.4.1.99.8",
        "i",
        "-5",
    ];
    let mut v2 = vec!["-v", "2c", "-c", "public", "{to}", "4242", "1.3.6.1.6.3.1.1.5.3"];
    v2.extend(typed);
    let mut v1 = vec![
        "-v",
        "1",
        "-c",
        "public",
        "{to}",
        "1.3.6.1.4.1.8072.2.3",
        "127.0.0.1",
        "6",
        "5",
        "777",
    ];
    v1.extend(&typed[..15]);
    let mut v3 = vec![
        "-v",
        "3",
        "-e",
        ENGINE,
        "-u",
        "sidebyside",
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        "side-auth-pass",
        "-x",
        "AES",
        "-X",
        "side-priv-pass",
        "{to}",
        "999",
        "1.3.6.1.4.1.8072.4.0.3",
    ];
    v3.extend(&typed[15..]);
    vec![v2, v1, v3]
}

/// snmptrapd's blocks: per trap, (OID without the leading dot, type, value) of each binding.
fn snmptrapd_blocks(log: &str) -> Vec<Vec<(String, String, String)>> {
    let mut out: Vec<Vec<(String, String, String)>> = vec![];
    for line in log.lines() {
        if line.starts_with("TRAP ") {
            out.push(vec![]);
            continue;
        }
        let (Some(b), Some((oid, rest))) = (out.last_mut(), line.split_once(" = ")) else {
            continue;
        };
        let (ty, val) = rest.split_once(": ").unwrap_or(("Timeticks", rest));
        b.push((
            oid.trim_start_matches('.').to_string(),
            ty.to_string(),
            val.trim().to_string(),
        ));
    }
    out
}

/// netpulse's field for a binding snmptrapd printed, as snmptrapd would print it.
fn as_snmptrapd(ty: &str, v: &Value) -> String {
    match (ty, v) {
        ("Hex-STRING", Value::String(s)) => s.split(':').map(str::to_uppercase).collect::<Vec<_>>().join(" "),
        ("STRING", Value::String(s)) => format!("\"{s}\""),
        ("OID", Value::String(s)) => format!(".{s}"),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

#[test]
fn every_binding_equals_what_snmptrapd_prints() {
    let dir = tempdir("snmptrapd");
    let (ours, theirs) = (free_udp_port(), free_udp_port());
    std::fs::write(
        dir.join("snmptrapd.conf"),
        format!(
            "authCommunity log public\ncreateUser -e {ENGINE} sidebyside SHA-256 side-auth-pass AES side-priv-pass\n\
             authUser log sidebyside priv\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("snmptrapd");
    cmd.args([
        "-f",
        "-C",
        "-n",
        "-m",
        "",
        "-M",
        "/nonexistent",
        "-On",
        "-Ot",
        "-F",
        "TRAP %B\n%V\n%v\n",
        "-Lf",
    ])
    .arg(dir.join("traps.log"))
    .arg("-c")
    .arg(dir.join("snmptrapd.conf"))
    .arg(format!("udp:127.0.0.1:{theirs}"));
    let _snmptrapd = Proc::spawn("snmptrapd", cmd, &dir.join("snmptrapd.stderr"));
    let db = Influxd::start();
    let file = dir.join("collector.toml");
    std::fs::write(
        &file,
        format!(
            "[traps]\nlisten = [\"127.0.0.1:{ours}\"]\n\
             [[traps.users]]\nuser = \"sidebyside\"\nauth = {{ protocol = \"sha256\", password = \"side-auth-pass\" }}\n\
             priv = {{ protocol = \"aes128\", password = \"side-priv-pass\" }}\n\
             [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\n\
             queue_dir = \"{}\"\nflush_interval = \"100ms\"\n",
            db.port,
            dir.join("q").display()
        ),
    )
    .unwrap();
    let _d = Daemon::start(&file, &[]);
    std::thread::sleep(Duration::from_millis(500)); // snmptrapd binds
    let traps = traps();
    for t in &traps {
        for port in [ours, theirs] {
            let to = format!("127.0.0.1:{port}");
            let args: Vec<&str> = t.iter().map(|a| if *a == "{to}" { &*to } else { *a }).collect();
            let st = Command::new("snmptrap")
                .args(["-M", "/nonexistent", "-m", ""])
                .args(&args)
                .status()
                .unwrap();
            assert!(st.success(), "snmptrap {args:?}");
        }
        std::thread::sleep(Duration::from_millis(300)); // one trap at a time: order is arrival order
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let (blocks, points) = loop {
        let log = std::fs::read_to_string(dir.join("traps.log")).unwrap_or_default();
        let blocks = snmptrapd_blocks(&log);
        let got = db.query("SELECT * FROM snmp_trap");
        let s = &got["results"][0]["series"][0];
        let rows = s["values"].as_array().map_or(0, Vec::len);
        if (blocks.len() >= 3 && rows >= 3) || Instant::now() > deadline {
            break (blocks, s.clone());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(blocks.len(), 3, "snmptrapd logged {blocks:?}");
    let cols: Vec<&str> = points["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let rows = points["values"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{points}");
    let names = Names::new(&[]).unwrap();
    let mut compared = 0;
    for (block, row) in blocks.iter().zip(rows) {
        let field = |k: &str| {
            cols.iter()
                .position(|c| *c == k)
                .map(|i| row[i].clone())
                .unwrap_or(Value::Null)
        };
        for (oid, ty, val) in block {
            let want_val = val.clone();
            let (key, have) = match oid.as_str() {
                "1.3.6.1.2.1.1.3.0" => ("uptime".to_string(), field("uptime").to_string()),
                "1.3.6.1.6.3.1.1.4.1.0" => continue, // snmpTrapOID.0: the `trap` tag (below)
                _ => {
                    let o = Oid::parse(oid).unwrap();
                    let key = names.object(&o).map_or_else(|| oid.clone(), |n| n.to_string());
                    let v = field(&key);
                    (key, as_snmptrapd(ty, &v))
                }
            };
            // Above i64::MAX InfluxDB 1.x has only floats (docs/schema.md: the unsigned policy).
            let big = want_val.parse::<u64>().ok().filter(|u| *u > i64::MAX as u64);
            match big {
                Some(u) => assert_eq!(have.parse::<f64>().ok(), Some(u as f64), "{oid} ({key}, {ty})"),
                None => assert_eq!(have, want_val, "{oid} ({key}, {ty}) in {row:?}"),
            }
            compared += 1;
        }
    }
    assert!(compared >= 24, "only {compared} bindings compared");
    let trap_of = |i: usize| rows[i][cols.iter().position(|c| *c == "trap").unwrap()].clone();
    assert_eq!(
        [trap_of(0), trap_of(1), trap_of(2)],
        ["linkDown", "1.3.6.1.4.1.8072.2.3.0.5", "nsNotifyRestart"].map(Value::from)
    );
}
