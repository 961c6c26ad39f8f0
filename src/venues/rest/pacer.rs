//! A REST venue's shared rate limit: every request of the venue (instruments, trades,
//! books, all symbols) takes a slot; slots are spaced so that the definition's budget
//! per window is never exceeded, and a 429/418 pauses the whole venue.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    /// Time one unit of the budget stands for (`per_seconds / budget`).
    per_unit: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the next request may start.
    next: Instant,
    paused_until: Option<Instant>,
}

impl Pacer {
    pub fn new(budget: u32, per_seconds: u32) -> Self {
        let per_unit = Duration::from_secs(u64::from(per_seconds)) / budget.max(1);
        Self {
            per_unit,
            state: Mutex::new(State {
                next: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Shortest spacing between two requests of `cost`.
    pub fn spacing(&self, cost: u32) -> Duration {
        self.per_unit * cost
    }

    /// Reserves the next slot for a request of `cost` and returns when it starts. The
    /// reservation is taken under a short lock, so waiting never blocks other callers.
    pub fn reserve(&self, cost: u32) -> Instant {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let start = s.next.max(now).max(s.paused_until.unwrap_or(now));
        s.next = start + self.spacing(cost);
        start
    }

    /// Waits for a slot; a pause that began while waiting is waited out too (a slot
    /// reserved before a 429 does not go out during the pause).
    pub async fn wait(&self, cost: u32) {
        loop {
            tokio::time::sleep_until(self.reserve(cost)).await;
            let paused = self.state.lock().unwrap_or_else(|e| e.into_inner()).paused_until;
            if paused.is_none_or(|until| until <= Instant::now()) {
                return;
            }
        }
    }

    /// The venue said to slow down: no request starts for `pause`. Returns whether this
    /// extended the pause (so it is logged once).
    pub fn pause(&self, pause: Duration) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + pause;
        if s.paused_until.is_some_and(|p| p >= until) {
            return false;
        }
        s.paused_until = Some(until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_cost_and_a_pause_holds_everyone() {
        let pacer = Pacer::new(10, 1);
        let t0 = Instant::now();
        let starts: Vec<Duration> = (0..3).map(|_| pacer.reserve(1) - t0).collect();
        assert_eq!(starts, [0, 100, 200].map(Duration::from_millis));
        assert_eq!(pacer.reserve(5) - t0, Duration::from_millis(300));
        assert_eq!(pacer.reserve(1) - t0, Duration::from_millis(800));
        assert!(pacer.pause(Duration::from_secs(5)));
        assert!(
            !pacer.pause(Duration::from_secs(1)),
            "a shorter pause does not shorten it"
        );
        assert_eq!(pacer.reserve(1) - t0, Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(pacer.reserve(1) - t0, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_requests_that_had_a_slot_already() {
        let pacer = std::sync::Arc::new(Pacer::new(1, 1));
        pacer.reserve(1);
        let t0 = Instant::now();
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move {
                pacer.wait(1).await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        pacer.pause(Duration::from_secs(60));
        let went = waiting.await.unwrap();
        assert!(went - t0 >= Duration::from_secs(60), "went after {:?}", went - t0);
    }
}
