//! The resolver built from the configuration: static proxies, pools and regional rules,
//! resolved per exchange and connection kind with the precedence exchange override →
//! first matching regional rule → default → direct; `check` prints each route with the
//! rule that chose it.

use super::error::Cause;
use super::pool::{Pick, Pool};
use super::resolver::{ConnKind, Outcome, ProxyResolver, Route};
use crate::config::{KindProxies, ProxyConfig, ProxyEndpoint, ProxySetting};
use crate::model::VenueId;
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

/// What a setting resolves to.
#[derive(Debug, Clone)]
enum Choice {
    /// Nothing configured (or proxies disabled): direct.
    Unset,
    Direct,
    Proxy(ProxyEndpoint),
    Pool(Arc<Pool>),
}

/// The configured proxies and pools: disabled → direct; exchange override → first
/// matching regional rule → default → direct.
#[derive(Debug, Clone)]
pub struct StaticResolver {
    enabled: bool,
    default: [Option<Choice>; 2],
    exchanges: BTreeMap<VenueId, [Option<Choice>; 2]>,
    /// The process's region and the rules that apply in it, in order.
    region: Option<String>,
    rules: Vec<(usize, Vec<String>, Choice)>,
    /// Live connections per pooled proxy.
    live: Vec<(ProxyEndpoint, Arc<AtomicU32>)>,
}

fn index(kind: ConnKind) -> usize {
    match kind {
        ConnKind::Http => 0,
        ConnKind::Websocket => 1,
    }
}

impl StaticResolver {
    pub fn new(config: &ProxyConfig) -> Self {
        // One pool object per configured pool, shared by every exchange that uses it.
        let mut pools: Vec<Arc<Pool>> = Vec::new();
        let mut live = Vec::new();
        let mut choice = |s: &ProxySetting| match s {
            ProxySetting::Direct => Choice::Direct,
            ProxySetting::Via(e) => Choice::Proxy(e.clone()),
            ProxySetting::Pool(cfg) => match pools.iter().find(|p| *p.config == **cfg) {
                Some(p) => Choice::Pool(p.clone()),
                None => {
                    let p = Arc::new(Pool::new(cfg.clone(), &mut live));
                    crate::metrics::watch_pool(&p);
                    pools.push(p.clone());
                    Choice::Pool(p)
                }
            },
        };
        let mut kinds = |k: &KindProxies| {
            [
                k.http.as_ref().map(&mut choice),
                k.websocket.as_ref().map(&mut choice),
            ]
        };
        let default = kinds(&config.default);
        let exchanges = config.exchanges.iter().map(|(id, k)| (*id, kinds(k))).collect();
        let region = config.regional.as_ref().and_then(|r| r.region.clone());
        let rules = (config.regional.iter())
            .flat_map(|r| r.rules.iter().enumerate())
            .filter(|(_, rule)| {
                region.as_deref().is_some_and(|reg| {
                    rule.regions
                        .iter()
                        .any(|x| x == "*" || x.eq_ignore_ascii_case(reg))
                })
            })
            .map(|(i, rule)| (i + 1, rule.exchanges.clone(), choice(&rule.proxy)))
            .collect();
        Self {
            enabled: config.enabled,
            default,
            exchanges,
            region,
            rules,
            live,
        }
    }

    /// The setting for an attempt and the rule that chose it.
    fn chosen(&self, exchange: VenueId, kind: ConnKind) -> (Choice, String) {
        if !self.enabled {
            return (Choice::Unset, "proxies disabled".into());
        }
        if let Some(c) = self.exchanges.get(&exchange).and_then(|k| k[index(kind)].clone()) {
            return (c, "exchange override".into());
        }
        let region = self.region.as_deref().unwrap_or_default();
        let rule = (self.rules.iter()).find(|(_, exchanges, _)| {
            exchanges
                .iter()
                .any(|x| x == "*" || x.eq_ignore_ascii_case(exchange.as_str()))
        });
        if let Some((n, _, c)) = rule {
            return (c.clone(), format!("regional rule {n} (region {region})"));
        }
        match self.default[index(kind)].clone() {
            Some(c) => (c, "default".into()),
            None => (Choice::Unset, "nothing configured".into()),
        }
    }

