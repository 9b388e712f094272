//! Server host names to addresses, once, when a balancer configuration is loaded (HAProxy's
//! default `init-addr libc`): `influxdb-0:8086` in compose or Kubernetes becomes an `IP:PORT`
//! before anything runs, and a name that does not resolve is a configuration error naming the
//! server, as `haproxy -c` reports it. IPv4 is preferred where a name has both families.

use crate::BalancerConfig;
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

/// Every server address of `cfg` as `IP:PORT`; all failures at once, each naming its server.
pub fn resolve_servers(cfg: &mut BalancerConfig) -> Result<(), Vec<String>> {
    let mut problems = vec![];
    for b in &mut cfg.backends {
        for s in &mut b.servers {
            match resolve_host_port(&s.address) {
                Ok(a) => s.address = a.to_string(),
                Err(e) => problems.push(format!("backend '{}' server '{}': {e}", b.name, s.name)),
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_addresses_and_failures_name_the_server() {
        assert_eq!(resolve_host_port("localhost:80").unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(resolve_host_port("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(resolve_host_port("127.0.0.1").unwrap_err().contains("needs a port"));
        let mut cfg: BalancerConfig = toml::from_str(
            "[[frontends]]\nname = \"f\"\nlisten = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backends]]\nname = \"b\"\nservers = [ { name = \"a\", address = \"localhost:8086\" }, { name = \"x\", address = \"no-such-host.invalid:1\" } ]\n",
        )
        .unwrap();
        let errs = resolve_servers(&mut cfg).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("backend 'b' server 'x': 'no-such-host.invalid' cannot be resolved"),
            "{errs:?}"
        );
        assert_eq!(cfg.backends[0].servers[0].address, "127.0.0.1:8086");
    }
}
