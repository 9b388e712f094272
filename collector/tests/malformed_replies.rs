//! An agent that answers with bytes that are not an SNMP response (issue 19, defect 11): the
//! poll's error says "malformed", a WARN says "malformed response", and the daemon counts the
//! dropped datagrams in /metrics — not a bare timeout.

mod harness;

use harness::{Daemon, collector_bin, tempdir};
use std::net::UdpSocket;
use std::process::Command;

/// Answers every datagram with garbage that has no request id.
fn garbage_agent() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(b"\x30\x03\x02\x01\xff not snmp at all", from);
        }
    });
    port
}

fn config(port: u16) -> std::path::PathBuf {
    let dir = tempdir("malformed");
    let cfg = dir.join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ninterval = \"1h\"\n[snmp]\ntimeout = \"500ms\"\nretries = 0\n\
             [[targets]]\nname = \"bad\"\naddress = \"udp://127.0.0.1:{port}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn malformed_replies_are_named_warned_and_counted() {
    let port = garbage_agent();
    let cfg = config(port);
    let out = Command::new(collector_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--test")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("malformed response"), "a WARN names it: {err}");
    assert!(
        err.contains("malformed SNMP datagram"),
        "the poll's error says it: {err}"
    );

    let d = Daemon::start(&cfg, &[]);
    let (st, _) = harness::http_with(d.api, "POST", "/collect", &[], br#"{"wait":true}"#);
    assert_eq!(st, 200);
    let (_, metrics) = d.get("/metrics");
    let n: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("netpulse_snmp_malformed_datagrams "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(n >= 1.0, "{metrics}");
}
