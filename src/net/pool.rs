//! A pool of proxies behind the resolver: each attempt takes a member by the pool's
//! strategy among those in service; proxy-caused failures (never a venue's answer)
//! eject a member after `eject_after_failures` in a row, for 30 s doubling with each
//! ejection up to `retry_failed_after_seconds`; passive ejection never takes the last
//! member in service. Health checks (TCP + proxy handshake to a target) eject dead
//! members and restore recovered ones early. With every member out: the one whose
//! ejection ends first is tried (the caller backs off), or direct if `fallback: direct`.

use super::resolver::Route;
use crate::config::{Fallback, PoolConfig, ProxyEndpoint, Strategy};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// First ejection of a member; each further one doubles it.
const BASE_EJECTION: Duration = Duration::from_secs(30);
/// Weight of the newest handshake latency in the moving average.
const LATENCY_WEIGHT: f64 = 0.3;

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    ejections: u32,
    /// Moving average of handshake latency, in milliseconds.
    latency_ms: Option<f64>,
}

#[derive(Debug)]
pub struct Member {
    pub endpoint: ProxyEndpoint,
    health: Mutex<Health>,
    /// Connections open through it now.
    pub live: Arc<AtomicU32>,
}

impl Member {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_service(&self, now: Instant) -> bool {
        self.health().ejected_until.is_none_or(|t| t <= now)
    }
}

/// What a pool chose for an attempt.
pub enum Pick<'a> {
    Member(&'a Member),
    /// Every member is out and the pool allows direct connections.
    Direct,
}

#[derive(Debug)]
pub struct Pool {
    pub config: Arc<PoolConfig>,
    pub members: Vec<Member>,
    next: AtomicUsize,
    /// Held while a member is ejected or restored.
    ejecting: Mutex<()>,
    /// Whether "every member out" was logged (once per episode).
    all_out_logged: std::sync::atomic::AtomicBool,
}

impl Pool {
    /// A pool whose members count live connections in `live` (one counter per proxy,
    /// shared by every pool that lists it).
    pub fn new(config: Arc<PoolConfig>, live: &mut Vec<(ProxyEndpoint, Arc<AtomicU32>)>) -> Self {
        let mut counter = |e: &ProxyEndpoint| match live.iter().find(|(x, _)| x == e) {
            Some((_, c)) => c.clone(),
            None => {
                let c = Arc::new(AtomicU32::new(0));
                live.push((e.clone(), c.clone()));
                c
            }
        };
        let members = (config.members.iter())
            .map(|endpoint| Member {
                endpoint: endpoint.clone(),
                health: Mutex::new(Health::default()),
                live: counter(endpoint),
            })
            .collect();
        Self {
            config,
            members,
            next: AtomicUsize::new(0),
            ejecting: Mutex::new(()),
            all_out_logged: Default::default(),
        }
    }

    /// `scheme://host:port` of every member.
    pub fn describe(&self) -> String {
        let members: Vec<String> = self.members.iter().map(|m| m.endpoint.url.to_string()).collect();
        format!("pool {} [{}]", self.config.strategy.as_str(), members.join(", "))
    }

