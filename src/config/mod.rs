//! Configuration schema: the YAML file (plus `FEEDHANDLER_…` environment overrides) as
//! typed, validated values. Field-level rules live in the types' deserializers so that
//! figment reports them with the key path and the value's source; see `load`.

mod load;
mod proxy_url;

pub use load::{ConfigError, load};
pub use proxy_url::{Credentials, ProxyScheme, ProxyUrl, Secret};

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Timeout used for connection setup when a proxy sets none, and for direct connections.
pub const DEFAULT_TIMEOUT_SECONDS: u16 = 30;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub proxy: ProxyConfig,
    pub exchanges: BTreeMap<ExchangeId, ExchangeConfig>,
    #[serde(default)]
    pub sink: SinkConfig,
    #[serde(default)]
    pub tls: TlsConfig,
}

/// The venues feedhandler has adapters for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeId {
    Binance,
    BinanceFutures,
    Coinbase,
}

impl ExchangeId {
    /// The name used in config, logs and normalized events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::BinanceFutures => "binance_futures",
            Self::Coinbase => "coinbase",
        }
    }
}

impl ExchangeId {
    /// The venue's name in recordings (cryptofeed's convention).
    pub fn recording_name(self) -> &'static str {
        match self {
            Self::Binance => "BINANCE",
            Self::BinanceFutures => "BINANCE_FUTURES",
            Self::Coinbase => "COINBASE",
        }
    }
}

impl fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `proxy:` — which proxy each exchange's connections use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub default: KindProxies,
    #[serde(default)]
    pub exchanges: BTreeMap<ExchangeId, KindProxies>,
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
        }
    }
}

/// A proxy per connection kind; `rest` is accepted as an alias of `http`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindProxies {
    #[serde(default, alias = "rest")]
    pub http: Option<ProxyEndpoint>,
    #[serde(default)]
    pub websocket: Option<ProxyEndpoint>,
}

/// One proxy: `{url, timeout_seconds}` or a bare URL string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyEndpoint {
    pub url: ProxyUrl,
    pub timeout_seconds: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyEndpointFull {
    url: ProxyUrl,
    #[serde(default)]
    timeout_seconds: Option<TimeoutSeconds>,
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

impl<'de> Deserialize<'de> for ProxyEndpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ProxyEndpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a proxy URL or {url, timeout_seconds}")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ProxyEndpoint, E> {
                let url = ProxyUrl::try_from(s.to_owned()).map_err(E::custom)?;
                Ok(ProxyEndpoint {
                    url,
                    timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ProxyEndpoint, A::Error> {
                let full = ProxyEndpointFull::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ProxyEndpoint {
                    url: full.url,
                    timeout_seconds: full.timeout_seconds.map_or(DEFAULT_TIMEOUT_SECONDS, |t| t.0),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Market-data channels an exchange can stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Trades,
    L2Book,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::L2Book => "l2_book",
        }
    }
}

/// Which Binance stream carries trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStream {
    #[default]
    Trade,
    AggTrade,
}

/// `exchanges.<name>:` — what to stream from one venue, and where the venue is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    pub symbols: Vec<String>,
    pub channels: Vec<Channel>,
    /// WebSocket base URL; the venue's public endpoint when absent.
    #[serde(default)]
    pub ws_url: Option<url::Url>,
    /// REST base URL; the venue's public endpoint when absent.
    #[serde(default)]
    pub rest_url: Option<url::Url>,
    /// Binance: `trade` (default) or `agg_trade`.
    #[serde(default)]
    pub trade_stream: TradeStream,
    /// Levels requested per book snapshot; the venue's default when absent.
    #[serde(default)]
    pub depth_limit: Option<u16>,
}

/// `sink:` — where normalized events go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON lines on standard output.
    #[default]
    Stdout,
}

/// `tls:` — trust settings for every TLS connection (exchange and https proxies).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of extra CA certificates trusted besides the built-in web roots
    /// (a corporate TLS-inspecting proxy, or a local test venue).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}
