//! Run-time targets under concurrent `PUT`/`DELETE` from many clients on two replicas: every
//! name's history of answers is linearizable (checked exhaustively), Redis and both
//! replicas end with the same set, and a replica shows its own change as soon as it answers.

mod harness;

use harness::fleet::Fleet;
use harness::{Snmpd, http_with};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAMES: usize = 40;
const THREADS: usize = 8;
const OPS: usize = 60;

#[derive(Debug, Clone, Copy)]
struct Op {
    put: bool,
    status: u16,
    start: Instant,
    end: Instant,
}

/// Whether some order of `ops` that respects real time (an op that ended before another
/// started comes first) gives every op its answer: PUT 201 on an absent name, 200 on a
/// present one; DELETE 200 on a present name, 404 on an absent one.
fn linearizable(ops: &[Op]) -> bool {
    fn search(ops: &[Op], done: u64, present: bool, seen: &mut HashSet<(u64, bool)>) -> bool {
        if done.count_ones() as usize == ops.len() {
            return true;
        }
        if !seen.insert((done, present)) {
            return false;
        }
        for (i, op) in ops.iter().enumerate() {
            if done & (1 << i) != 0 {
                continue;
            }
            // Every op that ended before this one started must already be in the order.
            let blocked = ops
                .iter()
                .enumerate()
                .any(|(j, o)| done & (1 << j) == 0 && j != i && o.end < op.start);
            if blocked {
                continue;
            }
            let ok = match (op.put, op.status) {
                (true, 201) => !present,
                (true, 200) => present,
                (false, 200) => present,
                (false, 404) => !present,
                _ => false,
            };
            if ok && search(ops, done | (1 << i), op.put, seen) {
                return true;
            }
        }
        false
    }
    assert!(ops.len() < 64, "{} ops on one name", ops.len());
    search(ops, 0, false, &mut HashSet::new())
}

fn runtime_names(port: u16) -> BTreeMap<String, ()> {
    let (_, text) = http_with(port, "GET", "/targets", &[], b"");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (v["targets"].as_array().unwrap().iter())
        .filter_map(|t| t["name"].as_str())
        .filter(|n| n.starts_with("rt-"))
        .map(|n| (n.to_string(), ()))
        .collect()
}

#[test]
fn the_checker_refuses_what_no_order_explains() {
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    let op = |put, status, s, e| Op {
        put,
        status,
        start: at(s),
        end: at(e),
    };
    // PUT 201, then (strictly after) DELETE 404: the bug this test exists for.
    assert!(!linearizable(&[op(true, 201, 0, 1), op(false, 404, 2, 3)]));
    // Overlapping: DELETE may be ordered first.
    assert!(linearizable(&[op(true, 201, 0, 5), op(false, 404, 1, 2)]));
    assert!(!linearizable(&[op(true, 201, 0, 1), op(true, 201, 2, 3)]));
}

