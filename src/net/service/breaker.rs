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

/// A change of state: from, to.
pub type Transition = Option<(State, State)>;

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

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// Asks to call the service at `now`; an open breaker whose recovery time has
    /// passed lets exactly one probe through (another if a probe hangs past it).
    pub fn permit(&mut self, now: Instant) -> (Permit, Transition) {
        match self.state {
            State::Closed => (Permit::Call, None),
            State::Open | State::HalfOpen if now >= self.until => {
                let from = std::mem::replace(&mut self.state, State::HalfOpen);
                self.until = now + self.recovery;
                let changed = (from != State::HalfOpen).then_some((from, State::HalfOpen));
                (Permit::Probe, changed)
            }
            State::Open | State::HalfOpen => (Permit::Refused, None),
        }
    }

    /// A call succeeded. Only the probe leaves half-open; the success of a call that
    /// started before the breaker opened changes nothing.
    pub fn success(&mut self, probe: bool) -> Transition {
        match (self.state, probe) {
            (State::Closed, _) => {
                self.failures = 0;
                None
            }
            (State::HalfOpen, true) => {
                self.failures = 0;
                self.state = State::Closed;
                Some((State::HalfOpen, State::Closed))
            }
            _ => None,
        }
    }

    /// A call failed at `now`. A failed probe opens the breaker again for a full
    /// recovery time; late failures of calls made before it opened do not extend it.
    pub fn failure(&mut self, now: Instant, probe: bool) -> Transition {
        match (self.state, probe) {
            (State::Closed, _) => {
                self.failures = self.failures.saturating_add(1);
                if self.failures < self.threshold {
                    return None;
                }
                self.state = State::Open;
                self.until = now + self.recovery;
                Some((State::Closed, State::Open))
            }
            (State::HalfOpen, true) => {
                self.state = State::Open;
                self.until = now + self.recovery;
                Some((State::HalfOpen, State::Open))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(30));
        assert_eq!(b.failure(t0, false), None);
        assert_eq!(b.failure(t0, false), None);
        assert_eq!(b.permit(t0), (Permit::Call, None));
        assert_eq!(b.failure(t0, false), Some((Closed, Open)));
        assert_eq!(b.permit(t0 + Duration::from_secs(29)), (Permit::Refused, None));
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(b.permit(t1), (Permit::Probe, Some((Open, HalfOpen))));
        assert_eq!(b.permit(t1), (Permit::Refused, None), "one probe at a time");
        assert_eq!(b.success(false), None, "only the probe closes it");
        assert_eq!(b.success(true), Some((HalfOpen, Closed)));
        assert_eq!(b.permit(t1), (Permit::Call, None));
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_a_full_recovery_time() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(10));
        assert_eq!(b.failure(t0, false), Some((Closed, Open)));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(t1).0, Permit::Probe);
        assert_eq!(b.failure(t1, true), Some((HalfOpen, Open)));
        assert_eq!(b.permit(t1 + Duration::from_secs(9)).0, Permit::Refused);
        assert_eq!(b.permit(t1 + Duration::from_secs(10)).0, Permit::Probe);
    }

    #[test]
    fn late_outcomes_of_calls_made_while_closed_change_nothing() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, Duration::from_secs(10));
        b.failure(t0, false);
        assert_eq!(b.success(false), None, "a success that started before it opened");
        assert_eq!(b.state(), Open);
        assert_eq!(b.failure(t0 + Duration::from_secs(5), false), None);
        assert_eq!(
            b.permit(t0 + Duration::from_secs(10)).0,
            Permit::Probe,
            "not pushed back"
        );
    }

    #[test]
    fn successes_reset_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(10));
        b.failure(t0, false);
        assert_eq!(b.success(false), None);
        assert_eq!(
            b.failure(t0, false),
            None,
            "one failure after a success is not two in a row"
        );
    }
}
