//! `netpulse-collector discover` over loopback addresses: snmpsim serving real devices'
//! recordings on several addresses, net-snmp answering on two, the rate cap measured at a
//! socket, and neighbours followed only inside the allowed ranges.

mod harness;

use harness::{Proc, Snmpd, collector_bin, free_udp_port, recording, snmpsim_root, tempdir};
use netpulse_collector::profiles::Profiles;
use netpulse_collector::snmp::Oid;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Real devices, one per sweep address (127.0.1.10 + i).
const DEVICES: [&str; 6] = [
    "network/switch/cisco-c3750",
    "network/router/juniper-mx960-16-1r6-7-b",
    "network/wifi/aruba-7010",
    "network/router/huawei-s5720",
    "network/firewall/paloalto-pa-5000",
    "network/switch/h3c-e528-1",
];

/// A small agent whose LLDP and CDP tables name `neighbours` (LLDP) and `cdp` (CDP).
fn crafted(name: &str, lldp: &[[u8; 4]], cdp: &[[u8; 4]]) -> String {
    let mut lines: Vec<String> = lldp
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "1.0.8802.1.1.2.1.4.2.1.3.0.{}.1.1.4.{}.{}.{}.{}|2|2",
                i + 1,
                a[0],
                a[1],
                a[2],
                a[3]
            )
        })
        .collect();
    lines.push(format!("1.3.6.1.2.1.1.1.0|4|lab device {name}"));
    lines.push("1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.516".into());
    lines.push(format!("1.3.6.1.2.1.1.5.0|4|{name}"));
    for (i, a) in cdp.iter().enumerate() {
        lines.push(format!(
            "1.3.6.1.4.1.9.9.23.1.2.1.1.4.{}.1|4x|{:02x}{:02x}{:02x}{:02x}",
            i + 1,
            a[0],
            a[1],
            a[2],
            a[3]
        ));
    }
    lines.join("\n") + "\n"
}

/// snmpsim answering community `public` on each endpoint with that endpoint's data (one
/// process per endpoint, started together).
struct Agents {
    _dirs: Vec<PathBuf>,
    _children: Vec<Proc>,
}

fn agents(port: u16, endpoints: &[(&str, String)]) -> Agents {
    let mut agents = Agents {
        _dirs: vec![],
        _children: vec![],
    };
    for (address, text) in endpoints {
        let dir = tempdir("discovery-sim");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        std::fs::write(dir.join("data/public.snmprec"), text).unwrap();
        // snmpsim drops privileges to nobody: its files must be readable and the cache writable.
        let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(&dir).status();
        let _ = Command::new("chmod").args(["a+rx"]).arg(std::env::temp_dir()).status();
        let mut cmd = Command::new(snmpsim_root().join("bin/snmpsim-command-responder"));
        cmd.arg(format!("--agent-udpv4-endpoint={address}:{port}"))
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--cache-dir={}", dir.join("cache").display()))
            .args(["--process-user=nobody", "--process-group=nogroup"])
            .arg(format!("--logging-method=file:{}", dir.join("log").display()));
        agents._children.push(Proc::spawn("snmpsim", cmd, &dir.join("stderr")));
        agents._dirs.push(dir);
    }
    for (address, _) in endpoints {
        // A large recording is indexed before its first answer.
        harness::wait_answering_at(address, port, "public", Duration::from_secs(90));
    }
    agents
}

