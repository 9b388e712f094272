//! Runtime view of backends and servers: weights, admin state (READY/DRAIN/MAINT), health
//! (UP/DOWN with HAProxy's rise/fall), counters for the stats page, and the choice of a
//! server (smooth weighted round-robin over the servers that may take traffic).
//! Everything here can change at run time (health checks, later the runtime API).

use append_only_vec::AppendOnlyVec;
use netpulse_config::{Backend as BackendConfig, Balance, BalancerConfig, HealthCheck, ServerConfig, Sticky};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What an operator set (HAProxy's admin state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    Ready = 0,
    /// Only sticky sessions reach it.
    Drain = 1,
    /// Takes nothing.
    Maint = 2,
}

/// The last health check, for stats (`check_status`, `check_code`, `check_duration`).
#[derive(Debug, Clone, Default)]
pub struct CheckResult {
    /// L4OK, L4CON, L4TOUT, L7OK, L7STS, L7TOUT, L7RSP.
    pub status: &'static str,
    pub code: Option<u16>,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct Health {
    pub up: bool,
    /// Consecutive results against the current state (toward rise or fall).
    pub streak: u32,
    pub checked: bool,
    pub last: CheckResult,
    pub last_change: Instant,
    pub down_since: Option<Instant>,
    pub downtime: Duration,
    pub failed_checks: u64,
    pub downs: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub cur: AtomicI64,
    pub max: AtomicI64,
    pub total: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub econ: AtomicU64,
    pub eresp: AtomicU64,
    /// Requests refused before reaching a backend (e.g. a 408 for a header too slow).
    pub ereq: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// hrsp_1xx … hrsp_5xx, hrsp_other.
    pub hrsp: [AtomicU64; 6],
}

impl Counters {
    pub fn begin(&self) {
        self.begin_within(None);
    }
    /// Counts a request in unless `limit` are already in flight; the check and the count
    /// are one atomic step, so two workers never both take the last slot.
    pub fn begin_within(&self, limit: Option<i64>) -> bool {
        let taken = self.cur.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            limit.is_none_or(|l| cur < l).then_some(cur + 1)
        });
        let Ok(prev) = taken else { return false };
        self.max.fetch_max(prev + 1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        true
    }
    pub fn end(&self) {
        self.cur.fetch_sub(1, Ordering::Relaxed);
    }
    /// Takes back a `begin` for a request that is handed to another path, which counts it.
    pub fn cancel(&self) {
        self.end();
        self.total.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn status(&self, code: u16) {
        let i = match code {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[i].fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    pub weight: AtomicU32,
    pub initial_weight: u32,
    pub admin: AtomicU8,
    pub maxconn: Option<u32>,
    pub cookie: String,
    pub health: Mutex<Health>,
    pub counters: Counters,
    /// Times chosen by the balancing algorithm (HAProxy `lbtot`).
    pub lbtot: AtomicU64,
    pub checked: bool,
    pub backup: bool,
    /// Deleted on the runtime API: kept (indices stay valid for requests in flight), hidden.
    pub removed: std::sync::atomic::AtomicBool,
}

impl Server {
    fn new(c: &ServerConfig, checked: bool) -> Self {
        Self {
            name: c.name.clone(),
            addr: c.address.parse().expect("validated address"),
            weight: AtomicU32::new(c.weight),
            initial_weight: c.weight,
            admin: AtomicU8::new(if c.disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            maxconn: c.maxconn,
            cookie: c.cookie.clone().unwrap_or_else(|| c.name.clone()),
            // A checked server takes no traffic before it passed a check; an unchecked one is UP.
            health: Mutex::new(Health {
                up: !checked,
                streak: 0,
                checked: false,
                last: CheckResult::default(),
                last_change: Instant::now(),
                down_since: checked.then(Instant::now),
                downtime: Duration::ZERO,
                failed_checks: 0,
                downs: 0,
            }),
            counters: Counters::default(),
            lbtot: AtomicU64::new(0),
            checked,
            backup: c.backup,
            removed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }

    pub fn is_up(&self) -> bool {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).up
    }

    /// May take new, non-sticky traffic.
    pub fn eligible(&self) -> bool {
        self.admin() == Admin::Ready
            && self.weight.load(Ordering::Relaxed) > 0
            && self.is_up()
            && self
                .maxconn
                .is_none_or(|m| self.counters.cur.load(Ordering::Relaxed) < i64::from(m))
    }

    /// Counts a request in, unless the server is at its `maxconn`.
    pub fn try_begin(&self) -> bool {
        self.counters.begin_within(self.maxconn.map(i64::from))
    }

    /// Records a check result; returns `Some(up)` when the state changed.
    pub fn record_check(&self, ok: bool, result: CheckResult, rise: u32, fall: u32) -> Option<bool> {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.last = result;
        if !ok {
            h.failed_checks += 1;
        }
        let first = !h.checked;
        h.checked = true;
        if ok == h.up {
            h.streak = 0;
            return None;
        }
        h.streak += 1;
        // The first check decides at once whether a never-checked server goes UP.
        let flip = if ok {
            first || h.streak >= rise
        } else {
            h.streak >= fall
        };
        if !flip {
            return None;
        }
        h.up = ok;
        h.streak = 0;
        h.last_change = Instant::now();
        if ok {
            if let Some(since) = h.down_since.take() {
                h.downtime += since.elapsed();
            }
        } else {
            h.down_since = Some(Instant::now());
            h.downs += 1;
        }
        Some(ok)
    }
}

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
    /// Smooth weighted round-robin state (nginx's algorithm), one per server.
    current: Mutex<Vec<i64>>,
    pub counters: Counters,
    pub last_change: Mutex<Instant>,
    /// Requests waiting for a server below its `maxconn` (HAProxy's backend queue).
    pub queued: AtomicI64,
    pub queued_max: AtomicI64,
    pub queue_timeout: Duration,
    /// Woken when a request leaves a server that has a `maxconn`.
    pub slot_freed: tokio::sync::Notify,
}

impl Backend {
    fn new(c: &BackendConfig) -> Self {
        let checked = c.health_check.is_some();
        Self {
            name: c.name.clone(),
            servers: {
                let v = AppendOnlyVec::new();
                for s in &c.servers {
                    v.push(Server::new(s, checked && s.check));
                }
                v
            },
            retries: c.retries,
            redispatch: c.redispatch,
            connect_timeout: c.timeouts.connect.get(),
            server_timeout: c.timeouts.server.get(),
            health_check: c.health_check.clone(),
            sticky: c.sticky.clone(),
            balance: c.balance,
            all_backups: c.all_backups,
            current: Mutex::new(vec![0; c.servers.len()]),
            counters: Counters::default(),
            last_change: Mutex::new(Instant::now()),
            queued: AtomicI64::new(0),
            queued_max: AtomicI64::new(0),
            queue_timeout: c.timeouts.queue.unwrap_or(c.timeouts.connect).get(),
            slot_freed: tokio::sync::Notify::new(),
        }
    }

    /// Picks a server and takes one of its request slots in one step, so that two workers
    /// can never both take a server's last slot under `maxconn`.
    pub fn acquire(&self, skip: &[usize]) -> Option<usize> {
        let mut skip = skip.to_vec();
        loop {
            let i = self.pick(&skip)?;
            if self.servers[i].try_begin() {
                // Counted here, not in pick(): a pick whose server turned out full is no pick.
                self.servers[i].lbtot.fetch_add(1, Ordering::Relaxed);
                return Some(i);
            }
            skip.push(i);
        }
    }

    /// Gives back the request slot of server `i` (and wakes the queue if it has a limit).
    pub fn release(&self, i: usize) {
        self.servers[i].counters.end();
        if self.servers[i].maxconn.is_some() {
            self.slot_freed.notify_waiters();
        }
    }

    /// Takes back the pick of server `i` (`acquire`) for a request handed to another path,
    /// which picks and counts it itself: the pick, the request and the slot.
    pub fn cancel_pick(&self, i: usize) {
        self.servers[i].lbtot.fetch_sub(1, Ordering::Relaxed);
        self.servers[i].counters.total.fetch_sub(1, Ordering::Relaxed);
        self.release(i);
    }

    /// Accounts a finished request on its frontend `fe`, this backend and the server it
    /// reached (if any): ends it, counts its status and body bytes (in, out) and, for the
    /// server, a response error; then gives the server's slot back.
    pub fn finish(&self, fe: &Counters, server: Option<usize>, code: u16, bytes: (u64, u64), server_error: bool) {
        let (bin, bout) = bytes;
        for c in [fe, &self.counters] {
            c.end();
            c.status(code);
            c.bytes_in.fetch_add(bin, Ordering::Relaxed);
            c.bytes_out.fetch_add(bout, Ordering::Relaxed);
        }
        if let Some(i) = server {
            let sc = &self.servers[i].counters;
            sc.status(code);
            sc.bytes_in.fetch_add(bin, Ordering::Relaxed);
            sc.bytes_out.fetch_add(bout, Ordering::Relaxed);
            if server_error {
                sc.eresp.fetch_add(1, Ordering::Relaxed);
            }
            self.release(i);
        }
    }

    /// Whether a server would take the request but for its `maxconn`.
    pub fn has_full_server(&self) -> bool {
        self.servers.iter().any(|s| {
            s.maxconn.is_some()
                && s.admin() == Admin::Ready
                && s.weight.load(Ordering::Relaxed) > 0
                && s.is_up()
                && !s.eligible()
        })
    }

    /// Waits in the backend queue for a server below its `maxconn`, at most `queue_timeout`.
    pub async fn pick_queued(&self, skip: &[usize]) -> Option<usize> {
        let now = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        self.queued_max.fetch_max(now, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        let picked = loop {
            let notified = self.slot_freed.notified();
            tokio::pin!(notified);
            // Registered before looking, so a slot freed in between is not missed.
            notified.as_mut().enable();
            if let Some(i) = self.acquire(skip) {
                break Some(i);
            }
            if !self.has_full_server() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                break None;
            }
        };
        self.queued.fetch_sub(1, Ordering::Relaxed);
        picked
    }

    /// Next server among eligible servers not in `skip`: active servers first; when none
    /// can take the request, the first backup (or every backup with `all_backups`).
    pub fn pick(&self, skip: &[usize]) -> Option<usize> {
        let usable = |i: usize, s: &Server, backup: bool| s.backup == backup && !skip.contains(&i) && s.eligible();
        if let Some(i) = self.pick_among(|i, s| usable(i, s, false)) {
            return Some(i);
        }
        if self.all_backups {
            return self.pick_among(|i, s| usable(i, s, true));
        }
        self.servers.iter().enumerate().position(|(i, s)| usable(i, s, true))
    }

    fn pick_among(&self, usable: impl Fn(usize, &Server) -> bool) -> Option<usize> {
        if self.balance == Balance::Leastconn {
            // Fewest requests in flight per unit of weight; ties go round-robin below.
            let load = |s: &Server| {
                let w = i64::from(s.weight.load(Ordering::Relaxed).max(1));
                (s.counters.cur.load(Ordering::Relaxed).max(0) * 256) / w
            };
            let min = self
                .servers
                .iter()
                .enumerate()
                .filter(|(i, s)| usable(*i, s))
                .map(|(_, s)| load(s))
                .min()?;
            return self.smooth_wrr(|i, s| usable(i, s) && load(s) == min);
        }
        self.smooth_wrr(usable)
    }

    /// Smooth weighted round-robin (nginx's): over any window of sum(weights) picks,
    /// each server gets exactly its weight, interleaved.
    fn smooth_wrr(&self, usable: impl Fn(usize, &Server) -> bool) -> Option<usize> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.len() < self.servers.len() {
            cur.resize(self.servers.len(), 0);
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, s) in self.servers.iter().enumerate() {
            if !usable(i, s) {
                continue;
            }
            let w = i64::from(s.weight.load(Ordering::Relaxed));
            cur[i] += w;
            total += w;
            if best.is_none_or(|b| cur[i] > cur[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        cur[b] -= total;
        Some(b)
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
        let pending = || {
            self.servers.iter().any(|s| {
                s.checked && s.admin() != Admin::Maint && !s.health.lock().unwrap_or_else(|p| p.into_inner()).checked
            })
        };
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

    /// An operator's admin state change (runtime API or stats page `via`): logged and shown as
    /// the backend's last change when it changes anything.
    pub fn set_admin(&self, s: &Server, to: Admin, via: &str) {
        if s.admin.swap(to as u8, Ordering::Relaxed) != to as u8 {
            *self.last_change.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            tracing::warn!(backend = %self.name, server = %s.name, state = ?to, via, "server admin state changed");
        }
    }

    /// HAProxy's `add server`: a new server, in maintenance until enabled.
    pub fn add_server(&self, c: &ServerConfig) -> Result<usize, String> {
        if self.server_named(&c.name).is_some() {
            return Err("Already exists a server with the same name in backend.".into());
        }
        c.address
            .parse::<SocketAddr>()
            .map_err(|_| format!("'{}' is not an IP:PORT address.", c.address))?;
        let s = Server::new(c, self.health_check.is_some() && c.check);
        s.admin.store(Admin::Maint as u8, Ordering::Relaxed);
        Ok(self.servers.push(s))
    }

    /// HAProxy's `del server`: only a server in maintenance without requests in flight.
    pub fn remove_server(&self, name: &str) -> Result<(), String> {
        let (_, s) = self.server_named(name).ok_or("No such server.")?;
        if s.admin() != Admin::Maint {
            return Err("Only servers in maintenance mode can be deleted.".into());
        }
        if s.counters.cur.load(Ordering::Relaxed) > 0 {
            return Err("Server still has connections attached to it, cannot remove it.".into());
        }
        s.removed.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub fn up_servers(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.admin() != Admin::Maint && s.is_up())
            .count()
    }
}

pub struct Pool {
    pub backends: Vec<Backend>,
}

impl Pool {
    pub fn new(cfg: &BalancerConfig) -> Self {
        Self {
            backends: cfg.backends.iter().map(Backend::new).collect(),
        }
    }

    pub fn backend(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(weights: &[u32], checked: bool) -> Backend {
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
    fn smooth_weighted_round_robin_is_exact_and_interleaved() {
        let b = backend(&[1, 1, 2], false);
        let picks: Vec<usize> = (0..8).map(|_| b.pick(&[]).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 2).count(), 4);
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 2);
        assert!(
            picks.windows(2).all(|w| w[0] != w[1] || w[0] == 2),
            "interleaved: {picks:?}"
        );
        assert_eq!(b.pick(&[0, 1, 2]), None);
        b.servers[2].admin.store(Admin::Maint as u8, Ordering::Relaxed);
        assert!((0..10).all(|_| b.pick(&[]).unwrap() != 2));
    }

    #[test]
    fn rise_and_fall_like_haproxy() {
        let b = backend(&[1], true);
        let s = &b.servers[0];
        assert!(!s.eligible(), "no traffic before a passed check");
        let ok = || CheckResult {
            status: "L7OK",
            code: Some(204),
            duration: Duration::ZERO,
        };
        let ko = || CheckResult {
            status: "L4CON",
            code: None,
            duration: Duration::ZERO,
        };
        assert_eq!(s.record_check(true, ok(), 2, 3), Some(true), "first pass brings it up");
        assert_eq!(s.record_check(false, ko(), 2, 3), None);
        assert_eq!(s.record_check(false, ko(), 2, 3), None);
        assert_eq!(s.record_check(false, ko(), 2, 3), Some(false), "down after fall=3");
        assert_eq!(s.record_check(true, ok(), 2, 3), None);
        assert_eq!(s.record_check(true, ok(), 2, 3), Some(true), "up after rise=2");
        assert_eq!(s.health.lock().unwrap().downs, 1);
    }

    #[test]
    fn backups_only_when_no_active_server_and_leastconn_prefers_idle() {
        let mut cfg = BackendConfig {
            name: "b".into(),
            servers: (0..4)
                .map(|i| ServerConfig {
                    name: format!("s{i}"),
                    address: format!("127.0.0.1:{}", 1000 + i),
                    backup: i >= 2,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let b = Backend::new(&cfg);
        assert!((0..6).all(|_| b.pick(&[]).unwrap() < 2));
        assert_eq!(b.pick(&[0, 1]), Some(2), "first backup only");
        assert_eq!(b.pick(&[0, 1]), Some(2));
        cfg.all_backups = true;
        let b = Backend::new(&cfg);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&[0, 1]).unwrap()).collect();
        assert_eq!(picks, [2, 3, 2, 3]);
        cfg.balance = Balance::Leastconn;
        let b = Backend::new(&cfg);
        b.servers[0].counters.begin();
        assert_eq!(b.pick(&[]), Some(1));
        assert_eq!(b.pick(&[]), Some(1), "still the idle one");
    }
}
