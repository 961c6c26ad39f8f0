//! Prometheus metrics (the Prometheus project's `prometheus-client`), off unless
//! `metrics.listen` is configured: then [`enable`] builds the registry once and the
//! recording functions below count; while off they do nothing. Metrics observe the
//! factory, the adapters and the sink; they never steer them. Labels are bounded:
//! exchange, connection kind, proxy (`scheme://host:port`), cause and reason classes
//! (static texts), and symbols only with `metrics.symbol_labels: true`.

mod families;
pub mod health;
mod live;
pub mod server;

use crate::model::{Event, VenueId};
use crate::net::{Cause, ConnKind, Outcome, Route};
use families::Families;
pub use families::{FrameCounters, LiveGuard};
use std::sync::OnceLock;
use std::time::Duration;

static METRICS: OnceLock<Families> = OnceLock::new();

/// The `metrics:` section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` serving `/metrics`, `/health/live` and `/health/ready`.
    pub listen: std::net::SocketAddr,
    /// Adds a `symbol` label to events and resyncs (a series per symbol: off by default).
    #[serde(default)]
    pub symbol_labels: bool,
}

/// Turns recording on (once; later calls keep the first settings).
pub fn enable(symbol_labels: bool) {
    METRICS.get_or_init(|| Families::new(symbol_labels));
}

fn get() -> Option<&'static Families> {
    METRICS.get()
}

/// The exposition in the Prometheus text format (0.0.4); empty while off.
pub fn scrape() -> String {
    get().map(Families::encode).unwrap_or_default()
}

/// A connection attempt's outcome: per exchange and kind, and per proxy when it went
/// through one (attempts, successes, failures by cause, handshake latency).
pub fn attempt(exchange: VenueId, kind: ConnKind, route: &Route, outcome: &Outcome<'_>) {
    if let Some(m) = get() {
        m.attempt(exchange, kind, route, outcome);
    }
    health::attempt(exchange, kind, outcome);
}

/// Counters for one WebSocket's frames (messages, bytes, last arrival).
pub fn frames(exchange: VenueId, kind: ConnKind) -> Option<FrameCounters> {
    get().map(|m| m.frames(exchange, kind))
}

/// A live connection through `route`'s proxy, counted until the guard is dropped.
pub fn live_proxy(route: &Route) -> Option<families::LiveGuard> {
    match route {
        Route::Proxy(p) => get().map(|m| m.live_proxy(&p.url.to_string())),
        Route::Direct => None,
    }
}

pub fn reconnect(exchange: VenueId) {
    if let Some(m) = get() {
        m.counter(&m.reconnects, vec![("exchange", exchange.as_str().into())])
            .inc();
    }
}

/// A frame not applied, by its reason (a static text).
pub fn rejected(exchange: VenueId, reason: &'static str) {
    if let Some(m) = get() {
        let labels = vec![("exchange", exchange.as_str().into()), ("reason", reason.into())];
        m.counter(&m.rejected, labels).inc();
    }
}

/// An event taken by the sink: by type, book resyncs by reason class, trade gaps.
pub fn observe(event: &Event) {
    if let Some(m) = get() {
        m.observe(event);
    }
}

pub fn snapshot_request(exchange: VenueId) {
    if let Some(m) = get() {
        m.counter(&m.snapshot_requests, vec![("exchange", exchange.as_str().into())])
            .inc();
    }
}

pub fn rate_limit_pause(exchange: VenueId) {
    if let Some(m) = get() {
        m.counter(&m.rate_limit_pauses, vec![("exchange", exchange.as_str().into())])
            .inc();
    }
}

/// A pool member was ejected.
pub fn proxy_ejected(proxy: &str) {
    if let Some(m) = get() {
        m.counter(&m.proxy_ejections, vec![("proxy", m.live.proxy_label(proxy))])
            .inc();
    }
}

/// A pool whose members' health is exported (read at each scrape).
pub fn watch_pool(pool: &std::sync::Arc<crate::net::Pool>) {
    if let Some(m) = get() {
        m.live.watch_pool(pool);
    }
}

pub fn service_request(result: &'static str) {
    if let Some(m) = get() {
        m.counter(&m.service_requests, vec![("result", result.into())])
            .inc();
    }
}

pub fn service_cache(hit: bool) {
    if let Some(m) = get() {
        let result = if hit { "hit" } else { "miss" };
        m.counter(&m.service_cache, vec![("result", result.into())]).inc();
    }
}

/// The circuit breaker's state: 0 closed, 1 half-open, 2 open.
pub fn service_circuit(state: crate::net::CircuitState) {
    if let Some(m) = get() {
        m.live.set_circuit(state as i64);
    }
}

pub fn service_fallback(kind: &'static str) {
    if let Some(m) = get() {
        m.counter(&m.service_fallbacks, vec![("kind", kind.into())]).inc();
    }
}

/// A feedback report: `sent`, `failed` or `dropped` (queue full).
pub fn service_feedback(result: &'static str) {
    if let Some(m) = get() {
        m.counter(&m.service_feedback, vec![("result", result.into())])
            .inc();
    }
}

/// The sink's queue, read at each scrape.
pub fn sink_queue(queue: &tokio::sync::mpsc::Sender<Event>) {
    if let Some(m) = get() {
        m.live.set_queue(queue.downgrade());
    }
}

/// Events the sink delivered, failed to deliver, or dropped (queue full, `on_full: drop`).
pub fn sink_events(result: &'static str, n: u64) {
    if let Some(m) = get() {
        if let Some((_, c)) = m.sink_results.iter().find(|(r, _)| *r == result) {
            c.inc_by(n);
        }
    }
}

/// A publisher waited for room in the full queue (backpressure).
pub fn backpressure_wait() {
    if let Some(m) = get() {
        m.backpressure_waits.inc();
    }
}

/// From `produce` to the broker's acknowledgement of one message.
pub fn kafka_produce(latency: Duration) {
    if let Some(m) = get() {
        m.kafka_produce.observe(latency.as_secs_f64());
    }
}

/// A cause as a bounded label value.
pub fn cause_label(cause: &Cause) -> &'static str {
    match cause {
        Cause::ProxyUnreachable(_) => "proxy_unreachable",
        Cause::ProxyAuth(_) => "proxy_auth",
        Cause::ProxyRefused(_) => "proxy_refused",
        Cause::ProxyTimeout(_) => "proxy_timeout",
        Cause::ProxyTls(_) => "proxy_tls",
        Cause::Dns(_) => "dns",
        Cause::TargetUnreachable(_) => "target_unreachable",
        Cause::Timeout(_) => "timeout",
        Cause::Tls { .. } => "tls",
        Cause::Handshake(_) => "handshake",
        Cause::Http(_) => "http",
        Cause::Status {
            status: 429 | 418, ..
        } => "rate_limited",
        Cause::Status { status, .. } if *status >= 500 => "status_5xx",
        Cause::Status { .. } => "status_4xx",
        Cause::Url(_) => "url",
        Cause::NoRoute(_) => "no_route",
    }
}
