//! Loading: YAML file, then `FEEDHANDLER_…` environment variables (`__` nests keys),
//! then cross-field validation. Every error names the key path and where the value came
//! from, and never repeats a value (it may be a credential).

use super::section::Section;
use super::{Config, KafkaConfig, ProxyConfig, SinkConfig, TlsConfig};
use crate::model::VenueId;
use crate::venues::registry;
use crate::venues::rest::catalog::Catalog;
use figment::providers::{Env, Format, Yaml};
use figment::{Figment, Metadata, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables read as configuration start with this.
pub const ENV_PREFIX: &str = "FEEDHANDLER_";
/// Largest in-memory event queue accepted (events, not bytes).
const MAX_QUEUE_CAPACITY: usize = 10_000_000;
/// Idle timeouts shorter than two seconds would replace healthy quiet connections (and
/// Coinbase's heartbeats come every second); longer than an hour would leave a dead one
/// unnoticed.
const MIN_IDLE_TIMEOUT_MS: u64 = 2_000;
const MAX_IDLE_TIMEOUT_MS: u64 = 3_600_000;
/// Reconnect delays: at least the backoff's first step, at most five minutes.
const RECONNECT_MAX_DELAY_MS: std::ops::RangeInclusive<u64> = 500..=300_000;
/// `FEEDHANDLER_` variables that belong to the CLI, not to the configuration tree.
const CLI_ENV_KEYS: [&str; 4] = ["config", "log", "log_format", "region"];
/// The region the process runs in, for `proxy.regional` rules (overrides the file's).
pub const REGION_ENV: &str = "FEEDHANDLER_REGION";

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `proxy.default.http.url`.
    pub key: String,
    /// `file config/x.yaml`, `env FEEDHANDLER_…` or `default`.
    pub origin: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            "(top level)"
        } else {
            &self.key
        };
        write!(f, "{key} ({}): {}", self.origin, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file's top level; each venue's section is extracted by its kind (`registry`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// A directory of REST venue definitions (`*.yaml`) besides the shipped ones;
    /// relative to the config file's directory.
    #[serde(default)]
    venue_definitions: Option<PathBuf>,
    #[serde(default)]
    proxy: ProxyConfig,
    exchanges: BTreeMap<VenueId, figment::value::Value>,
    #[serde(default)]
    sink: SinkConfig,
    #[serde(default)]
    tls: TlsConfig,
    #[serde(default)]
    metrics: Option<crate::metrics::MetricsConfig>,
}

/// Reads, merges and validates the configuration. Nothing connects before this passes.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.into(),
        source,
    })?;
    let file_origin = format!("file {}", path.display());
    let mut early: Vec<Problem> = (super::duplicates::duplicate_keys(&text).into_iter())
        .map(|key| Problem {
            key,
            origin: file_origin.clone(),
            reason: "this key is given twice; the last would silently win".into(),
        })
        .collect();
    // Names that are not Unicode cannot be ours; `vars()` would panic on them.
    let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v)));
    early.extend(env_problems(vars));
    if !early.is_empty() {
        return Err(ConfigError::Invalid(early));
    }
    let figment = Figment::new()
        .merge(Yaml::file_exact(path))
        .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&CLI_ENV_KEYS));
    let mut doc: Document = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(e.into_iter().map(problem_from_figment).collect()))?;
    if let Some(region) = std::env::var(REGION_ENV).ok().filter(|r| !r.is_empty()) {
        let regional = doc.proxy.regional.get_or_insert_with(Default::default);
        regional.region = Some(region);
    }
    let mut problems = Vec::new();
    let dir = (doc.venue_definitions.as_ref()).map(|d| path.parent().unwrap_or(Path::new(".")).join(d));
    let catalog = match Catalog::load(dir.as_deref(), &registry::native()) {
        Ok(c) => c,
        Err(p) => return Err(ConfigError::Invalid(p)),
    };
    let mut exchanges = BTreeMap::new();
    for id in doc.exchanges.keys() {
        let key = format!("exchanges.{id}");
        if registry::lookup(*id, &catalog).is_none() {
            problems.push(unknown_venue(&figment, &catalog, key, *id));
            continue;
        }
        let mut section = Section::new(&figment, key);
        let venue = registry::load_section(*id, &catalog, &mut section);
        problems.extend(section.into_problems());
        if let Some(venue) = venue {
            exchanges.insert(*id, venue);
        }
    }
    for id in doc
        .proxy
        .exchanges
        .keys()
        .filter(|id| registry::lookup(**id, &catalog).is_none())
    {
        problems.push(unknown_venue(
            &figment,
            &catalog,
            format!("proxy.exchanges.{id}"),
            *id,
        ));
    }
    for (i, rule) in doc.proxy.regional.iter().flat_map(|r| r.rules.iter().enumerate()) {
        for name in rule.exchanges.iter().filter(|x| x.as_str() != "*") {
            let known = VenueId::new(name)
                .ok()
                .and_then(|id| registry::lookup(id, &catalog));
            if known.is_none() {
                let key = format!("proxy.regional.rules.{i}.exchanges");
                // figment finds metadata by map keys only: the list's is the rules'.
                let path: Vec<String> = ["proxy", "regional", "rules"].map(str::to_owned).to_vec();
                let venues: Vec<&str> = registry::known(&catalog).collect();
                problems.push(Problem {
                    origin: origin(figment.find_metadata("proxy.regional.rules"), &path),
                    key,
                    reason: format!(
                        "unknown venue `{name}`; expected `*` or one of: {}",
                        venues.join(", ")
                    ),
                });
            }
        }
    }
    if doc.exchanges.is_empty() {
        let origin = origin(figment.find_metadata("exchanges"), &["exchanges".to_owned()]);
        problems.push(Problem {
            key: "exchanges".into(),
            origin,
            reason: "at least one exchange must be configured".into(),
        });
    }
    let config = Config {
        catalog,
        proxy: doc.proxy,
        exchanges,
        sink: doc.sink,
        tls: doc.tls,
        metrics: doc.metrics,
    };
    problems.extend(validate(&config, &figment));
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// `FEEDHANDLER_…` variables that name no key (`FEEDHANDLER_PROXY__=x`): figment would
/// ignore them, and with them what the operator meant to set.
fn env_problems<V>(vars: impl Iterator<Item = (String, V)>) -> Vec<Problem> {
    vars.filter_map(|(name, _)| {
        let key = name.strip_prefix(ENV_PREFIX)?;
        let empty = key.is_empty() || key.split("__").any(str::is_empty);
        empty.then(|| Problem {
            key: key.to_ascii_lowercase().replace("__", "."),
            origin: format!("env {name}"),
            reason: "an empty key segment (`__` at the start or end, or `____`) names no key".into(),
        })
    })
    .collect()
}

