//! A cluster of collector replicas on one machine: real `redis-server`, one InfluxDB that
//! every replica writes to (so each poll is counted from what reaches it), and collector
//! daemons started, killed, stopped and restarted by stable replica id.

use super::{Daemon, Influxd, tempdir};
use netpulse_testkit::Redis;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Fleet {
    pub redis: Redis,
    pub db: Influxd,
    pub dir: PathBuf,
    /// `[collector]`, `[cluster]` extras and `[[targets]]` of every replica.
    pub body: String,
    pub replicas: BTreeMap<String, Daemon>,
}

/// Cluster timing of the tests: heartbeat 500 ms, member_ttl 2 s.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
pub const MEMBER_TTL: Duration = Duration::from_secs(2);

impl Fleet {
    /// `body`: TOML with `[collector]` keys and `[[targets]]` (no outputs, no cluster).
    pub fn start(n: usize, body: &str) -> Self {
        let mut f = Self {
            redis: Redis::start(),
            db: Influxd::start(),
            dir: tempdir("fleet"),
            body: body.to_string(),
            replicas: BTreeMap::new(),
        };
        for i in 1..=n {
            f.spawn(&format!("collector-{i}"));
        }
        f
    }

    pub fn config(&self, id: &str) -> PathBuf {
        let d = self.dir.join(id);
        std::fs::create_dir_all(&d).unwrap();
        let (collector, rest) = match self.body.split_once("[[targets]]") {
            Some((c, r)) => (c.to_string(), format!("[[targets]]{r}")),
            None => (self.body.clone(), String::new()),
        };
        let text = format!(
            "{collector}\n[[outputs.influxdb]]\nname = \"influx\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{q}\"\nflush_interval = \"100ms\"\n\n\
             [cluster]\nredis_url = \"{}\"\nreplica_id = \"{id}\"\nheartbeat = \"500ms\"\nmember_ttl = \"2s\"\nredis_timeout = \"300ms\"\nstate_dir = \"{s}\"\n\n{rest}",
            self.db.port,
            self.redis.url(),
            q = d.join("queue").display(),
            s = d.join("state").display(),
        );
        let path = self.dir.join(format!("{id}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn spawn(&mut self, id: &str) {
        let d = Daemon::start(&self.config(id), &[("RUST_LOG", "info")]);
        self.replicas.insert(id.to_string(), d);
    }

    pub fn get(&self, id: &str) -> &Daemon {
        &self.replicas[id]
    }

    /// SIGKILL: no drain, no leave.
    pub fn kill(&mut self, id: &str) {
        if let Some(mut d) = self.replicas.remove(id) {
            d.child.kill();
        }
    }

    /// SIGTERM and wait for the exit (a graceful stop: drain, hand-over, leave).
    pub fn stop(&mut self, id: &str) {
        if let Some(mut d) = self.replicas.remove(id) {
            d.child.signal("TERM");
            let status = d.child.wait_exit(Duration::from_secs(20));
            assert!(
                status.is_some_and(|s| s.success()),
                "{id} exits 0 on SIGTERM:\n{}",
                d.log_text()
            );
        }
    }

    /// Waits until every running replica sees `n` active members and they agree on the
    /// assignment (bounded).
    pub fn converge(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let views: Vec<serde_json::Value> = self.replicas.values().map(|d| d.json("/cluster")).collect();
            let agreed = views.iter().all(|v| {
                v["assignment"].as_array().map_or(0, Vec::len) == n && v["assignment"] == views[0]["assignment"]
            });
            if agreed && views.len() == n {
                return;
            }
            assert!(Instant::now() < deadline, "no agreement on {n} members: {views:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every target's owner as `/targets` of replica `id` shows it.
    pub fn owners(&self, id: &str) -> HashMap<String, String> {
        (self.get(id).json("/targets")["targets"].as_array().unwrap().iter())
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["owner"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Poll times (Unix ms) per target, from the `netpulse_poll` points in InfluxDB.
    pub fn polls(&self) -> HashMap<String, Vec<u64>> {
        let v = self
            .db
            .query("SELECT \"duration_ms\" FROM \"netpulse_poll\" GROUP BY \"target\"");
        let mut out = HashMap::new();
        for s in v["results"][0]["series"].as_array().cloned().unwrap_or_default() {
            let target = s["tags"]["target"].as_str().unwrap_or_default().to_string();
            let mut times: Vec<u64> = (s["values"].as_array().unwrap().iter())
                .map(|r| unix_ms(r[0].as_str().unwrap()))
                .collect();
            times.sort();
            out.insert(target, times);
        }
        out
    }
}

pub fn unix_ms(rfc3339: &str) -> u64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every gap between consecutive polls of each target within [from, to] is one interval
/// (± half of one): no duplicate, no missed slot. Returns the largest gap.
pub fn assert_regular(
    polls: &HashMap<String, Vec<u64>>,
    targets: &[String],
    interval: Duration,
    from: u64,
    to: u64,
) -> u64 {
    let i = interval.as_millis() as u64;
    let mut worst = 0;
    for t in targets {
        let times: Vec<u64> = polls
            .get(t)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&x| x >= from && x <= to)
            .collect();
        let expected = (to - from) / i;
        assert!(
            times.len() as u64 + 1 >= expected,
            "{t}: {} polls in {} ms, expected about {expected}: {times:?}",
            times.len(),
            to - from
        );
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            worst = worst.max(gap);
            assert!(gap >= i / 2, "{t}: two polls {gap} ms apart (a duplicate): {times:?}");
            assert!(
                gap <= i + i / 2,
                "{t}: {gap} ms without a poll (a missed slot): {times:?}"
            );
        }
    }
    worst
}
