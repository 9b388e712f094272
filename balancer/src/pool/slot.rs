//! A request's claim on a server ([`Slot`]) and the one way both request paths get it
//! ([`Pool::choose`]): the sticky session's server, else the same server again (a retry without
//! redispatch), else a balanced pick that takes a slot under `maxconn` — waiting for the first
//! checks and in the backend queue when the path may wait. Redispatches are counted here. A
//! slot gives its server back when dropped; `Backend::finish` accounts the request first;
//! `hand_over` takes back every count for a request another path will count itself.

use super::{Backend, Pool};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// How the request asks for a server.
#[derive(Default)]
pub struct Ask<'a> {
    /// The value of the backend's persistence cookie in the request, if it has one.
    pub session: Option<&'a str>,
    /// Servers this request already tried (its earlier attempts), the last one last.
    pub tried: &'a [usize],
    /// Whether the path may wait (first checks, the backend queue) and redispatch a session
    /// whose server is gone; the express lane may not, it hands such requests to Pingora.
    pub patient: bool,
}

/// Why no server was chosen: both are HAProxy's 503, or a hand-over on the express lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoSlot {
    #[error("sticky server unavailable")]
    StickyGone,
    #[error("no server available")]
    NoServer,
}

/// How a slot's server was chosen: it decides what `hand_over` takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// The session's server, counted in past `maxconn` as HAProxy does.
    Sticky,
    /// The same server again, for a retry that may not redispatch.
    Again,
    /// A balanced pick: the slot was taken under `maxconn` and the pick counted (`lbtot`).
    Picked,
}

/// A request slot on one server: counted in when chosen, given back when dropped.
pub struct Slot {
    pool: Arc<Pool>,
    backend: usize,
    server: usize,
    how: How,
}

impl Slot {
    pub fn server(&self) -> usize {
        self.server
    }

    /// Whether the request starts a sticky session (a balanced pick on a sticky backend): its
    /// response carries the server's cookie.
    pub fn new_session(&self) -> bool {
        self.how == How::Picked && self.pool.backends[self.backend].sticky.is_some()
    }

    /// Takes back everything choosing this slot counted, for a request handed to another
    /// path, which chooses and counts it itself.
    pub fn hand_over(self) {
        let s = &self.pool.backends[self.backend].servers[self.server];
        if self.how == How::Picked {
            s.lbtot.fetch_sub(1, Ordering::Relaxed);
        }
        s.counters.total.fetch_sub(1, Ordering::Relaxed);
        // Dropping gives the slot back.
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.backends[self.backend].release(self.server);
    }
}

impl Pool {
    /// The server for a request to backend `bi`, as `ask` allows; see the module's doc.
    pub async fn choose(self: &Arc<Self>, bi: usize, ask: Ask<'_>) -> Result<Slot, NoSlot> {
        if let Some(slot) = self.settled(bi, &ask)? {
            return Ok(slot);
        }
        let b = &self.backends[bi];
        let i = b.pick_slot(ask.tried, ask.patient).await.ok_or(NoSlot::NoServer)?;
        Ok(self.picked(bi, i, ask.tried))
    }

    /// `choose` for a path that never waits (the express lane: `ask.patient` is false), without
    /// an `await` on the hot path.
    pub fn choose_now(self: &Arc<Self>, bi: usize, ask: Ask<'_>) -> Result<Slot, NoSlot> {
        debug_assert!(!ask.patient, "a patient request waits: choose");
        if let Some(slot) = self.settled(bi, &ask)? {
            return Ok(slot);
        }
        let i = self.backends[bi].acquire(ask.tried).ok_or(NoSlot::NoServer)?;
        Ok(self.picked(bi, i, ask.tried))
    }

    /// The choices made before any pick: the session's server (or why it cannot be had), and
    /// the same server again for a retry that may not redispatch. `None`: a pick is needed.
    fn settled(self: &Arc<Self>, bi: usize, ask: &Ask<'_>) -> Result<Option<Slot>, NoSlot> {
        let b = &self.backends[bi];
        if ask.tried.is_empty()
            && b.sticky.is_some()
            && let Some(v) = ask.session
        {
            match b.sticky_server(v) {
                Some(i) => {
                    b.servers[i].counters.begin();
                    return Ok(Some(self.slot(bi, i, How::Sticky)));
                }
                None if !ask.patient || !b.redispatch => return Err(NoSlot::StickyGone),
                // Its server is gone: redispatched, and the new server's cookie is set.
                None => b.counters.redispatches.fetch_add(1, Ordering::Relaxed),
            };
        }
        if let (Some(&last), false) = (ask.tried.last(), b.redispatch) {
            b.servers[last].counters.begin();
            return Ok(Some(self.slot(bi, last, How::Again)));
        }
        Ok(None)
    }

