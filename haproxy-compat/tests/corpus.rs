//! The corpus of real-world-shaped haproxy.cfg files: each translates to the expected native
//! configuration (`NAME.toml`, which the native loader accepts as is) with the expected
//! warnings (`NAME.warnings`), or fails with the expected errors (`NAME.errors`).
//! `UPDATE_EXPECT=1 cargo test -p netpulse-haproxy-compat` rewrites the expectations.

use netpulse_config::{BalancerConfig, Loader};
use netpulse_haproxy_compat::{Error, translate_str};
use std::path::Path;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let text = std::fs::read_to_string(dir.join(format!("{name}.cfg"))).unwrap();
    let file = format!("{name}.cfg");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let lines = |d: &[netpulse_haproxy_compat::Diagnostic]| d.iter().map(|x| format!("{x}\n")).collect::<String>();
    let expect = |ext: &str, got: &str| {
        let path = dir.join(format!("{name}.{ext}"));
        if update {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(got, want, "{name}.{ext} differs (UPDATE_EXPECT=1 to accept)");
    };
    match translate_str(&text, &file, &|_| None) {
        Ok(t) => {
            let toml = toml::to_string(&t.config).unwrap();
            expect("toml", &toml);
            expect("warnings", &lines(&t.warnings));
            // The expected native file is a valid native configuration as is.
            let native = dir.join(format!("{name}.toml"));
            let loaded: BalancerConfig = Loader::new().file(&native).load().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(toml::to_string(&loaded).unwrap(), toml);
        }
        Err(Error::Invalid { errors, warnings }) => {
            expect("errors", &lines(&errors));
            expect("warnings", &lines(&warnings));
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn influx_grafana() {
    check("influx-grafana");
}

#[test]
fn layered_defaults() {
    check("layered-defaults");
}

#[test]
fn broken() {
    check("broken");
}

#[test]
fn tls_edge() {
    check("tls-edge");
}

#[test]
fn tls_broken() {
    check("tls-broken");
}
