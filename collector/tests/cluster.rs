//! Cluster mode against real processes: redis-server, net-snmp agents, InfluxDB and 2–5
//! collector daemons. Polls are counted from what reaches InfluxDB. The tests run one at a
//! time (they measure time on a 2-core machine).

mod harness;

use harness::fleet::{Fleet, HEARTBEAT, MEMBER_TTL, now_ms};
use harness::{SlowAgent, Snmpd, http_with};
use std::sync::Mutex;
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const INTERVAL: Duration = Duration::from_secs(2);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sw-{i}")).collect()
}

/// `[collector]` for a 2 s interval without jitter, and `n` targets on `agent`. What is
/// measured is the schedule: an unanswered poll ends within its slot (0.7 s × 2 tries) and
/// no breaker opens, so an agent's hiccup on a loaded machine cannot look like a missed slot.
fn body(agent: &Snmpd, n: usize, extra: &str) -> String {
    let mut b = String::from(
        "[collector]\ninterval = \"2s\"\njitter = \"0s\"\nshutdown_grace = \"10s\"\n\
         [snmp]\ntimeout = \"700ms\"\nretries = 1\n[circuit_breaker]\nfailure_threshold = 1000\n",
    );
    for name in names(n) {
        b.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n{extra}\n",
            agent.address()
        ));
    }
    b
}

#[test]
fn one_poll_per_target_per_interval_through_rolling_restarts() {
    let _one = serial();
    let agent = Snmpd::start("np-cluster");
    let mut fleet = Fleet::start(3, &body(&agent, 9, ""));
    fleet.converge(3);
    std::thread::sleep(INTERVAL * 2);
    let from = now_ms();
    std::thread::sleep(INTERVAL * 4);
    let owners = fleet.owners("collector-1");
    for id in ["collector-1", "collector-2", "collector-3"] {
        assert!(owners.values().any(|o| o == id), "{id} owns targets: {owners:?}");
        assert_eq!(fleet.owners(id), owners, "{id} sees the same assignment");
    }
    let metrics = fleet.get("collector-2").get("/metrics").1;
    assert!(metrics.contains("netpulse_cluster_members 3"), "{metrics}");
    assert!(metrics.contains("netpulse_cluster_redis_up 1"));
    // Rolling restart: each replica in turn stopped gracefully and started with its id.
    for id in ["collector-1", "collector-2", "collector-3"] {
        fleet.stop(id);
        std::thread::sleep(INTERVAL);
        fleet.spawn(id);
        fleet.converge(3);
        std::thread::sleep(INTERVAL);
    }
    std::thread::sleep(INTERVAL * 2);
    let to = now_ms() - 1000;
    let worst = fleet.assert_regular(&names(9), INTERVAL, from, to);
    eprintln!("steady and rolling restarts: largest gap between two polls of a target {worst} ms");
    assert_eq!(fleet.owners("collector-3"), owners, "stable ids get their share back");
}

#[test]
fn a_killed_replicas_targets_are_polled_again_within_interval_plus_member_ttl() {
    let _one = serial();
    let agent = Snmpd::start("np-kill");
    let mut fleet = Fleet::start(3, &body(&agent, 9, ""));
    fleet.converge(3);
    std::thread::sleep(INTERVAL * 2);
    let victims: Vec<String> = (fleet.owners("collector-1").into_iter())
        .filter(|(_, o)| o == "collector-2")
        .map(|(t, _)| t)
        .collect();
    assert!(!victims.is_empty());
    let killed = now_ms();
    fleet.kill("collector-2");
    std::thread::sleep(INTERVAL * 5);
    let polls = fleet.polls();
    let bound = INTERVAL + MEMBER_TTL + HEARTBEAT + Duration::from_secs(1);
    let mut worst = 0;
    for t in &victims {
        let times = &polls[t];
        let before = times.iter().rev().find(|&&x| x <= killed).copied().unwrap_or(killed);
        let after = times.iter().find(|&&x| x > killed).copied().unwrap_or(u64::MAX);
        let gap = after.saturating_sub(before);
        worst = worst.max(gap);
        assert!(
            gap <= bound.as_millis() as u64,
            "{t}: {gap} ms between the last poll before the kill and the next"
        );
    }
    eprintln!(
        "SIGKILL takeover: worst gap {worst} ms over {} targets (bound: interval + member_ttl + heartbeat + 1 s = {} ms)",
        victims.len(),
        bound.as_millis()
    );
    // After the takeover the survivors keep one poll per interval.
    let from = now_ms() - INTERVAL.as_millis() as u64 * 2;
    std::thread::sleep(INTERVAL * 2);
    fleet.assert_regular(&names(9), INTERVAL, from, now_ms() - 1000);
}