    /// The member for the next attempt.
    pub fn pick(&self, label: &dyn std::fmt::Display) -> Pick<'_> {
        let now = Instant::now();
        let healthy: Vec<&Member> = self.members.iter().filter(|m| m.in_service(now)).collect();
        if healthy.is_empty() {
            if !self.all_out_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(%label, pool = %self.describe(), "every pool member is ejected");
            }
            if self.config.fallback == Some(Fallback::Direct) {
                return Pick::Direct;
            }
            let soonest = self.members.iter().min_by_key(|m| m.health().ejected_until);
            return soonest.map_or(Pick::Direct, Pick::Member);
        }
        self.all_out_logged.store(false, Ordering::Relaxed);
        let member = match self.config.strategy {
            Strategy::RoundRobin => healthy[self.next.fetch_add(1, Ordering::Relaxed) % healthy.len()],
            Strategy::Random => healthy[fastrand::usize(..healthy.len())],
            Strategy::LeastConnections => {
                let (a, b) = (
                    healthy[fastrand::usize(..healthy.len())],
                    healthy[fastrand::usize(..healthy.len())],
                );
                if b.live.load(Ordering::Relaxed) < a.live.load(Ordering::Relaxed) {
                    b
                } else {
                    a
                }
            }
            Strategy::Fastest => {
                // Untried members first (their latency is unknown), then the lowest
                // average; each read once, so the choice is from one consistent view.
                let latencies: Vec<(f64, &Member)> = (healthy.iter())
                    .map(|m| (m.health().latency_ms.unwrap_or(f64::MIN), *m))
                    .collect();
                let best = latencies.iter().map(|(l, _)| *l).fold(f64::INFINITY, f64::min);
                let ties: Vec<&Member> = latencies
                    .iter()
                    .filter(|(l, _)| *l == best)
                    .map(|(_, m)| *m)
                    .collect();
                ties.get(self.next.fetch_add(1, Ordering::Relaxed) % ties.len().max(1))
                    .copied()
                    .unwrap_or(healthy[0])
            }
        };
        Pick::Member(member)
    }

    fn member(&self, route: &Route) -> Option<&Member> {
        match route {
            Route::Proxy(p) => self.members.iter().find(|m| m.endpoint == *p),
            Route::Direct => None,
        }
    }

    /// An attempt on `route` succeeded with this handshake latency.
    pub fn succeeded(&self, route: &Route, latency: Duration) {
        if let Some(m) = self.member(route) {
            let mut h = m.health();
            h.consecutive_failures = 0;
            let ms = latency.as_secs_f64() * 1000.0;
            h.latency_ms = Some(h.latency_ms.map_or(ms, |avg| avg + LATENCY_WEIGHT * (ms - avg)));
        }
    }

    /// An attempt on `route` failed past the proxy (the venue's TLS, handshake or
    /// answer): the proxy worked, but `fastest` must not keep choosing a route that never
    /// succeeds, so the attempt counts as slow as the timeout.
    pub fn failed_past(&self, route: &Route) {
        if let Some(m) = self.member(route) {
            let ms = f64::from(m.endpoint.timeout_seconds) * 1000.0;
            let mut h = m.health();
            h.latency_ms = Some(h.latency_ms.map_or(ms, |avg| avg + LATENCY_WEIGHT * (ms - avg)));
        }
    }

    /// An attempt on `route` failed because of the proxy.
    pub fn failed(&self, route: &Route, label: &dyn std::fmt::Display, why: &dyn std::fmt::Display) {
        let Some(m) = self.member(route) else { return };
        // Counting those in service and ejecting are one step: two members failing at
        // once cannot both be ejected as "not the last".
        let _one_at_a_time = self.ejecting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let in_service = self.members.iter().filter(|m| m.in_service(now)).count();
        let mut h = m.health();
        h.consecutive_failures += 1;
        if h.consecutive_failures < self.config.eject_after_failures
            || h.ejected_until.is_some_and(|t| t > now)
        {
            return;
        }
        if in_service <= 1 {
            tracing::warn!(%label, member = %m.endpoint.url, failures = h.consecutive_failures, "not ejected: the last pool member in service ({why})");
            return;
        }
        let period = self.ejection_period(h.ejections);
        h.ejections += 1;
        h.ejected_until = Some(now + period);
        h.consecutive_failures = 0;
        crate::metrics::proxy_ejected(&m.endpoint.url.to_string());
        tracing::warn!(%label, member = %m.endpoint.url, ejections = h.ejections, "pool member ejected for {} s after {} failures in a row ({why}); failing over", period.as_secs(), self.config.eject_after_failures);
    }

    fn ejection_period(&self, earlier: u32) -> Duration {
        let cap = Duration::from_secs(u64::from(self.config.retry_failed_after_seconds));
        BASE_EJECTION.saturating_mul(1 << earlier.min(16)).min(cap)
    }

    /// A health check of member `i` passed or failed.
    pub fn checked(&self, i: usize, ok: bool, why: &dyn std::fmt::Display) {
        let Some(m) = self.members.get(i) else { return };
        let _one_at_a_time = self.ejecting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut h = m.health();
        let ejected = h.ejected_until.is_some_and(|t| t > now);
        match (ok, ejected) {
            (true, true) => {
                h.ejected_until = None;
                h.consecutive_failures = 0;
                tracing::info!(member = %m.endpoint.url, "pool member restored: health check passed");
            }
            (false, false) => {
                let period = self.ejection_period(h.ejections);
                h.ejections += 1;
                h.ejected_until = Some(now + period);
                crate::metrics::proxy_ejected(&m.endpoint.url.to_string());
                tracing::warn!(member = %m.endpoint.url, "pool member ejected for {} s: health check failed ({why})", period.as_secs());
            }
            _ => {}
        }
    }

    /// Members in service now other than the one `route` (as displayed) names.
    pub fn others_in_service(&self, route: &str) -> usize {
        let now = Instant::now();
        (self.members.iter())
            .filter(|m| m.in_service(now) && m.endpoint.url.to_string() != route)
            .count()
    }

    /// Each member (`scheme://host:port`) and whether it is in service now.
    pub fn service_states(&self) -> Vec<(String, bool)> {
        let now = Instant::now();
        (self.members.iter())
            .map(|m| (m.endpoint.url.to_string(), m.in_service(now)))
            .collect()
    }

    /// Members in service now.
    #[cfg(test)]
    fn in_service(&self) -> usize {
        let now = Instant::now();
        self.members.iter().filter(|m| m.in_service(now)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyUrl;

    fn pool(strategy: Strategy, n: usize) -> Pool {
        let members = (0..n)
            .map(|i| ProxyEndpoint {
                url: ProxyUrl::try_from(format!("socks5h://p{i}:1080")).unwrap(),
                timeout_seconds: 5,
            })
            .collect();
        let config = PoolConfig {
            members,
            strategy,
            health_check: None,
            eject_after_failures: 3,
            retry_failed_after_seconds: 100,
            fallback: None,
        };
        Pool::new(Arc::new(config), &mut Vec::new())
    }

    fn route(p: &Pool, i: usize) -> Route {
        Route::Proxy(p.members[i].endpoint.clone())
    }

    fn picked(p: &Pool) -> usize {
        match p.pick(&"t") {
            Pick::Member(m) => p.members.iter().position(|x| std::ptr::eq(x, m)).unwrap(),
            Pick::Direct => usize::MAX,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_eject_with_growing_periods_and_never_the_last_member() {
        let p = pool(Strategy::RoundRobin, 2);
        for _ in 0..2 {
            p.failed(&route(&p, 0), &"t", &"x");
        }
        assert_eq!(p.in_service(), 2, "two failures do not eject");
        p.succeeded(&route(&p, 0), Duration::from_millis(5));
        for _ in 0..3 {
            p.failed(&route(&p, 0), &"t", &"x");
        }
        assert_eq!(p.in_service(), 1);
        assert!((0..10).all(|_| picked(&p) == 1), "failover to the other member");
        for _ in 0..5 {
            p.failed(&route(&p, 1), &"t", &"x");
        }
        assert_eq!(p.in_service(), 1, "the last member in service stays");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(p.in_service(), 2, "back after 30 s");
        for _ in 0..3 {
            p.failed(&route(&p, 0), &"t", &"x");
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(p.in_service(), 1, "the second ejection lasts 60 s");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(p.in_service(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn health_checks_eject_and_restore_and_all_out_tries_the_soonest() {
        let p = pool(Strategy::RoundRobin, 3);
        p.checked(0, false, &"refused");
        tokio::time::advance(Duration::from_secs(1)).await;
        p.checked(1, false, &"refused");
        tokio::time::advance(Duration::from_secs(1)).await;
        p.checked(2, false, &"refused");
        assert_eq!(p.in_service(), 0);
        assert_eq!(picked(&p), 0, "the member whose ejection ends first");
        p.checked(1, true, &"");
        assert!(
            (0..5).all(|_| picked(&p) == 1),
            "restored early by its health check"
        );
    }

    /// The connections of a member that dies move to all the others, not to one.
    #[tokio::test(start_paused = true)]
    async fn a_dead_members_connections_are_spread_over_the_rest() {
        fastrand::seed(7);
        for (strategy, slack) in [(Strategy::RoundRobin, 0), (Strategy::LeastConnections, 4)] {
            let p = pool(strategy, 3);
            for _ in 0..3 {
                p.failed(&route(&p, 0), &"t", &"x");
            }
            // Twelve connections reconnect, each counted live once it is open.
            let mut counts = [0_u32; 3];
            for _ in 0..12 {
                let i = picked(&p);
                counts[i] += 1;
                p.members[i].live.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(counts[0], 0, "{strategy:?}");
            assert!(counts[1].abs_diff(counts[2]) <= slack, "{strategy:?}: {counts:?}");
        }
    }

    #[test]
    fn round_robin_spreads_evenly() {
        let p = pool(Strategy::RoundRobin, 3);
        let mut counts = [0; 3];
        for _ in 0..300 {
            counts[picked(&p)] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);
    }

    #[test]
    fn least_connections_prefers_the_emptier_member_and_fastest_the_quicker() {
        let p = pool(Strategy::LeastConnections, 2);
        p.members[0].live.store(10, Ordering::Relaxed);
        let to_empty = (0..300).filter(|_| picked(&p) == 1).count();
        assert!(to_empty >= 200, "{to_empty} of 300 to the emptier member");
        let f = pool(Strategy::Fastest, 2);
        f.succeeded(&route(&f, 0), Duration::from_millis(80));
        f.succeeded(&route(&f, 1), Duration::from_millis(10));
        assert!((0..50).all(|_| picked(&f) == 1));
        // A member whose attempts fail past the proxy (the venue refuses its exit) stops
        // being the fastest.
        for _ in 0..5 {
            f.failed_past(&route(&f, 1));
        }
        assert!((0..50).all(|_| picked(&f) == 0));
    }
}
