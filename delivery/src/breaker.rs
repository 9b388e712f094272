//! Circuit breaker (targets and outputs share it): CLOSED → OPEN after
//! `failure_threshold` consecutive failures; OPEN refuses until `recovery_timeout` has
//! passed; then HALF_OPEN lets attempts through, `success_threshold` successes close it
//! and any failure opens it again.

use netpulse_config::CircuitBreakerConfig;
use tokio::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
    /// Gauge value: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> i64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Breaker {
    failure_threshold: u32,
    success_threshold: u32,
    recovery: Duration,
    state: State,
    failures: u32,
    successes: u32,
    opened_at: Option<Instant>,
    /// Transitions not yet reported (logged and counted by the owner).
    events: Vec<(State, State)>,
}

impl Breaker {
    pub fn new(cfg: &CircuitBreakerConfig) -> Self {
        Self {
            failure_threshold: cfg.failure_threshold.max(1),
            success_threshold: cfg.success_threshold.max(1),
            recovery: cfg.recovery_timeout.get(),
            state: State::Closed,
            failures: 0,
            successes: 0,
            opened_at: None,
            events: Vec::new(),
        }
    }

    fn set(&mut self, to: State) {
        if self.state != to {
            self.events.push((self.state, to));
        } else if to == State::Open {
            self.events.push((State::HalfOpen, State::Open));
        }
        self.state = to;
    }

    /// Transitions since the last call, oldest first: (from, to).
    pub fn take_transitions(&mut self) -> Vec<(State, State)> {
        std::mem::take(&mut self.events)
    }

    /// The state now (OPEN turns HALF_OPEN once the recovery timeout has passed).
    pub fn state(&mut self) -> State {
        if self.state == State::Open && self.opened_at.is_some_and(|t| t.elapsed() >= self.recovery) {
            self.set(State::HalfOpen);
            self.successes = 0;
        }
        self.state
    }

    /// May an attempt go out now? Otherwise, how long until it may.
    pub fn check(&mut self) -> Result<(), Duration> {
        match self.state() {
            State::Open => Err(self
                .opened_at
                .map_or(self.recovery, |t| self.recovery.saturating_sub(t.elapsed()))),
            _ => Ok(()),
        }
    }

    /// Records a success; returns the new state if it changed.
    pub fn success(&mut self) -> Option<State> {
        let before = self.state();
        self.failures = 0;
        if before == State::HalfOpen {
            self.successes += 1;
            if self.successes >= self.success_threshold {
                self.set(State::Closed);
                self.opened_at = None;
            }
        }
        (self.state != before).then_some(self.state)
    }

    /// Records a failure; returns the new state if it changed.
    pub fn failure(&mut self) -> Option<State> {
        let before = self.state();
        self.failures += 1;
        if before == State::HalfOpen || (before == State::Closed && self.failures >= self.failure_threshold) {
            self.set(State::Open);
            self.opened_at = Some(Instant::now());
        }
        (self.state != before || before == State::HalfOpen).then_some(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_config::Duration as Dur;

    #[tokio::test(start_paused = true)]
    async fn transitions_follow_the_thresholds() {
        let cfg = CircuitBreakerConfig {
            failure_threshold: 3,
            recovery_timeout: Dur::from_secs(60),
            success_threshold: 2,
        };
        let mut b = Breaker::new(&cfg);
        assert_eq!(b.failure(), None);
        assert_eq!(b.failure(), None);
        assert_eq!(b.failure(), Some(State::Open));
        assert_eq!(b.check(), Err(Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(b.check().is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.check().is_ok());
        assert_eq!(b.failure(), Some(State::Open), "a half-open failure reopens");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.success(), None);
        assert_eq!(b.success(), Some(State::Closed));
        assert_eq!(b.failure(), None, "the failure count restarted");
        use State::*;
        assert_eq!(
            b.take_transitions(),
            [
                (Closed, Open),
                (Open, HalfOpen),
                (HalfOpen, Open),
                (Open, HalfOpen),
                (HalfOpen, Closed)
            ]
        );
        assert!(b.take_transitions().is_empty());
    }
}
