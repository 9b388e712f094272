//! deploy/docker-compose.ha.yml as operators run it: `docker compose config -q`, then the whole
//! stack brought up for real on a dockerd this test starts (images that cannot be pulled here
//! are local stand-ins under the same names, deploy/tests/standins.sh; Grafana has no server
//! package reachable here, so its profile stays off and its servers show DOWN). Asserted: points
//! from the simulator's real-device recordings reach both InfluxDB replicas through the
//! collectors, the balancer's stats show both InfluxDB servers UP, Prometheus has every scrape
//! target up, and stopping one collector moves its targets to the others.

use netpulse_deploy::{compose_bin, deploy_dir, http, http_body, run};
use netpulse_testkit::{Proc, tempdir, wait_until};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRETS: [(&str, &str); 3] = [
    ("NETPULSE_API_TOKEN", "compose-test-token"),
    ("NETPULSE_REDIS_PASSWORD", "compose-test-redis"),
    ("NETPULSE_STATS_PASSWORD", "compose-test-stats"),
];

fn compose(host: Option<&str>) -> Command {
    let mut c = Command::new(compose_bin());
    c.arg("-f")
        .arg(deploy_dir().join("docker-compose.ha.yml"))
        .env("COMPOSE_PROFILES", "");
    c.envs(SECRETS);
    if let Some(h) = host {
        c.env("DOCKER_HOST", h);
    }
    c
}

#[test]
fn compose_config_is_valid_and_names_missing_secrets() {
    let (out, text) = run(compose(None).args(["config", "-q"]));
    assert!(out.status.success(), "docker compose config -q:\n{text}");
    // Every secret but one: compose names that one.
    let (out, text) = run(compose(None)
        .args(["config", "-q"])
        .env_remove("NETPULSE_REDIS_PASSWORD"));
    assert!(!out.status.success());
    assert!(
        text.contains("NETPULSE_REDIS_PASSWORD"),
        "the missing secret is named: {text}"
    );
}

/// A dockerd of this test's own (Debian's docker.io), images kept under a stable data root so
/// stand-ins and build layers are built once per machine.
struct Dockerd {
    host: String,
    _proc: Proc,
    _dir: PathBuf,
}

