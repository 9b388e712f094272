//! The trap receiver with net-snmp's own senders: `snmptrap` v1, v2c and v3 (authPriv
//! SHA/AES and SHA-512/AES-256) and `snmpinform` v2c and v3 (exit 0 only when answered).
//! Each event is in both InfluxDB replicas with its fields; refused ones are counted; a
//! linkDown from a configured target polls its interfaces at once.

mod harness;

use harness::{Daemon, Influxd, Snmpd, free_udp_port, tempdir};
use std::process::Command;
use std::time::{Duration, Instant};

/// (user, net-snmp's auth and priv protocols, ours).
const V3: [(&str, &str, &str, &str, &str); 2] = [
    ("trapsha", "SHA", "AES", "sha", "aes128"),
    ("trapsha512", "SHA-512", "AES-256", "sha512", "aes256"),
];
const AUTH: &str = "trap-auth-pass";
const PRIV: &str = "trap-priv-pass";

fn config(dir: &std::path::Path, a: u16, b: u16, traps: u16, agent: &Snmpd) -> String {
    let mut c = format!(
        "[collector]\ninterval = \"60s\"\njitter = \"0s\"\n\
         [traps]\nlisten = [\"127.0.0.1:{traps}\"]\ncommunities = [\"public\", \"traps-only\"]\n\
         poll_on = [\"linkDown\", \"linkUp\"]\n"
    );
    for (user, _, _, auth, privacy) in V3 {
        c.push_str(&format!(
            "[[traps.users]]\nuser = \"{user}\"\nauth = {{ protocol = \"{auth}\", password = \"{AUTH}\" }}\n\
             priv = {{ protocol = \"{privacy}\", password = \"{PRIV}\" }}\n"
        ));
    }
    for (name, port) in [("a", a), ("b", b)] {
        c.push_str(&format!(
            "[[outputs.influxdb]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}\"\ndatabase = \"telemetry\"\n\
             queue_dir = \"{}\"\nflush_interval = \"100ms\"\n",
            dir.join(name).display()
        ));
    }
    c.push_str(&format!(
        "[[targets]]\nname = \"core-1\"\naddress = \"{}\"\ncommunity = \"public\"\nprofile = \"none\"\n\
         modules = [\"system\", \"interfaces\"]\ntags = {{ site = \"lab\" }}\n",
        agent.address()
    ));
    c
}

/// A net-snmp agent (target core-1), two InfluxDB replicas and a collector receiving traps on
/// the returned port.
fn start(agent: &str, tag: &str) -> (Snmpd, Influxd, Influxd, Daemon, u16) {
    let agent = Snmpd::start(agent);
    let (a, b) = (Influxd::start(), Influxd::start());
    let dir = tempdir(tag);
    let port = free_udp_port();
    let file = dir.join("collector.toml");
    std::fs::write(&file, config(&dir, a.port, b.port, port, &agent)).unwrap();
    let d = Daemon::start(&file, &[]);
    (agent, a, b, d, port)
}

