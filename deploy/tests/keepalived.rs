//! deploy/keepalived as shipped: each node's file is a configuration keepalived accepts (checked
//! by `keepalived -t` in a network namespace that has the `eth0` the files name), the two nodes
//! differ only where the files say they do, and the track script the files run is the one in
//! the folder (its behaviour is tested against a real balancer in balancer/tests/monitor.rs).

use netpulse_deploy::deploy_dir;
use std::process::Command;

const NODES: [&str; 4] = [
    "node-a.conf",
    "node-b.conf",
    "node-a-unicast.conf",
    "node-b-unicast.conf",
];

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy_dir().join("keepalived").join(name)).unwrap()
}

/// The lines of a file that are configuration (comments and blank lines dropped).
fn config_lines(text: &str) -> Vec<String> {
    (text.lines())
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn keepalived_accepts_every_node_file() {
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let ns = format!("np-ka-{}", std::process::id());
    let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
    assert!(ip(&["netns", "add", &ns]), "ip netns add (root needed)");
    let _guard = Netns(ns.clone());
    // A veth pair (this kernel has no dummy interfaces): the eth0 the files name.
    assert!(ip(&[
        "netns",
        "exec",
        &ns,
        "ip",
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0-peer"
    ]));
    let script = deploy_dir().join("keepalived/netpulse-balancer-check");
    let dir = std::env::temp_dir().join(&ns);
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = vec![];
    for name in NODES {
        // The shipped file with the check at the repository's path. Script security stays on in
        // production; `-t` cannot run with it (it exits 143 without a word), so the test copy
        // drops those two lines and keepalived says SECURITY VIOLATION — and nothing else when
        // the rest is right.
        let text = read(name)
            .replace("/usr/local/bin/netpulse-balancer-check", &script.display().to_string())
            .lines()
            .filter(|l| !l.contains("enable_script_security") && !l.contains("script_user"))
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "keepalived", "-t", "-n", "-l", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        let other: Vec<&str> = said.lines().filter(|l| !l.contains("SECURITY VIOLATION")).collect();
        if !other.is_empty() || out.status.code() != Some(6) {
            failures.push(format!("{name}: exit {:?}\n{said}", out.status.code()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // keepalived reports what the check is meant to catch.
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "vrrp_instance x {\n  bogus_key 1\n}\n").unwrap();
    let out = Command::new("keepalived")
        .args(["-t", "-n", "-l", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown keyword 'bogus_key'"));
}

#[test]
fn the_two_nodes_differ_only_in_identity_priority_and_peers() {
    for (a, b) in [
        ("node-a.conf", "node-b.conf"),
        ("node-a-unicast.conf", "node-b-unicast.conf"),
    ] {
        let (la, lb) = (config_lines(&read(a)), config_lines(&read(b)));
        assert_eq!(la.len(), lb.len(), "{a} / {b}");
        let differ: Vec<String> = (la.iter().zip(&lb))
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        let allowed = ["router_id", "priority", "unicast_src_ip", "192.0.2.11", "192.0.2.12"];
        assert!(
            differ.iter().all(|k| allowed.contains(&k.as_str())),
            "{a} / {b} differ in {differ:?}"
        );
        assert!(differ.contains(&"priority".to_string()) && differ.contains(&"router_id".to_string()));
    }
    for name in NODES {
        let text = read(name);
        assert!(
            text.contains("/usr/local/bin/netpulse-balancer-check"),
            "{name} runs the shipped check"
        );
        assert!(
            text.contains("nopreempt") && text.contains("state BACKUP"),
            "{name}: preemption as documented"
        );
    }
    let mode = std::fs::metadata(deploy_dir().join("keepalived/netpulse-balancer-check")).unwrap();
    assert!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o111 != 0,
        "the check is executable"
    );
}
