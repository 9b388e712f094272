//! The keywords haproxy.cfg may hold in a proxy section and on a server line, as netpulse
//! sees them: used, known but ignored (a warning), or unknown (an error with a suggestion).

use crate::diag::Diags;
use crate::diag::did_you_mean;

/// Proxy keywords HAProxy knows that netpulse accepts with a warning (they change nothing here).
pub const IGNORED: &[&str] = &[
    "backlog",
    "bind-process",
    "capture",
    "compression",
    "declare",
    "description",
    "disabled",
    "dispatch",
    "email-alert",
    "enabled",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "filter",
    "force-persist",
    "fullconn",
    "grace",
    "hash-type",
    "http-after-response",
    "http-error",
    "http-request",
    "http-response",
    "http-reuse",
    "http-send-name-header",
    "ignore-persist",
    "load-server-state-from-file",
    "log",
    "log-format",
    "log-format-sd",
    "log-tag",
    "max-keep-alive-queue",
    "max-session-srv-conns",
    "maxconn",
    "monitor",
    "persist",
    "rate-limit",
    "redirect",
    "retry-on",
    "server-state-file-name",
    "server-template",
    "source",
    "stick",
    "stick-table",
    "tcp-check",
    "tcp-request",
    "tcp-response",
    "transparent",
    "unique-id-format",
    "unique-id-header",
    "use-server",
    "external-check",
    "error-log-format",
    "guid",
];

/// Keywords translated here (for suggestions).
pub const USED: &[&str] = &[
    "acl",
    "balance",
    "bind",
    "cookie",
    "default-server",
    "default_backend",
    "http-check",
    "mode",
    "option",
    "no",
    "retries",
    "server",
    "stats",
    "timeout",
    "use_backend",
];

/// Options that match netpulse's behaviour already: accepted silently.
pub const OPTIONS_NATIVE: &[&str] = &["http-keep-alive", "prefer-last-server"];

/// Words a server keyword takes after it (0: a flag).
fn server_arity(kw: &str) -> Option<usize> {
    Some(match kw {
        "check" | "no-check" | "backup" | "no-backup" | "disabled" | "enabled" | "ssl" | "no-ssl" | "send-proxy"
        | "send-proxy-v2" | "check-ssl" | "no-check-ssl" | "check-send-proxy" | "agent-check" | "no-agent-check"
        | "tfo" | "non-stick" | "stick" | "no-tfo" | "allow-0rtt" | "no-send-proxy" | "no-send-proxy-v2"
        | "no-verifyhost" | "force-sslv3" | "force-tlsv10" | "force-tlsv11" | "force-tlsv12" | "force-tlsv13"
        | "no-tls-tickets" | "tls-tickets" | "check-via-socks4" | "socks4" | "resolve-opts" => 0,
        "inter"
        | "fastinter"
        | "downinter"
        | "rise"
        | "fall"
        | "weight"
        | "cookie"
        | "maxconn"
        | "port"
        | "addr"
        | "slowstart"
        | "resolvers"
        | "init-addr"
        | "verify"
        | "verifyhost"
        | "ca-file"
        | "crt"
        | "sni"
        | "check-sni"
        | "alpn"
        | "check-alpn"
        | "proto"
        | "check-proto"
        | "on-error"
        | "on-marked-down"
        | "on-marked-up"
        | "observe"
        | "error-limit"
        | "agent-port"
        | "agent-inter"
        | "agent-send"
        | "agent-addr"
        | "maxqueue"
        | "minconn"
        | "id"
        | "track"
        | "pool-max-conn"
        | "pool-purge-delay"
        | "pool-low-conn"
        | "max-reuse"
        | "resolve-prefer"
        | "resolve-net"
        | "ws"
        | "namespace"
        | "redir"
        | "ciphers"
        | "ciphersuites"
        | "ssl-min-ver"
        | "ssl-max-ver"
        | "crl-file"
        | "curves"
        | "log-proto"
        | "shard"
        | "hash-key"
        | "tcp-ut"
        | "set-proxy-v2-tlv-fmt"
        | "guid"
        | "source"
        | "usesrc"
        | "proxy-v2-options"
        | "sigalgs"
        | "client-sigalgs"
        | "check-pool-conn-name"
        | "pool-conn-name" => 1,
        _ => return None,
    })
}

/// Server keywords netpulse uses; the rest are known but ignored with a warning.
pub const SERVER_USED: &[&str] = &[
    "check",
    "no-check",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "weight",
    "cookie",
    "backup",
    "no-backup",
    "disabled",
    "enabled",
    "maxconn",
];

/// Validates the words after a server's address; returns the flags and values it uses.
pub fn server_words(words: &[String], at: usize, d: &mut Diags) -> Vec<(String, Option<String>)> {
    let mut out = vec![];
    let mut i = 0;
    while i < words.len() {
        let kw = words[i].as_str();
        let Some(n) = server_arity(kw) else {
            let hint = did_you_mean(kw, SERVER_USED);
            d.error(at, format!("unknown server keyword '{kw}'{hint}"));
            i += 1;
            continue;
        };
        let val = words.get(i + 1).cloned();
        if n == 1 && val.is_none() {
            d.error(at, format!("server keyword '{kw}' needs a value"));
            break;
        }
        if kw == "ssl" {
            d.error(
                at,
                "'ssl' to servers is not supported by netpulse-balancer (plain HTTP only)",
            );
        } else if !SERVER_USED.contains(&kw) {
            d.warn(at, format!("server keyword '{kw}' is not supported and is ignored"));
        }
        out.push((kw.to_string(), if n == 1 { val } else { None }));
        i += 1 + n;
    }
    out
}
