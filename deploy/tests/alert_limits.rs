//! Every resource alert can fire under every shipped limit (issue 25, item 3): the collector's
//! CPU and memory limits are read from each deployment form (compose, each Kubernetes overlay,
//! the systemd unit) and, for each, promtool runs the real rules against series where the
//! collector uses 90 % of that limit (the alert must fire) and 50 % (it must stay silent). The
//! rules compare use with `netpulse_cpu_limit_cores` / `netpulse_memory_limit_bytes`, which the
//! collector reads from its cgroup, so one rule fits every form.

use netpulse_deploy::{deploy_dir, kustomize, run, yaml_docs};
use serde_json::Value;
use std::process::Command;

fn cores(v: &Value) -> f64 {
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    match s.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => s.trim_matches('"').parse().unwrap(),
    }
}

fn bytes(v: &Value) -> f64 {
    let s = v.as_str().unwrap();
    let units = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("K", 1024.0),
        ("M", 1048576.0),
        ("G", 1073741824.0),
    ];
    for (u, f) in units {
        if let Some(n) = s.strip_suffix(u) {
            return n.parse::<f64>().unwrap() * f;
        }
    }
    s.parse().unwrap()
}

/// (form, cpu cores, memory bytes) of the collector in each shipped form.
fn shipped_limits() -> Vec<(String, f64, f64)> {
    let mut out = vec![];
    let compose = std::fs::read_to_string(deploy_dir().join("docker-compose.ha.yml")).unwrap();
    let doc = &yaml_docs(&compose)[0];
    for (name, svc) in doc["services"].as_object().unwrap() {
        if name.starts_with("collector") {
            let l = &svc["deploy"]["resources"]["limits"];
            out.push((format!("compose {name}"), cores(&l["cpus"]), bytes(&l["memory"])));
        }
    }
    for overlay in ["base", "overlays/dev", "overlays/production"] {
        let docs = yaml_docs(&kustomize(&deploy_dir().join("k8s").join(overlay)));
        let d = (docs.iter())
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "netpulse-collector")
            .unwrap_or_else(|| panic!("{overlay}: the collector Deployment"));
        let l = &d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
        out.push((format!("k8s {overlay}"), cores(&l["cpu"]), bytes(&l["memory"])));
    }
    assert!(out.len() >= 5, "{out:?}");
    out
}

#[test]
fn every_resource_alert_can_fire_under_every_shipped_limit() {
    let limits = shipped_limits();
    let mut tests = String::from("rule_files:\n  - ../rules/netpulse.yml\nevaluation_interval: 1m\ntests:\n");
    for (i, (form, cpu, mem)) in limits.iter().enumerate() {
        for (share, fires) in [(0.9, true), (0.5, false)] {
            let inst = format!("c{i}-{}:8080", (share * 100.0) as u32);
            // process_cpu_seconds_total grows `share * cpu` seconds a second.
            let per_min = share * cpu * 60.0;
            let rss = (share * mem).round();
            tests.push_str(&format!(
                "- interval: 1m\n  name: '{form}: {share} of {cpu} cores and {mem} bytes'\n  input_series:\n\
                 \x20 - series: process_cpu_seconds_total{{job=\"netpulse-collector\",instance=\"{inst}\"}}\n    values: 0+{per_min}x40\n\
                 \x20 - series: netpulse_cpu_limit_cores{{job=\"netpulse-collector\",instance=\"{inst}\"}}\n    values: {cpu}x40\n\
                 \x20 - series: process_resident_memory_bytes{{job=\"netpulse-collector\",instance=\"{inst}\"}}\n    values: {rss}x40\n\
                 \x20 - series: netpulse_memory_limit_bytes{{job=\"netpulse-collector\",instance=\"{inst}\"}}\n    values: {mem}x40\n\
                 \x20 promql_expr_test:\n"
            ));
            for alert in ["NetpulseCollectorHighCPU", "NetpulseCollectorHighMemory"] {
                let samples = if fires {
                    "\n    - labels: '{}'\n      value: 1"
                } else {
                    " []"
                };
                tests.push_str(&format!(
                    "  - expr: count(ALERTS{{alertname=\"{alert}\",alertstate=\"firing\",instance=\"{inst}\"}})\n    eval_time: 30m\n    exp_samples:{samples}\n"
                ));
            }
        }
    }
    let dir = deploy_dir().join("prometheus/tests");
    let file = dir.join(format!(".limits-{}.yml", std::process::id()));
    std::fs::write(&file, &tests).unwrap();
    let (out, text) = run(Command::new("promtool").args(["test", "rules"]).arg(&file));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "limits {limits:?}\n{text}");
}