#[test]
fn without_redis_every_target_is_still_polled_once_per_interval() {
    let _one = serial();
    let agent = Snmpd::start("np-noredis");
    let mut fleet = Fleet::start(3, &body(&agent, 9, ""));
    fleet.converge(3);
    std::thread::sleep(INTERVAL * 2);
    let from = now_ms();
    fleet.redis.stop();
    std::thread::sleep(Duration::from_secs(60));
    let metrics = fleet.get("collector-1").get("/metrics").1;
    assert!(metrics.contains("netpulse_cluster_redis_up 0"), "{metrics}");
    // Back, and empty: membership and permits are re-seeded by the heartbeats.
    fleet.redis.restart_empty();
    std::thread::sleep(INTERVAL * 4);
    fleet.converge(3);
    let to = now_ms() - 1000;
    let worst = fleet.assert_regular(&names(9), INTERVAL, from, to);
    eprintln!("Redis stopped 60 s and restarted empty: largest gap {worst} ms");
    let log = fleet.get("collector-1").log_text();
    assert_eq!(
        log.matches("Redis unreachable").count(),
        1,
        "logged once per outage:\n{log}"
    );
}

#[test]
fn scaling_three_to_five_and_back_moves_only_what_must_move() {
    let _one = serial();
    let agent = Snmpd::start("np-scale");
    // 1,000 targets on a long interval: ownership is what is measured here.
    let mut b = String::from("[collector]\ninterval = \"24h\"\njitter = \"0s\"\n");
    for i in 0..1000 {
        b.push_str(&format!(
            "[[targets]]\nname = \"t-{i:04}\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
            agent.address()
        ));
    }
    let mut fleet = Fleet::start(3, &b);
    fleet.converge(3);
    let three = fleet.owners("collector-1");
    fleet.spawn("collector-4");
    fleet.spawn("collector-5");
    fleet.converge(5);
    let five = fleet.owners("collector-5");
    assert_eq!(fleet.owners("collector-2"), five);
    let moved = three.iter().filter(|(t, o)| five[*t] != **o).count();
    assert!(moved <= 450, "3 → 5 moved {moved} of 1000 (bound 2/5 + 5 %)");
    for (t, o) in &three {
        assert!(
            five[t] == *o || five[t] == "collector-4" || five[t] == "collector-5",
            "{t} moved between survivors"
        );
    }
    fleet.stop("collector-4");
    fleet.stop("collector-5");
    fleet.converge(3);
    let back = fleet.owners("collector-1");
    let moved_down = five.iter().filter(|(t, o)| back[*t] != **o).count();
    let needed = five
        .values()
        .filter(|o| *o == "collector-4" || *o == "collector-5")
        .count();
    assert_eq!(moved_down, needed, "5 → 3 moves exactly the leavers' targets");
    assert_eq!(back, three, "back to the same assignment");
    eprintln!("scaling 1,000 targets: 3 → 5 moved {moved}, 5 → 3 moved {moved_down} (the minimum)");
}