fn unknown_venue(figment: &Figment, catalog: &Catalog, key: String, id: VenueId) -> Problem {
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    let known: Vec<&str> = registry::known(catalog).collect();
    Problem {
        origin: origin(figment.find_metadata(&key), &path),
        key,
        reason: format!("unknown value `{id}`; expected one of: {}", known.join(", ")),
    }
}

pub(super) fn origin(md: Option<&Metadata>, path: &[String]) -> String {
    match md {
        Some(Metadata {
            source: Some(Source::File(f)),
            ..
        }) => format!("file {}", f.display()),
        Some(md) if md.name.contains("environment") => {
            format!("env {ENV_PREFIX}{}", path.join("__").to_ascii_uppercase())
        }
        Some(md) => md.name.to_string(),
        None => "default".to_owned(),
    }
}

pub(crate) fn problem_from_figment(e: figment::Error) -> Problem {
    use figment::error::Kind;
    let reason = match &e.kind {
        Kind::Message(m) => m.clone(),
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", actual_kind(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {}", actual_kind(actual))
        }
        Kind::UnknownField(field, []) => format!("unknown key `{field}`; this takes no other keys"),
        Kind::UnknownField(field, expected) => {
            format!("unknown key `{field}`; expected one of: {}", expected.join(", "))
        }
        Kind::UnknownVariant(variant, expected) => {
            format!(
                "unknown value `{variant}`; expected one of: {}",
                expected.join(", ")
            )
        }
        Kind::MissingField(field) => format!("missing key `{field}`"),
        other => other.to_string(),
    };
    Problem {
        key: e.path.join("."),
        origin: origin(e.metadata.as_ref(), &e.path),
        reason,
    }
}