    /// The slot of a balanced pick of server `i`; a retry that lands elsewhere is a redispatch.
    fn picked(self: &Arc<Self>, bi: usize, i: usize, tried: &[usize]) -> Slot {
        if let Some(&last) = tried.last()
            && last != i
        {
            let b = &self.backends[bi];
            b.counters.redispatches.fetch_add(1, Ordering::Relaxed);
            b.servers[i].counters.redispatches.fetch_add(1, Ordering::Relaxed);
        }
        self.slot(bi, i, How::Picked)
    }

    fn slot(self: &Arc<Self>, backend: usize, server: usize, how: How) -> Slot {
        Slot {
            pool: self.clone(),
            backend,
            server,
            how,
        }
    }
}

impl Backend {
    /// A balanced pick with its slot; a patient request waits for the first checks after
    /// start and in the backend queue for a server below its `maxconn`.
    async fn pick_slot(&self, tried: &[usize], patient: bool) -> Option<usize> {
        let mut i = self.acquire(tried);
        if patient && i.is_none() && tried.is_empty() && self.wait_first_checks().await {
            i = self.acquire(tried);
        }
        if patient && i.is_none() && self.has_full_server() {
            i = self.pick_queued(tried).await;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_config::{Backend as BackendConfig, BalancerConfig, ServerConfig, Sticky};

    fn pool(redispatch: bool) -> Arc<Pool> {
        let servers = (0..2)
            .map(|i| ServerConfig {
                name: format!("s{i}"),
                address: format!("127.0.0.1:{}", 1000 + i),
                cookie: Some(format!("c{i}")),
                ..Default::default()
            })
            .collect();
        let b = BackendConfig {
            name: "b".into(),
            servers,
            sticky: Some(Sticky {
                cookie: "SERVERID".into(),
                mode: Default::default(),
            }),
            redispatch,
            ..Default::default()
        };
        let cfg = BalancerConfig {
            backends: vec![b],
            ..Default::default()
        };
        Arc::new(Pool::new(&cfg))
    }

    fn counts(p: &Pool, i: usize) -> (i64, u64, u64) {
        let s = &p.backends[0].servers[i];
        let c = &s.counters;
        (
            c.current(),
            c.total.load(Ordering::Relaxed),
            s.lbtot.load(Ordering::Relaxed),
        )
    }

    #[tokio::test]
    async fn sticky_then_balanced_and_every_count_is_given_back() {
        let p = pool(true);
        let ask = |session| Ask {
            session,
            ..Default::default()
        };
        let s = p.choose(0, ask(Some("c1"))).await.unwrap();
        assert_eq!((s.server(), s.new_session()), (1, false));
        assert_eq!(counts(&p, 1), (1, 1, 0), "a sticky request is no pick");
        drop(s);
        assert_eq!(
            counts(&p, 1),
            (0, 1, 0),
            "dropped: the slot is back, the request counted"
        );
        let s = p.choose_now(0, ask(None)).unwrap();
        assert!(s.new_session(), "a balanced pick on a sticky backend starts a session");
        let i = s.server();
        assert_eq!(counts(&p, i).2, 1);
        let before = counts(&p, i);
        s.hand_over();
        assert_eq!(
            counts(&p, i),
            (before.0 - 1, before.1 - 1, 0),
            "handed over: nothing left counted"
        );
    }

    #[tokio::test]
    async fn a_gone_session_is_redispatched_only_by_a_patient_path_that_may() {
        let p = pool(true);
        p.backends[0].servers[1]
            .admin
            .store(super::super::Admin::Maint as u8, Ordering::Relaxed);
        let gone = |patient| Ask {
            session: Some("c1"),
            patient,
            ..Default::default()
        };
        assert_eq!(p.choose(0, gone(false)).await.err(), Some(NoSlot::StickyGone));
        assert_eq!(p.choose_now(0, gone(false)).err(), Some(NoSlot::StickyGone));
        let s = p.choose(0, gone(true)).await.unwrap();
        assert_eq!((s.server(), s.new_session()), (0, true));
        assert_eq!(p.backends[0].counters.redispatches.load(Ordering::Relaxed), 1);
        let strict = pool(false);
        strict.backends[0].servers[1]
            .admin
            .store(super::super::Admin::Maint as u8, Ordering::Relaxed);
        assert_eq!(strict.choose(0, gone(true)).await.err(), Some(NoSlot::StickyGone));
    }

    #[tokio::test]
    async fn a_retry_goes_to_the_same_server_unless_it_may_redispatch() {
        let strict = pool(false);
        let tried = [1];
        let again = Ask {
            tried: &tried,
            patient: true,
            ..Default::default()
        };
        assert_eq!(strict.choose(0, again).await.unwrap().server(), 1);
        let p = pool(true);
        let retry = Ask {
            tried: &tried,
            patient: true,
            ..Default::default()
        };
        let s = p.choose(0, retry).await.unwrap();
        assert_eq!(s.server(), 0);
        assert_eq!(
            p.backends[0].servers[0].counters.redispatches.load(Ordering::Relaxed),
            1
        );
    }
}