#[test]
fn concurrent_puts_and_deletes_on_two_replicas_are_linearizable_per_name() {
    let agent = Snmpd::start("np-linear");
    let body = format!(
        "[collector]\ninterval = \"5s\"\n[[targets]]\nname = \"sw-0\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
        agent.address()
    );
    let fleet = Fleet::start(2, &body);
    fleet.converge(2);
    let ports = [fleet.get("collector-1").api, fleet.get("collector-2").api];
    let json = format!(
        r#"{{"address":"{}","community":"public","modules":["system"],"profile":"none","interval":"60s"}}"#,
        agent.address()
    );
    let history: Arc<Mutex<BTreeMap<usize, Vec<Op>>>> = Arc::default();
    // The random choices come from proptest's generator (seeded per run, printed on failure).
    let mut runner = proptest::test_runner::TestRunner::default();
    let plans: Vec<Vec<(usize, bool, usize)>> = (0..THREADS)
        .map(|_| {
            let plan = prop::collection::vec((0..NAMES, any::<bool>(), 0..2usize), OPS);
            plan.new_tree(&mut runner).unwrap().current()
        })
        .collect();
    std::thread::scope(|s| {
        for plan in &plans {
            let (history, json) = (history.clone(), &json);
            s.spawn(move || {
                for &(name, put, replica) in plan {
                    let path = format!("/targets/rt-{name}");
                    let start = Instant::now();
                    let (status, text) = if put {
                        http_with(ports[replica], "PUT", &path, &[], json.as_bytes())
                    } else {
                        http_with(ports[replica], "DELETE", &path, &[], b"")
                    };
                    let end = Instant::now();
                    assert!(matches!(status, 200 | 201 | 404), "{path}: {status} {text}");
                    let op = Op {
                        put,
                        status,
                        start,
                        end,
                    };
                    history.lock().unwrap().entry(name).or_default().push(op);
                }
            });
        }
    });
    let history = history.lock().unwrap();
    let mut expected = BTreeMap::new();
    for (name, ops) in history.iter() {
        assert!(linearizable(ops), "rt-{name}: no order explains {ops:#?}");
        let created = ops.iter().filter(|o| o.put && o.status == 201).count();
        let deleted = ops.iter().filter(|o| !o.put && o.status == 200).count();
        assert!(created == deleted || created == deleted + 1, "rt-{name}: {ops:#?}");
        if created > deleted {
            expected.insert(format!("rt-{name}"), ());
        }
    }
    // Redis holds exactly that set, and both replicas within a heartbeat or two.
    let stored: BTreeMap<String, ()> = fleet
        .redis
        .cmd(&["HKEYS", "netpulse:targets"])
        .lines()
        .filter(|l| l.starts_with("rt-"))
        .map(|l| (l.to_string(), ()))
        .collect();
    assert_eq!(stored, expected, "Redis");
    for port in ports {
        let deadline = Instant::now() + Duration::from_secs(5);
        while runtime_names(port) != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(runtime_names(port), expected, "replica on :{port}");
    }

    // Read your writes: the answering replica shows its change at once.
    for i in 0..20 {
        let path = format!("/targets/seq-{i}");
        let (a, b) = (ports[i % 2], ports[(i + 1) % 2]);
        assert_eq!(http_with(a, "PUT", &path, &[], json.as_bytes()).0, 201);
        let (_, text) = http_with(a, "GET", "/targets", &[], b"");
        assert!(
            text.contains(&format!("\"seq-{i}\"")),
            "PUT answered, not in GET /targets"
        );
        assert_eq!(
            http_with(b, "DELETE", &path, &[], b"").0,
            200,
            "the other replica deletes it"
        );
        let (_, text) = http_with(b, "GET", "/targets", &[], b"");
        assert!(
            !text.contains(&format!("\"seq-{i}\"")),
            "DELETE answered, still in GET /targets"
        );
    }

    // Bounds: 400 naming the field, nothing stored.
    for (field, bad) in [
        ("interval", r#""interval":"0s""#),
        ("timeout", r#""timeout":"0s""#),
        ("max_repetitions", r#""max_repetitions":0"#),
    ] {
        let body = json
            .replace(r#","interval":"60s""#, "")
            .replacen('{', &format!("{{{bad},"), 1);
        let (status, text) = http_with(ports[0], "PUT", "/targets/bounded", &[], body.as_bytes());
        assert_eq!(status, 400, "{field}: {text}");
        assert!(text.contains(&format!("\"field\":\"{field}\"")), "{text}");
    }
    assert_eq!(http_with(ports[0], "DELETE", "/targets/bounded", &[], b"").0, 404);
}

/// Redis out of memory answers every write with an error: `/cluster` says so (not
/// "unreachable"), the log says it once, and polling goes on.
#[test]
fn redis_out_of_memory_is_reported_once_as_errors() {
    let agent = Snmpd::start("np-oom");
    let body = format!(
        "[collector]\ninterval = \"1s\"\n[[targets]]\nname = \"sw-0\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
        agent.address()
    );
    let fleet = Fleet::start(1, &body);
    fleet.converge(1);
    let d = fleet.get("collector-1");
    fleet.redis.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    fleet.redis.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    d.wait_for("/cluster to report Redis errors", Duration::from_secs(10), |d| {
        d.json("/cluster")["redis"] == "errors"
    });
    let cluster = d.json("/cluster");
    assert!(cluster["redis_error"].as_str().unwrap().contains("OOM"), "{cluster}");
    std::thread::sleep(Duration::from_secs(5)); // ten heartbeats
    let log = d.child.log_text();
    assert_eq!(log.matches("Redis answers with errors").count(), 1, "{log}");
    assert_eq!(log.matches("Redis unreachable").count(), 0, "{log}");
    fleet.redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    d.wait_for("Redis up again", Duration::from_secs(10), |d| {
        d.json("/cluster")["redis"] == "up"
    });
    assert_eq!(d.child.log_text().matches("Redis answers again").count(), 1);
}
