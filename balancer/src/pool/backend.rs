//! A backend at run time: its servers (append-only, so indices held by requests in flight
//! stay valid), its settings from the config, the accounting of a finished request, sticky
//! lookups and the operator's changes (admin state, `add server`, `del server`).

use super::counters::Counters;
use super::server::{Admin, Server};
use super::slot::Slot;
use append_only_vec::AppendOnlyVec;
use netpulse_config::{Backend as BackendConfig, Balance, HealthCheck, ServerConfig, Sticky};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

pub struct Backend {
    pub name: String,
    /// Append-only, so that a server's index stays valid while servers are added at run time.
    pub servers: AppendOnlyVec<Server>,
    pub retries: u32,
    pub redispatch: bool,
    pub connect_timeout: Duration,
    pub server_timeout: Duration,
    pub health_check: Option<HealthCheck>,
    pub sticky: Option<Sticky>,
    pub balance: Balance,
    pub all_backups: bool,
    /// Every request goes to every server through a queue each (`mirror/`): never the express
    /// lane's, servers only from the configuration. The one answer to "is it mirrored?".
    pub mirrored: bool,
    /// Smooth weighted round-robin state (nginx's algorithm), one per server (`select`).
    pub(super) current: Mutex<Vec<i64>>,
    pub counters: Counters,
    pub last_change: Mutex<Instant>,
    /// Requests waiting for a server below its `maxconn` (HAProxy's backend queue).
    pub queued: AtomicI64,
    pub queued_max: AtomicI64,
    pub queue_timeout: Duration,
    /// Woken when a request leaves a server that has a `maxconn`.
    pub(super) slot_freed: tokio::sync::Notify,
}

impl Backend {
    pub(super) fn new(c: &BackendConfig) -> Self {
        let checked = c.health_check.is_some();
        let servers = AppendOnlyVec::new();
        for s in &c.servers {
            servers.push(Server::new(s, checked && s.check));
        }
        Self {
            name: c.name.clone(),
            servers,
            retries: c.retries,
            redispatch: c.redispatch,
            connect_timeout: c.timeouts.connect.get(),
            server_timeout: c.timeouts.server.get(),
            health_check: c.health_check.clone(),
            sticky: c.sticky.clone(),
            balance: c.balance,
            all_backups: c.all_backups,
            mirrored: c.mirror.is_some(),
            current: Mutex::new(vec![0; c.servers.len()]),
            counters: Counters::default(),
            last_change: Mutex::new(Instant::now()),
            queued: AtomicI64::new(0),
            queued_max: AtomicI64::new(0),
            queue_timeout: c.timeouts.queue().get(),
            slot_freed: tokio::sync::Notify::new(),
        }
    }

