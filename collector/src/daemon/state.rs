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
    /// Some module got an answer (a partial poll proves the agent alive).
    pub answered: bool,
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
    /// Set when the target is deleted: its waiting and running polls give up.
    retired: tokio::sync::watch::Sender<bool>,
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
            retired: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn target(&self) -> Arc<Target> {
        self.target.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, TargetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deleted: polls waiting for a slot or running are dropped.
    pub fn retire(&self) {
        self.retired.send_replace(true);
    }

    pub fn retired(&self) -> tokio::sync::watch::Receiver<bool> {
        self.retired.subscribe()
    }

    /// Not (yet) known to answer: never polled, the last poll got nothing back, or the
    /// breaker is not closed. Such a target waits in the unproven queue (at most half of the
    /// poll slots), so a burst of silent targets cannot hold every slot for their timeouts.
    pub fn unproven(&self) -> bool {
        let mut st = self.state();
        st.breaker.state() != crate::breaker::State::Closed || st.last.as_ref().is_none_or(|l| !l.answered)
    }

    pub fn busy(&self) -> bool {
        !self.inflight.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}
