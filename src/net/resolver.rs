//! Proxy resolution: which route (a proxy, or direct) each connection attempt takes.
//! The factory asks a [`ProxyResolver`] before every attempt (the choice may wait: a
//! proxy service is asked over the network) and reports the attempt's outcome with its
//! cause, so pools with failover, regional rules or an external proxy service can
//! replace [`StaticResolver`] without touching adapters. `check` describes routes with
//! the resolver `run` uses ([`for_config`]).

use super::configured::StaticResolver;
use super::error::Cause;
use super::error::Redactor;
use super::pool::Pool;
use super::service::ServiceResolver;
use super::tls::TlsConfigs;
use crate::config::{DEFAULT_TIMEOUT_SECONDS, ProxyConfig, ProxyEndpoint};
use crate::model::VenueId;
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// The two kinds of connection an adapter opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnKind {
    Http,
    Websocket,
}

impl ConnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Websocket => "websocket",
        }
    }
}

impl fmt::Display for ConnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one connection attempt goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    Direct,
    Proxy(ProxyEndpoint),
}

impl Route {
    /// Bound on the whole connection setup.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(match self {
            Self::Direct => DEFAULT_TIMEOUT_SECONDS,
            Self::Proxy(p) => p.timeout_seconds,
        }))
    }
}

/// `direct`, or the proxy as `scheme://host:port` (never credentials).
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct => f.write_str("direct"),
            Self::Proxy(p) => p.url.fmt(f),
        }
    }
}

/// What became of an attempt on a route.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Connected (WebSocket) or answered 2xx (HTTP); `latency` of the whole setup.
    Success {
        latency: Duration,
    },
    Failure(&'a Cause),
}

impl Outcome<'_> {
    /// Whether the attempt failed because of the proxy itself; a venue's answer (any
    /// status), TLS with the venue or a timeout past the proxy does not count.
    pub fn counts_against_proxy(&self) -> bool {
        matches!(self, Self::Failure(cause) if cause.blames_proxy())
    }
}

/// Picks a route per attempt and learns from outcomes.
pub trait ProxyResolver: Send + Sync {
    /// The route of one attempt; an error when no route may be used.
    fn route(&self, exchange: VenueId, kind: ConnKind) -> BoxFuture<'_, Result<Route, Cause>>;
    /// How an attempt on `route` went.
    fn report(&self, exchange: VenueId, kind: ConnKind, route: &Route, outcome: Outcome<'_>);
    /// The route as `check` prints it (never credentials), with the rule that chose it.
    fn describe(&self, exchange: VenueId, kind: ConnKind) -> String;
    /// The live-connection count of the pool member `route` goes through, if any.
    fn live_count(&self, _route: &Route) -> Option<Arc<AtomicU32>> {
        None
    }
    /// Whether a route other than `failed` (as displayed) is in service, so a proxy
    /// failure can be retried at once.
    fn can_fail_over(&self, _exchange: VenueId, _kind: ConnKind, _failed: &str) -> bool {
        false
    }
    /// The pools whose members are health-checked in the background.
    fn checked_pools(&self) -> Vec<Arc<Pool>> {
        Vec::new()
    }
    /// Starts the resolver's own background work (a proxy service's feedback); it
    /// stops when `shutdown` is set.
    fn start(&self, _shutdown: tokio::sync::watch::Receiver<bool>) {}
}

/// The resolver the configuration asks for: the proxy service when one is enabled (the
/// configured proxies are then its embedded fallback), else the configured proxies.
pub(super) fn for_config(
    config: &ProxyConfig,
    tls: &TlsConfigs,
    redactor: &Redactor,
) -> Result<Arc<dyn ProxyResolver>, Cause> {
    let embedded = StaticResolver::new(config);
    match config
        .external_service
        .as_ref()
        .filter(|s| s.enabled && config.enabled)
    {
        Some(service) => {
            let region = config.regional.as_ref().and_then(|r| r.region.clone());
            let resolver = ServiceResolver::new(service, embedded, region, tls, redactor.clone())?;
            Ok(Arc::new(resolver))
        }
        None => Ok(Arc::new(embedded)),
    }
}

/// The resolver `run` would build for `config` (`check` describes routes with it).
pub fn for_checking(config: &crate::config::Config) -> Result<Arc<dyn ProxyResolver>, String> {
    let tls = super::tls::build(config.tls.ca_file.as_deref()).map_err(|e| e.to_string())?;
    for_config(&config.proxy, &tls, &super::redactor_for(config)).map_err(|e| e.to_string())
}
