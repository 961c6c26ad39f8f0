//! `proxy:` — which proxy each exchange's connections use: one proxy, a pool of them
//! (strategy, health checks, ejection), or `direct`, as the default, per exchange and
//! connection kind, and by regional rules (`proxy.regional`) for the region the process
//! runs in. Precedence: exchange override → first matching regional rule → default →
//! direct. `external_service` (see `service`) delegates the choice to a proxy service.

use super::{DEFAULT_TIMEOUT_SECONDS, ProxyUrl};
use crate::model::VenueId;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub default: KindProxies,
    #[serde(default)]
    pub exchanges: BTreeMap<VenueId, KindProxies>,
    #[serde(default)]
    pub regional: Option<Regional>,
    /// A proxy service asked for each connection's route (the settings above are its
    /// embedded fallback).
    #[serde(default)]
    pub external_service: Option<super::ServiceConfig>,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default: KindProxies::default(),
            exchanges: BTreeMap::new(),
            regional: None,
            external_service: None,
        }
    }
}

impl ProxyConfig {
    /// Every setting configured anywhere (for the credentials to redact).
    pub fn settings(&self) -> impl Iterator<Item = &ProxySetting> {
        let kinds = std::iter::once(&self.default).chain(self.exchanges.values());
        let regional = self
            .regional
            .iter()
            .flat_map(|r| r.rules.iter().map(|rule| &rule.proxy));
        let service = self.external_service.iter().filter_map(|s| s.proxy.as_ref());
        kinds
            .flat_map(|k| k.http.iter().chain(&k.websocket))
            .chain(regional)
            .chain(service)
    }
}

/// A proxy per connection kind; `rest` is accepted as an alias of `http`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindProxies {
    #[serde(default, alias = "rest")]
    pub http: Option<ProxySetting>,
    #[serde(default)]
    pub websocket: Option<ProxySetting>,
}

/// `proxy.regional`: rules that apply in the region the process runs in (`region`, or
/// the environment's `FEEDHANDLER_REGION`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regional {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub rules: Vec<RegionalRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalRule {
    /// Regions it applies in (`US`, `CN`); `*` for any.
    pub regions: Vec<String>,
    /// Exchanges it applies to; `*` for any.
    pub exchanges: Vec<String>,
    /// A proxy URL, a pool, or `direct` (explicit).
    pub proxy: ProxySetting,
}

impl RegionalRule {
    pub fn matches(&self, region: &str, exchange: VenueId) -> bool {
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x.eq_ignore_ascii_case(v));
        any(&self.regions, region) && any(&self.exchanges, exchange.as_str())
    }
}

/// One proxy: `{url, timeout_seconds}` or a bare URL string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyEndpoint {
    pub url: ProxyUrl,
    pub timeout_seconds: u16,
}

/// A connection kind's setting: a proxy, a pool, or `direct` (an exchange that must
/// not use the default proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    Direct,
    Via(ProxyEndpoint),
    Pool(Arc<PoolConfig>),
}

impl ProxySetting {
    /// The proxies it names (a pool's members).
    pub fn endpoints(&self) -> Vec<&ProxyEndpoint> {
        match self {
            Self::Direct => Vec::new(),
            Self::Via(e) => vec![e],
            Self::Pool(p) => p.members.iter().collect(),
        }
    }
}

/// How a pool picks a member for each attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    RoundRobin,
    Random,
    /// Of two members drawn at random, the one with fewer live connections.
    LeastConnections,
    /// The lowest moving average of handshake latency.
    Fastest,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::Random => "random",
            Self::LeastConnections => "least_connections",
            Self::Fastest => "fastest",
        }
    }
}

/// What a pool does when every member is ejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Connect directly until a member is back (never without this setting).
    Direct,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default = "thirty")]
    pub interval_seconds: u32,
    #[serde(default = "five")]
    pub timeout_seconds: u32,
    /// `host:port` the check asks each member to connect to (TCP + proxy handshake).
    pub target: String,
}

fn thirty() -> u32 {
    30
}
fn five() -> u32 {
    5
}

