//! TLS termination with real clients: curl (HTTP/1.1 and HTTP/2 by ALPN) and `openssl
//! s_client` (SNI picks the certificate, TLS versions, session resumption), plain HTTP to a
//! TLS port, `redirect_https`, `-c` on bad certificates, the stats' ssl counters, certificates
//! replaced by an upgrade with no failed request, a backend killed under TLS load, and HAProxy
//! 2.6 on the same haproxy.cfg.

mod common;

use common::tls::{cert, check_tls, curl, s_client, s_client_request, tempdir, tls_frontend};
use common::{Balancer, Haproxy, Upstream, csv_rows, free_port, get, servers};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn terminates_tls_with_sni_alpn_and_resumption() {
    let dir = tempdir("sni");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let a = cert(&certs, "a-grafana.pem", "grafana.test");
    let b = cert(&certs, "b-influx.pem", "influx.test");
    let ca = dir.join("ca.pem");
    std::fs::write(
        &ca,
        std::fs::read_to_string(&a).unwrap() + &std::fs::read_to_string(&b).unwrap(),
    )
    .unwrap();
    let up = Upstream::start("app");
    let bal = Balancer::with_config(&format!(
        "{}[[backends]]\nname = \"web\"\n{}",
        tls_frontend(&certs, "[\"h2\", \"http/1.1\"]"),
        servers(&[(&up, 1)])
    ));

    // HTTP/1.1 and HTTP/2 (ALPN) through to the HTTP/1 server; curl verifies the name.
    assert_eq!(
        curl(bal.port, "grafana.test", &ca, "/x", &["--http1.1"]),
        (200, "1.1".into(), "app".into())
    );
    assert_eq!(
        curl(bal.port, "influx.test", &ca, "/x", &["--http2"]),
        (200, "2".into(), "app".into())
    );
    let (st, _, body) = curl(
        bal.port,
        "influx.test",
        &ca,
        "/x",
        &["--http2", "-X", "POST", "-d", "cpu v=1"],
    );
    let want = format!("app 7 {}", common::checksum(b"cpu v=1"));
    assert_eq!((st, body), (200, want), "a body over HTTP/2, intact");

    // SNI picks the certificate; no SNI gets the first in name order.
    let subject = |args: &[&str]| {
        let out = s_client(bal.port, args);
        let line = out.lines().find(|l| l.starts_with("subject=")).map(str::to_string);
        line.unwrap_or_else(|| panic!("no certificate: {out}"))
    };
    assert!(subject(&["-servername", "influx.test"]).contains("influx.test"));
    assert!(subject(&["-servername", "grafana.test"]).contains("grafana.test"));
    assert!(subject(&["-noservername"]).contains("grafana.test"));
    assert!(s_client(bal.port, &["-tls1_2", "-servername", "influx.test"]).contains("New, TLSv1.2"));
    assert!(s_client(bal.port, &["-tls1_3", "-servername", "influx.test"]).contains("New, TLSv1.3"));
    let weak = s_client(
        bal.port,
        &["-tls1_2", "-cipher", "AES128-SHA", "-servername", "influx.test"],
    );
    assert!(!weak.contains("Cipher is AES128-SHA"), "no weak suite: {weak}");

    // Session resumption (session id, TLS 1.2).
    let sess = dir.join("sess");
    let first = s_client(bal.port, &["-tls1_2", "-sess_out", sess.to_str().unwrap()]);
    assert!(first.contains("New, TLSv1.2"), "{first}");
    let again = s_client(bal.port, &["-tls1_2", "-sess_in", sess.to_str().unwrap()]);
    assert!(again.contains("Reused, TLSv1.2"), "{again}");

    // Plain HTTP to the TLS port: no HTTP answer, the connection closed.
    let answer = common::exchange(bal.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!answer.contains("HTTP/"), "{answer:?}");

    // HAProxy's ssl counters on the frontend row; the runtime API lists the certificates.
    let rows = csv_rows(&bal.csv());
    let fe = rows.iter().find(|r| r["svname"] == "FRONTEND").unwrap();
    let n = |k: &str| fe[k].parse::<u64>().unwrap_or(0);
    assert!(n("ssl_sess") >= 9, "{fe:?}");
    assert!(n("ssl_reused_sess") >= 1, "{fe:?}");
    assert!(n("ssl_failed_handshake") >= 2, "{fe:?}");
    let sock = bal.dir.join("rt.sock");
    let list = common::runtime(&sock, "show ssl cert");
    assert!(
        list.contains("a-grafana.pem") && list.contains("b-influx.pem"),
        "{list}"
    );
    let one = common::runtime(&sock, &format!("show ssl cert {}", b.display()));
    assert!(one.contains("Subject Alternative Name: DNS:influx.test"), "{one}");
    assert!(!one.contains("PRIVATE"), "never a key");
    let info = common::runtime(&sock, "show info");
    assert!(info.contains("CumSslConns: "), "{info}");
}