    /// Accounts a finished request on its frontend `fe`, this backend and the server it
    /// reached (if any): ends it, counts its status and body bytes (in, out) and, for the
    /// server, a response error; then gives the server's slot back (dropping it).
    pub fn finish(&self, fe: &Counters, slot: Option<Slot>, code: u16, bytes: (u64, u64), server_error: bool) {
        let (bin, bout) = bytes;
        for c in [fe, &self.counters] {
            c.end();
            c.status(code);
            c.bytes_in.fetch_add(bin, Ordering::Relaxed);
            c.bytes_out.fetch_add(bout, Ordering::Relaxed);
        }
        if let Some(slot) = slot {
            let sc = &self.servers[slot.server()].counters;
            sc.status(code);
            sc.bytes_in.fetch_add(bin, Ordering::Relaxed);
            sc.bytes_out.fetch_add(bout, Ordering::Relaxed);
            if server_error {
                sc.eresp.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The server whose cookie value is `value`, if it may take this sticky request
    /// (UP and not in maintenance; DRAIN still takes its sticky sessions).
    pub fn sticky_server(&self, value: &str) -> Option<usize> {
        self.servers
            .iter()
            .position(|s| s.cookie == value && s.admin() != Admin::Maint && s.is_up())
    }

    /// Right after start (or a graceful upgrade) no server has passed a check yet: rather
    /// than answer 503, wait for the first checks, at most one check timeout.
    /// Returns whether it waited.
    pub async fn wait_first_checks(&self) -> bool {
        let Some(hc) = &self.health_check else { return false };
        let deadline = Instant::now() + hc.timeout.get() + Duration::from_millis(50);
        let pending = || (self.servers.iter()).any(|s| s.checked && s.admin() != Admin::Maint && !s.health().checked);
        let mut waited = false;
        while pending() && self.servers.iter().all(|s| !s.eligible()) && Instant::now() < deadline {
            waited = true;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waited
    }

    /// The servers not deleted at run time, with their indices (stats `sid` is index + 1).
    pub fn live_servers(&self) -> impl Iterator<Item = (usize, &Server)> {
        self.servers
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.removed.load(Ordering::Relaxed))
    }

    /// The live (not deleted) server called `name`.
    pub fn server_named(&self, name: &str) -> Option<(usize, &Server)> {
        self.live_servers().find(|(_, s)| s.name == name)
    }

    /// Marks a change of the backend's servers for the stats (`lastchg`).
    pub fn changed(&self) {
        *self.last_change.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// An operator's admin state change (runtime API or stats page `via`): logged and shown as
    /// the backend's last change when it changes anything.
    pub fn set_admin(&self, s: &Server, to: Admin, via: &str) {
        if s.admin.swap(to as u8, Ordering::Relaxed) != to as u8 {
            self.changed();
            tracing::warn!(backend = %self.name, server = %s.name, state = ?to, via, "server admin state changed");
        }
    }

    /// HAProxy's `add server`: a new server, in maintenance until enabled.
    pub fn add_server(&self, c: &ServerConfig) -> Result<usize, String> {
        if self.server_named(&c.name).is_some() {
            return Err("Already exists a server with the same name in backend.".into());
        }
        netpulse_config::resolve_host_port(&c.address).map_err(|e| format!("{e}."))?;
        let s = Server::new(c, self.health_check.is_some() && c.check);
        s.admin.store(Admin::Maint as u8, Ordering::Relaxed);
        Ok(self.servers.push(s))
    }

    /// HAProxy's `del server`: only a server in maintenance without requests in flight.
    /// Returns its index (its pooled connections are then closed by the caller).
    pub fn remove_server(&self, name: &str) -> Result<usize, String> {
        let (j, s) = self.server_named(name).ok_or("No such server.")?;
        if s.admin() != Admin::Maint {
            return Err("Only servers in maintenance mode can be deleted.".into());
        }
        if s.counters.current() > 0 {
            return Err("Server still has connections attached to it, cannot remove it.".into());
        }
        s.removed.store(true, Ordering::Relaxed);
        Ok(j)
    }

    pub fn up_servers(&self) -> usize {
        (self.servers.iter())
            .filter(|s| s.admin() != Admin::Maint && s.is_up())
            .count()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A backend of servers with these weights on loopback ports 1000+.
    pub fn backend(weights: &[u32], checked: bool) -> Backend {
        let cfg = BackendConfig {
            name: "b".into(),
            servers: weights
                .iter()
                .enumerate()
                .map(|(i, w)| ServerConfig {
                    name: format!("s{i}"),
                    address: format!("127.0.0.1:{}", 1000 + i),
                    weight: *w,
                    ..Default::default()
                })
                .collect(),
            health_check: checked.then(HealthCheck::default),
            ..Default::default()
        };
        Backend::new(&cfg)
    }

    #[test]
    fn added_servers_start_in_maintenance_and_only_those_can_be_deleted() {
        let b = backend(&[1], false);
        let c = ServerConfig {
            name: "new".into(),
            address: "127.0.0.1:2000".into(),
            ..Default::default()
        };
        assert_eq!(b.add_server(&c), Ok(1));
        assert!(b.add_server(&c).is_err(), "same name");
        assert_eq!(b.servers[1].admin(), Admin::Maint);
        assert!(b.remove_server("s0").is_err(), "s0 is READY");
        assert!(b.remove_server("new").is_ok());
        assert_eq!(b.live_servers().count(), 1);
    }
}