    /// The route an attempt takes now.
    pub fn pick(&self, exchange: VenueId, kind: ConnKind) -> Route {
        self.pick_configured(exchange, kind).unwrap_or(Route::Direct)
    }

    /// The route the configuration names for an attempt now (a proxy, a pool member,
    /// or an explicit `direct`); none when nothing is configured for it.
    pub fn pick_configured(&self, exchange: VenueId, kind: ConnKind) -> Option<Route> {
        let (choice, by) = self.chosen(exchange, kind);
        let label = format_args!("{exchange} {kind} ({by})").to_string();
        Some(match choice {
            Choice::Unset => return None,
            Choice::Direct => Route::Direct,
            Choice::Proxy(p) => Route::Proxy(p),
            Choice::Pool(pool) => match pool.pick(&label) {
                Pick::Member(m) => Route::Proxy(m.endpoint.clone()),
                Pick::Direct => Route::Direct,
            },
        })
    }

    fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        let all = self
            .default
            .iter()
            .chain(self.exchanges.values().flatten())
            .flatten();
        let rules = self.rules.iter().map(|(_, _, c)| c);
        all.chain(rules).filter_map(|c| match c {
            Choice::Pool(p) => Some(p),
            _ => None,
        })
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
        let (Choice::Pool(pool), by) = self.chosen(exchange, kind) else {
            return;
        };
        match outcome {
            Outcome::Success { latency } => pool.succeeded(route, latency),
            Outcome::Failure(cause) if against_proxy => {
                pool.failed(route, &format_args!("{exchange} {kind} ({by})"), cause);
            }
            Outcome::Failure(_) => pool.failed_past(route),
        }
    }

    fn describe(&self, exchange: VenueId, kind: ConnKind) -> String {
        let (choice, by) = self.chosen(exchange, kind);
        let what = match choice {
            Choice::Unset | Choice::Direct => "direct".to_owned(),
            Choice::Proxy(p) => format!("{} (timeout {} s)", p.url.masked(), p.timeout_seconds),
            Choice::Pool(pool) => describe_pool(&pool),
        };
        format!("{what} [{by}]")
    }

    fn live_count(&self, route: &Route) -> Option<Arc<AtomicU32>> {
        let Route::Proxy(p) = route else { return None };
        self.live.iter().find(|(e, _)| e == p).map(|(_, c)| c.clone())
    }

    fn can_fail_over(&self, exchange: VenueId, kind: ConnKind, failed: &str) -> bool {
        matches!(self.chosen(exchange, kind).0, Choice::Pool(p) if p.others_in_service(failed) > 0)
    }

    fn checked_pools(&self) -> Vec<Arc<Pool>> {
        let mut out: Vec<Arc<Pool>> = Vec::new();
        if !self.enabled {
            return out;
        }
        for p in self.pools().filter(|p| p.config.health_check.is_some()) {
            if !out.iter().any(|q| Arc::ptr_eq(q, p)) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// A pool as `check` prints it: strategy, members (masked), timeouts and checks.
fn describe_pool(pool: &Pool) -> String {
    let c = &pool.config;
    let members: Vec<String> = c.members.iter().map(|m| m.url.masked()).collect();
    let timeout = c.members.first().map_or(0, |m| m.timeout_seconds);
    let health = c.health_check.as_ref().map_or(String::new(), |h| {
        format!(
            ", health check every {} s to {} (timeout {} s)",
            h.interval_seconds, h.target, h.timeout_seconds
        )
    });
    let fallback = if c.fallback.is_some() {
        ", fallback direct"
    } else {
        ""
    };
    format!(
        "pool {} [{}] (timeout {timeout} s, eject after {} failures, retry after {} s{health}{fallback})",
        c.strategy.as_str(),
        members.join(", "),
        c.eject_after_failures,
        c.retry_failed_after_seconds
    )
}

#[cfg(test)]
#[path = "configured_tests.rs"]
mod tests;
