//! The balancer's side listeners under hostile clients (issue 19, defects 9 and 10): a flood of
//! idle connections to the stats listener does not stop it answering, and the runtime socket
//! cuts a line that never ends instead of buffering it (memory stays bounded).

mod common;

use common::{Balancer, CHECK, Upstream, get, servers};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn idle_connections_do_not_silence_the_stats_listener() {
    let a = Upstream::start("a");
    let bal = Balancer::start(&format!("[[backends]]\nname = \"web\"\n{CHECK}{}", servers(&[(&a, 1)])));
    bal.wait_status("a", "UP");
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", bal.stats)).unwrap())
        .collect();
    for path in ["/stats;csv", "/metrics"] {
        let started = Instant::now();
        let (code, _, body) = get(bal.stats, path, &[]);
        assert_eq!(code, 200, "{path}");
        assert!(!body.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} took {:?} with 300 idle connections",
            started.elapsed()
        );
    }
    drop(idle);
}

#[test]
fn the_runtime_socket_cuts_a_line_that_never_ends() {
    let a = Upstream::start("a");
    let sock = std::env::temp_dir().join(format!("np-rt-hostile-{}.sock", std::process::id()));
    let bal = Balancer::start(&format!(
        "[runtime]\nsocket = \"{}\"\nlevel = \"admin\"\n[[backends]]\nname = \"web\"\n{CHECK}{}",
        sock.display(),
        servers(&[(&a, 1)])
    ));
    bal.wait_status("a", "UP");
    let before = rss_kib(bal.pid());
    let mut c = UnixStream::connect(&sock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < 50 << 20 {
        if c.write_all(&chunk).is_err() {
            break; // cut off: the balancer closed the connection
        }
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(sent < 50 << 20, "the connection was cut, not read forever");
    assert!(answer.starts_with("Line too long"), "{answer:?}");
    let after = rss_kib(bal.pid());
    assert!(after < before + 8 * 1024, "RSS {before} KiB -> {after} KiB");
    assert!(
        common::runtime(&sock, "show info").contains("Name:"),
        "the socket still serves"
    );
}
