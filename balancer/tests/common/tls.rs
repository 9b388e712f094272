//! TLS test helpers: certificates made by `openssl req` (ECDSA P-256, key in the same PEM
//! file as HAProxy keeps it), `curl` and `openssl s_client` against a TLS port, a TLS
//! frontend's config.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed ECDSA P-256 certificate for `name` (SAN), key in the same PEM file
/// (HAProxy's layout), written to `dir/file`.
pub fn cert(dir: &Path, file: &str, name: &str) -> PathBuf {
    let (c, k) = (dir.join(format!("{file}.crt.tmp")), dir.join(format!("{file}.key.tmp")));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&k)
        .arg("-out")
        .arg(&c)
        .args(["-days", "30", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pem = format!(
        "{}{}",
        std::fs::read_to_string(&c).unwrap(),
        std::fs::read_to_string(&k).unwrap()
    );
    let path = dir.join(file);
    std::fs::write(&path, pem).unwrap();
    let _ = (std::fs::remove_file(c), std::fs::remove_file(k));
    path
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("np-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// curl over TLS to `name` (resolved to 127.0.0.1), trusting `ca`: (status, HTTP version, body).
pub fn curl(port: u16, name: &str, ca: &Path, path: &str, extra: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(extra)
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut tail = tail.split(' ');
    let status = tail.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = tail.next().unwrap_or("").to_string();
    (status, version, body.to_string())
}

/// `openssl s_client` with `args`; its whole output (the session, the certificate subject).
pub fn s_client(port: u16, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn tls_frontend(dir: &Path, alpn: &str) -> String {
    format!(
        "[server]\nthreads = 2\n[stats]\nlisten = \"127.0.0.1:{{stats}}\"\n[runtime]\nsocket = \"{{dir}}/rt.sock\"\n[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{{port}}\"]\nbackend = \"web\"\ntls = {{ cert = \"{}\", alpn = {alpn} }}\n",
        dir.display()
    )
}

/// `req` sent over `openssl s_client` with `args`, read until the server closes: the whole
/// output (session, answer, and OpenSSL's complaint when no close_notify came).
pub fn s_client_request(port: u16, args: &[&str], req: &str) -> String {
    s_client_request_to(&format!("127.0.0.1:{port}"), args, req)
}

/// [`s_client_request`] to any `HOST:PORT`.
pub fn s_client_request_to(addr: &str, args: &[&str], req: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-ign_eof"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(req.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `netpulse-balancer -c` on a one-frontend config whose `tls` is `tls` (written in `dir`):
/// (exit code, stdout + stderr).
pub fn check_tls(dir: &Path, tls: &str) -> (Option<i32>, String) {
    let cfg = dir.join("b.toml");
    std::fs::write(
        &cfg,
        format!("[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"web\"\ntls = {tls}\n[[backends]]\nname = \"web\"\nservers = [ {{ name = \"s\", address = \"127.0.0.1:2\" }} ]\n"),
    )
    .unwrap();
    let out = Command::new(super::bin())
        .arg("-c")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}
