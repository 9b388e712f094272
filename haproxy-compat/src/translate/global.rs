//! The `global` section: `nbthread`, `stats socket` (the runtime API); everything else is
//! warned about (known, not used) or refused (unknown, with a suggestion).

use super::values;
use crate::diag::Diags;
use crate::diag::did_you_mean;
use crate::parse::Section;
use netpulse_config::{self as native, BalancerConfig};

const GLOBAL_IGNORED: &[&str] = &[
    "daemon",
    "master-worker",
    "nbproc",
    "maxconn",
    "log",
    "log-send-hostname",
    "log-tag",
    "chroot",
    "user",
    "group",
    "uid",
    "gid",
    "pidfile",
    "ca-base",
    "crt-base",
    "node",
    "description",
    "spread-checks",
    "server-state-file",
    "server-state-base",
    "hard-stop-after",
    "localpeer",
    "setenv",
    "presetenv",
    "resetenv",
    "unsetenv",
    "cpu-map",
    "ulimit-n",
    "insecure-fork-wanted",
    "expose-experimental-directives",
    "set-dumpable",
    "quiet",
    "noepoll",
    "nopoll",
    "maxsslconn",
    "maxconnrate",
    "maxsessrate",
    "h1-case-adjust",
    "lua-load",
    "external-check",
    "stats",
    "nbthread",
    "busy-polling",
    "max-spread-checks",
    "numa-cpu-mapping",
    "strict-limits",
    "zero-warning",
    "default-path",
    "httpclient.resolvers.disabled",
    "profiling.tasks",
];

pub fn global(s: &Section, cfg: &mut BalancerConfig, d: &mut Diags) {
    for dir in &s.directives {
        let at = dir.line;
        let kw = dir.words[0].as_str();
        match kw {
            "nbthread" => match values::number(dir.arg(1).unwrap_or(""), 1, 4096) {
                Ok(n) => cfg.server.threads = Some(n as usize),
                Err(e) => d.error(at, format!("nbthread: {e}")),
            },
            "stats" if dir.arg(1) == Some("socket") => {
                let path = dir.arg(2).unwrap_or("");
                if path.contains('@') && !path.starts_with("unix@") {
                    d.warn(at, "stats socket: only unix sockets are supported; ignored");
                    continue;
                }
                cfg.runtime.socket = Some(path.trim_start_matches("unix@").to_string());
                let mut it = dir.words.get(3..).unwrap_or_default().iter();
                while let Some(k) = it.next() {
                    match (k.as_str(), it.next().map(String::as_str)) {
                        ("mode", Some(m)) => cfg.runtime.mode = m.to_string(),
                        ("level", Some(l @ ("user" | "operator" | "admin"))) => {
                            cfg.runtime.level = match l {
                                "user" => native::RuntimeLevel::User,
                                "operator" => native::RuntimeLevel::Operator,
                                _ => native::RuntimeLevel::Admin,
                            }
                        }
                        ("level", other) => d.error(
                            at,
                            format!("stats socket level {other:?}: expected user, operator or admin"),
                        ),
                        (o, _) => d.warn(at, format!("stats socket option '{o}' is ignored")),
                    }
                }
            }
            k if GLOBAL_IGNORED.contains(&k)
                || k.starts_with("tune.")
                || k.starts_with("ssl-")
                || k.starts_with("lua-") =>
            {
                d.warn(
                    at,
                    format!(
                        "global '{}' is not used by netpulse-balancer and is ignored",
                        dir.words.join(" ")
                    ),
                )
            }
            k => {
                let hint = did_you_mean(k, GLOBAL_IGNORED);
                d.error(at, format!("unknown keyword '{k}' in the global section{hint}"));
            }
        }
    }
}