/// Runs a net-snmp sender; its exit status (informs: 0 only when answered).
fn send(tool: &str, args: &[&str]) -> bool {
    let out = Command::new(tool)
        .args(["-M", "/nonexistent", "-m", "", "-t", "2", "-r", "2"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    if !out.status.success() {
        eprintln!("{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

fn v3_args<'a>(user: &'a str, auth: &'a str, privacy: &'a str) -> Vec<&'a str> {
    vec![
        "-v", "3", "-u", user, "-l", "authPriv", "-a", auth, "-A", AUTH, "-x", privacy, "-X", PRIV,
    ]
}

/// The `snmp_trap` points with tag `trap` = `name`, from replica `i`.
fn events(i: &Influxd, name: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let q = format!("SELECT * FROM snmp_trap WHERE \"trap\" = '{name}'");
    let v = i.query(&q);
    let Some(s) = v["results"][0]["series"][0].as_object() else {
        return vec![];
    };
    let cols: Vec<String> = (s["columns"].as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (s["values"].as_array().unwrap().iter())
        .map(|row| {
            cols.iter()
                .cloned()
                .zip(row.as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect()
}

fn wait_events(i: &Influxd, name: &str, n: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = events(i, name);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn net_snmp_senders_reach_both_replicas_as_named_events() {
    let (_agent, a, b, d, port) = start("np-traps", "traps");
    let to = format!("127.0.0.1:{port}");
    let if2 = [
        "1.3.6.1.2.1.2.2.1.1.2",
        "i",
        "2",
        "1.3.6.1.2.1.2.2.1.7.2",
        "i",
        "1",
        "1.3.6.1.2.1.2.2.1.8.2",
        "i",
        "2",
    ];

    // v1: generic-trap 3 (linkUp) becomes linkUp (RFC 3584), with snmpTrapAddress.
    let mut v1 = vec![
        "-v",
        "1",
        "-c",
        "public",
        &to,
        "1.3.6.1.4.1.8072.3.2.10",
        "127.0.0.1",
        "3",
        "0",
        "4242",
    ];
    v1.extend(if2);
    assert!(send("snmptrap", &v1));
    // v2c trap and inform: linkDown.
    let mut v2 = vec!["-v", "2c", "-c", "public", &to, "", "1.3.6.1.6.3.1.1.5.3"];
    v2.extend(if2);
    assert!(send("snmptrap", &v2));
    let mut inform = vec![
        "-v",
        "2c",
        "-c",
        "traps-only",
        &to,
        "",
        "1.3.6.1.6.3.1.1.5.1",
        "1.3.6.1.2.1.1.5.0",
        "s",
        "edge-7",
    ];
    assert!(send("snmpinform", &inform), "a v2c inform is answered");
    // v3 traps (to the sender's own engine id) and informs (discovering ours), both users.
    for (i, (user, auth, privacy, _, _)) in V3.iter().enumerate() {
        let engine = format!("0x80001f8804{:02x}7365{}", i, "6e646572");
        let mut t = v3_args(user, auth, privacy);
        t.extend([
            "-e",
            &engine,
            &to,
            "",
            "1.3.6.1.4.1.8072.4.0.3",
            "1.3.6.1.2.1.1.5.0",
            "s",
            user,
        ]);
        assert!(send("snmptrap", &t), "v3 trap as {user}");
        let mut inf = v3_args(user, auth, privacy);
        inf.extend([&*to, "", "1.3.6.1.4.1.8072.4.0.1", "1.3.6.1.2.1.1.5.0", "s", user]);
        assert!(send("snmpinform", &inf), "v3 inform as {user} is answered");
    }

    for i in [&a, &b] {
        let up = wait_events(i, "linkUp", 1);
        assert_eq!(up.len(), 1, "{up:?}");
        let e = &up[0];
        assert_eq!(
            (e["version"].as_str(), e["ifOperStatus"].as_i64(), e["ifIndex"].as_i64()),
            (Some("1"), Some(2), Some(2)),
            "{e:?}\n{}",
            i.query("SHOW FIELD KEYS FROM snmp_trap; SHOW TAG KEYS FROM snmp_trap")
        );
        assert_eq!(
            (e["uptime"].as_i64(), e["snmpTrapAddress"].as_str()),
            (Some(4242), Some("127.0.0.1"))
        );
        assert_eq!(e["snmpTrapEnterprise"].as_str(), Some("1.3.6.1.4.1.8072.3.2.10"));
        assert_eq!(
            (e["target"].as_str(), e["site"].as_str(), e["agent_host"].as_str()),
            (Some("core-1"), Some("lab"), Some("127.0.0.1"))
        );
        let down = wait_events(i, "linkDown", 1);
        assert_eq!(down.len(), 1, "{down:?}");
        assert_eq!(
            (
                down[0]["version"].as_str(),
                down[0]["ifAdminStatus"].as_i64(),
                down[0]["inform"].as_bool()
            ),
            (Some("2c"), Some(1), Some(false))
        );
        let cold = wait_events(i, "coldStart", 1);
        assert_eq!(
            (cold.len(), cold[0]["sysName"].as_str(), cold[0]["inform"].as_bool()),
            (1, Some("edge-7"), Some(true))
        );
        let restarts = wait_events(i, "nsNotifyRestart", 2);
        let starts = wait_events(i, "nsNotifyStart", 2);
        for (what, got) in [("v3 traps", &restarts), ("v3 informs", &starts)] {
            let mut users: Vec<&str> = got.iter().filter_map(|e| e["sysName"].as_str()).collect();
            users.sort();
            assert_eq!(users, ["trapsha", "trapsha512"], "{what}");
            assert!(
                got.iter().all(|e| e["version"].as_str() == Some("3")),
                "{what}: {got:?}"
            );
        }
    }
    let (_, metrics) = d.get("/metrics");
    let v3: f64 = (metrics.lines())
        .filter(|l| l.starts_with("netpulse_traps_received_total{") && l.contains("version=\"3\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(v3, 4.0, "{metrics}");
    assert_eq!(d.metric("netpulse_traps_informs_acked_total"), 3.0);

    // Refused: a wrong community, an unknown user, a wrong key. Counted, never written.
    inform[3] = "wrong";
    assert!(
        !send("snmpinform", &inform),
        "an inform with a wrong community is not answered"
    );
    let mut t = v3_args("nobody", "SHA", "AES");
    t.extend(["-e", "0x80001f880401", &to, "", "1.3.6.1.6.3.1.1.5.1"]);
    send("snmptrap", &t);
    let mut t = v3_args("trapsha", "SHA", "AES");
    t[9] = "not-the-key";
    t.extend(["-e", "0x80001f880402", &to, "", "1.3.6.1.6.3.1.1.5.1"]);
    send("snmptrap", &t);
    d.wait_for("the refusals counted", Duration::from_secs(10), |d| {
        d.metric("netpulse_traps_dropped_total{reason=\"unknown_community\"}") >= 1.0
            && d.metric("netpulse_traps_dropped_total{reason=\"unknown_user\"}") >= 1.0
            && d.metric("netpulse_traps_dropped_total{reason=\"bad_auth\"}") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(events(&a, "coldStart").len(), 1, "nothing refused is written");
}

#[test]
fn a_link_down_from_a_target_polls_its_interfaces_within_seconds() {
    let (_agent, a, _b, d, port) = start("np-traps-poll", "traps-poll");
    // The trap is sent when the next scheduled poll (interval 60 s) is at least 10 s away.
    for _ in 0..3 {
        let next = d.target("core-1")["next_poll"]
            .as_str()
            .map(|t| humantime::parse_rfc3339(t).unwrap());
        match next.map(|t| t.duration_since(std::time::SystemTime::now())) {
            Some(Ok(away)) if away > Duration::from_secs(10) => break,
            Some(Ok(away)) => std::thread::sleep(away + Duration::from_secs(2)),
            _ => std::thread::sleep(Duration::from_secs(1)),
        }
    }
    let before = a.count("interface", "ifOperStatus");
    let to = format!("127.0.0.1:{port}");
    let sent = Instant::now();
    assert!(send(
        "snmptrap",
        &[
            "-v",
            "2c",
            "-c",
            "public",
            &to,
            "",
            "1.3.6.1.6.3.1.1.5.3",
            "1.3.6.1.2.1.2.2.1.1.1",
            "i",
            "1"
        ]
    ));
    while a.count("interface", "ifOperStatus") <= before {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "no interface poll within 5 s of the linkDown\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Not from a configured target (another source address): written, no poll.
    assert!(send(
        "snmptrap",
        &[
            "--clientaddr=127.0.0.2",
            "-v",
            "2c",
            "-c",
            "public",
            &to,
            "",
            "1.3.6.1.6.3.1.1.5.3"
        ]
    ));
    let got = wait_events(&a, "linkDown", 2);
    let other: Vec<_> = got
        .iter()
        .filter(|e| e["agent_host"].as_str() == Some("127.0.0.2"))
        .collect();
    assert_eq!(other.len(), 1, "{got:?}");
    assert!(other[0]["target"].is_null(), "{got:?}");
}

/// Two replicas in cluster mode, every trap sent to both (as a device with two trap sinks
/// does: one notification, one uptime): one point per trap. Redis stopped: both write.
#[test]
fn in_a_cluster_a_trap_sent_to_both_replicas_is_written_once() {
    let mut redis = netpulse_testkit::Redis::start();
    let db = Influxd::start();
    let dir = tempdir("traps-cluster");
    let ports = [free_udp_port(), free_udp_port()];
    let daemons: Vec<Daemon> = (0..2)
        .map(|i| {
            let file = dir.join(format!("c{i}.toml"));
            std::fs::write(
                &file,
                format!(
                    "[traps]\nlisten = [\"127.0.0.1:{}\"]\n\
                     [[outputs.influxdb]]\nname = \"influx\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\n\
                     queue_dir = \"{}\"\nflush_interval = \"100ms\"\n\
                     [cluster]\nredis_url = \"{}\"\nreplica_id = \"c{i}\"\nheartbeat = \"500ms\"\nmember_ttl = \"2s\"\n\
                     redis_timeout = \"300ms\"\nstate_dir = \"{}\"\n",
                    ports[i],
                    db.port,
                    dir.join(format!("q{i}")).display(),
                    redis.url(),
                    dir.join(format!("s{i}")).display()
                ),
            )
            .unwrap();
            Daemon::start(&file, &[])
        })
        .collect();
    let both = |uptime: u32, n: usize| {
        let uptime = uptime.to_string();
        for p in ports {
            let to = format!("127.0.0.1:{p}");
            let name = format!("s{n}");
            let args = [
                "-v",
                "2c",
                "-c",
                "public",
                &to,
                &uptime,
                "1.3.6.1.6.3.1.1.5.1",
                "1.3.6.1.2.1.1.5.0",
                "s",
                &name,
            ];
            assert!(send("snmptrap", &args));
        }
    };
    for n in 0..5 {
        both(1000 + n as u32, n);
    }
    let dedup = |d: &Daemon| d.metric("netpulse_traps_deduplicated_total");
    let deadline = Instant::now() + Duration::from_secs(15);
    while dedup(&daemons[0]) + dedup(&daemons[1]) < 5.0 {
        assert!(
            Instant::now() < deadline,
            "{} and {} deduplicated",
            dedup(&daemons[0]),
            dedup(&daemons[1])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(wait_events(&db, "coldStart", 5).len(), 5);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(events(&db, "coldStart").len(), 5, "one point per trap");

    // Redis gone: each replica writes what it receives (duplicates, never a loss).
    redis.stop();
    std::thread::sleep(Duration::from_secs(2));
    for n in 5..7 {
        both(1000 + n as u32, n);
    }
    let got = wait_events(&db, "coldStart", 9);
    assert_eq!(got.len(), 9, "{got:?}");
}

/// The shipped default, `0.0.0.0` and `[::]` on one port: the dual-stack `[::]` socket takes
/// IPv4 too (the IPv4 wildcard beside it could not be bound), and traps to 127.0.0.1 arrive.
#[test]
fn both_wildcards_of_one_port_start_and_receive() {
    let db = Influxd::start();
    let dir = tempdir("traps-wildcards");
    let port = free_udp_port();
    let file = dir.join("collector.toml");
    std::fs::write(
        &file,
        format!(
            "[traps]\nlisten = [\"0.0.0.0:{port}\", \"[::]:{port}\"]\n\
             [[outputs.influxdb]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\n\
             queue_dir = \"{}\"\nflush_interval = \"100ms\"\n",
            db.port,
            dir.join("q").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&file, &[]);
    let to = format!("127.0.0.1:{port}");
    assert!(send(
        "snmpinform",
        &["-v", "2c", "-c", "public", &to, "", "1.3.6.1.6.3.1.1.5.2"]
    ));
    assert_eq!(wait_events(&db, "warmStart", 1).len(), 1, "{}", d.log_text());
}
