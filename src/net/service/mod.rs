//! The external proxy service as a resolver: each route comes from the service's answer
//! for (exchange, connection type, region), cached for its TTL. While the service is
//! unavailable (circuit open, every endpoint failing) the route degrades: the cached
//! answer even past its TTL (stale) → the embedded configuration (static proxies,
//! pools, regional rules) → direct, only where the service's last fallback policy or
//! the local `fallback` allows it → the connection fails with a clear cause. Every
//! attempt's outcome is reported back in the background through a bounded queue that
//! never delays a connection; what does not fit is dropped and counted.

mod breaker;
mod cache;
mod client;

use super::Redactor;
use super::configured::StaticResolver;
use super::error::Cause;
use super::pool::Pool;
use super::resolver::{ConnKind, Outcome, ProxyResolver, Route};
use super::tls::TlsConfigs;
use crate::config::{ServiceConfig, ServiceFallback};
use crate::metrics;
use crate::model::VenueId;
pub use breaker::State as CircuitState;
use breaker::{Breaker, Permit};
use cache::{Cache, Key, Lookup};
use client::{Client, Feedback, Policy};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Where a route came from, logged when it changes for an (exchange, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Service,
    Cached,
    Stale,
    Embedded,
    Direct,
    Failed,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Cached => "cached",
            Self::Stale => "stale_cache",
            Self::Embedded => "embedded",
            Self::Direct => "direct",
            Self::Failed => "fail",
        }
    }
}

pub struct ServiceResolver {
    embedded: StaticResolver,
    client: Arc<Client>,
    fallback: ServiceFallback,
    breaker: Mutex<Breaker>,
    cache: Mutex<Cache>,
    /// The fallback policy of the service's last answer for each key (kept when the
    /// answer itself is forgotten).
    policies: Mutex<HashMap<Key, Policy>>,
    sources: Mutex<HashMap<Key, Source>>,
    feedback: mpsc::Sender<Feedback>,
    feedback_rx: Mutex<Option<mpsc::Receiver<Feedback>>>,
    describe: String,
}

impl ServiceResolver {
    pub fn new(
        config: &ServiceConfig,
        embedded: StaticResolver,
        region: Option<String>,
        tls: &TlsConfigs,
        redactor: Redactor,
    ) -> Result<Self, Cause> {
        let client = Client::new(config, region, tls, redactor)?;
        let (tx, rx) = mpsc::channel(config.feedback_queue);
        let b = &config.circuit_breaker;
        let recovery = std::time::Duration::from_secs(u64::from(b.recovery_timeout_seconds));
        let endpoints: Vec<String> = config.endpoints.iter().map(|u| u.to_string()).collect();
        let via = config.via().map_or("direct".to_owned(), |p| p.url.to_string());
        let describe = format!(
            "proxy service [{}] via {via} (timeout {} s, cache {} s, breaker {} failures / {} s, fallback {})",
            endpoints.join(", "),
            config.timeout_seconds,
            config.cache_ttl_seconds,
            b.failure_threshold,
            b.recovery_timeout_seconds,
            config.fallback.as_str(),
        );
        metrics::service_circuit(CircuitState::Closed);
        Ok(Self {
            embedded,
            client: Arc::new(client),
            fallback: config.fallback,
            breaker: Mutex::new(Breaker::new(b.failure_threshold, recovery)),
            cache: Mutex::new(Cache::new(config.cache_entries)),
            policies: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
            feedback: tx,
            feedback_rx: Mutex::new(Some(rx)),
            describe,
        })
    }

    async fn resolve(&self, exchange: VenueId, kind: ConnKind) -> Result<Route, Cause> {
        let key = (exchange, kind);
        if let Lookup::Fresh(a) = lock(&self.cache).get(key, Instant::now()) {
            let route = a.route.clone();
            metrics::service_cache(true);
            self.note(key, Source::Cached, &route);
            return Ok(route);
        }
        metrics::service_cache(false);
        let (permit, changed) = lock(&self.breaker).permit(Instant::now());
        breaker_changed(changed, None);
        if permit != Permit::Refused {
            let probe = permit == Permit::Probe;
            match self.client.request(exchange, kind).await {
                Ok(answer) => {
                    metrics::service_request("ok");
                    let changed = lock(&self.breaker).success(probe);
                    breaker_changed(changed, None);
                    let route = answer.route.clone();
                    lock(&self.policies).insert(key, answer.policy);
                    lock(&self.cache).put(key, answer, Instant::now());
                    self.note(key, Source::Service, &route);
                    return Ok(route);
                }
                Err(e) => {
                    metrics::service_request("failed");
                    tracing::debug!(%exchange, %kind, "proxy service call failed: {e}");
                    let changed = lock(&self.breaker).failure(Instant::now(), probe);
                    breaker_changed(changed, Some(&e));
                }
            }
        }
        self.degrade(key)
    }