#[test]
fn plain_listener_redirects_to_https() {
    let dir = tempdir("redirect");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let up = Upstream::start("app");
    let tls_port = free_port();
    let bal = Balancer::with_config(&format!(
        "[server]\nthreads = 1\n[stats]\nlisten = \"127.0.0.1:{{stats}}\"\n[[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{{port}}\"]\nbackend = \"web\"\nredirect_https = 301\ntls = {{ cert = \"{}\", listen = [\"127.0.0.1:{tls_port}\"] }}\n[[backends]]\nname = \"web\"\n{}",
        pem.display(),
        servers(&[(&up, 1)])
    ));
    let (st, headers, _) = get(bal.port, "/d/home?orgId=1", &[("Host", "grafana.test")]);
    assert_eq!(st, 301);
    let location = headers.iter().find(|(k, _)| k == "location").map(|(_, v)| v.as_str());
    assert_eq!(location, Some("https://grafana.test/d/home?orgId=1"));
    assert_eq!(up.hits(), 0, "a redirect never reaches the server");
    assert!(netpulse_testkit::wait_tcp(tls_port, Duration::from_secs(5)));
    assert_eq!(curl(tls_port, "grafana.test", &pem, "/", &[]).0, 200);
    let fe = csv_rows(&bal.csv())
        .into_iter()
        .find(|r| r["svname"] == "FRONTEND")
        .unwrap();
    assert_eq!((fe["intercepted"].as_str(), fe["hrsp_3xx"].as_str()), ("1", "1"));
}

#[test]
fn check_names_the_bad_certificate_file() {
    let dir = tempdir("check");
    let good = cert(&dir, "good.pem", "a.test");
    let other = cert(&dir, "other.pem", "b.test");
    // Expired: written by rcgen, which can date a certificate in the past.
    let mut params = rcgen::CertificateParams::new(vec!["old.test".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let old = dir.join("old.pem");
    std::fs::write(&old, params.self_signed(&kp).unwrap().pem() + &kp.serialize_pem()).unwrap();
    let check = |tls: &str| check_tls(&dir, tls);
    let (code, text) = check(&format!("{{ cert = \"{}\" }}", good.display()));
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = check(&format!("{{ cert = \"{}\" }}", old.display()));
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!(
            "`frontends[0].tls.cert`: {}: the certificate expired on",
            old.display()
        )),
        "{text}"
    );
    let (code, text) = check(&format!(
        "{{ cert = \"{}\", key = \"{}\" }}",
        good.display(),
        other.display()
    ));
    assert_eq!(code, Some(1));
    assert!(
        text.contains(&format!(
            "{}: the private key does not match the certificate",
            other.display()
        )),
        "{text}"
    );
    let (code, text) = check("{ cert = \"/nonexistent/site.pem\" }");
    assert_eq!(code, Some(1));
    assert!(text.contains("/nonexistent/site.pem: No such file"), "{text}");
    let (code, text) = check(&format!("{{ cert = \"{}\", alpn = [\"spdy/3\"] }}", good.display()));
    assert_eq!(code, Some(1));
    assert!(
        text.contains("b.toml:5: `frontends[0].tls.alpn[0]`: \"spdy/3\" is not a protocol"),
        "{text}"
    );
}

#[test]
fn an_upgrade_replaces_the_certificate_without_a_failed_request() {
    let dir = tempdir("upgrade");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let first_serial = serial(&pem);
    let up = Upstream::start("app");
    let mut bal = Balancer::with_config(&format!(
        "{}[[backends]]\nname = \"web\"\n{}",
        tls_frontend(&pem, "[\"h2\", \"http/1.1\"]"),
        servers(&[(&up, 1)])
    ));
    let ca = dir.join("ca.pem");
    std::fs::copy(&pem, &ca).unwrap();
    let port = bal.port;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let client = |stop: &AtomicBool| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (mut n, mut bad) = (0, vec![]);
        while !stop.load(Ordering::Relaxed) && n < 2000 {
            n += 1;
            // New handshakes, HTTP/1.1 and HTTP/2 in turn.
            let v = if (n + i).is_multiple_of(2) {
                "--http1.1"
            } else {
                "--http2"
            };
            let (st, _, body) = curl(port, "grafana.test", &ca, "/", &[v, "-k"]);
            if st != 200 || body != "app" {
                bad.push(format!("{st} {body:?}"));
            }
        }
        (n, bad)
    };
    // The new certificate is in place before the new process starts.
    let replace = || std::fs::rename(cert(&dir, "next.pem", "grafana.test"), &pem).unwrap();
    let (results, mut new) = common::upgrade_under_load(&mut bal, 3, client, replace);
    let served = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername grafana.test </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .output()
        .unwrap();
    let _ = (new.kill(), new.wait());
    assert_eq!(
        String::from_utf8_lossy(&served.stdout).trim(),
        serial(&pem),
        "the new process serves the new certificate (first {first_serial}): {}",
        std::fs::read_to_string(bal.dir.join("log.new")).unwrap_or_default()
    );
    let sent: usize = results.iter().map(|(n, _)| n).sum();
    let failed: Vec<String> = results.into_iter().flat_map(|(_, b)| b).collect();
    assert!(sent > 20, "load ran: {sent}");
    assert!(
        failed.is_empty(),
        "{} of {sent} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_ne!(serial(&pem), first_serial);
}

