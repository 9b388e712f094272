//! deploy/k8s checked as operators and their CI would: every overlay renders with kustomize,
//! the base and the dev overlay hold built-in kinds only (they apply on a bare cluster), core
//! objects pass `kubernetes-validate --strict`, the custom resources of the monitoring component
//! (VPA, ServiceMonitor, PrometheusRule) pass `check-jsonschema` against the schemas kept in
//! deploy/k8s/schemas,
//! `checkov` finds nothing (each skip justified inline), and the numbers operators rely on —
//! replicas, probes against the binaries' own ports and paths, resources, autoscaling bounds,
//! grace periods — are the documented ones.

use netpulse_deploy::{deploy_dir, kustomize, run, tool, yaml_docs};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const OVERLAYS: [&str; 3] = ["base", "overlays/dev", "overlays/production"];
const CUSTOM: [(&str, &str); 3] = [
    ("VerticalPodAutoscaler", "verticalpodautoscaler.json"),
    ("ServiceMonitor", "servicemonitor.json"),
    ("PrometheusRule", "prometheusrule.json"),
];

fn k8s(rel: &str) -> PathBuf {
    deploy_dir().join("k8s").join(rel)
}

fn scratch(tag: &str) -> PathBuf {
    netpulse_testkit::tempdir(tag)
}

/// The base with the monitoring component, as an operator with the Prometheus Operator, VPA
/// and prometheus-adapter would compose it.
fn with_monitoring() -> Vec<Value> {
    // kustomize takes relative paths only: a copy of deploy/k8s with the composition in it.
    let dir = scratch("k8s-monitoring");
    let (out, text) = run(Command::new("cp").arg("-r").arg(k8s("")).arg(&dir));
    assert!(out.status.success(), "{text}");
    let root = dir.join("k8s").join("composed");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\n\
         components:\n  - ../components/monitoring\n",
    )
    .unwrap();
    yaml_docs(&kustomize(&root))
}

/// Kinds a bare cluster serves (the API groups of Kubernetes itself).
fn built_in(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    (docs.iter())
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn every_overlay_renders_validates_and_passes_checkov() {
    for overlay in OVERLAYS {
        let yaml = kustomize(&k8s(overlay));
        let docs = yaml_docs(&yaml);
        let dir = scratch("k8s-validate");
        let custom = |d: &Value| CUSTOM.iter().any(|(k, _)| d["kind"] == *k);
        // Core objects: the Kubernetes API's own schemas, unknown fields rejected.
        let core: Vec<String> = (docs.iter()).filter(|d| !custom(d)).map(|d| d.to_string()).collect();
        let core_file = dir.join("core.yaml");
        std::fs::write(&core_file, core.join("\n---\n")).unwrap();
        let (out, text) = run(Command::new(tool("kubernetes-validate"))
            .arg("--strict")
            .arg(&core_file));
        assert!(
            out.status.success() && !text.contains("ERROR"),
            "{overlay}: kubernetes-validate:\n{text}"
        );
        let passed = text.matches(" passed for resource ").count();
        assert_eq!(passed, core.len(), "{overlay}: every core object validated:\n{text}");
        // Custom resources: the schemas from their CRDs, kept in the repository.
        let bare = overlay != "overlays/production";
        if bare {
            let extra: Vec<&Value> = docs.iter().filter(|d| !built_in(d)).map(|d| &d["kind"]).collect();
            assert!(extra.is_empty(), "{overlay} must apply on a bare cluster: {extra:?}");
        }
        for (kind, schema) in CUSTOM {
            let objects: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
            assert!(bare || !objects.is_empty(), "{overlay}: no {kind}");
            for (i, o) in objects.iter().enumerate() {
                let f = dir.join(format!("{kind}-{i}.json"));
                std::fs::write(&f, o.to_string()).unwrap();
                let checker = std::env::var("NETPULSE_CHECK_JSONSCHEMA")
                    .unwrap_or_else(|_| "/opt/netpulse-jsonschema/bin/check-jsonschema".into());
                let (out, text) = run(Command::new(checker)
                    .arg("--schemafile")
                    .arg(k8s("schemas").join(schema))
                    .arg(&f));
                assert!(
                    out.status.success(),
                    "{overlay}: {kind} {}:\n{text}",
                    o["metadata"]["name"]
                );
            }
        }
        // checkov on what kubectl would apply: no failed check, every skip with its reason.
        let rendered = dir.join("rendered.yaml");
        std::fs::write(&rendered, &yaml).unwrap();
        let (out, text) = run(Command::new(tool("checkov"))
            .args(["--framework", "kubernetes", "--skip-download", "-o", "json", "-f"])
            .arg(&rendered)
            .env("BC_SKIP_MAPPING", "TRUE"));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("checkov: {text}"));
        let summary = &report["summary"];
        assert_eq!(
            summary["failed"], 0,
            "{overlay}: checkov failed checks:\n{}",
            report["results"]["failed_checks"]
        );
        assert_eq!(summary["parsing_errors"], 0, "{overlay}: {text}");
        assert!(summary["passed"].as_u64().unwrap() > 300, "{overlay}: {summary}");
        for s in report["results"]["skipped_checks"].as_array().unwrap() {
            let why = s["check_result"]["suppress_comment"].as_str().unwrap_or("");
            assert!(why.len() > 20, "{overlay}: skip of {} without a reason", s["check_id"]);
        }
    }
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    (workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter())
    .find(|c| c["name"] == name)
    .unwrap()
}