    /// The route while the service cannot answer.
    fn degrade(&self, key: Key) -> Result<Route, Cause> {
        let (exchange, kind) = key;
        if let Lookup::Stale(a) = lock(&self.cache).get(key, Instant::now()) {
            let route = a.route.clone();
            self.note(key, Source::Stale, &route);
            return Ok(route);
        }
        let policy = lock(&self.policies).get(&key).copied();
        // `fail`, local or the service's, vetoes every fallback; direct needs one of the
        // two to allow it.
        let vetoed = self.fallback == ServiceFallback::Fail || policy == Some(Policy::Fail);
        let direct_allowed =
            !vetoed && (self.fallback == ServiceFallback::Direct || policy == Some(Policy::Direct));
        let embedded = (!vetoed)
            .then(|| self.embedded.pick_configured(exchange, kind))
            .flatten();
        match embedded {
            Some(route @ Route::Proxy(_)) => {
                self.note(key, Source::Embedded, &route);
                return Ok(route);
            }
            // The configuration says `direct` (or a pool falls back to it): only where
            // direct is allowed.
            Some(Route::Direct) | None if direct_allowed => {
                self.note(key, Source::Direct, &Route::Direct);
                return Ok(Route::Direct);
            }
            _ => {}
        }
        self.note(key, Source::Failed, &Route::Direct);
        let service = policy.map_or("none yet", Policy::as_str);
        Err(Cause::NoRoute(format!(
            "proxy service unavailable, no cached answer, and the fallback policies (local {}, the service's {service}) allow {}",
            self.fallback.as_str(),
            if vetoed {
                "no fallback"
            } else {
                "no direct connection, and no proxy is configured for it"
            },
        )))
    }

    /// Counts a degraded route and logs where routes come from when that changes.
    fn note(&self, key: Key, source: Source, route: &Route) {
        if !matches!(source, Source::Service | Source::Cached) {
            metrics::service_fallback(source.as_str());
        }
        let before = lock(&self.sources).insert(key, source);
        let steady = matches!(
            (before, source),
            (
                Some(Source::Service | Source::Cached),
                Source::Service | Source::Cached
            )
        );
        if before != Some(source) && !steady {
            let (exchange, kind) = key;
            match source {
                Source::Service | Source::Cached => {
                    tracing::info!(%exchange, %kind, proxy = %route, "routes from the proxy service")
                }
                Source::Failed => {
                    tracing::error!(%exchange, %kind, "proxy service unavailable: connections fail (fallback policy)")
                }
                _ => {
                    tracing::warn!(%exchange, %kind, proxy = %route, source = source.as_str(), "proxy service unavailable: routes from the fallback")
                }
            }
        }
    }

    /// Sends feedback until shutdown; each report is sent once, failures are counted.
    async fn send_feedback(
        client: Arc<Client>,
        mut rx: mpsc::Receiver<Feedback>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let report = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => return },
                _ = crate::venues::stopped(&mut stop) => return,
            };
            let sent = client.feedback(&report).await;
            if let Err(e) = &sent {
                tracing::debug!("proxy service feedback not delivered: {e}");
            }
            metrics::service_feedback(if sent.is_ok() { "sent" } else { "failed" });
        }
    }
}

impl ProxyResolver for ServiceResolver {
    fn route(&self, exchange: VenueId, kind: ConnKind) -> BoxFuture<'_, Result<Route, Cause>> {
        Box::pin(self.resolve(exchange, kind))
    }

    fn report(&self, exchange: VenueId, kind: ConnKind, route: &Route, outcome: Outcome<'_>) {
        self.embedded.report(exchange, kind, route, outcome);
        if outcome.counts_against_proxy() {
            lock(&self.cache).forget((exchange, kind), &route.to_string());
        }
        let (success, latency_ms, error_details) = match outcome {
            Outcome::Success { latency } => (true, Some(latency.as_millis() as u64), None),
            Outcome::Failure(cause) => (false, None, Some(cause.to_string())),
        };
        let report = Feedback {
            proxy_url: match route {
                Route::Direct => None,
                Route::Proxy(p) => Some(p.url.to_string()),
            },
            exchange_id: exchange.as_str().to_owned(),
            connection_type: kind.as_str(),
            success,
            latency_ms,
            error_details,
            timestamp: crate::model::rfc3339_now(),
            client_id: self.client.client_id.clone(),
        };
        if self.feedback.try_send(report).is_err() {
            metrics::service_feedback("dropped");
        }
    }

    fn describe(&self, exchange: VenueId, kind: ConnKind) -> String {
        format!(
            "{} [external service]; embedded: {}",
            self.describe,
            self.embedded.describe(exchange, kind)
        )
    }

    fn live_count(&self, route: &Route) -> Option<Arc<AtomicU32>> {
        self.embedded.live_count(route)
    }

    fn can_fail_over(&self, exchange: VenueId, kind: ConnKind, failed: &str) -> bool {
        self.embedded.can_fail_over(exchange, kind, failed)
    }

    fn checked_pools(&self) -> Vec<Arc<Pool>> {
        self.embedded.checked_pools()
    }

    fn start(&self, shutdown: watch::Receiver<bool>) {
        if let Some(rx) = lock(&self.feedback_rx).take() {
            tokio::spawn(Self::send_feedback(self.client.clone(), rx, shutdown));
        }
    }
}

/// Logs a change of the breaker's state once, and exports it.
fn breaker_changed(changed: breaker::Transition, error: Option<&client::CallError>) {
    let Some((from, to)) = changed else { return };
    metrics::service_circuit(to);
    let (from, circuit) = (from.as_str(), to.as_str());
    match (to, error) {
        (CircuitState::Open, Some(e)) => tracing::warn!(circuit, from, "proxy service circuit opened: {e}"),
        (CircuitState::HalfOpen, _) => {
            tracing::info!(circuit, from, "proxy service circuit half-open: probing")
        }
        _ => tracing::info!(circuit, from, "proxy service circuit {circuit}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