/// A certificate file's serial number.
fn serial(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn same_tls_haproxy_cfg_same_answers_as_haproxy() {
    let dir = tempdir("hap");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let up = Upstream::start("app");
    let cfg = |port: u16, tls_port: u16, stats: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\nfrontend web\n  bind 127.0.0.1:{port}\n  bind 127.0.0.1:{tls_port} ssl crt {} alpn h2,http/1.1\n  http-request redirect scheme https code 301 unless {{ ssl_fc }}\n  default_backend web\n\nbackend web\n  server s1 127.0.0.1:{}\n\nlisten stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n",
            pem.display(),
            up.port
        )
    };
    let (hp, ht, hs) = (free_port(), free_port(), free_port());
    let _hap = Haproxy::start(&cfg(hp, ht, hs), ht, &[]);
    let (np, nt, ns) = (free_port(), free_port(), free_port());
    let _bal = Balancer::from_haproxy_cfg(&cfg(np, nt, ns), np, ns, &[]);
    assert!(netpulse_testkit::wait_tcp(nt, Duration::from_secs(5)));
    for args in [&["--http1.1"][..], &["--http2"], &["--http2", "-d", "cpu v=1"]] {
        assert_eq!(
            curl(nt, "grafana.test", &pem, "/q?x=1", args),
            curl(ht, "grafana.test", &pem, "/q?x=1", args),
            "{args:?}"
        );
    }
    let redirect = |port| {
        let (st, h, _) = get(port, "/a?b=1", &[("Host", "grafana.test")]);
        let loc = h.into_iter().find(|(k, _)| k == "location").map(|(_, v)| v);
        (st, loc)
    };
    assert_eq!(redirect(np), redirect(hp));
    assert_eq!(redirect(np), (301, Some("https://grafana.test/a?b=1".to_string())));
}

#[test]
fn killing_a_backend_loses_no_tls_request() {
    let dir = tempdir("kill");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let (a, mut b, c) = (Upstream::start("a"), Upstream::start("b"), Upstream::start("c"));
    let bal = Balancer::with_config(&format!(
        "{}[[backends]]\nname = \"web\"\n{}{}",
        tls_frontend(&pem, "[\"h2\", \"http/1.1\"]"),
        common::CHECK,
        servers(&[(&a, 1), (&b, 1), (&c, 1)])
    ));
    for u in [&a, &b, &c] {
        bal.wait_status(&u.name, "UP");
    }
    let port = bal.port;
    let client = || {
        (0..60usize)
            .filter(|n| {
                // A new TLS connection per request, HTTP/1.1 and HTTP/2 in turn.
                let v = if n.is_multiple_of(2) { "--http1.1" } else { "--http2" };
                let (st, _, body) = curl(port, "grafana.test", &pem, "/", &[v]);
                st != 200 || body.len() != 1
            })
            .count()
    };
    let failed = common::failures_under_load(client, || b.kill());
    assert_eq!(failed, 0, "TLS requests failed while a server died");
    assert!(a.hits() + c.hits() > 0);
}

/// A raw HTTP server answering by path: `/cut` a body shorter than its Content-Length,
/// `/eof` a close-delimited body (HTTP/1.0), else a 2-byte body; `n` connections at most.
fn raw_server(n: usize) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().take(n) {
            let Ok(mut c) = c else { continue };
            let mut req = Vec::new();
            let mut b = [0; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => req.extend_from_slice(&b[..k]),
                }
            }
            let answer: &[u8] = if req.starts_with(b"GET /cut") {
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"
            } else if req.starts_with(b"GET /eof") {
                b"HTTP/1.0 200 OK\r\n\r\nwhole"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            };
            let _ = c.write_all(answer);
        }
    });
    port
}

#[test]
fn a_whole_answer_ends_with_close_notify_and_a_cut_one_without() {
    let dir = tempdir("notify");
    let pem = cert(&dir, "site.pem", "grafana.test");
    let server = raw_server(50);
    let bal = Balancer::with_config(&format!(
        "{}[[backends]]\nname = \"web\"\nservers = [ {{ name = \"s\", address = \"127.0.0.1:{server}\" }} ]\n",
        tls_frontend(&pem, "[\"http/1.1\"]")
    ));
    let ask = |req: &str| s_client_request(bal.port, &["-servername", "grafana.test"], req);
    const NO_NOTIFY: &str = "unexpected eof";
    // The express lane, Pingora's path (HTTP/1.0), a close-delimited body, a 400 here.
    for (req, want) in [
        ("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\r\n\r\nok"),
        ("GET /ok HTTP/1.0\r\nHost: x\r\n\r\n", "\r\n\r\nok"),
        ("GET /eof HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nwhole"),
        ("GET nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"),
    ] {
        let out = ask(req);
        assert!(out.contains(want) && !out.contains(NO_NOTIFY), "{req:?}: {out}");
    }
    // A body cut by the server: no close_notify vouches for it.
    let out = ask("GET /cut HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.contains("\r\n\r\nabc") && out.contains(NO_NOTIFY), "{out}");
}
