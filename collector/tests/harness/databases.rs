//! VictoriaMetrics (its InfluxDB v2 write API) on a free loopback port with its own folder;
//! InfluxDB 1.x is the testkit's (`netpulse_testkit::Influxd`).

use super::{Proc, free_tcp_port, http, tempdir, urlencode, wait_http};
use std::path::PathBuf;
use std::process::Command;

/// VictoriaMetrics (Debian `victoria-metrics`): accepts InfluxDB `/api/v2/write`.
pub struct VictoriaMetrics {
    pub port: u16,
    dir: PathBuf,
    child: Proc,
}

impl VictoriaMetrics {
    pub fn start() -> Self {
        let dir = tempdir("vm");
        let port = free_tcp_port();
        let mut cmd = Command::new("victoria-metrics");
        cmd.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.join("data").display()))
            .arg("-search.latencyOffset=0s");
        let child = Proc::spawn("victoria-metrics", cmd, &dir.join("log"));
        wait_http(port, "/health", "victoria-metrics");
        Self { port, dir, child }
    }

    /// Exported series (JSON lines) whose metric name matches `re`.
    pub fn export(&self, re: &str) -> Vec<serde_json::Value> {
        http(self.port, "GET", "/internal/force_flush", b"");
        let q = urlencode(&format!("{{__name__=~\"{re}\"}}"));
        let (status, text) = http(self.port, "GET", &format!("/api/v1/export?match[]={q}"), b"");
        assert_eq!(status, 200, "{text}");
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
