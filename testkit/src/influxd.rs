//! InfluxDB 1.x (Debian `influxdb`) on a free loopback port with its own folder and database
//! `telemetry`: what collector outputs and the balancer's mirrored writes are checked against.

use crate::http::{http, urlencode, wait_http};
use crate::{Proc, free_tcp_port, tempdir};
use std::path::{Path, PathBuf};
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
        let child = Self::spawn(&dir, port);
        let (status, body) = http(port, "POST", "/query", b"q=CREATE+DATABASE+telemetry");
        assert_eq!(status, 200, "{body}");
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    fn spawn(dir: &Path, port: u16) -> Proc {
        let mut cmd = Command::new("influxd");
        cmd.arg("-config").arg(dir.join("influxdb.conf"));
        let child = Proc::spawn("influxd", cmd, &dir.join("log"));
        wait_http(port, "/ping", "influxd");
        child
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

    /// Starts again on the same port with the same data (after [`Self::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "influxd is still running");
        self.child = Some(Self::spawn(&self.dir, self.port));
    }

    /// Every point of `measurement` in database telemetry, as (time, fields…) rows, by time.
    pub fn rows(&self, measurement: &str) -> Vec<serde_json::Value> {
        let v = self.query(&format!("SELECT * FROM \"{measurement}\" ORDER BY time"));
        v["results"][0]["series"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
