//! Which server takes the next request: smooth weighted round-robin (nginx's) over the
//! servers that may take traffic, leastconn by requests in flight per unit of weight, and
//! HAProxy's backups (the first, or all with `all_backups`) when no active server can.

use super::backend::Backend;
use super::server::Server;
use netpulse_config::Balance;

impl Backend {
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
            let load = |s: &Server| (s.counters.current() * 256) / i64::from(s.weight().max(1));
            let min = (self.servers.iter().enumerate())
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
            let w = i64::from(s.weight());
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
}

#[cfg(test)]
mod tests {
    use super::super::backend::tests::backend;
    use super::super::server::Admin;
    use netpulse_config::{Backend as BackendConfig, Balance, ServerConfig};
    use std::sync::atomic::Ordering;

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
        let b = super::Backend::new(&cfg);
        assert!((0..6).all(|_| b.pick(&[]).unwrap() < 2));
        assert_eq!(b.pick(&[0, 1]), Some(2), "first backup only");
        assert_eq!(b.pick(&[0, 1]), Some(2));
        cfg.all_backups = true;
        let b = super::Backend::new(&cfg);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&[0, 1]).unwrap()).collect();
        assert_eq!(picks, [2, 3, 2, 3]);
        cfg.balance = Balance::Leastconn;
        let b = super::Backend::new(&cfg);
        b.servers[0].counters.begin();
        assert_eq!(b.pick(&[]), Some(1));
        assert_eq!(b.pick(&[]), Some(1), "still the idle one");
    }
}
