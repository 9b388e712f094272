//! No input makes the parser or the translation panic: arbitrary text, and configurations
//! assembled from real keywords, quotes, escapes and variables in random order.

use netpulse_haproxy_compat::translate_str;
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "web",
    "from",
    "mode",
    "http",
    "tcp",
    "bind",
    ":80",
    "127.0.0.1:8080",
    "*:1",
    "[::1]:9",
    "server",
    "a",
    "127.0.0.1:1",
    "check",
    "inter",
    "2s",
    "rise",
    "fall",
    "weight",
    "300",
    "0",
    "cookie",
    "insert",
    "indirect",
    "nocache",
    "backup",
    "disabled",
    "maxconn",
    "option",
    "httpchk",
    "GET",
    "/",
    "no",
    "redispatch",
    "acl",
    "x",
    "path_beg",
    "hdr(host)",
    "hdr_dom(host)",
    "-i",
    "-m",
    "beg",
    "use_backend",
    "if",
    "unless",
    "!x",
    "||",
    "{",
    "}",
    "default_backend",
    "timeout",
    "connect",
    "server",
    "client",
    "check",
    "stats",
    "enable",
    "uri",
    "auth",
    "u:p",
    "realm",
    "socket",
    "/tmp/s",
    "level",
    "admin",
    "nbthread",
    "retries",
    "balance",
    "leastconn",
    "http-check",
    "expect",
    "status",
    "204",
    "default-server",
    "\"${V}\"",
    "'q w'",
    "\\ ",
    "#",
    "\"",
    "'",
    "\\",
    "$",
    "${",
    "99999999999999999999",
    "-1",
    "5x",
];

#[test]
fn short_lines_of_every_keyword_never_panic() {
    for section in ["global", "defaults", "frontend f", "backend b", "listen l"] {
        for a in WORDS {
            for b in ["", "socket", "realm", "send", "expect", "status", "a", "uri"] {
                let text = format!("{section}\n  {a} {b}\n  {b} {a}\n  {a}\n");
                let _ = translate_str(&text, "f.cfg", &|_| None);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = translate_str(&text, "f.cfg", &|_| None);
    }

    #[test]
    fn keyword_soup_never_panics(lines in prop::collection::vec(prop::collection::vec(prop::sample::select(WORDS), 0..8), 0..30)) {
        let text: String = lines.iter().map(|l| format!("  {}\n", l.join(" "))).collect();
        let _ = translate_str(&text, "f.cfg", &|k| (k == "V").then(|| "127.0.0.1:5".to_string()));
    }
}
