//! One server of a backend as it is at run time: its weight and admin state (what an
//! operator set), its health (what the checks found, with HAProxy's rise/fall), its
//! counters, and the state text the stats and the runtime API show.

use super::counters::Counters;
use netpulse_config::{HealthCheck, ServerConfig};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
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

/// What one health check found, with HAProxy's names (`check_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckStatus {
    /// Not checked yet.
    #[default]
    None,
    /// TCP connect passed (a TCP check).
    L4Ok,
    /// Connect refused or failed.
    L4Con,
    /// Connect timed out.
    L4Tout,
    /// The HTTP answer passed.
    L7Ok,
    /// An HTTP status that does not pass.
    L7Sts,
    /// No HTTP answer in time.
    L7Tout,
    /// No valid HTTP answer.
    L7Rsp,
}

impl CheckStatus {
    /// A check that ran and did not pass.
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::None | Self::L4Ok | Self::L7Ok)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::L4Ok => "L4OK",
            Self::L4Con => "L4CON",
            Self::L4Tout => "L4TOUT",
            Self::L7Ok => "L7OK",
            Self::L7Sts => "L7STS",
            Self::L7Tout => "L7TOUT",
            Self::L7Rsp => "L7RSP",
        }
    }

    /// HAProxy's `HCHK_STATUS_*` number (`show servers state`).
    pub fn haproxy_code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::L4Ok => 6,
            Self::L4Tout => 7,
            Self::L4Con => 8,
            Self::L7Tout => 12,
            Self::L7Rsp => 13,
            Self::L7Ok => 14,
            Self::L7Sts => 16,
        }
    }
}

/// The last health check, for stats (`check_status`, `check_code`, `check_duration`).
#[derive(Debug, Clone, Default)]
pub struct CheckResult {
    pub status: CheckStatus,
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

/// A server's state as HAProxy's stats print it (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Maint,
    Drain,
    /// Not health-checked: always taking traffic.
    NoCheck,
    /// UP; `failing` checks have failed since, of `fall` (`UP 1/3`).
    Up {
        failing: u32,
        fall: u32,
    },
    /// DOWN; `passing` checks have passed since, of `rise` (`DOWN 1/2`).
    Down {
        passing: u32,
        rise: u32,
    },
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Maint => f.write_str("MAINT"),
            Self::Drain => f.write_str("DRAIN"),
            Self::NoCheck => f.write_str("no check"),
            Self::Up { failing: 0, .. } => f.write_str("UP"),
            Self::Up { failing, fall } => write!(f, "UP {}/{fall}", fall.saturating_sub(failing)),
            Self::Down { passing: 0, .. } => f.write_str("DOWN"),
            Self::Down { passing, rise } => write!(f, "DOWN {passing}/{rise}"),
        }
    }
}

pub struct Server {
    pub name: String,
    pub addr: super::ServerAddr,
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
    pub removed: AtomicBool,
}

impl Server {
    /// `c.address` was validated with the config (or by `add server`).
    pub(super) fn new(c: &ServerConfig, checked: bool) -> Self {
        let addr = super::ServerAddr::new(&c.address, checked);
        let admin = if c.disabled { Admin::Maint } else { Admin::Ready };
        Self {
            name: c.name.clone(),
            addr,
            weight: AtomicU32::new(c.weight),
            initial_weight: c.weight,
            admin: AtomicU8::new(admin as u8),
            maxconn: c.maxconn,
            cookie: c.cookie_value().to_string(),
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
            removed: AtomicBool::new(false),
        }
    }

    pub fn admin(&self) -> Admin {
        match self.admin.load(Ordering::Relaxed) {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }

    /// The health record; a poisoned lock still holds valid counters.
    pub fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_up(&self) -> bool {
        self.health().up
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Would take new, non-sticky traffic but for its `maxconn`.
    pub fn available(&self) -> bool {
        self.admin() == Admin::Ready && self.weight() > 0 && self.is_up()
    }

    /// May take new, non-sticky traffic.
    pub fn eligible(&self) -> bool {
        self.available() && self.maxconn.is_none_or(|m| self.counters.current() < i64::from(m))
    }

    /// Counts a request in, unless the server is at its `maxconn`.
    pub fn try_begin(&self) -> bool {
        self.counters.begin_within(self.maxconn.map(i64::from))
    }

    /// The state the stats show; `hc` is the backend's health check.
    pub fn state(&self, hc: Option<&HealthCheck>) -> ServerState {
        let h = self.health();
        let (rise, fall) = hc.map_or((1, 1), |c| (c.rise, c.fall));
        match self.admin() {
            Admin::Maint => ServerState::Maint,
            Admin::Drain if h.up => ServerState::Drain,
            _ if !self.checked => ServerState::NoCheck,
            _ if !h.checked => ServerState::Down { passing: 0, rise },
            _ if h.up => ServerState::Up {
                failing: h.streak,
                fall,
            },
            _ => ServerState::Down {
                passing: h.streak,
                rise,
            },
        }
    }

    /// Records a check result; returns `Some(up)` when the state changed.
    pub fn record_check(&self, ok: bool, result: CheckResult, rise: u32, fall: u32) -> Option<bool> {
        let mut h = self.health();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server(checked: bool) -> Server {
        let c = ServerConfig {
            name: "s".into(),
            address: "127.0.0.1:1".into(),
            ..Default::default()
        };
        Server::new(&c, checked)
    }

    fn result(status: CheckStatus) -> CheckResult {
        CheckResult {
            status,
            code: None,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn rise_and_fall_like_haproxy() {
        let s = server(true);
        assert!(!s.eligible(), "no traffic before a passed check");
        let (ok, ko) = (|| result(CheckStatus::L7Ok), || result(CheckStatus::L4Con));
        assert_eq!(s.record_check(true, ok(), 2, 3), Some(true), "first pass brings it up");
        assert_eq!(s.record_check(false, ko(), 2, 3), None);
        assert_eq!(s.record_check(false, ko(), 2, 3), None);
        assert_eq!(s.record_check(false, ko(), 2, 3), Some(false), "down after fall=3");
        assert_eq!(s.record_check(true, ok(), 2, 3), None);
        assert_eq!(s.record_check(true, ok(), 2, 3), Some(true), "up after rise=2");
        assert_eq!(s.health().downs, 1);
    }

    #[test]
    fn state_texts_are_haproxys() {
        let hc = HealthCheck::default();
        let s = server(true);
        assert_eq!(s.state(Some(&hc)).to_string(), "DOWN");
        s.record_check(true, result(CheckStatus::L7Ok), hc.rise, hc.fall);
        s.record_check(false, result(CheckStatus::L7Sts), hc.rise, hc.fall);
        assert_eq!(s.state(Some(&hc)).to_string(), "UP 2/3");
        s.admin.store(Admin::Drain as u8, Ordering::Relaxed);
        assert_eq!(s.state(Some(&hc)).to_string(), "DRAIN");
        s.admin.store(Admin::Maint as u8, Ordering::Relaxed);
        assert_eq!(s.state(Some(&hc)), ServerState::Maint);
        assert_eq!(server(false).state(None).to_string(), "no check");
        assert_eq!(CheckStatus::L7Ok.haproxy_code(), 14);
    }
}