fn decompress(rel: &str) -> String {
    let out = Command::new("bzcat").arg(recording(rel)).output().unwrap();
    assert!(out.status.success(), "cannot decompress {rel}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A value of a `.snmprec` recording as text (`4x` values are hex-encoded octets).
fn value_of(text: &str, oid: &str) -> String {
    let prefix = format!("{oid}|");
    let Some((kind, value)) = text.lines().find_map(|l| l.strip_prefix(&prefix)?.split_once('|')) else {
        return String::new();
    };
    if kind == "4x" {
        let bytes: Vec<u8> = (0..value.len() / 2)
            .filter_map(|i| u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok())
            .collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    value.to_string()
}

fn discover(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(collector_bin())
        .arg("discover")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if args.contains(&"json") {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
    } else {
        serde_json::Value::String(stdout)
    };
    (out.status.code().unwrap_or(-1), json, stderr)
}

#[test]
fn every_agent_is_found_once_and_nothing_else() {
    let port = free_udp_port();
    let texts: Vec<String> = DEVICES.iter().map(|d| decompress(d)).collect();
    let addresses: Vec<String> = (0..DEVICES.len()).map(|i| format!("127.0.1.{}", 10 + i)).collect();
    let endpoints: Vec<(&str, String)> = addresses
        .iter()
        .map(String::as_str)
        .zip(texts.iter().cloned())
        .collect();
    let _sim = agents(port, &endpoints);
    // net-snmp on two addresses of the range: one device.
    let snmpd = Snmpd::start_on(&["127.0.1.200", "127.0.1.201"], port, "lab-netsnmp");
    let p = port.to_string();
    let (code, v, stderr) = discover(&["127.0.1.0/24", "--port", &p, "--rate", "500", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let devices = v["devices"].as_array().unwrap();
    let found: Vec<&str> = devices.iter().map(|d| d["address"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = addresses.iter().map(|a| format!("udp://{a}:{port}")).collect();
    expected.push(format!("udp://127.0.1.200:{port}"));
    assert_eq!(found, expected, "{v:#}");
    assert_eq!(v["probed"], 254);
    assert_eq!(v["answered"], 8);
    let net = &devices[6];
    assert_eq!(net["also"], serde_json::json!(["127.0.1.201"]));
    assert!(net["identity"].as_str().unwrap().starts_with("engine id "), "{net}");
    assert_eq!(net["profile"], "net-snmp");
    let profiles = Profiles::builtin();
    for (d, text) in devices.iter().zip(&texts) {
        let oid = value_of(text, "1.3.6.1.2.1.1.2.0");
        assert_eq!(d["sys_object_id"], oid.as_str(), "{d}");
        assert_eq!(d["sys_name"], value_of(text, "1.3.6.1.2.1.1.5.0").trim(), "{d}");
        let chosen = profiles.choose(&Oid::parse(&oid).unwrap()).profile.name.clone();
        assert_eq!(d["profile"], chosen.as_str(), "{d}");
    }
    // The TOML form is a targets file once a community is given in its [defaults].
    let (_, toml, _) = discover(&["127.0.1.0/24", "--port", &p, "--rate", "500"]);
    let toml = toml.as_str().unwrap();
    assert!(
        !toml.contains("public"),
        "a community was printed without --show-secrets:\n{toml}"
    );
    let file = format!("[defaults]\ncommunity = \"public\"\n{toml}");
    let targets = netpulse_config::read_targets_file("discovered.toml", &file, &Default::default())
        .unwrap_or_else(|e| panic!("{e}\n{file}"));
    assert_eq!(targets.len(), 7);
    drop(snmpd);
}

#[test]
fn the_rate_cap_holds_at_the_wire() {
    // A socket on the wildcard address hears every probe sent to 127.0.4.x.
    let sink = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = sink.local_addr().unwrap().port().to_string();
    sink.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let counter = std::thread::spawn(move || {
        let (mut at, mut buf) = (vec![], [0u8; 2048]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match sink.recv(&mut buf) {
                Ok(_) => at.push(Instant::now()),
                Err(_) if at.len() >= 126 => break,
                Err(_) => {}
            }
        }
        at
    });
    let started = Instant::now();
    let (code, v, stderr) = discover(&[
        "127.0.4.0/25",
        "--port",
        &port,
        "--rate",
        "50",
        "--timeout",
        "200ms",
        "--format",
        "json",
    ]);
    let took = started.elapsed();
    assert_eq!(code, 1, "nothing answers: exit 1\n{stderr}");
    assert_eq!(v["probed"], 126);
    let at = counter.join().unwrap();
    assert_eq!(at.len(), 126, "one probe per address");
    // At most 50 in any second (one more for the window's edges).
    let most = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| t.duration_since(at[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    let span = at[at.len() - 1].duration_since(at[0]);
    eprintln!("126 probes at --rate 50: {most} in the busiest second, first to last {span:?}, sweep {took:?}");
    assert!(most <= 51, "{most} probes in one second");
    assert!(span >= Duration::from_millis(2400), "{span:?}");
    assert!(
        took < Duration::from_secs(6),
        "addresses / rate + one timeout: {took:?}"
    );
}

#[test]
fn neighbours_are_followed_only_inside_the_allowed_ranges() {
    let port = free_udp_port();
    // a → b (LLDP) and 10.9.9.9 (CDP); b → c (LLDP) and 127.0.3.5 (LLDP, outside --within).
    let _sim = agents(
        port,
        &[
            ("127.0.2.10", crafted("lab-a", &[[127, 0, 2, 11]], &[[10, 9, 9, 9]])),
            ("127.0.2.11", crafted("lab-b", &[[127, 0, 2, 12], [127, 0, 3, 5]], &[])),
            ("127.0.2.12", crafted("lab-c", &[], &[])),
        ],
    );
    // Something listens outside: it must hear nothing.
    let outside = UdpSocket::bind(format!("127.0.3.5:{port}")).unwrap();
    outside.set_nonblocking(true).unwrap();
    let p = port.to_string();
    let (code, v, stderr) = discover(&[
        "127.0.2.10",
        "--port",
        &p,
        "--neighbors",
        "--within",
        "127.0.2.0/24",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lab-a", "lab-b", "lab-c"], "{v:#}\n{stderr}");
    assert!(
        stderr.contains("2 neighbour addresses outside the ranges, not probed: 10.9.9.9, 127.0.3.5"),
        "{stderr}"
    );
    assert!(stderr.contains("(2 by following neighbours)"), "{stderr}");
    let mut buf = [0u8; 64];
    assert!(
        outside.recv(&mut buf).is_err(),
        "an address outside --within was probed"
    );
}

#[test]
fn a_v3_user_finds_the_agent_by_its_engine_and_a_wrong_community_finds_nothing() {
    let port = free_udp_port();
    let _agent = Snmpd::start_on(&["127.0.5.20", "127.0.5.21"], port, "lab-v3");
    let p = port.to_string();
    let auth = format!("sha256:{}", harness::AUTH_PASS);
    let privacy = format!("aes128:{}", harness::PRIV_PASS);
    // A community the agent does not know first (no answer: v2c agents stay silent), then v3.
    let (code, v, stderr) = discover(&[
        "127.0.5.16/28",
        "--port",
        &p,
        "--community",
        "not-this-one",
        "--v3-user",
        "sha256_aes128",
        "--v3-auth",
        &auth,
        "--v3-priv",
        &privacy,
        "--timeout",
        "500ms",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{v:#}");
    let d = &devices[0];
    assert_eq!(d["address"], format!("udp://127.0.5.20:{port}"));
    assert_eq!(d["also"], serde_json::json!(["127.0.5.21"]));
    assert_eq!(d["version"], "3");
    assert_eq!(d["user"], "sha256_aes128");
    assert_eq!(d["credential"], 2, "the v3 user answered, after the community");
    assert!(d["identity"].as_str().unwrap().starts_with("engine id 80001f88"), "{d}");
    assert!(!stderr.contains(harness::AUTH_PASS) && !v.to_string().contains(harness::AUTH_PASS));
    let (code, v, _) = discover(&[
        "127.0.5.16/28",
        "--port",
        &p,
        "--community",
        "not-this-one",
        "--timeout",
        "300ms",
        "--format",
        "json",
    ]);
    assert_eq!((code, v["devices"].as_array().unwrap().len()), (1, 0));
}