/// The type of a rejected value, never the value itself.
fn actual_kind(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a map",
        _ => "a value",
    }
}

fn validate(config: &Config, figment: &Figment) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: String, reason: String| {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        let origin = origin(figment.find_metadata(&key), &path);
        problems.push(Problem { key, origin, reason });
    };
    if let SinkConfig::Kafka(k) = &config.sink {
        validate_kafka(k, &mut problem);
    }
    for (key, reason) in config.proxy.external_service.iter().flat_map(|s| s.problems()) {
        problem(format!("proxy.external_service.{key}"), reason);
    }
    if let Some(path) = &config.tls.ca_file {
        if std::fs::File::open(path).is_err() || !path.is_file() {
            problem(
                "tls.ca_file".into(),
                format!("{} is not a readable file", path.display()),
            );
        }
    }
    for (id, venue) in &config.exchanges {
        let ex = &venue.common;
        let at = |k: &str| format!("exchanges.{id}.{k}");
        if ex.symbols.is_empty() {
            problem(at("symbols"), "at least one symbol is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &ex.symbols {
            if !valid_symbol(s) {
                problem(
                    at("symbols"),
                    format!(
                        "symbol {s:?} is not a symbol: 1-64 letters, digits and - _ . / : without spaces"
                    ),
                );
            } else if !seen.insert(s) {
                problem(at("symbols"), format!("symbol {s} is listed twice"));
            }
        }
        if ex.channels.is_empty() {
            problem(at("channels"), "at least one channel is required".into());
        }
        for (i, c) in ex.channels.iter().enumerate() {
            if ex.channels[..i].contains(c) {
                problem(at("channels"), format!("channel {} is listed twice", c.as_str()));
            }
        }
        if let Some(u) = &ex.ws_url {
            if !matches!(u.scheme(), "ws" | "wss") {
                problem(at("ws_url"), "must be a ws:// or wss:// URL".into());
            }
        }
        if let Some(u) = &ex.rest_url {
            if !matches!(u.scheme(), "http" | "https") {
                problem(at("rest_url"), "must be an http:// or https:// URL".into());
            }
        }
        if ex
            .idle_timeout_ms
            .is_some_and(|ms| !(MIN_IDLE_TIMEOUT_MS..=MAX_IDLE_TIMEOUT_MS).contains(&ms))
        {
            problem(
                at("idle_timeout_ms"),
                format!("must be {MIN_IDLE_TIMEOUT_MS}-{MAX_IDLE_TIMEOUT_MS}"),
            );
        }
        if !RECONNECT_MAX_DELAY_MS.contains(&ex.reconnect_max_delay_ms) {
            let (lo, hi) = (RECONNECT_MAX_DELAY_MS.start(), RECONNECT_MAX_DELAY_MS.end());
            problem(at("reconnect_max_delay_ms"), format!("must be {lo}-{hi}"));
        }
    }
    problems
}

/// A symbol as venues and normalized names write them (`BTC-USDT`, `XBT/USD`, `tBTCUST`).
fn valid_symbol(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':'))
}

fn validate_kafka(k: &KafkaConfig, problem: &mut impl FnMut(String, String)) {
    if k.bootstrap_servers.trim().is_empty() {
        problem(
            "sink.bootstrap_servers".into(),
            "must name at least one host:port".into(),
        );
    }
    if let Err(reason) = crate::sink::topic::TopicTemplate::parse(&k.topic) {
        problem("sink.topic".into(), reason);
    }
    if !(1..=MAX_QUEUE_CAPACITY).contains(&k.queue_capacity) {
        problem(
            "sink.queue_capacity".into(),
            format!("must be 1-{MAX_QUEUE_CAPACITY}"),
        );
    }
    if let Err(reason) = crate::sink::kafka::check_properties(k) {
        problem("sink.properties".into(), reason);
    }
    if k.properties.contains_key("bootstrap.servers") {
        problem(
            "sink.properties".into(),
            "set sink.bootstrap_servers, not bootstrap.servers".into(),
        );
    }
}
