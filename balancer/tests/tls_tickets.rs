//! Session tickets across processes: two balancers sharing one ticket-keys file (one from
//! netpulse's TOML, one from an haproxy.cfg `tls-ticket-keys` — a file HAProxy 2.6 loads
//! too) resume each other's sessions over TLS 1.2 and 1.3, as the process an upgrade starts
//! resumes its predecessor's; a balancer with keys of its own does not. `show tls-keys`
//! names the keys in use and never shows one, `set ssl tls-key` rotates them at run time;
//! `-c` names a bad file and line.

mod common;

use common::tls::{cert, check_tls, s_client_request, tempdir};
use common::{Balancer, Haproxy, Upstream, csv_rows, free_port, servers};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `n` keys made as HAProxy's manual says (`openssl rand 80 | openssl base64 -A`).
fn keys_file(dir: &Path, n: usize) -> (PathBuf, Vec<String>) {
    let keys: Vec<String> = (0..n)
        .map(|_| {
            let out = Command::new("sh")
                .args(["-c", "openssl rand 80 | openssl base64 -A"])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .collect();
    let path = dir.join("tls.keys");
    std::fs::write(&path, keys.join("\n") + "\n").unwrap();
    (path, keys)
}

/// One request over `openssl s_client` (`version`: -tls1_2 / -tls1_3), the session written
/// to or read from `sess` (`-sess_out` / `-sess_in`); its whole output, the answer included.
fn request(port: u16, version: &str, sess_flag: &str, sess: &Path) -> String {
    let sess = sess.to_str().unwrap();
    let args = [version, "-servername", "grafana.test", sess_flag, sess];
    s_client_request(
        port,
        &args,
        "GET /t HTTP/1.1\r\nHost: grafana.test\r\nConnection: close\r\n\r\n",
    )
}

fn toml(pem: &Path, keys: Option<&Path>, up: &Upstream) -> String {
    let keys = keys.map_or(String::new(), |k| format!(", ticket_keys = \"{}\"", k.display()));
    format!(
        "[server]\nthreads = 2\n[stats]\nlisten = \"127.0.0.1:{{stats}}\"\n[runtime]\nsocket = \"{{dir}}/rt.sock\"\n[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{{port}}\"]\nbackend = \"web\"\ntls = {{ cert = \"{}\", alpn = [\"http/1.1\"]{keys} }}\n[[backends]]\nname = \"web\"\n{}",
        pem.display(),
        servers(&[(up, 1)])
    )
}

#[test]
fn balancers_sharing_a_ticket_keys_file_resume_each_others_sessions() {
    let dir = tempdir("tickets");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let (keys, secrets) = keys_file(&dir, 4);
    let up = Upstream::start("app");
    let a = Balancer::with_config(&toml(&pem, Some(&keys), &up));
    let own = Balancer::with_config(&toml(&pem, None, &up));
    let hap_cfg = |port: u16, tls: u16, stats: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\nfrontend web\n  bind 127.0.0.1:{port}\n  bind 127.0.0.1:{tls} ssl crt {} alpn http/1.1 tls-ticket-keys {}\n  default_backend web\n\nbackend web\n  server s1 127.0.0.1:{}\n\nlisten stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n",
            pem.display(),
            keys.display(),
            up.port
        )
    };
    // HAProxy 2.6 runs with the same file: it is HAProxy's format.
    let ht = free_port();
    let _hap = Haproxy::start(&hap_cfg(free_port(), ht, free_port()), ht, &[]);
    let (bp, bt, bs) = (free_port(), free_port(), free_port());
    let b = Balancer::from_haproxy_cfg(&hap_cfg(bp, bt, bs), bp, bs, &[]);
    assert!(netpulse_testkit::wait_tcp(bt, Duration::from_secs(5)));

    for version in ["-tls1_2", "-tls1_3"] {
        let sess = dir.join(format!("sess{version}"));
        let first = request(a.port, version, "-sess_out", &sess);
        assert!(
            first.contains("New, TLSv1.") && first.contains("\r\n\r\napp"),
            "{first}"
        );
        let other = request(bt, version, "-sess_in", &sess);
        assert!(
            other.contains("Reused, TLSv1.") && other.contains("\r\n\r\napp"),
            "{version}: the haproxy.cfg balancer resumes A's session: {other}"
        );
        let alone = request(own.port, version, "-sess_in", &sess);
        assert!(
            alone.contains("New, TLSv1.") && alone.contains("\r\n\r\napp"),
            "{version}: keys of its own, a full handshake: {alone}"
        );
    }
    let rows = csv_rows(&b.csv());
    let fe = rows.iter().find(|r| r["svname"] == "FRONTEND").unwrap();
    assert_eq!(fe["ssl_reused_sess"], "2", "{fe:?}");

    // The keys in use (the last three) by name; never a key.
    let sock = a.dir.join("rt.sock");
    let list = common::runtime(&sock, "show tls-keys");
    assert_eq!(list.trim_end(), format!("# id (file)\n0 ({})", keys.display()));
    let one = common::runtime(&sock, "show tls-keys 0");
    let names: Vec<&str> = one.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(names.len(), 3, "{one}");
    assert!(names[0].starts_with("0.0 ") && names[0].len() == 4 + 32, "{one}");
    for s in &secrets {
        assert!(!one.contains(s.as_str()) && !list.contains(s.as_str()));
        let log = std::fs::read_to_string(a.dir.join("log")).unwrap_or_default();
        assert!(!log.contains(s.as_str()));
    }
    let missing = common::runtime(&sock, "show tls-keys 7");
    assert!(missing.contains("'7' is not a ticket keys file reference"), "{missing}");

    // A key set at run time (HAProxy's `set ssl tls-key`) goes last; the one before it now
    // encrypts — the file's last key, which B has: A's new sessions still resume on B.
    std::fs::create_dir_all(dir.join("next")).unwrap();
    let (_, next) = keys_file(&dir.join("next"), 1);
    let set = common::runtime(&sock, &format!("set ssl tls-key {} {}", keys.display(), next[0]));
    assert_eq!(set.trim_end(), "TLS ticket key updated!");
    let hex = |l: &&str| l.split_once(' ').unwrap().1.to_string();
    let after = common::runtime(&sock, "show tls-keys #0");
    let after: Vec<String> = after.lines().filter(|l| l.starts_with("0.")).map(|l| hex(&l)).collect();
    let before: Vec<String> = names.iter().map(hex).collect();
    assert_eq!(after[..2], before[1..], "the oldest key dropped");
    assert!(!before.contains(&after[2]), "the new key last");
    let sess = dir.join("sess-rotated");
    assert!(request(a.port, "-tls1_3", "-sess_out", &sess).contains("New, TLSv1.3"));
    let other = request(bt, "-tls1_3", "-sess_in", &sess);
    assert!(other.contains("Reused, TLSv1.3"), "{other}");
    let bad = common::runtime(&sock, "set ssl tls-key 0 c2hvcnQ=");
    assert!(bad.contains("this listener's keys are 80"), "{bad}");
    let log = std::fs::read_to_string(a.dir.join("log")).unwrap_or_default();
    assert!(!log.contains(&next[0]) && !bad.contains("c2hvcnQ="), "never a key");
}