fn port_of(container: &Value, name: &str) -> u64 {
    (container["ports"].as_array().unwrap().iter())
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

/// The data key of a ConfigMap, written to a file the config loaders can read.
fn config_file(docs: &[Value], map: &str, key: &str) -> PathBuf {
    let text = find(docs, "ConfigMap", map)["data"][key].as_str().unwrap().to_string();
    let f = scratch("k8s-config").join(key);
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn the_numbers_are_the_documented_ones_and_match_the_binaries() {
    let docs = with_monitoring();
    let dep = find(&docs, "Deployment", "netpulse-collector");
    let spec = &dep["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &spec["template"]["spec"];
    let c = container(dep, "collector");
    // Probes hit the collector's own routes on the port its config listens on.
    let cfg_path = config_file(&docs, "netpulse-collector", "collector.toml");
    let cfg = netpulse_config::Loader::<netpulse_config::CollectorConfig>::new()
        .file(&cfg_path)
        .load()
        .unwrap_or_else(|e| panic!("the ConfigMap's collector.toml: {e}"));
    let api_port: u64 = cfg.api.listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(port_of(c, "http"), api_port);
    for (probe, path) in [
        ("livenessProbe", "/health"),
        ("readinessProbe", "/ready"),
        ("startupProbe", "/health"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{probe}");
    }
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}})
    );
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace >= cfg.collector.shutdown_grace.get().as_secs(),
        "termination grace {grace}s < shutdown_grace"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["fsGroup"].is_u64());
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert!(
        pod["topologySpreadConstraints"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for seed in ["REDIS_URL", "MAX_CONCURRENT_TARGETS", "CIRCUIT_FAILURE_THRESHOLD"] {
        assert!(env.contains(&seed), "{seed} set the way operators set it");
    }

    let hpa = &find(&docs, "HorizontalPodAutoscaler", "netpulse-collector")["spec"];
    assert_eq!(
        (hpa["minReplicas"].as_u64(), hpa["maxReplicas"].as_u64()),
        (Some(3), Some(20))
    );
    assert_eq!(hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 300);
    assert_eq!(
        hpa["behavior"]["scaleUp"]["policies"],
        json!([{"type": "Percent", "value": 50, "periodSeconds": 60}, {"type": "Pods", "value": 2, "periodSeconds": 60}])
    );
    assert_eq!(
        hpa["behavior"]["scaleDown"]["policies"],
        json!([{"type": "Percent", "value": 10, "periodSeconds": 60}])
    );

    let vpa = &find(&docs, "VerticalPodAutoscaler", "influxdb")["spec"];
    let cp = &vpa["resourcePolicy"]["containerPolicies"][0];
    assert_eq!(
        (cp["minAllowed"].clone(), cp["maxAllowed"].clone()),
        (
            json!({"cpu": "500m", "memory": "1Gi"}),
            json!({"cpu": "4", "memory": "8Gi"})
        )
    );
    assert_eq!(
        find(&docs, "VerticalPodAutoscaler", "netpulse-collector")["spec"]["updatePolicy"]["updateMode"],
        "Off"
    );

    let sts = find(&docs, "StatefulSet", "influxdb");
    assert_eq!(sts["spec"]["replicas"], 2);
    assert_eq!(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
    // Every workload has a disruption budget selecting it.
    for w in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
    {
        let labels = &w["spec"]["selector"]["matchLabels"];
        assert!(
            docs.iter()
                .any(|d| d["kind"] == "PodDisruptionBudget" && d["spec"]["selector"]["matchLabels"] == *labels),
            "no PDB for {}",
            w["metadata"]["name"]
        );
        let name = w["metadata"]["name"].as_str().unwrap();
        // Default deny, then a policy of its own for each workload.
        assert!(
            docs.iter()
                .any(|d| d["kind"] == "NetworkPolicy" && d["spec"]["podSelector"]["matchLabels"] == *labels),
            "no NetworkPolicy for {name}"
        );
    }
    let deny = find(&docs, "NetworkPolicy", "default-deny");
    assert_eq!(deny["spec"]["podSelector"], json!({}));
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(deny["spec"]["ingress"].is_null() && deny["spec"]["egress"].is_null());

    // The balancer's ConfigMap is a valid native config whose listeners are its container ports.
    let bal_cfg = config_file(&docs, "netpulse-balancer", "balancer.toml");
    let bal = netpulse_config::Loader::<netpulse_config::BalancerConfig>::new()
        .file(&bal_cfg)
        .load()
        .unwrap_or_else(|e| panic!("the ConfigMap's balancer.toml: {e}"));
    let bset = find(&docs, "StatefulSet", "netpulse-balancer");
    let bc = container(bset, "balancer");
    // Writes are mirrored, and the queues live on the replica's own volume.
    let write = bal
        .backends
        .iter()
        .find(|b| b.mirror.is_some())
        .expect("a mirroring backend");
    for path in ["/write", "/api/v2/write"] {
        assert!(
            (bal.frontends[0].routes.iter()).any(|r| r.path_prefix == path && r.backend == write.name),
            "{path} goes to the mirroring backend {}",
            write.name
        );
    }
    let queue_dir = &write.mirror.as_ref().unwrap().queue_dir;
    let mount = (bc["volumeMounts"].as_array().unwrap().iter())
        .find(|m| queue_dir.starts_with(m["mountPath"].as_str().unwrap()) && m["mountPath"] != "/")
        .unwrap_or_else(|| panic!("no volume holds {queue_dir}"));
    assert!(
        (bset["spec"]["volumeClaimTemplates"].as_array().unwrap().iter())
            .any(|t| t["metadata"]["name"] == mount["name"]),
        "the queue volume {} is a PersistentVolumeClaim of the StatefulSet",
        mount["name"]
    );
    // The edge survives losing a node: two replicas on different hosts when possible, a budget
    // that keeps one, and readiness from the balancer's own monitor_uri (a stopping replica
    // leaves the Service first).
    assert!(bset["spec"]["replicas"].as_u64() >= Some(2));
    let aff = &bset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert!(aff.to_string().contains("kubernetes.io/hostname"), "{aff}");
    let pdb = find(&docs, "PodDisruptionBudget", "netpulse-balancer");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let monitor = bal.frontends[0].monitor_uri.as_deref().expect("a monitor_uri");
    assert_eq!(bc["readinessProbe"]["httpGet"]["path"], monitor);
    assert_eq!(bc["readinessProbe"]["httpGet"]["port"], "influxdb");
    let port = |l: &str| l.rsplit(':').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(port_of(bc, "stats"), port(&bal.stats.listen));
    assert_eq!(port_of(bc, "influxdb"), port(&bal.frontends[0].listen[0]));
    let servers: Vec<&str> = bal.backends[0].servers.iter().map(|s| s.address.as_str()).collect();
    for s in &servers {
        let svc = s.split(':').next().unwrap();
        find(&docs, "Service", svc);
    }
}

#[test]
fn the_prometheusrule_carries_the_rules_file() {
    let docs = with_monitoring();
    let rule = find(&docs, "PrometheusRule", "netpulse");
    let file = std::fs::read_to_string(deploy_dir().join("prometheus/rules/netpulse.yml")).unwrap();
    let groups = &yaml_docs(&file)[0]["groups"];
    assert_eq!(
        &rule["spec"]["groups"], groups,
        "components/monitoring/prometheusrule.yaml differs from prometheus/rules/netpulse.yml: run deploy/k8s/prometheusrule.py"
    );
    // ServiceMonitors' jobs are the ones the rules name.
    for job in ["netpulse-collector", "netpulse-balancer", "influxdb"] {
        if file.contains(&format!("job=\"{job}\"")) {
            let svc = find(&docs, "Service", job);
            let sm = find(&docs, "ServiceMonitor", job);
            let sel = &sm["spec"]["selector"]["matchLabels"];
            for (k, v) in sel.as_object().unwrap() {
                assert_eq!(
                    &svc["metadata"]["labels"][k], v,
                    "ServiceMonitor {job} selects Service {job}"
                );
            }
        }
    }
}