/// A pool of proxies with passive ejection and optional active health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub members: Vec<ProxyEndpoint>,
    pub strategy: Strategy,
    pub health_check: Option<HealthCheck>,
    /// Consecutive proxy-caused failures that eject a member.
    pub eject_after_failures: u32,
    /// The longest ejection (each ejection of a member doubles the last, from 30 s).
    pub retry_failed_after_seconds: u32,
    pub fallback: Option<Fallback>,
}

/// The map form of a setting: a proxy (`url`) or a pool (`pool`), each with its keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingMap {
    #[serde(default)]
    url: Option<ProxyUrl>,
    #[serde(default)]
    pool: Option<Vec<ProxyUrl>>,
    #[serde(default)]
    timeout_seconds: Option<TimeoutSeconds>,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    health_check: Option<HealthCheck>,
    #[serde(default)]
    eject_after_failures: Option<u32>,
    #[serde(default)]
    retry_failed_after_seconds: Option<u32>,
    #[serde(default)]
    fallback: Option<Fallback>,
}

/// Seconds bounding a connection's setup: 1–300.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "i64")]
struct TimeoutSeconds(u16);

impl TryFrom<i64> for TimeoutSeconds {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match u16::try_from(v) {
            Ok(s @ 1..=300) => Ok(Self(s)),
            _ => Err(format!("timeout_seconds must be 1-300, got {v}")),
        }
    }
}

impl SettingMap {
    fn into_setting(self) -> Result<ProxySetting, String> {
        let timeout_seconds = self.timeout_seconds.map_or(DEFAULT_TIMEOUT_SECONDS, |t| t.0);
        let pool_keys = self.strategy.is_some()
            || self.health_check.is_some()
            || self.eject_after_failures.is_some()
            || self.retry_failed_after_seconds.is_some()
            || self.fallback.is_some();
        match (self.url, self.pool) {
            (Some(url), None) if !pool_keys => Ok(ProxySetting::Via(ProxyEndpoint { url, timeout_seconds })),
            (Some(_), None) => Err("strategy, health_check, eject_after_failures, retry_failed_after_seconds and fallback are keys of a pool (`pool: [...]`), not of one `url`".into()),
            (None, Some(urls)) => {
                if urls.is_empty() {
                    return Err("a pool needs at least one member".into());
                }
                let eject_after_failures = self.eject_after_failures.unwrap_or(3);
                let retry = self.retry_failed_after_seconds.unwrap_or(300);
                if eject_after_failures == 0 || retry == 0 {
                    return Err("eject_after_failures and retry_failed_after_seconds must be at least 1".into());
                }
                if let Some(h) = &self.health_check {
                    if h.interval_seconds == 0 || h.timeout_seconds == 0 || h.timeout_seconds > 300 {
                        return Err("health_check: interval_seconds at least 1, timeout_seconds 1-300".into());
                    }
                    let port = h.target.rsplit_once(':').and_then(|(host, p)| (!host.is_empty()).then_some(p));
                    if port.and_then(|p| p.parse::<u16>().ok()).is_none_or(|p| p == 0) {
                        return Err("health_check.target must be host:port".into());
                    }
                }
                let members = urls.into_iter().map(|url| ProxyEndpoint { url, timeout_seconds }).collect();
                Ok(ProxySetting::Pool(Arc::new(PoolConfig {
                    members,
                    strategy: self.strategy.unwrap_or_default(),
                    health_check: self.health_check,
                    eject_after_failures,
                    retry_failed_after_seconds: retry,
                    fallback: self.fallback,
                })))
            }
            (Some(_), Some(_)) => Err("give `url` (one proxy) or `pool` (several), not both".into()),
            (None, None) => Err("give `url` (one proxy) or `pool` (several)".into()),
        }
    }
}

impl<'de> Deserialize<'de> for ProxySetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ProxySetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a proxy URL, {url, timeout_seconds}, {pool: [...], ...}, or `direct`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ProxySetting, E> {
                if s == "direct" {
                    return Ok(ProxySetting::Direct);
                }
                let url = ProxyUrl::try_from(s.to_owned()).map_err(E::custom)?;
                Ok(ProxySetting::Via(ProxyEndpoint {
                    url,
                    timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ProxySetting, A::Error> {
                let m = SettingMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                m.into_setting().map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}
