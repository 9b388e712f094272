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

    /// `check_regular` over what InfluxDB holds; a failure shows why: each poll of the
    /// target (ok, error, duration), every replica's skip counters and its log lines.
    pub fn assert_regular(&self, targets: &[String], interval: Duration, from: u64, to: u64) -> u64 {
        match check_regular(&self.polls(), targets, interval, from, to) {
            Ok(worst) => worst,
            Err((target, why)) => panic!("{why}\n{}", self.diagnose(&target, from)),
        }
    }

    fn diagnose(&self, target: &str, from: u64) -> String {
        let q = format!(
            "SELECT \"duration_ms\", \"ok\", \"error\" FROM \"netpulse_poll\" WHERE \"target\" = '{target}' AND time >= {from}ms"
        );
        let mut out = format!(
            "{target}'s polls (time, duration_ms, ok, error):\n{}\n",
            self.db.query(&q)
        );
        for (id, d) in &self.replicas {
            let metrics = d.get("/metrics").1;
            let lines: Vec<&str> = (metrics.lines())
                .filter(|l| l.starts_with("netpulse_polls_") || l.starts_with("netpulse_cluster_"))
                .collect();
            let log = d.log_text();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            out.push_str(&format!(
                "--- {id} owns {target}: {}\n{}\n--- {id} log (last 40 lines):\n{}\n",
                self.owners(id).get(target).is_some_and(|o| o == id),
                lines.join("\n"),
                tail.join("\n")
            ));
        }
        out
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
/// (± half of one): no duplicate, no missed slot. Returns the largest gap, or what is wrong.
pub fn check_regular(
    polls: &HashMap<String, Vec<u64>>,
    targets: &[String],
    interval: Duration,
    from: u64,
    to: u64,
) -> Result<u64, (String, String)> {
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
        let fail = |why: String| Err((t.clone(), format!("{t}: {why}: {times:?}")));
        if (times.len() as u64) + 1 < expected {
            return fail(format!(
                "{} polls in {} ms, expected about {expected}",
                times.len(),
                to - from
            ));
        }
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            worst = worst.max(gap);
            if gap < i / 2 {
                return fail(format!("two polls {gap} ms apart (a duplicate)"));
            }
            if gap > i + i / 2 {
                return fail(format!("{gap} ms without a poll (a missed slot)"));
            }
        }
    }
    Ok(worst)
}
