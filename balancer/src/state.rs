//! The balancer's live state, built once by `services` and shared by everything that runs:
//! both request paths, health checks, mirror queues, the stats listener and the runtime API.
//! Nothing here is HTTP; each reader takes what it needs from one `State`.

use crate::frontend::Frontend;
use crate::pool::{Counters, Pool};
use netpulse_config::{BalancerConfig, ProxyId};
use std::sync::Arc;
use std::time::Instant;

pub struct State {
    /// Backends and servers: health, admin states, weights, counters, request slots.
    pub pool: Arc<Pool>,
    /// Mirroring backends: a durable queue per server (`mirror/`).
    pub mirrors: Arc<crate::mirror::Mirrors>,
    /// Every frontend as the request paths route and count it, with its TLS listeners.
    pub frontends: Vec<FrontendState>,
    /// Every proxy by id (frontends, backends, and the stats listener's own proxy when
    /// named, HAProxy's `listen stats`): the stats rows come in this order, as HAProxy's do.
    pub proxies: Vec<ProxyId>,
    pub started: Instant,
    /// Worker threads (`show info`'s Nbthread).
    pub threads: usize,
}

/// A frontend: what the request paths use (routes, timeouts, counters), and its TLS
/// listeners' certificates and handshake counters when it has any.
pub struct FrontendState {
    pub frontend: Arc<Frontend>,
    pub tls: Option<Arc<crate::tls::Acceptor>>,
}

impl FrontendState {
    pub fn name(&self) -> &str {
        &self.frontend.name
    }

    pub fn counters(&self) -> &Counters {
        &self.frontend.counters
    }
}

impl State {
    /// The state of a configuration before any request: `frontends` built by the caller
    /// (their TLS acceptors read certificates, which can fail).
    pub fn new(cfg: &BalancerConfig, pool: Arc<Pool>, frontends: Vec<FrontendState>) -> Self {
        Self {
            mirrors: Arc::new(crate::mirror::Mirrors::new(cfg)),
            pool,
            frontends,
            proxies: netpulse_config::proxy_ids(cfg),
            started: Instant::now(),
            threads: cfg.server.worker_threads(),
        }
    }

    /// The id of backend `bi`'s proxy.
    pub fn backend_iid(&self, bi: usize) -> u32 {
        self.proxies.iter().find(|p| p.backend == Some(bi)).map_or(0, |p| p.id)
    }
}
