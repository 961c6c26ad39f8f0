//! Configuration schema: the YAML file (plus `FEEDHANDLER_…` environment overrides) as
//! typed, validated values. Field-level rules live in the types' deserializers so that
//! figment reports them with the key path and the value's source; see `load`.

mod duplicates;
mod load;
mod proxy;
mod proxy_url;
mod section;
mod service;

pub use duplicates::duplicate_keys;
pub(crate) use load::problem_from_figment;
pub use load::{ConfigError, Problem, load};
pub use proxy::{
    Fallback, HealthCheck, KindProxies, PoolConfig, ProxyConfig, ProxyEndpoint, ProxySetting, Regional,
    RegionalRule, Strategy,
};
pub use proxy_url::{Credentials, ProxyScheme, ProxyUrl, Secret};
pub use section::{Section, fields};
pub use service::{Breaker, MAX_CACHE_TTL_SECONDS, ServiceAuth, ServiceConfig, ServiceFallback};

use crate::model::VenueId;
use crate::venues::registry::VenueConfig;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Timeout used for connection setup when a proxy sets none, and for direct connections.
pub const DEFAULT_TIMEOUT_SECONDS: u16 = 30;

/// The whole configuration, validated: each venue's section typed by its kind.
#[derive(Debug, Clone)]
pub struct Config {
    /// The REST venue definitions: shipped ones and `venue_definitions:`'s files.
    pub catalog: crate::venues::rest::catalog::Catalog,
    pub proxy: ProxyConfig,
    pub exchanges: BTreeMap<VenueId, VenueConfig>,
    pub sink: SinkConfig,
    pub tls: TlsConfig,
    /// `/metrics` and health endpoints; off when absent.
    pub metrics: Option<crate::metrics::MetricsConfig>,
}

/// Market-data channels an exchange can stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
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

/// A venue endpoint URL; the error does not repeat the value (it may hold credentials).
fn endpoint_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
    let text = String::deserialize(d)?;
    url::Url::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid URL: {e}")))
}

/// The keys every venue's section takes (`exchanges.<name>:`): what to stream and where
/// the venue is. Each venue kind adds its own keys (see `venues::registry`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExchangeConfig {
    pub symbols: Vec<String>,
    pub channels: Vec<Channel>,
    /// WebSocket base URL; the venue's public endpoint when absent.
    #[serde(default, deserialize_with = "endpoint_url")]
    pub ws_url: Option<url::Url>,
    /// REST base URL; the venue's public endpoint when absent.
    #[serde(default, deserialize_with = "endpoint_url")]
    pub rest_url: Option<url::Url>,
    /// No data frame for this long: the connection is presumed dead and replaced.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Longest wait between reconnect attempts (backoff from 0.5 s doubles up to it).
    #[serde(default = "default_reconnect_max_delay_ms")]
    pub reconnect_max_delay_ms: u64,
}

/// A feed is back within seconds of its proxy or venue; Binance allows 300 connection
/// attempts per 5 minutes per IP, far above one per 5 s per connection.
pub const DEFAULT_RECONNECT_MAX_DELAY_MS: u64 = 5_000;

fn default_reconnect_max_delay_ms() -> u64 {
    DEFAULT_RECONNECT_MAX_DELAY_MS
}

/// `sink:` — where normalized events go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkConfig {
    /// JSON lines on standard output.
    Stdout(StdoutSink),
    /// A Kafka topic per template; the value is the stdout JSON line.
    Kafka(KafkaConfig),
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self::Stdout(StdoutSink::default())
    }
}

/// `sink: {kind: stdout}` takes no other keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSink {}

/// What the Kafka sink does when its queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Adapters wait: nothing is lost, market data is delayed.
    #[default]
    Block,
    /// The oldest queued event is dropped and counted.
    DropOldest,
}

/// `sink: {kind: kafka, …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub bootstrap_servers: String,
    /// Topic template; `{type}` (trade, book, book_status, trade_status), `{exchange}`, `{symbol}`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// librdkafka properties passed through (security, SASL, SSL, tuning). Values are
    /// never printed: they may be secrets. Dotted names may also be nested maps (the
    /// environment's `…__PROPERTIES__SASL.PASSWORD` arrives nested).
    #[serde(default, deserialize_with = "flat_properties")]
    pub properties: BTreeMap<String, String>,
    /// Events held in memory while the broker is slow or away.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    #[serde(default)]
    pub on_full: OnFull,
    /// At shutdown, how long in-flight messages may take to be delivered.
    #[serde(default = "default_flush_timeout_ms")]
    pub flush_timeout_ms: u64,
}

/// A property value as YAML or the environment gives it.
#[derive(Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Whole(i64),
    Number(f64),
    Flag(bool),
    Nested(BTreeMap<String, PropertyValue>),
}

/// Properties with nested maps joined back into dotted names (`sasl: {password: …}` is
/// `sasl.password`); numbers and booleans as librdkafka reads them, in text.
fn flat_properties<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    // Nested maps are written after plain names, so where both give one name the
    // nested form (as the environment writes it) wins over the file's dotted key.
    fn flatten(prefix: &str, map: BTreeMap<String, PropertyValue>, out: &mut BTreeMap<String, String>) {
        let (nested, plain): (Vec<_>, Vec<_>) = map
            .into_iter()
            .partition(|(_, v)| matches!(v, PropertyValue::Nested(_)));
        for (key, value) in plain.into_iter().chain(nested) {
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            let text = match value {
                PropertyValue::Nested(inner) => {
                    flatten(&name, inner, out);
                    continue;
                }
                PropertyValue::Text(t) => t,
                PropertyValue::Whole(n) => n.to_string(),
                PropertyValue::Number(n) => n.to_string(),
                PropertyValue::Flag(b) => b.to_string(),
            };
            out.insert(name, text);
        }
    }
    let nested = BTreeMap::<String, PropertyValue>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected librdkafka properties: names with text values"))?;
    let mut out = BTreeMap::new();
    flatten("", nested, &mut out);
    Ok(out)
}

fn default_topic() -> String {
    "{type}.{exchange}".to_owned()
}

fn default_queue_capacity() -> usize {
    65_536
}

fn default_flush_timeout_ms() -> u64 {
    10_000
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

#[cfg(test)]
mod tests {
    use super::flat_properties;
    use std::collections::BTreeMap;

    #[test]
    fn properties_flatten_and_the_nested_form_wins() {
        let json = r#"{"sasl.password": "from-file", "sasl": {"password": "from-env", "username": "u"}, "linger.ms": 20, "enable.idempotence": false}"#;
        let mut de = serde_json::Deserializer::from_str(json);
        let got: BTreeMap<String, String> = flat_properties(&mut de).unwrap();
        let want: BTreeMap<String, String> = [
            ("enable.idempotence", "false"),
            ("linger.ms", "20"),
            ("sasl.password", "from-env"),
            ("sasl.username", "u"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
    }
}