impl Dockerd {
    fn start() -> Self {
        let dir = tempdir("dockerd");
        let root = std::env::var("NETPULSE_DOCKER_ROOT").unwrap_or_else(|_| "/var/lib/netpulse-docker".into());
        let sock = dir.join("docker.sock");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(Path::new(&root).join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--ip-masq=false", "--bridge=none"])
            .args(["--default-ulimit", "nofile=20000:20000"]);
        let proc = Proc::spawn("dockerd", cmd, &dir.join("dockerd.log"));
        let host = format!("unix://{}", sock.display());
        let d = Self {
            host,
            _proc: proc,
            _dir: dir,
        };
        wait_until(
            "dockerd answering",
            Duration::from_secs(60),
            || d.docker(&["info"]).0,
            || d.log(),
        );
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Debian's docker CLI (20.10: BuildKit without buildx).
    fn docker(&self, args: &[&str]) -> (bool, String) {
        let (out, text) = run(Command::new("/usr/bin/docker")
            .args(args)
            .env("DOCKER_HOST", &self.host));
        (out.status.success(), text)
    }

    /// The container's address on the stack's network (`netpulse`; the collectors are on
    /// `netpulse-devices` too).
    fn ip(&self, container: &str) -> String {
        let (ok, text) = self.docker(&[
            "inspect",
            "-f",
            "{{with index .NetworkSettings.Networks \"netpulse\"}}{{.IPAddress}}{{end}}",
            container,
        ]);
        assert!(ok, "{text}");
        text.trim().to_string()
    }
}

/// Where `cargo test` put the binaries the images are made of (target/<profile>).
fn profile_dir() -> (PathBuf, String) {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let profile = dir.file_name().unwrap().to_string_lossy().into_owned();
    for bin in ["netpulse-collector", "netpulse-balancer"] {
        if !dir.join(bin).exists() {
            let (out, text) = run(Command::new(env!("CARGO"))
                .args(["build", "--bins", "-p", "netpulse-collector", "-p", "netpulse-balancer"])
                .args((profile == "release").then_some("--release")));
            assert!(out.status.success(), "{text}");
        }
    }
    (dir, profile)
}

fn build_images(d: &Dockerd) {
    let (out, text) = run(Command::new(deploy_dir().join("tests/standins.sh"))
        .env("DOCKER", "/usr/bin/docker")
        .env("DOCKER_HOST", &d.host));
    assert!(out.status.success(), "stand-ins:\n{text}");
    let (_, profile) = profile_dir();
    let root = deploy_dir().parent().unwrap().to_path_buf();
    let build = |args: &[&str], context: &Path| {
        let (out, text) = run(Command::new("/usr/bin/docker")
            .args(["build", "-q", "--network", "host"])
            .args(args)
            .arg(context)
            .env("DOCKER_HOST", &d.host)
            .env("DOCKER_BUILDKIT", "1"));
        assert!(out.status.success(), "docker build {args:?}:\n{text}");
    };
    let dockerfile = deploy_dir().join("docker/Dockerfile");
    for target in ["collector", "balancer"] {
        let tag = format!("netpulse/{target}:0.1.0");
        let profile_arg = format!("PROFILE={profile}");
        let args = [
            "-f",
            dockerfile.to_str().unwrap(),
            "--target",
            target,
            "-t",
            &tag,
            "--build-arg",
            "BINARIES=prebuilt",
            "--build-arg",
            &profile_arg,
        ];
        build(&args, &root);
    }
    let sim = deploy_dir().join("docker/snmpsim.Dockerfile");
    build(
        &["-f", sim.to_str().unwrap(), "-t", "netpulse/snmpsim:0.1.0"],
        &deploy_dir().join("docker"),
    );
}

fn influx_counts(addr: &str) -> BTreeMap<String, u64> {
    let q = "q=SELECT%20count(sysUpTime)%20FROM%20system%20GROUP%20BY%20target";
    let Some((200, body)) = http(addr, "GET", &format!("/query?db=telemetry&{q}"), None) else {
        return BTreeMap::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    let series = v["results"][0]["series"].as_array().cloned().unwrap_or_default();
    (series.iter())
        .map(|s| {
            (
                s["tags"]["target"].as_str().unwrap_or("").to_string(),
                s["values"][0][1].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn owners(addr: &str) -> BTreeMap<String, String> {
    let Some((200, body)) = http(addr, "GET", "/targets", None) else {
        return BTreeMap::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    (v["targets"].as_array().cloned().unwrap_or_default().iter())
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_string(),
                t["owner"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_ha_stack_comes_up_and_moves_a_stopped_collectors_targets() {
    let d = Dockerd::start();
    let _ = run(compose(Some(&d.host)).args(["down", "-v", "--remove-orphans"]));
    build_images(&d);
    let started = Instant::now();
    let (out, text) = run(compose(Some(&d.host)).args(["up", "-d", "--no-build", "--wait", "--wait-timeout", "240"]));
    let logs = || run(compose(Some(&d.host)).args(["logs", "--tail", "30"])).1;
    assert!(out.status.success(), "compose up:\n{text}\n{}", logs());
    let up_in = started.elapsed();
    eprintln!(
        "compose: stack healthy {:.1}s after `up` (without the grafana profile: no Grafana server here)",
        up_in.as_secs_f64()
    );
    let stop = |d: &Dockerd| {
        let _ = run(compose(Some(&d.host)).args(["down", "-v", "--timeout", "30"]));
    };

    // Points from every recorded device reach both replicas through the collectors.
    let targets = [
        "cisco-c3560",
        "arista-dcs-7150s",
        "juniper-mx960",
        "huawei-s5720",
        "hpe-procurve",
        "vyatta",
    ];
    let dbs = [
        format!("{}:8086", d.ip("netpulse-influx-a-1")),
        format!("{}:8086", d.ip("netpulse-influx-b-1")),
    ];
    for db in &dbs {
        wait_until(
            "every target's points in both replicas",
            Duration::from_secs(120),
            || influx_counts(db).len() == targets.len() && influx_counts(db).values().all(|n| *n > 0),
            || format!("{db}: {:?}\n{}", influx_counts(db), logs()),
        );
    }

    // The balancer: both InfluxDB servers UP (Grafana's are DOWN: not running here).
    let stats_auth = "admin:compose-test-stats";
    let csv = http("127.0.0.1:8404", "GET", "/stats;csv", Some(stats_auth))
        .map(|r| r.1)
        .unwrap_or_default();
    let status = |sv: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("influxdb,{sv},")))
            .map(|l| l.split(',').nth(17).unwrap_or("").to_string())
    };
    assert_eq!(
        (status("influx-a"), status("influx-b")),
        (Some("UP".into()), Some("UP".into())),
        "{csv}"
    );
    assert_eq!(
        http("127.0.0.1:8404", "GET", "/stats;csv", None).map(|r| r.0),
        Some(401),
        "stats need the password"
    );
    // Reads through the balancer answer from the replicas.
    let (code, body) = http(
        "127.0.0.1:8086",
        "GET",
        "/query?db=telemetry&q=SHOW%20MEASUREMENTS",
        None,
    )
    .unwrap();
    assert!(code == 200 && body.contains("interface"), "{code} {body}");
    // A third-party write through the balancer reaches both replicas (mirrored, queued on the
    // balancer-queue volume), and a write InfluxDB would refuse is refused up front.
    let lines: String = (0..10)
        .map(|i| {
            format!(
                "compose_write,writer=test v={i}i {}\n",
                1_700_000_000_000_000_000u64 + i
            )
        })
        .collect();
    let (code, body) = http_body("127.0.0.1:8086", "POST", "/write?db=telemetry", None, lines.as_bytes()).unwrap();
    assert_eq!(code, 204, "{body}");
    let (code, _) = http_body("127.0.0.1:8086", "POST", "/write?db=nonexist", None, lines.as_bytes()).unwrap();
    assert_eq!(code, 404, "an unknown database is refused before it is queued");
    for db in &dbs {
        wait_until(
            "the mirrored write in both replicas",
            Duration::from_secs(30),
            || {
                let q = "/query?db=telemetry&q=SELECT%20count(v)%20FROM%20compose_write";
                http(db, "GET", q, None).is_some_and(|(_, b)| b.contains("[\"1970-01-01T00:00:00Z\",10]"))
            },
            || {
                format!(
                    "{db}: {:?}",
                    http(
                        db,
                        "GET",
                        "/query?db=telemetry&q=SELECT%20count(v)%20FROM%20compose_write",
                        None
                    )
                )
            },
        );
    }

    // A trap sent to two collectors (as a device with two trap destinations does): one point,
    // in both replicas.
    for c in ["netpulse-collector-1-1", "netpulse-collector-3-1"] {
        let to = format!("{}:1162", d.ip(c));
        let st = Command::new("snmptrap")
            .args(["-M", "/nonexistent", "-m", "", "-v", "2c", "-c", "public", &to, "7777"])
            .args(["1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.4", "i", "4"])
            .status()
            .unwrap();
        assert!(st.success(), "snmptrap to {to}");
    }
    let q = "/query?db=telemetry&q=SELECT%20count(ifIndex)%20FROM%20snmp_trap";
    for db in &dbs {
        wait_until(
            "the trap in both replicas",
            Duration::from_secs(30),
            || http(db, "GET", q, None).is_some_and(|(_, b)| b.contains(",1]]")),
            || format!("{db}: {:?}\n{}", http(db, "GET", q, None), logs()),
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    for db in &dbs {
        let (_, body) = http(db, "GET", q, None).unwrap();
        assert!(body.contains(",1]]"), "one point per trap: {body}");
    }

    // Prometheus scrapes every target (the balancer with the stats password).
    wait_until(
        "every Prometheus target up",
        Duration::from_secs(90),
        || {
            let Some((200, body)) = http("127.0.0.1:9090", "GET", "/api/v1/targets", None) else {
                return false;
            };
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let t = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
            t.len() >= 8 && t.iter().all(|t| t["health"] == "up")
        },
        || {
            http("127.0.0.1:9090", "GET", "/api/v1/targets", None)
                .map(|r| r.1)
                .unwrap_or_default()
        },
    );

    // Stopping a collector (SIGTERM: it drains) moves its targets to the others.
    let c1 = format!("{}:8080", d.ip("netpulse-collector-1-1"));
    wait_until(
        "targets spread over the three replicas",
        Duration::from_secs(60),
        || owners(&c1).values().collect::<BTreeSet<_>>().len() == 3,
        || format!("{:?}", owners(&c1)),
    );
    let before = owners(&c1);
    let moved: Vec<String> = (before.iter())
        .filter(|(_, o)| *o == "collector-2")
        .map(|(t, _)| t.clone())
        .collect();
    assert!(!moved.is_empty(), "{before:?}");
    let stopped_at = Instant::now();
    let (ok, text) = d.docker(&["stop", "-t", "30", "netpulse-collector-2-1"]);
    assert!(ok, "{text}");
    wait_until(
        "collector-2's targets owned by the others",
        Duration::from_secs(60),
        || {
            let now = owners(&c1);
            now.len() == targets.len() && now.values().all(|o| o == "collector-1" || o == "collector-3")
        },
        || format!("{:?}", owners(&c1)),
    );
    let takeover = stopped_at.elapsed();
    // And their points keep arriving in both replicas.
    let counts: Vec<_> = dbs.iter().map(|db| influx_counts(db)).collect();
    wait_until(
        "new points for the moved targets",
        Duration::from_secs(90),
        || {
            dbs.iter().zip(&counts).all(|(db, was)| {
                let now = influx_counts(db);
                moved
                    .iter()
                    .all(|t| now.get(t).copied().unwrap_or(0) > was.get(t).copied().unwrap_or(0))
            })
        },
        || format!("{:?}", dbs.iter().map(|db| influx_counts(db)).collect::<Vec<_>>()),
    );
    eprintln!(
        "compose: {} targets of collector-2 taken over {:.1}s after its stop",
        moved.len(),
        takeover.as_secs_f64()
    );
    stop(&d);
}
