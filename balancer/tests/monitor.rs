//! A frontend's `monitor_uri` (haproxy.cfg `monitor-uri`), side by side with HAProxy 2.6 on one
//! haproxy.cfg: the exact URI answered by the proxy itself with 200 — whatever the servers'
//! state — and never forwarded; any other path goes to a server as before. keepalived's check
//! (deploy/keepalived) asks it.

mod common;

use common::{Balancer, Haproxy, Upstream, free_port, get};

const CFG: &str = r#"
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend web
  bind "127.0.0.1:${FE_PORT}"
  monitor-uri /healthz
  default_backend web
backend web
  server a "127.0.0.1:${A}"
listen stats
  bind "127.0.0.1:${STATS_PORT}"
  stats enable
  stats uri /stats
"#;

#[test]
fn the_monitor_uri_is_answered_by_the_proxy_as_haproxy_answers_it() {
    let up = Upstream::start("a");
    let side = |port: u16, stats: u16| {
        vec![
            ("FE_PORT", port.to_string()),
            ("STATS_PORT", stats.to_string()),
            ("A", up.port.to_string()),
        ]
    };
    let (hp, hs, np, ns) = (free_port(), free_port(), free_port(), free_port());
    let _h = Haproxy::start(CFG, hp, &side(hp, hs));
    let _b = Balancer::from_haproxy_cfg(CFG, np, ns, &side(np, ns));
    let (mut haproxy, mut netpulse) = (vec![], vec![]);
    for (port, out) in [(hp, &mut haproxy), (np, &mut netpulse)] {
        for path in ["/healthz", "/", "/healthz/x"] {
            let (status, headers, body) = get(port, path, &[]);
            let kind = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            out.push((path, status, kind, body));
        }
    }
    assert_eq!(netpulse, haproxy, "netpulse vs HAProxy");
    assert_eq!((netpulse[0].1, netpulse[0].3.contains("Service ready")), (200, true));
    assert_eq!(up.hits(), 4, "the monitor requests never reached the server");
}

#[test]
fn the_monitor_answers_while_every_server_is_down() {
    // A node serves whatever its servers do: the pair's other node sees the same servers.
    let dead = free_port();
    let b = Balancer::with_frontend(
        "monitor_uri = \"/healthz\"",
        &format!("[[backends]]\nname = \"web\"\nservers = [{{ name = \"a\", address = \"127.0.0.1:{dead}\" }}]\n"),
    );
    assert_eq!(get(b.port, "/", &[]).0, 503);
    assert_eq!(get(b.port, "/healthz", &[]).0, 200);
}

/// deploy/keepalived's track script, as keepalived runs it.
fn check(url: &str, path_env: Option<&str>) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/keepalived/netpulse-balancer-check");
    let mut cmd = std::process::Command::new(script);
    cmd.arg(url);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.status().unwrap().success()
}

#[test]
fn keepalived_s_check_passes_while_the_balancer_serves_and_fails_once_it_is_gone() {
    let up = Upstream::start("a");
    let mut b = Balancer::with_frontend(
        "monitor_uri = \"/healthz\"",
        &format!(
            "[[backends]]\nname = \"web\"\nservers = [{{ name = \"a\", address = \"127.0.0.1:{}\" }}]\n",
            up.port
        ),
    );
    let url = format!("http://127.0.0.1:{}/healthz", b.port);
    // Without curl on the PATH the script speaks HTTP over bash's /dev/tcp.
    let bare = std::env::temp_dir().join(format!("np-bare-path-{}", std::process::id()));
    std::fs::create_dir_all(&bare).unwrap();
    for tool in ["sh", "bash", "timeout", "head", "grep"] {
        let _ = std::os::unix::fs::symlink(format!("/usr/bin/{tool}"), bare.join(tool));
        let _ = std::os::unix::fs::symlink(format!("/bin/{tool}"), bare.join(tool));
    }
    let bare = bare.display().to_string();
    assert!(check(&url, None), "with curl");
    assert!(check(&url, Some(&bare)), "without curl");
    b.signal("KILL");
    b.wait_exit(std::time::Duration::from_secs(5));
    assert!(
        !check(&url, None) && !check(&url, Some(&bare)),
        "a stopped balancer fails the check"
    );
}
