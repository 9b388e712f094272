//! Server host names to addresses: `influxdb-0:8086` in compose or Kubernetes. The balancer
//! resolves names at start and its health checks follow them (pool/addr.rs); this checks a
//! configuration's names the way `haproxy -c` does, naming each server that does not resolve.
//! IPv4 is preferred where a name has both families.

use crate::balancer::BalancerConfig;
use std::net::{SocketAddr, ToSocketAddrs};

/// `HOST:PORT` or `IP:PORT` resolved to one address.
pub fn resolve_host_port(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}': an address needs a port"))?;
    let port: u16 = port.parse().map_err(|_| format!("'{s}': bad port"))?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("'{host}' cannot be resolved: {e}"))?
        .collect();
    (addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied()).ok_or_else(|| format!("'{host}' has no address"))
}

/// What resolving every server name now finds, as `(warnings, errors)`, each naming its server:
/// a name that does not resolve is an error for a server without health checks (it would take
/// traffic it cannot deliver) and a warning for a checked one, which starts DOWN and is
/// followed by its checks until the name resolves (a compose service not started yet).
pub fn resolve_servers(cfg: &BalancerConfig) -> (Vec<String>, Vec<String>) {
    let (mut warnings, mut errors) = (vec![], vec![]);
    for b in &cfg.backends {
        for s in &b.servers {
            if let Err(e) = resolve_host_port(&s.address) {
                let at = format!("backend '{}' server '{}': {e}", b.name, s.name);
                if b.health_check.is_some() && s.check {
                    warnings.push(format!("{at}; DOWN until it resolves"));
                } else {
                    errors.push(format!("{at} (a server without health checks must resolve at start)"));
                }
            }
        }
    }
    (warnings, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_addresses_and_failures_name_the_server() {
        assert_eq!(resolve_host_port("localhost:80").unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(resolve_host_port("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(resolve_host_port("127.0.0.1").unwrap_err().contains("needs a port"));
        let servers = "servers = [ { name = \"a\", address = \"localhost:8086\" }, { name = \"x\", address = \"no-such-host.invalid:1\" } ]\n";
        let head =
            "[[frontends]]\nname = \"f\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backends]]\nname = \"b\"\n";
        let cfg: BalancerConfig = toml::from_str(&format!("{head}{servers}")).unwrap();
        let (warnings, errors) = resolve_servers(&cfg);
        assert!(warnings.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("backend 'b' server 'x': 'no-such-host.invalid' cannot be resolved"),
            "{errors:?}"
        );
        let checked = format!("{head}health_check = {{ kind = \"tcp\" }}\n{servers}");
        let cfg: BalancerConfig = toml::from_str(&checked).unwrap();
        let (warnings, errors) = resolve_servers(&cfg);
        assert!(errors.is_empty());
        assert!(warnings[0].ends_with("DOWN until it resolves"), "{warnings:?}");
    }
}
