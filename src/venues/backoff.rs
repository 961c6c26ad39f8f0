//! Reconnect pacing shared by venue clients: exponential backoff with full jitter, and a
//! request-weight budget for venues that rate-limit REST by weight.

use std::time::Duration;
use tokio::time::Instant;

/// Exponential backoff: 0.5 s doubling to a cap (30 s unless set), each delay drawn
/// from [d/2, d].
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
    max_ms: u64,
}

const BACKOFF_BASE_MS: u64 = 500;
const BACKOFF_MAX_MS: u64 = 30_000;

impl Default for Backoff {
    fn default() -> Self {
        Self::up_to(Duration::from_millis(BACKOFF_MAX_MS))
    }
}

impl Backoff {
    /// Delays capped at `max` (at least the base delay).
    pub fn up_to(max: Duration) -> Self {
        let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        Self {
            attempt: 0,
            max_ms: max_ms.max(BACKOFF_BASE_MS),
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = BACKOFF_BASE_MS
            .saturating_mul(1 << self.attempt.min(10))
            .min(self.max_ms);
        self.attempt += 1;
        Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A token bucket of request weight refilled evenly over a minute, shared by a venue's
/// connections. The lock is held only to count, never while waiting, so a connection
/// that is busy elsewhere cannot hold the others' requests back; a pause (after a
/// 429/418) is checked again by every waiter when it wakes.
#[derive(Debug)]
pub struct WeightBudget {
    per_minute: f64,
    state: std::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was counted (refilling starts again from there).
    at: Instant,
    paused_until: Option<Instant>,
}

impl WeightBudget {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute);
        Self {
            per_minute,
            state: std::sync::Mutex::new(Bucket {
                tokens: per_minute,
                at: Instant::now(),
                paused_until: None,
            }),
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends nothing for `pause`: the venue said the limit was hit (HTTP 429/418).
    /// Refilling starts again when the pause ends.
    pub async fn pause(&self, pause: Duration) {
        let mut b = self.bucket();
        let until = Instant::now() + pause;
        *b = Bucket {
            tokens: 0.0,
            at: until,
            paused_until: Some(until),
        };
    }

    /// Waits until `weight` can be spent, then spends it.
    pub async fn acquire(&self, weight: u32) {
        let weight = f64::from(weight).min(self.per_minute);
        loop {
            let wait = {
                let mut b = self.bucket();
                let now = Instant::now();
                match b.paused_until {
                    Some(until) if now < until => until - now,
                    _ => {
                        if now > b.at {
                            let refill = now.duration_since(b.at).as_secs_f64() * self.per_minute / 60.0;
                            b.tokens = (b.tokens + refill).min(self.per_minute);
                            b.at = now;
                        }
                        // A hair of float rounding must not leave a waiter spinning.
                        if b.tokens + 1e-6 >= weight {
                            b.tokens -= weight;
                            return;
                        }
                        Duration::from_secs_f64((weight - b.tokens) * 60.0 / self.per_minute)
                            .max(Duration::from_millis(1))
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_millis(BACKOFF_MAX_MS));
        }
        assert!(b.next_delay() >= Duration::from_millis(BACKOFF_MAX_MS / 2));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn a_configured_cap_bounds_every_delay() {
        let mut b = Backoff::up_to(Duration::from_secs(3));
        let delays: Vec<Duration> = (0..30).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(3)), "{delays:?}");
        assert!(
            delays[10..].iter().all(|d| *d >= Duration::from_millis(1500)),
            "{delays:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_back() {
        let budget = WeightBudget::new(600);
        budget.pause(Duration::from_secs(60)).await;
        let start = Instant::now();
        budget.acquire(10).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited <= Duration::from_secs(62),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_left_unpolled_holds_nobody_back() {
        let budget = WeightBudget::new(600);
        budget.acquire(600).await;
        // Polled once, then left alone (its connection is busy elsewhere).
        let mut stalled = Box::pin(budget.acquire(300));
        assert!(
            tokio::time::timeout(Duration::from_millis(1), &mut stalled)
                .await
                .is_err()
        );
        let start = Instant::now();
        let other = tokio::time::timeout(Duration::from_secs(40), budget.acquire(300)).await;
        assert!(other.is_ok(), "the other connection got its weight");
        assert!(
            start.elapsed() <= Duration::from_secs(31),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn weight_budget_waits_when_spent() {
        let budget = WeightBudget::new(600);
        let start = Instant::now();
        budget.acquire(600).await;
        assert!(start.elapsed() < Duration::from_millis(1));
        budget.acquire(300).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(29) && waited <= Duration::from_secs(31),
            "{waited:?}"
        );
    }
}
