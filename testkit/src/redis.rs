//! Debian's `redis-server` on a free port with its own folder, no persistence unless asked,
//! stopped when dropped; a tiny RESP client for assertions.

use crate::{Proc, free_tcp_port, tempdir, wait_tcp};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct Redis {
    pub port: u16,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Redis {
    pub fn start() -> Self {
        let mut r = Self {
            port: free_tcp_port(),
            dir: tempdir("redis"),
            proc: None,
        };
        r.spawn();
        r
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir);
        self.proc = Some(Proc::spawn("redis-server", cmd, &self.dir.join("log")));
        assert!(
            wait_tcp(self.port, Duration::from_secs(10)),
            "redis-server did not start"
        );
    }

    /// Stops it (SIGKILL: nothing is saved, as in a crash).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart_empty(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn running(&self) -> bool {
        self.proc.is_some()
    }

    /// One command; the reply as text (arrays: one element per line; nil: empty).
    pub fn cmd(&self, args: &[&str]) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("redis reachable");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut out = vec![];
        read_reply(&mut r, &mut out);
        out.join("\n")
    }
}

fn read_reply(r: &mut impl BufRead, out: &mut Vec<String>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | ":" | "-" => out.push(rest.to_string()),
        "$" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                out.push(String::new());
                return;
            }
            let mut buf = vec![0u8; n as usize + 2];
            std::io::Read::read_exact(r, &mut buf).unwrap();
            out.push(String::from_utf8_lossy(&buf[..n as usize]).into_owned());
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            for _ in 0..n.max(0) {
                read_reply(r, out);
            }
        }
        _ => panic!("unexpected redis reply {line:?}"),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