#[test]
fn check_names_a_bad_ticket_keys_file_and_line() {
    let dir = tempdir("tickets-check");
    let pem = cert(&dir, "site.pem", "a.test");
    let (keys, secrets) = keys_file(&dir, 2);
    let check = |keys: &Path| {
        let tls = format!(
            "{{ cert = \"{}\", ticket_keys = \"{}\" }}",
            pem.display(),
            keys.display()
        );
        check_tls(&dir, &tls)
    };
    let (code, text) = check(&keys);
    assert_eq!(code, Some(1));
    let want = format!(
        "`frontends[0].tls.ticket_keys`: {}: 2 ticket key(s); at least 3 are needed",
        keys.display()
    );
    assert!(text.contains(&want), "{text}");
    let short = dir.join("short.keys");
    std::fs::write(
        &short,
        format!("{}\n{}\nc2hvcnQ=\n{}\n", secrets[0], secrets[1], secrets[0]),
    )
    .unwrap();
    let (code, text) = check(&short);
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!(
            "{}:3: a ticket key is 48 bytes (AES-128) or 80 bytes",
            short.display()
        )),
        "{text}"
    );
    assert!(!text.contains(&secrets[0]), "never the key: {text}");
    std::fs::write(&short, format!("{}\n{}\n{}\n", secrets[0], secrets[1], secrets[0])).unwrap();
    assert_eq!(check(&short).0, Some(0));
}
