//! Request counters as HAProxy's stats keep them, shared by frontends, backends and servers:
//! in flight (with its maximum), totals, bytes, errors, retries and responses by class.
//! Every field is an atomic: the hot path never takes a lock to count.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
    /// Requests the frontend answered itself (a redirect to https), as HAProxy's `intercepted`.
    pub intercepted: AtomicU64,
    /// A frontend's client connections: HAProxy's sessions (`stot`, `scur`, `smax` of a
    /// FRONTEND row), as opposed to its requests (`req_tot`).
    pub sessions: AtomicU64,
    pub sessions_cur: AtomicI64,
    pub sessions_max: AtomicI64,
    /// Requests per second (a server's or backend's `rate`, a frontend's `req_rate`).
    pub req_rate: super::freq::Freq,
    /// Client connections per second (a frontend's `rate`).
    pub sess_rate: super::freq::Freq,
}

/// A client connection counted in while it lasts.
pub struct Session<'a>(&'a Counters);

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.0.sessions_cur.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The status classes of `hrsp`, in order (also the Prometheus `code` label).
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

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
        self.req_rate.hit();
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

    /// Counts a client connection in until the returned guard is dropped.
    pub fn open_session(&self) -> Session<'_> {
        let now = self.sessions_cur.fetch_add(1, Ordering::Relaxed) + 1;
        self.sessions_max.fetch_max(now, Ordering::Relaxed);
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.sess_rate.hit();
        Session(self)
    }

    /// A request answered by the frontend itself with `code`.
    pub fn intercept(&self, code: u16) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.req_rate.hit();
        self.intercepted.fetch_add(1, Ordering::Relaxed);
        self.status(code);
    }

    /// Requests in flight now (never negative in what is shown).
    pub fn current(&self) -> i64 {
        self.cur.load(Ordering::Relaxed).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_taken_atomically_and_cancel_undoes_begin() {
        let c = Counters::default();
        assert!(c.begin_within(Some(1)));
        assert!(!c.begin_within(Some(1)), "the only slot is taken");
        c.cancel();
        assert_eq!((c.current(), c.total.load(Ordering::Relaxed)), (0, 0));
        c.status(204);
        c.status(99);
        assert_eq!(c.hrsp[1].load(Ordering::Relaxed), 1);
        assert_eq!(c.hrsp[5].load(Ordering::Relaxed), 1);
    }
}
