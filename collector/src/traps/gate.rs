//! Which notifications are taken, decided before an inform is answered: v1/v2c by community
//! (compared in constant time), v3 users pinned to a sender engine, and a token bucket per
//! sending address so one device cannot flood the queues.

use crate::snmp::traps::Envelope;
use netpulse_config::{TrapsConfig, engine_id_bytes};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Why a notification was refused (the `reason` label of `netpulse_traps_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    UnknownCommunity,
    UnknownEngine,
    RateLimited,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::UnknownCommunity => "unknown_community",
            Refused::UnknownEngine => "unknown_engine",
            Refused::RateLimited => "rate_limited",
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Senders remembered by the rate limit; beyond this, idle ones are forgotten.
const MAX_SOURCES: usize = 65_536;

pub struct Gate {
    communities: Vec<Vec<u8>>,
    pinned: HashMap<Vec<u8>, Vec<u8>>,
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Gate {
    pub fn new(cfg: &TrapsConfig) -> Self {
        Self {
            communities: (cfg.communities.iter())
                .map(|c| c.expose().as_bytes().to_vec())
                .collect(),
            pinned: (cfg.users.iter())
                .filter_map(|u| Some((u.user.clone().into_bytes(), engine_id_bytes(u.engine_id.as_deref()?)?)))
                .collect(),
            per_second: f64::from(cfg.rate_limit.per_source.max(1)),
            burst: f64::from(cfg.rate_limit.burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, env: &Envelope<'_>) -> Result<(), Refused> {
        if let Some(c) = env.community
            && !self.communities.iter().any(|k| same(k, c))
        {
            return Err(Refused::UnknownCommunity);
        }
        if let (Some(user), Some(engine)) = (env.user, env.context_engine)
            && self.pinned.get(user).is_some_and(|want| want.as_slice() != engine)
        {
            return Err(Refused::UnknownEngine);
        }
        self.take(env.source.ip(), Instant::now())
    }

    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() >= MAX_SOURCES && !b.contains_key(&ip) {
            let (rate, burst) = (self.per_second, self.burst);
            b.retain(|_, k| k.tokens + now.duration_since(k.at).as_secs_f64() * rate < burst);
        }
        let k = b.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        k.tokens = (k.tokens + now.duration_since(k.at).as_secs_f64() * self.per_second).min(self.burst);
        k.at = now;
        if k.tokens < 1.0 {
            return Err(Refused::RateLimited);
        }
        k.tokens -= 1.0;
        Ok(())
    }
}

/// Equality whose time does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_config::TrapRateLimit;

    fn env<'a>(community: Option<&'a [u8]>) -> Envelope<'a> {
        Envelope {
            source: "127.0.0.9:1000".parse().unwrap(),
            version: "2c",
            community,
            user: None,
            context_engine: None,
        }
    }

    #[test]
    fn communities_and_the_rate_limit_refuse_and_say_why() {
        let cfg = TrapsConfig {
            rate_limit: TrapRateLimit {
                per_source: 10,
                burst: 20,
            },
            ..TrapsConfig::default()
        };
        let g = Gate::new(&cfg);
        assert_eq!(g.admit(&env(Some(b"private"))), Err(Refused::UnknownCommunity));
        let t0 = Instant::now();
        let ip = "127.0.0.9".parse().unwrap();
        let taken = (0..100).filter(|_| g.take(ip, t0).is_ok()).count();
        assert_eq!(taken, 20, "the burst, then nothing");
        // One second later: per_source more.
        let t1 = t0 + std::time::Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| g.take(ip, t1).is_ok()).count(), 10);
        assert!(
            g.take("127.0.0.10".parse().unwrap(), t1).is_ok(),
            "another sender has its own bucket"
        );
    }
}
