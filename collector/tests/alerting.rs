//! The alerting configs of deploy/ checked by the real tools and run for real: promtool
//! (config, rules, the unit test of every alert), amtool (config, routing), and Prometheus +
//! Alertmanager on loopback scraping collectors (cluster mode, with Redis) and a balancer:
//! every metric the rules use exists, a stopped collector pages through the webhook, a silent
//! target's breaker alert reaches the chat receiver.

mod harness;

use harness::fleet::Fleet;
use harness::{Proc, SilentAgent, Snmpd, free_tcp_port, http, tempdir};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(rel)
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/test installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Alert names in the rules file, in order.
fn alerts() -> Vec<String> {
    std::fs::read_to_string(deploy("prometheus/rules/netpulse.yml"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: ").map(str::to_string))
        .collect()
}

#[test]
fn promtool_and_amtool_accept_the_configs_and_every_alert_has_a_unit_test() {
    let (ok, out) = run(
        "promtool",
        &["check", "config", deploy("prometheus/prometheus.yml").to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        "promtool",
        &[
            "check",
            "rules",
            deploy("prometheus/rules/netpulse.yml").to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains(&format!("{} rules found", alerts().len())), "{out}");
    let (ok, out) = run(
        "promtool",
        &[
            "test",
            "rules",
            deploy("prometheus/tests/netpulse_test.yml").to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("SUCCESS"), "{out}");
    let tests = std::fs::read_to_string(deploy("prometheus/tests/netpulse_test.yml")).unwrap();
    for a in alerts() {
        assert!(tests.contains(&format!("alertname: {a}\n")), "{a} has no unit test");
        // Each test shows the alert silent first and firing later.
        assert!(
            tests.matches(&format!("alertname: {a}\n")).count() >= 2,
            "{a}: silent and firing cases"
        );
    }
    let am = deploy("alertmanager/alertmanager.yml");
    let am = am.to_str().unwrap();
    let (ok, out) = run("amtool", &["check-config", am]);
    assert!(ok, "{out}");
    for (labels, receiver) in [
        (&["severity=critical", "alertname=NetpulseCollectorDown"][..], "pager"),
        (&["severity=warning", "alertname=NetpulseBreakerOpen"][..], "chat"),
        (&["alertname=SomethingElse"][..], "chat"),
    ] {
        let mut args = vec!["config", "routes", "test", "--config.file", am];
        let verify = format!("--verify.receivers={receiver}");
        args.push(&verify);
        args.extend_from_slice(labels);
        let (ok, out) = run("amtool", &args);
        assert!(ok, "{labels:?} should go to {receiver}: {out}");
    }
}

/// A webhook receiver: every POST body, by path.
struct Webhook {
    port: u16,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Webhook {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(vec![]));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(stream.try_clone().unwrap());
                    let mut first = String::new();
                    let _ = r.read_line(&mut first);
                    let (mut len, mut line) = (0usize, String::new());
                    while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                    g.lock()
                        .unwrap()
                        .push((path, String::from_utf8_lossy(&body).into_owned()));
                    let mut s = stream;
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                });
            }
        });
        Self { port, got }
    }

    /// Waits (bounded) until a notification for `alert` arrived at `path`.
    fn wait(&self, path: &str, alert: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some((_, b)) = (self.got.lock().unwrap().iter()).find(|(p, b)| {
                p == path && b.contains(&format!("\"alertname\":\"{alert}\"")) && b.contains("\"status\":\"firing\"")
            }) {
                return b.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {alert} at {path}: {:?}",
                self.got.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn balancer_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/netpulse-balancer");
    assert!(
        p.exists(),
        "{} missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

#[test]
fn alerts_fire_end_to_end_and_every_rule_metric_exists() {
    let agent = Snmpd::start("np-alerts");
    let silent = SilentAgent::start();
    let body = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\n[circuit_breaker]\nfailure_threshold = 1\n[snmp]\ntimeout = \"200ms\"\nretries = 0\n\
         [[targets]]\nname = \"sw1\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n\
         [[targets]]\nname = \"dead\"\naddress = \"udp://127.0.0.1:{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
        agent.address(),
        silent.port
    );
    let mut fleet = Fleet::start(2, &body);
    fleet.converge(2);
    let dir = tempdir("alerting");
    // A balancer in front of the InfluxDB, so its metrics are scraped too.
    let (lb, lb_stats) = (free_tcp_port(), free_tcp_port());
    std::fs::write(
        dir.join("b.toml"),
        format!(
            "[stats]\nlisten = \"127.0.0.1:{lb_stats}\"\n[[frontends]]\nname = \"influxdb\"\nlisten = [\"127.0.0.1:{lb}\"]\nbackend = \"influxdb\"\n\
             routes = [ {{ path_prefix = \"/write\", backend = \"influxdb-write\" }} ]\n\
             [[backends]]\nname = \"influxdb\"\nhealth_check = {{ kind = \"http\", path = \"/ping\", expect_status = 204, interval = \"1s\" }}\n\
             servers = [ {{ name = \"influx-a\", address = \"127.0.0.1:{port}\" }} ]\n\
             [[backends]]\nname = \"influxdb-write\"\nmirror = {{ queue_dir = \"{mirror}\" }}\n\
             servers = [ {{ name = \"influx-a\", address = \"127.0.0.1:{port}\" }} ]\n",
            port = fleet.db.port,
            mirror = dir.join("mirror").display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(balancer_bin());
    cmd.arg("--config")
        .arg(dir.join("b.toml"))
        .arg("--upgrade-sock")
        .arg(dir.join("up.sock"));
    let _balancer = Proc::spawn("netpulse-balancer", cmd, &dir.join("balancer.log"));

    let hook = Webhook::start();
    let (am_port, prom_port) = (free_tcp_port(), free_tcp_port());
    // The deploy files, pointed at loopback and made quick; expressions and routing unchanged.
    let am = std::fs::read_to_string(deploy("alertmanager/alertmanager.yml"))
        .unwrap()
        .replace("http://alert-gateway:9095", &format!("http://127.0.0.1:{}", hook.port))
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_wait: 10s", "group_wait: 1s");
    std::fs::write(dir.join("alertmanager.yml"), am).unwrap();
    let rules = std::fs::read_to_string(deploy("prometheus/rules/netpulse.yml")).unwrap();
    let rules = regex_lite_for(&rules);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/netpulse.yml"), rules).unwrap();
    let collectors: Vec<String> = fleet
        .replicas
        .values()
        .map(|d| format!("\"127.0.0.1:{}\"", d.api))
        .collect();
    let prom = std::fs::read_to_string(deploy("prometheus/prometheus.yml"))
        .unwrap()
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        .replace("\"alertmanager:9093\"", &format!("\"127.0.0.1:{am_port}\""))
        .replace(
            "[\"collector-1:8080\", \"collector-2:8080\", \"collector-3:8080\"]",
            &format!("[{}]", collectors.join(", ")),
        )
        .replace("\"balancer:8404\"", &format!("\"127.0.0.1:{lb_stats}\""))
        .replace(
            "[\"influx-a:8086\", \"influx-b:8086\"]",
            &format!("[\"127.0.0.1:{}\"]", fleet.db.port),
        )
        .replace("\"localhost:9090\"", &format!("\"127.0.0.1:{prom_port}\""))
        .replace(
            "/run/secrets/netpulse_stats_password",
            dir.join("stats_password").to_str().unwrap(),
        );
    std::fs::write(dir.join("stats_password"), "unused: this balancer's stats have no auth").unwrap();
    std::fs::write(dir.join("prometheus.yml"), prom).unwrap();
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let _am = Proc::spawn("alertmanager", cmd, &dir.join("am.log"));
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let prometheus = Proc::spawn("prometheus", cmd, &dir.join("prometheus.log"));
    assert!(
        netpulse_testkit::wait_tcp(prom_port, Duration::from_secs(30)),
        "{}",
        prometheus.log_text()
    );
    assert!(
        netpulse_testkit::wait_tcp(am_port, Duration::from_secs(30)),
        "alertmanager did not start"
    );
    let query = |q: &str| -> serde_json::Value {
        let enc = harness::urlencode(q);
        let (st, body) = http(prom_port, "GET", &format!("/api/v1/query?query={enc}"), b"");
        if st == 503 {
            return serde_json::json!([]); // Prometheus still starting (TSDB not ready)
        }
        assert_eq!(st, 200, "{q}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["result"].clone()
    };
    netpulse_testkit::wait_until(
        "every scrape target up",
        Duration::from_secs(30),
        || query("count(up == 1)")[0]["value"][1] == "6",
        || format!("{}\n{}", query("up"), prometheus.log_text()),
    );

    // Every metric the rules use exists in what the collectors and the balancer export.
    let names = metric_names(&std::fs::read_to_string(deploy("prometheus/rules/netpulse.yml")).unwrap());
    for must in [
        "netpulse_balancer_server_up",
        "process_cpu_seconds_total",
        "netpulse_cluster_redis_up",
        "netpulse_output_points_dropped_total",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} in {names:?}");
    }
    for n in &names {
        netpulse_testkit::wait_until(
            &format!("series of {n}"),
            Duration::from_secs(20),
            || query(&format!("count({n})")).as_array().is_some_and(|a| !a.is_empty()),
            String::new,
        );
    }

    // Every PromQL expression of the dashboards returns data (grafana/dashboards/*.json).
    let mut proven = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let Some(expr) = t["expr"].as_str() else { continue };
                let q = expr.replace("$__rate_interval", "10s").replace("$__interval", "5s");
                netpulse_testkit::wait_until(
                    &format!("{}: panel {:?} returns data: {q}", path.display(), p["title"]),
                    Duration::from_secs(20),
                    || query(&q).as_array().is_some_and(|a| !a.is_empty()),
                    String::new,
                );
                proven += 1;
            }
        }
    }
    eprintln!("{proven} PromQL panel expressions return data");
    assert!(proven >= 20);

    // The HPA's custom metric, as prometheus-adapter computes it, returns data per scraped pod
    // (the adapter's label matchers and group-by replaced by the scrape's `instance`).
    let adapter = std::fs::read_to_string(deploy("k8s/components/monitoring/prometheus-adapter.yaml")).unwrap();
    let q = adapter_query(&adapter)
        .replace("{<<.LabelMatchers>>}", "")
        .replace("<<.GroupBy>>", "instance");
    netpulse_testkit::wait_until(
        &format!("the HPA metric: {q}"),
        Duration::from_secs(20),
        || query(&q).as_array().is_some_and(|a| a.len() >= 2),
        String::new,
    );

    // A silent target: its breaker opens, the warning reaches the chat receiver.
    hook.wait("/chat", "NetpulseBreakerOpen", Duration::from_secs(60));
    // A collector stops: the page reaches the pager receiver.
    fleet.kill("collector-2");
    let page = hook.wait("/pager", "NetpulseCollectorDown", Duration::from_secs(60));
    assert!(
        page.contains("collector 127.0.0.1:") && page.contains("is down"),
        "{page}"
    );
}

/// The metricsQuery of the adapter rule, joined into one line.
fn adapter_query(adapter: &str) -> String {
    let after = adapter.split("metricsQuery: >-").nth(1).expect("a metricsQuery");
    after
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The HPA scales on a custom metric that the adapter rule serves under that name, computed from
/// series the collector exports; its bounds and behaviour are the documented ones.
#[test]
fn the_hpa_and_its_adapter_rule_use_the_metrics_the_collector_exports() {
    // The base scales on CPU and memory; the monitoring component adds the Pods metric.
    let base = std::fs::read_to_string(deploy("k8s/base/collector-hpa.yaml")).unwrap();
    let component = std::fs::read_to_string(deploy("k8s/components/monitoring/kustomization.yaml")).unwrap();
    let adapter = std::fs::read_to_string(deploy("k8s/components/monitoring/prometheus-adapter.yaml")).unwrap();
    let pods_metric = (component.split("type: Pods").nth(1))
        .and_then(|r| r.split("metric:").nth(1))
        .and_then(|r| r.lines().nth(1))
        .and_then(|l| l.trim().strip_prefix("name: "))
        .expect("a Pods metric");
    let hpa = base + &component;
    assert_eq!(pods_metric, "telemetry_collection_duration_seconds");
    assert!(
        adapter.contains(&format!("as: \"{pods_metric}\"")),
        "the adapter serves {pods_metric}"
    );
    for (key, want) in [
        ("minReplicas: ", "3"),
        ("maxReplicas: ", "20"),
        ("averageValue: ", "\"30\""),
    ] {
        assert!(hpa.contains(&format!("{key}{want}\n")), "{key}{want}");
    }
    for util in [
        "averageUtilization: 70",
        "averageUtilization: 80",
        "stabilizationWindowSeconds: 300",
    ] {
        assert!(hpa.contains(util), "{util}");
    }
    // Every series the adapter reads is one the collector's /metrics has.
    let agent = Snmpd::start("np-hpa");
    let dir = tempdir("hpa");
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[targets]]\nname = \"sw1\"\naddress = \"{}\"\ncommunity = \"public\"\nmodules = [\"system\"]\nprofile = \"none\"\n",
            agent.address()
        ),
    )
    .unwrap();
    let d = harness::Daemon::start(&cfg, &[]);
    let metrics = d.get("/metrics").1;
    let q = adapter_query(&adapter);
    let used: Vec<&str> = q
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("telemetry_"))
        .collect();
    assert!(used.len() >= 2, "{q}");
    for m in used {
        assert!(
            metrics.lines().any(|l| l.starts_with(m)),
            "{m} is not exported:\n{metrics}"
        );
    }
}

/// The rules with every `for:` shortened to 2s (the expressions stay as they are).
fn regex_lite_for(rules: &str) -> String {
    rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 2s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The metric names the rule expressions use (netpulse_*, telemetry_*, process_*; `_bucket`
/// of a histogram counts as the histogram).
fn metric_names(rules: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for l in rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:") || l.starts_with("          "))
    {
        let mut word = String::new();
        for c in l.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            let w = std::mem::take(&mut word);
            if (w.starts_with("netpulse_") || w.starts_with("telemetry_") || w.starts_with("process_"))
                && !out.contains(&w)
            {
                out.push(w);
            }
        }
    }
    out
}
