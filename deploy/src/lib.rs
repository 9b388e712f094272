//! netpulse-deploy: no product code. The files beside this crate (k8s/, docker/, systemd/,
//! prometheus/, alertmanager/, docker-compose.ha.yml) are what operators deploy; this crate's
//! tests check them with the tools operators run. This library finds those tools (installed by
//! scripts/test into a venv) and turns their YAML into JSON the tests can read.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// deploy/ in the source tree.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the deploy tools venv (`$NETPULSE_DEPLOY_TOOLS`, default
/// /opt/netpulse-deploy-tools); a clear panic when scripts/test has not installed it.
pub fn tool(name: &str) -> PathBuf {
    let root = std::env::var_os("NETPULSE_DEPLOY_TOOLS").unwrap_or_else(|| "/opt/netpulse-deploy-tools".into());
    let p = Path::new(&root).join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: scripts/test installs the deploy tools venv",
        p.display()
    );
    p
}

/// Runs `cmd`, returning its output; stdout and stderr as text for messages.
pub fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

/// Every document of a YAML stream, as JSON (PyYAML from the deploy tools venv).
pub fn yaml_docs(yaml: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(tool("python"))
        .args([
            "-c",
            "import sys, json, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not YAML");
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

/// `kubectl kustomize DIR` (kustomize built into kubectl).
pub fn kustomize(dir: &Path) -> String {
    let (out, text) = run(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
    assert!(out.status.success(), "kubectl kustomize {}:\n{text}", dir.display());
    String::from_utf8(out.stdout).unwrap()
}
