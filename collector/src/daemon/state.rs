//! Per-target runtime state, shared by the scheduler, the poll tasks and the API:
//! the target (replaced on reload), its breaker, its last poll, and its in-flight polls.

use crate::breaker::Breaker;
use crate::poll::PollOutcome;
use crate::target::Target;
use futures::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

pub type PollFuture = Shared<BoxFuture<'static, Arc<PollOutcome>>>;

#[derive(Debug, Clone)]
pub struct LastPoll {
    pub at: SystemTime,
    pub duration: Duration,
    pub ok: bool,
    pub error: Option<String>,
    pub points: usize,
}

pub struct TargetState {
    pub breaker: Breaker,
    pub last: Option<LastPoll>,
    pub next_poll: Option<SystemTime>,
}

pub struct Entry {
    pub target: RwLock<Arc<Target>>,
    pub state: Mutex<TargetState>,
    /// Polls running now, by module set (`*` = the target's modules): callers share them.
    pub inflight: Mutex<HashMap<String, PollFuture>>,
}

impl Entry {
    pub fn new(target: Target, breaker: Breaker) -> Self {
        Self {
            target: RwLock::new(Arc::new(target)),
            state: Mutex::new(TargetState {
                breaker,
                last: None,
                next_poll: None,
            }),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    pub fn target(&self) -> Arc<Target> {
        self.target.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, TargetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn busy(&self) -> bool {
        !self.inflight.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}
