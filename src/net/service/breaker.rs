//! The proxy service's circuit breaker: closed → open after `failure_threshold`
//! consecutive failed calls → half-open after `recovery_timeout_seconds`, where one
//! probe call decides: success closes it, failure opens it again. Pure state over
//! given instants, so it is tested without waiting.

use std::time::Duration;
use tokio::time::Instant;

/// As exported: 0 closed, 1 half-open, 2 open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    recovery: Duration,
    state: State,
    failures: u32,
    /// Open: when a probe may go. Half-open: when the probe in flight is given up.
    until: Instant,
}

/// Whether a call may go out now, and if it is the half-open probe.
#[derive(Debug, PartialEq, Eq)]
pub enum Permit {
    Call,
    Probe,
    Refused,
}

impl Breaker {
    pub fn new(threshold: u32, recovery: Duration) -> Self {
        Self {
            threshold,
            recovery,
            state: State::Closed,
            failures: 0,
            until: Instant::now(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Asks to call the service at `now`; an open breaker whose recovery time has
    /// passed lets exactly one probe through (again if a probe hangs past it).
    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            State::Closed => Permit::Call,
            State::Open | State::HalfOpen if now >= self.until => {
                self.state = State::HalfOpen;
                self.until = now + self.recovery;
                Permit::Probe
            }
            State::Open | State::HalfOpen => Permit::Refused,
        }
    }

    /// A call succeeded; returns the state it left, if it changed.
    pub fn success(&mut self) -> Option<State> {
        self.failures = 0;
        let before = std::mem::replace(&mut self.state, State::Closed);
        (before != State::Closed).then_some(before)
    }

    /// A call failed at `now`; returns the new state, if it changed.
    pub fn failure(&mut self, now: Instant) -> Option<State> {
        self.failures = self.failures.saturating_add(1);
        let opens = self.state == State::HalfOpen || self.failures >= self.threshold;
        if opens {
            self.until = now + self.recovery;
        }
        let next = if opens { State::Open } else { self.state };
        (std::mem::replace(&mut self.state, next) != next).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(30));
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.failure(t0), None);
        assert_eq!(b.permit(t0), Permit::Call);
        assert_eq!(b.failure(t0), Some(State::Open));
        assert_eq!(b.permit(t0 + Duration::from_secs(29)), Permit::Refused);
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(b.permit(t1), Permit::Probe);
        assert_eq!(b.permit(t1), Permit::Refused, "one probe at a time");
        assert_eq!(b.success(), Some(State::HalfOpen));
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.permit(t1), Permit::Call);
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_a_full_recovery_time() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(10));
        assert_eq!(b.failure(t0), Some(State::Open));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(t1), Permit::Probe);
        assert_eq!(b.failure(t1), Some(State::Open));
        assert_eq!(b.permit(t1 + Duration::from_secs(9)), Permit::Refused);
        assert_eq!(b.permit(t1 + Duration::from_secs(10)), Permit::Probe);
    }

    #[test]
    fn successes_reset_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(10));
        b.failure(t0);
        assert_eq!(b.success(), None);
        assert_eq!(
            b.failure(t0),
            None,
            "one failure after a success is not two in a row"
        );
    }
}