/// Every stored `ifHCInOctets_rate` of lo equals the rate of the stored counters (no null,
/// no spike), across a graceful hand-over of the target.
#[test]
fn a_new_owner_continues_the_rates() {
    let _one = serial();
    let agent = Snmpd::start("np-rates");
    let b = format!(
        "[collector]\ninterval = \"2s\"\njitter = \"0s\"\n[[targets]]\nname = \"r1\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"interfaces\"]\nprofile = \"none\"\nrates = true\n",
        agent.address()
    );
    let mut fleet = Fleet::start(2, &b);
    fleet.converge(2);
    std::thread::sleep(INTERVAL * 3);
    let owner = fleet.owners("collector-1")["r1"].clone();
    fleet.stop(&owner);
    std::thread::sleep(INTERVAL * 4);
    let rows = fleet.db.query(
        "SELECT \"ifHCInOctets\", \"ifHCInOctets_rate\" FROM \"interface\" WHERE \"ifName\" = 'lo' ORDER BY time",
    );
    let values = rows["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(values.len() >= 5, "polls before and after the hand-over: {values:?}");
    for w in values.windows(2) {
        let t = |r: &serde_json::Value| humantime::parse_rfc3339(r[0].as_str().unwrap()).unwrap();
        let dt = t(&w[1]).duration_since(t(&w[0])).unwrap().as_secs_f64();
        let expected = (w[1][1].as_f64().unwrap() - w[0][1].as_f64().unwrap()) / dt;
        let got = w[1][2]
            .as_f64()
            .unwrap_or_else(|| panic!("a point without a rate: {:?}", w[1]));
        assert!(
            (got - expected).abs() <= expected.abs() * 1e-6 + 1e-6,
            "rate {got}, counters say {expected}"
        );
    }
}

#[test]
fn concurrent_collects_on_three_replicas_are_one_poll() {
    let _one = serial();
    let agent = Snmpd::start("np-collect");
    let slow = SlowAgent::start(agent.port, Duration::from_millis(400));
    let b = format!(
        "[collector]\ninterval = \"24h\"\n[[targets]]\nname = \"slow\"\naddress = \"udp://127.0.0.1:{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
        slow.port
    );
    let fleet = Fleet::start(3, &b);
    fleet.converge(3);
    let ports: Vec<u16> = fleet.replicas.values().map(|d| d.api).collect();
    let before = slow.seen.load(std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let port = ports[i % 3];
                s.spawn(move || http_with(port, "POST", "/collect", &[], br#"{"targets":["slow"]}"#))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["results"][0]["ok"], true, "{body}");
    }
    let requests = slow.seen.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(requests, 1, "100 collects over 3 replicas: one SNMP request");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        fleet.db.count("netpulse_poll", "duration_ms"),
        1,
        "one poll reached InfluxDB"
    );
}

#[test]
fn targets_added_at_run_time_reach_every_replica() {
    let _one = serial();
    let agent = Snmpd::start("np-runtime");
    let fleet = Fleet::start(2, &body(&agent, 1, ""));
    fleet.converge(2);
    let (a, b) = (fleet.get("collector-1").api, fleet.get("collector-2").api);
    let put = |port, name: &str, json: &str| http_with(port, "PUT", &format!("/targets/{name}"), &[], json.as_bytes());
    let good = format!(
        r#"{{"address":"{}","community":"public","modules":["system"],"profile":"none"}}"#,
        agent.address()
    );
    assert_eq!(put(a, "added", &good).0, 201);
    assert_eq!(put(a, "added", &good).0, 200, "replaced");
    fleet
        .get("collector-2")
        .wait_for("the new target on the other replica", Duration::from_secs(5), |d| {
            d.target("added")["name"] == "added"
        });
    let (st, text) = put(b, "bad", r#"{"address":"udp://127.0.0.1:1","version":"4"}"#);
    assert_eq!(st, 400, "{text}");
    assert!(text.contains(r#""field":"version""#), "{text}");
    let (st, text) = put(b, "bad", r#"{"address":"udp://127.0.0.1:1"}"#);
    assert_eq!(st, 400, "{text}");
    assert!(text.contains(r#""field":"community""#), "{text}");
    assert_eq!(put(b, "sw-0", &good).0, 409, "a config-file target stays as it is");
    // It is polled by one of them, and written.
    fleet
        .get("collector-1")
        .wait_for("a poll of the new target", Duration::from_secs(10), |_| {
            fleet.polls().get("added").is_some_and(|p| !p.is_empty())
        });
    let cluster = fleet.get("collector-2").json("/cluster");
    assert_eq!(cluster["members"].as_array().unwrap().len(), 2, "{cluster}");
    assert!(
        cluster["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "active")
    );
    let (st, _) = http_with(b, "DELETE", "/targets/added", &[], b"");
    assert_eq!(st, 200);
    fleet
        .get("collector-1")
        .wait_for("the target gone on the other replica", Duration::from_secs(5), |d| {
            d.target("added").is_null()
        });
    assert_eq!(http_with(a, "DELETE", "/targets/added", &[], b"").0, 404);
}

/// The SNMPv3 engine (id, boots, time) travels with the target: the new owner's polls need
/// no discovery, one request per poll as before the hand-over.
#[test]
fn a_new_owner_of_a_v3_target_needs_no_discovery() {
    use netpulse_collector::cluster::assign::owner;
    let _one = serial();
    let agent = Snmpd::start("np-v3");
    let proxy = SlowAgent::start(agent.port, Duration::ZERO);
    let ids = ["collector-1".to_string(), "collector-2".to_string()];
    // A name the rendezvous gives to collector-2, so it changes hands when collector-2 joins.
    let name = (0..)
        .map(|i| format!("v3-{i}"))
        .find(|n| owner(n, &ids) == Some("collector-2"))
        .unwrap();
    let b = format!(
        "[collector]\ninterval = \"2s\"\njitter = \"0s\"\n[[targets]]\nname = \"{name}\"\naddress = \"udp://127.0.0.1:{}\"\nversion = \"3\"\nuser = \"sha256_aes128\"\nauth = {{ protocol = \"sha256\", password = \"{}\" }}\npriv = {{ protocol = \"aes128\", password = \"{}\" }}\nmodules = [\"system\"]\nprofile = \"none\"\n",
        proxy.port,
        harness::AUTH_PASS,
        harness::PRIV_PASS
    );
    let mut fleet = Fleet::start(1, &b);
    fleet.converge(1);
    std::thread::sleep(INTERVAL * 2);
    // Requests and polls are compared between two moments in the middle of an interval (no
    // poll in flight, every earlier poll's point already in InfluxDB).
    let between_polls = |f: &Fleet| loop {
        let last = f.polls().get(&name).and_then(|t| t.last().copied()).unwrap_or(0);
        let now = now_ms();
        if (last + 800..=last + 1200).contains(&now) {
            return (now, proxy.seen.load(std::sync::atomic::Ordering::Relaxed));
        }
        std::thread::sleep(Duration::from_millis(if now < last + 800 {
            last + 800 - now
        } else {
            50
        }));
    };
    let (t0, seen0) = between_polls(&fleet);
    fleet.spawn("collector-2");
    fleet.converge(2);
    assert_eq!(fleet.owners("collector-1")[&name], "collector-2");
    std::thread::sleep(INTERVAL * 3);
    let (t1, seen1) = between_polls(&fleet);
    let seen = seen1 - seen0;
    let polls = fleet.polls()[&name].iter().filter(|&&t| t > t0 && t <= t1).count();
    assert!(polls >= 3, "{polls} polls");
    assert_eq!(
        seen, polls,
        "one request per poll: the new owner did not rediscover the engine"
    );
}
