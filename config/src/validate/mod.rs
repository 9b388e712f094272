//! Semantic checks serde cannot express (required-together keys, ranges, uniqueness,
//! references), one module per binary's configuration, side by side. Each problem is a
//! key path and a sentence; the loader adds where the value came from.

pub(crate) mod balancer;
pub(crate) mod collector;
mod sources;
mod traps;

pub(crate) use crate::error::Problems;

/// A key path from its parts.
fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn socket_addr(s: &str) -> bool {
    s.parse::<std::net::SocketAddr>().is_ok()
}

/// `IP:PORT` or `HOST:PORT` with a DNS host name (a server the balancer resolves at start, as
/// HAProxy does with `init-addr libc`): compose service names, Kubernetes Services.
fn host_port(s: &str) -> bool {
    if socket_addr(s) {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    port.parse::<u16>().is_ok_and(|p| p > 0)
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(label)
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Longest proxy or server name taken (HAProxy's CLI line and the stats CSV stay readable).
pub const NAME_MAX: usize = 100;

/// HAProxy's rule for proxy and server names: letters, digits, `-`, `_`, `.` and `:`, not
/// empty; at most [`NAME_MAX`] characters. A `,` would break the stats CSV's columns, a `/`
/// a `backend/server` argument of the runtime API. `Err` says why, naming the name.
pub fn haproxy_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("Invalid {kind} name: empty."));
    }
    if name.chars().count() > NAME_MAX {
        return Err(format!(
            "Invalid {kind} name: {} characters (at most {NAME_MAX}).",
            name.chars().count()
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        Some(c) => Err(format!(
            "Invalid character '{}' in {kind} name '{}' (letters, digits, '-', '_', '.' and ':' only).",
            c.escape_default(),
            name.escape_default()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_haproxys_rule() {
        for ok in ["influx-a", "s1", "web_2.prod:east"] {
            assert!(super::haproxy_name("server", ok).is_ok(), "{ok}");
        }
        for bad in ["a,b,c", "../etc", "\"q\"", "", "a b", "x/y", &"n".repeat(5000)] {
            let e = super::haproxy_name("server", bad).unwrap_err();
            assert!(e.starts_with("Invalid"), "{bad}: {e}");
        }
    }

    #[test]
    fn host_port_takes_ips_and_dns_names_only() {
        for ok in [
            "127.0.0.1:8086",
            "[::1]:8086",
            "influxdb-0:8086",
            "influxdb-0.influxdb.netpulse.svc.cluster.local.:8086",
        ] {
            assert!(super::host_port(ok), "{ok}");
        }
        for bad in [
            "influxdb",
            "influxdb:0",
            "influxdb:http",
            "-a:80",
            "a b:80",
            "1.2.3:80",
            ":80",
            "a..b:80",
            "a/b:80",
        ] {
            assert!(!super::host_port(bad), "{bad}");
        }
    }
}
