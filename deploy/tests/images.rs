//! deploy/docker: the Dockerfile passes hadolint with no finding, each runtime target is
//! non-root with a health check, a stop signal and OCI labels, and the health probe the images
//! use (bash /dev/tcp, no curl) tells a 2xx from anything else on a real socket.

use netpulse_deploy::{deploy_dir, run, tool};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

#[test]
fn the_dockerfile_is_hadolint_clean_and_each_image_is_hardened() {
    let file = deploy_dir().join("docker/Dockerfile");
    let (out, text) = run(Command::new(tool("hadolint")).arg(&file));
    assert!(out.status.success() && text.trim().is_empty(), "hadolint:\n{text}");
    let text = std::fs::read_to_string(&file).unwrap();
    for target in ["collector", "balancer"] {
        let stage = text
            .split(&format!(" AS {target}\n"))
            .nth(1)
            .expect("the stage")
            .split("\nFROM ")
            .next()
            .unwrap();
        for must in [
            "HEALTHCHECK",
            "STOPSIGNAL SIGTERM",
            "ENTRYPOINT",
            "org.opencontainers.image.title",
        ] {
            assert!(stage.contains(must), "{target}: {must}");
        }
    }
    let runtime = text
        .split(" AS runtime\n")
        .nth(1)
        .unwrap()
        .split("\nFROM ")
        .next()
        .unwrap();
    assert!(runtime.contains("USER 10001:10001"), "the runtime base drops root");
    assert!(text.contains("FROM debian:bookworm-slim AS runtime"));
}

/// One HTTP answer with `status` to the probe, which must exit `want`.
fn probe_against(status: &str, want: bool) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let line = status.to_string();
    let server = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        // The whole request before answering: closing with unread bytes would reset the connection.
        let (mut buf, mut n) = ([0u8; 1024], 0);
        while !buf[..n].ends_with(b"\r\n\r\n") && n < buf.len() {
            match c.read(&mut buf[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        let _ = c.write_all(format!("{line}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let (out, text) = run(Command::new(deploy_dir().join("docker/netpulse-probe"))
        .arg(port.to_string())
        .arg("/health"));
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /health HTTP/1.0\r\n"), "{request:?}");
    assert_eq!(out.status.success(), want, "{status}: {text}");
}

#[test]
fn the_probe_passes_2xx_only() {
    probe_against("HTTP/1.1 200 OK", true);
    probe_against("HTTP/1.1 204 No Content", true);
    probe_against("HTTP/1.1 503 Service Unavailable", false);
    // Nobody listening: unhealthy, not a hang.
    let port = netpulse_testkit::free_tcp_port();
    let (out, _) = run(Command::new(deploy_dir().join("docker/netpulse-probe"))
        .arg(port.to_string())
        .arg("/health"));
    assert!(!out.status.success());
}
