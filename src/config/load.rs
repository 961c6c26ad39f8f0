//! Loading: YAML file, then `FEEDHANDLER_…` environment variables (`__` nests keys),
//! then cross-field validation. Every error names the key path and where the value came
//! from, and never repeats a value (it may be a credential).

use super::{Config, ExchangeId};
use figment::providers::{Env, Format, Yaml};
use figment::{Figment, Metadata, Source};
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
/// Binance closes connections at 24 h; the replacement needs a few minutes to be opened,
/// subscribed and caught up before that.
const BINANCE_MAX_CONNECTION_AGE_S: u64 = 86_100;
/// `FEEDHANDLER_` variables that belong to the CLI, not to the configuration tree.
const CLI_ENV_KEYS: [&str; 2] = ["config", "log"];

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

/// Reads, merges and validates the configuration. Nothing connects before this passes.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    std::fs::metadata(path).map_err(|source| ConfigError::Unreadable {
        path: path.into(),
        source,
    })?;
    let figment = Figment::new()
        .merge(Yaml::file_exact(path))
        .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&CLI_ENV_KEYS));
    let config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(e.into_iter().map(problem_from_figment).collect()))?;
    let problems = validate(&config, &figment);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn origin(md: Option<&Metadata>, path: &[String]) -> String {
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

fn problem_from_figment(e: figment::Error) -> Problem {
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

/// Accepted snapshot depths (Binance); Coinbase's snapshots are the whole book.
fn allowed_depths(id: ExchangeId) -> &'static [u16] {
    match id {
        ExchangeId::Binance => &[5, 10, 20, 50, 100, 500, 1000, 5000],
        ExchangeId::BinanceFutures => &[5, 10, 20, 50, 100, 500, 1000],
        ExchangeId::Coinbase => &[],
    }
}

fn validate(config: &Config, figment: &Figment) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: String, reason: String| {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        let origin = origin(figment.find_metadata(&key), &path);
        problems.push(Problem { key, origin, reason });
    };
    if let super::SinkConfig::Kafka(k) = &config.sink {
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
    if let Some(path) = &config.tls.ca_file {
        if std::fs::File::open(path).is_err() || !path.is_file() {
            problem(
                "tls.ca_file".into(),
                format!("{} is not a readable file", path.display()),
            );
        }
    }
    if config.exchanges.is_empty() {
        problem(
            "exchanges".into(),
            "at least one exchange must be configured".into(),
        );
    }
    for (id, ex) in &config.exchanges {
        let at = |k: &str| format!("exchanges.{id}.{k}");
        if ex.symbols.is_empty() {
            problem(at("symbols"), "at least one symbol is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &ex.symbols {
            if !seen.insert(s) {
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
        if let Some(c) = &ex.credentials {
            if *id != ExchangeId::Coinbase {
                problem(
                    at("credentials"),
                    format!("{id} public market data takes no credentials"),
                );
            } else if let Err(e) =
                crate::venues::coinbase::jwt::Signer::new(&c.key_name, c.private_key.expose())
            {
                problem(at("credentials.private_key"), e.to_string());
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
        if let Some(s) = ex.max_connection_age_s {
            if *id == ExchangeId::Coinbase {
                problem(
                    at("max_connection_age_s"),
                    format!("{id} has no connection age limit"),
                );
            } else if !(1..=BINANCE_MAX_CONNECTION_AGE_S).contains(&s) {
                problem(
                    at("max_connection_age_s"),
                    format!(
                        "must be 1-{BINANCE_MAX_CONNECTION_AGE_S} (Binance closes connections at 24 h; the replacement needs the rest)"
                    ),
                );
            }
        }
        if let Some(d) = ex.depth_limit {
            let allowed = allowed_depths(*id);
            if allowed.is_empty() {
                problem(
                    at("depth_limit"),
                    format!("{id} has no depth limit (snapshots are the whole book)"),
                );
            } else if !allowed.contains(&d) {
                problem(at("depth_limit"), format!("must be one of {allowed:?}"));
            }
        }
    }
    problems
}
