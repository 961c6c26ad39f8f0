//! Proxy resolution: which route (a proxy, or direct) each connection attempt takes.
//! The factory asks a [`ProxyResolver`] before every attempt (the choice may wait: a
//! proxy service is asked over the network) and reports the attempt's outcome with its
//! cause, so pools with failover, regional rules or an external proxy service can
//! replace [`StaticResolver`] without touching adapters. `check` describes routes with
//! the resolver `run` uses ([`for_config`]).

use super::error::Cause;
use crate::config::{DEFAULT_TIMEOUT_SECONDS, KindProxies, ProxyConfig, ProxyEndpoint, ProxySetting};
use crate::model::VenueId;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The two kinds of connection an adapter opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnKind {
    Http,
    Websocket,
}

impl fmt::Display for ConnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Websocket => "websocket",
        })
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
    /// The route as `check` prints it (never credentials).
    fn describe(&self, exchange: VenueId, kind: ConnKind) -> String;
}

/// The resolver the configuration asks for; `run` and `check` both use this.
pub fn for_config(config: &ProxyConfig) -> Arc<dyn ProxyResolver> {
    Arc::new(StaticResolver::new(config))
}

/// The configured proxies: disabled → direct; exchange override → default → direct.
#[derive(Debug, Clone)]
pub struct StaticResolver {
    enabled: bool,
    default: KindProxies,
    exchanges: BTreeMap<VenueId, KindProxies>,
}

impl StaticResolver {
    pub fn new(config: &ProxyConfig) -> Self {
        Self {
            enabled: config.enabled,
            default: config.default.clone(),
            exchanges: config.exchanges.clone(),
        }
    }
}

fn for_kind(p: &KindProxies, kind: ConnKind) -> Option<&ProxySetting> {
    match kind {
        ConnKind::Http => p.http.as_ref(),
        ConnKind::Websocket => p.websocket.as_ref(),
    }
}

impl StaticResolver {
    /// The configured route: disabled → direct; exchange override → default → direct.
    pub fn pick(&self, exchange: VenueId, kind: ConnKind) -> Route {
        if !self.enabled {
            return Route::Direct;
        }
        self.exchanges
            .get(&exchange)
            .and_then(|p| for_kind(p, kind))
            .or_else(|| for_kind(&self.default, kind))
            .and_then(ProxySetting::endpoint)
            .map_or(Route::Direct, |p| Route::Proxy(p.clone()))
    }
}

impl ProxyResolver for StaticResolver {
    fn route(&self, exchange: VenueId, kind: ConnKind) -> BoxFuture<'_, Result<Route, Cause>> {
        let route = self.pick(exchange, kind);
        Box::pin(async move { Ok(route) })
    }

    fn report(&self, exchange: VenueId, kind: ConnKind, route: &Route, outcome: Outcome<'_>) {
        let against_proxy = outcome.counts_against_proxy();
        tracing::debug!(%exchange, %kind, proxy = %route, ?outcome, against_proxy, "connection outcome");
    }

    fn describe(&self, exchange: VenueId, kind: ConnKind) -> String {
        match self.pick(exchange, kind) {
            Route::Direct => "direct".to_owned(),
            Route::Proxy(p) => format!("{} (timeout {} s)", p.url.masked(), p.timeout_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyUrl;

    fn id(name: &str) -> VenueId {
        VenueId::new(name).unwrap()
    }

    fn endpoint(url: &str) -> Option<ProxySetting> {
        Some(ProxySetting::Via(ProxyEndpoint {
            url: ProxyUrl::try_from(url.to_owned()).unwrap(),
            timeout_seconds: 30,
        }))
    }

    fn resolver(enabled: bool) -> StaticResolver {
        let mut exchanges = BTreeMap::new();
        exchanges.insert(
            id("binance"),
            KindProxies {
                http: endpoint("http://binance-proxy:8080"),
                websocket: None,
            },
        );
        StaticResolver::new(&ProxyConfig {
            enabled,
            default: KindProxies {
                http: endpoint("socks5h://default:1080"),
                websocket: endpoint("socks5://default-ws:1081"),
            },
            exchanges,
        })
    }

    #[test]
    fn exchange_override_then_default_per_kind() {
        let r = resolver(true);
        let pick = |ex, kind| r.pick(ex, kind).to_string();
        assert_eq!(pick(id("binance"), ConnKind::Http), "http://binance-proxy:8080");
        assert_eq!(
            pick(id("binance"), ConnKind::Websocket),
            "socks5://default-ws:1081"
        );
        assert_eq!(
            pick(id("binance_futures"), ConnKind::Http),
            "socks5h://default:1080"
        );
    }

    #[test]
    fn an_exchange_can_opt_out_of_the_default_proxy() {
        let mut config = ProxyConfig::default();
        config.default.websocket = endpoint("socks5h://default:1080");
        config.exchanges.insert(
            id("coinbase"),
            KindProxies {
                http: None,
                websocket: Some(ProxySetting::Direct),
            },
        );
        let r = StaticResolver::new(&config);
        assert_eq!(r.pick(id("coinbase"), ConnKind::Websocket), Route::Direct);
        assert_eq!(
            r.pick(id("binance"), ConnKind::Websocket).to_string(),
            "socks5h://default:1080"
        );
    }

    #[test]
    fn disabled_is_direct_for_everything() {
        let r = resolver(false);
        for ex in [id("binance"), id("binance_futures")] {
            for kind in [ConnKind::Http, ConnKind::Websocket] {
                assert_eq!(r.pick(ex, kind), Route::Direct);
            }
        }
    }

    #[test]
    fn nothing_configured_is_direct() {
        let r = StaticResolver::new(&ProxyConfig::default());
        assert_eq!(r.pick(id("binance"), ConnKind::Websocket), Route::Direct);
    }
}
