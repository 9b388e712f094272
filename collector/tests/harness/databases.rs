//! The databases the collector writes to, on free loopback ports with their own folders:
//! InfluxDB 1.x (Debian `influxdb`) and VictoriaMetrics (its InfluxDB v2 write API).

use super::{Proc, free_tcp_port, http, tempdir, urlencode, wait_http};
use std::path::PathBuf;
use std::process::Command;

/// InfluxDB 1.x (Debian `influxdb`) with its own data directory, database `telemetry`.
pub struct Influxd {
    pub port: u16,
    dir: PathBuf,
    child: Option<Proc>,
}

impl Influxd {
    pub fn start() -> Self {
        Self::start_on(free_tcp_port())
    }

    pub fn start_on(port: u16) -> Self {
        let dir = tempdir("influxd");
        let rpc = free_tcp_port();
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n[http]\n  enabled = true\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n",
            d = dir.display()
        );
        std::fs::write(dir.join("influxdb.conf"), conf).unwrap();
        let mut cmd = Command::new("influxd");
        cmd.arg("-config").arg(dir.join("influxdb.conf"));
        let child = Proc::spawn("influxd", cmd, &dir.join("log"));
        wait_http(port, "/ping", "influxd");
        let (status, body) = http(port, "POST", "/query", b"q=CREATE+DATABASE+telemetry");
        assert_eq!(status, 200, "{body}");
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    /// `SELECT …` in database telemetry; the JSON answer.
    pub fn query(&self, q: &str) -> serde_json::Value {
        let body = format!("db=telemetry&q={}", urlencode(q));
        let (status, text) = http(self.port, "POST", "/query", body.as_bytes());
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Points in a measurement (count of one always-present field).
    pub fn count(&self, measurement: &str, field: &str) -> u64 {
        let v = self.query(&format!("SELECT count(\"{field}\") FROM \"{measurement}\""));
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
