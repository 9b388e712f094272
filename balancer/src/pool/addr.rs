//! A server's address. An `IP:PORT` never changes; a `HOST:PORT` is resolved at start and again
//! by the server's health checks (HAProxy's `init-addr last,libc,none` with a resolvers
//! section, in one setting): a compose service recreated with a new IP, or one not running yet,
//! is followed without a restart. A name that has never resolved has no address: the server is
//! DOWN (its checks fail) and a request never connects to it.

use arc_swap::ArcSwapOption;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a resolved name is trusted while its checks pass (HAProxy's `hold valid 10s`).
const HOLD_VALID: Duration = Duration::from_secs(10);

pub struct ServerAddr {
    /// The configured `HOST:PORT`, when it is a name.
    host: Option<String>,
    current: ArcSwapOption<SocketAddr>,
    last_resolved: Mutex<Option<Instant>>,
    /// The first failure of a never-resolved name was logged.
    warned: AtomicBool,
}

impl ServerAddr {
    /// From the configured address. The name of an unchecked server is resolved now (blocking,
    /// at start-up: it takes traffic at once); a checked server's waits for its first check,
    /// so a name that resolves slowly or not at all (a DNS timeout) never delays the start.
    pub fn new(configured: &str, checked: bool) -> Self {
        if let Ok(a) = configured.parse::<SocketAddr>() {
            return Self {
                host: None,
                current: ArcSwapOption::from_pointee(a),
                last_resolved: Mutex::new(None),
                warned: AtomicBool::new(false),
            };
        }
        let a = Self {
            host: Some(configured.to_string()),
            current: ArcSwapOption::empty(),
            last_resolved: Mutex::new(None),
            warned: AtomicBool::new(false),
        };
        if checked {
            return a;
        }
        match netpulse_config::resolve_host_port(configured) {
            Ok(ip) => a.set(ip),
            Err(e) => {
                tracing::warn!(address = configured, error = %e, "server name does not resolve yet: DOWN until it does")
            }
        }
        a
    }

    /// The address to connect to; `None` while a name has never resolved.
    pub fn get(&self) -> Option<SocketAddr> {
        self.current.load().as_deref().copied()
    }

    /// What the stats and the runtime API show: the address, or the name while unresolved.
    pub fn shown(&self) -> String {
        match (self.get(), &self.host) {
            (Some(a), _) => a.to_string(),
            (None, Some(h)) => h.clone(),
            (None, None) => String::new(),
        }
    }

    fn set(&self, a: SocketAddr) {
        self.current.store(Some(Arc::new(a)));
        *self.last_resolved.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Resolves the name again when it is due: never resolved, older than the hold time, or the
    /// last check failed (the service may have moved). An IP address is never due.
    pub async fn refresh(&self, last_check_failed: bool) {
        let Some(host) = &self.host else { return };
        let due = match *self.last_resolved.lock().unwrap_or_else(|p| p.into_inner()) {
            None => true,
            Some(at) => last_check_failed || at.elapsed() >= HOLD_VALID,
        };
        if !due {
            return;
        }
        let found = tokio::net::lookup_host(host.as_str())
            .await
            .map(|it| it.collect::<Vec<_>>());
        match found {
            Ok(addrs) if !addrs.is_empty() => {
                let a = *addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]);
                let before = self.get();
                if before != Some(a) {
                    tracing::warn!(address = %host, from = ?before, to = %a, "server name resolves to a new address");
                }
                self.set(a);
            }
            // The last address stays (a DNS outage must not take healthy servers away).
            failed => {
                let error = failed.map_or_else(|e| e.to_string(), |_| "no address".into());
                if self.get().is_none() && !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(address = %host, %error, "server name does not resolve yet: DOWN until it does");
                } else {
                    tracing::debug!(address = %host, %error, "server name does not resolve");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_fixed_and_names_resolve_or_wait() {
        let ip = ServerAddr::new("127.0.0.1:80", true);
        assert_eq!(ip.get(), Some("127.0.0.1:80".parse().unwrap()));
        let name = ServerAddr::new("localhost:81", false);
        assert_eq!(name.get(), Some("127.0.0.1:81".parse().unwrap()));
        let gone = ServerAddr::new("no-such-host.invalid:82", false);
        assert_eq!(gone.get(), None);
        assert_eq!(gone.shown(), "no-such-host.invalid:82");
    }

    #[tokio::test]
    async fn a_checked_name_resolves_at_its_first_check_and_is_held() {
        let a = ServerAddr::new("localhost:83", true);
        assert_eq!(a.get(), None, "not resolved before the first check");
        a.refresh(false).await;
        assert_eq!(a.get(), Some("127.0.0.1:83".parse().unwrap()));
        let gone = ServerAddr::new("no-such-host.invalid:84", true);
        gone.refresh(true).await;
        assert_eq!(gone.get(), None);
    }
}
