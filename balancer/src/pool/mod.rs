//! Runtime view of backends and servers: weights, admin state (READY/DRAIN/MAINT), health
//! (UP/DOWN with HAProxy's rise/fall), counters for the stats page, and the choice of a
//! server. Everything here can change at run time (health checks, the runtime API, the
//! stats page's admin form); nothing here knows HTTP.
//!
//! - `addr`: a server's address, re-resolved from its host name;
//! - `counters`: the atomic request counters every proxy part keeps;
//! - `server`: one server's state and its HAProxy status text;
//! - `backend`: a backend's servers, accounting of finished requests, run-time changes;
//! - `select`: which server takes the next request (smooth WRR, leastconn, backups);
//! - `queue`: request slots under `maxconn` and the backend queue that waits for one;
//! - `slot`: the one way both request paths choose a server, and the slot that gives it back.

mod addr;
mod backend;
mod counters;
mod freq;
mod queue;
mod select;
mod server;
mod slot;

pub use addr::ServerAddr;
pub use backend::Backend;
pub use counters::{Counters, STATUS_CLASSES};
pub use server::{Admin, CheckResult, CheckStatus, Server};
pub use slot::{Ask, NoSlot, Slot};

use netpulse_config::BalancerConfig;

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
