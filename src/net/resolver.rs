//! Proxy resolution: which route (a proxy, or direct) each connection attempt takes.
//! The factory asks a [`ProxyResolver`] before every attempt and reports the attempt's
//! outcome back, so pools with failover, regional rules or an external proxy service can
//! replace [`StaticResolver`] without touching adapters.

use crate::config::{
    DEFAULT_TIMEOUT_SECONDS, ExchangeId, KindProxies, ProxyConfig, ProxyEndpoint, ProxySetting,
};
use std::collections::BTreeMap;
use std::fmt;
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
pub enum Outcome {
    Success { latency: Duration },
    Failure,
}

/// Picks a route per attempt and learns from outcomes.
pub trait ProxyResolver: Send + Sync {
    fn pick(&self, exchange: ExchangeId, kind: ConnKind) -> Route;
    fn report(&self, exchange: ExchangeId, kind: ConnKind, route: &Route, outcome: Outcome);
}

/// The configured proxies: disabled → direct; exchange override → default → direct.
#[derive(Debug, Clone)]
pub struct StaticResolver {
    enabled: bool,
    default: KindProxies,
    exchanges: BTreeMap<ExchangeId, KindProxies>,
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

impl ProxyResolver for StaticResolver {
    fn pick(&self, exchange: ExchangeId, kind: ConnKind) -> Route {
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

    fn report(&self, exchange: ExchangeId, kind: ConnKind, route: &Route, outcome: Outcome) {
        tracing::debug!(%exchange, %kind, proxy = %route, ?outcome, "connection outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyUrl;

    fn endpoint(url: &str) -> Option<ProxySetting> {
        Some(ProxySetting::Via(ProxyEndpoint {
            url: ProxyUrl::try_from(url.to_owned()).unwrap(),
            timeout_seconds: 30,
        }))
    }

    fn resolver(enabled: bool) -> StaticResolver {
        let mut exchanges = BTreeMap::new();
        exchanges.insert(
            ExchangeId::Binance,
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
        assert_eq!(
            pick(ExchangeId::Binance, ConnKind::Http),
            "http://binance-proxy:8080"
        );
        assert_eq!(
            pick(ExchangeId::Binance, ConnKind::Websocket),
            "socks5://default-ws:1081"
        );
        assert_eq!(
            pick(ExchangeId::BinanceFutures, ConnKind::Http),
            "socks5h://default:1080"
        );
    }

    #[test]
    fn an_exchange_can_opt_out_of_the_default_proxy() {
        let mut config = ProxyConfig::default();
        config.default.websocket = endpoint("socks5h://default:1080");
        config.exchanges.insert(
            ExchangeId::Coinbase,
            KindProxies {
                http: None,
                websocket: Some(ProxySetting::Direct),
            },
        );
        let r = StaticResolver::new(&config);
        assert_eq!(r.pick(ExchangeId::Coinbase, ConnKind::Websocket), Route::Direct);
        assert_eq!(
            r.pick(ExchangeId::Binance, ConnKind::Websocket).to_string(),
            "socks5h://default:1080"
        );
    }

    #[test]
    fn disabled_is_direct_for_everything() {
        let r = resolver(false);
        for ex in [ExchangeId::Binance, ExchangeId::BinanceFutures] {
            for kind in [ConnKind::Http, ConnKind::Websocket] {
                assert_eq!(r.pick(ex, kind), Route::Direct);
            }
        }
    }

    #[test]
    fn nothing_configured_is_direct() {
        let r = StaticResolver::new(&ProxyConfig::default());
        assert_eq!(r.pick(ExchangeId::Binance, ConnKind::Websocket), Route::Direct);
    }
}
