//! `proxy.external_service`: a company service that hands out a proxy per connection
//! (protocol: `api/proxy-service.openapi.yaml`). Endpoints, authentication (a bearer
//! token or an API key, secrets never printed), timeouts, answer cache, circuit breaker,
//! what to do while it is unavailable, and how the service itself is reached.

use super::proxy::{ProxyEndpoint, ProxySetting};
use super::proxy_url::Secret;
use serde::{Deserialize, Deserializer};

/// Longest TTL taken from an answer or configured: a day.
pub const MAX_CACHE_TTL_SECONDS: u32 = 86_400;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Base URLs (`https://proxy-svc.internal:8443`), tried in order.
    #[serde(deserialize_with = "endpoints")]
    pub endpoints: Vec<url::Url>,
    #[serde(default)]
    pub auth: Option<ServiceAuth>,
    /// Bound on one call to the service (connect and answer).
    #[serde(default = "two")]
    pub timeout_seconds: u16,
    /// How long an answer is used when it names no `ttl_seconds`.
    #[serde(default = "three_hundred")]
    pub cache_ttl_seconds: u32,
    /// Answers kept, one per (exchange, connection type, region); least recently used go.
    #[serde(default = "thousand")]
    pub cache_entries: usize,
    #[serde(default)]
    pub circuit_breaker: Breaker,
    /// While the service is unavailable and no cached answer is left.
    #[serde(default)]
    pub fallback: ServiceFallback,
    /// Sent with every call; the host name when absent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// How the service is reached: `direct` (default) or a proxy URL.
    #[serde(default)]
    pub proxy: Option<ProxySetting>,
    /// Feedback reports waiting to be sent; more are dropped and counted.
    #[serde(default = "thousand")]
    pub feedback_queue: usize,
}

/// One of the two ways to authenticate; values may come from the environment
/// (`FEEDHANDLER_PROXY__EXTERNAL_SERVICE__AUTH__BEARER_TOKEN`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAuth {
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    #[serde(default)]
    pub api_key: Option<Secret>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// Consecutive failed calls (timeouts, 5xx, malformed answers) that open it.
    #[serde(default = "five")]
    pub failure_threshold: u32,
    /// Open this long, then one probe call (half-open).
    #[serde(default = "thirty")]
    pub recovery_timeout_seconds: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            failure_threshold: five(),
            recovery_timeout_seconds: thirty(),
        }
    }
}

/// The local fallback policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceFallback {
    /// The configured proxies and pools (`proxy.default`, exchange overrides, regional
    /// rules); a connection they give no proxy fails (unless the service's last policy
    /// was `direct_connection`).
    #[default]
    Embedded,
    /// The configured proxies where they name one, else a direct connection.
    Direct,
    /// The connection fails, whatever the service's last policy.
    Fail,
}

impl ServiceFallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Direct => "direct",
            Self::Fail => "fail",
        }
    }
}

impl ServiceConfig {
    /// Every problem, as (key under `proxy.external_service`, reason).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.endpoints.is_empty() {
            out.push(("endpoints", "at least one endpoint is required".into()));
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            out.push(("timeout_seconds", "must be 1-60".into()));
        }
        if !(1..=MAX_CACHE_TTL_SECONDS).contains(&self.cache_ttl_seconds) {
            out.push(("cache_ttl_seconds", format!("must be 1-{MAX_CACHE_TTL_SECONDS}")));
        }
        if !(1..=100_000).contains(&self.cache_entries) {
            out.push(("cache_entries", "must be 1-100000".into()));
        }
        if !(1..=100_000).contains(&self.feedback_queue) {
            out.push(("feedback_queue", "must be 1-100000".into()));
        }
        if self.circuit_breaker.failure_threshold == 0 {
            out.push(("circuit_breaker.failure_threshold", "must be at least 1".into()));
        }
        if !(1..=3_600).contains(&self.circuit_breaker.recovery_timeout_seconds) {
            out.push((
                "circuit_breaker.recovery_timeout_seconds",
                "must be 1-3600".into(),
            ));
        }
        if let Some(a) = &self.auth {
            if a.bearer_token.is_some() == a.api_key.is_some() {
                out.push(("auth", "give one of bearer_token and api_key".into()));
            }
            let secrets = [&a.bearer_token, &a.api_key].into_iter().flatten();
            for s in secrets {
                if s.expose().trim().is_empty() {
                    out.push(("auth", "a token or key must not be empty".into()));
                } else if reqwest::header::HeaderValue::from_str(s.expose()).is_err() {
                    out.push((
                        "auth",
                        "a token or key must be visible ASCII (it is sent in a header)".into(),
                    ));
                }
            }
        }
        if matches!(&self.proxy, Some(ProxySetting::Pool(_))) {
            out.push((
                "proxy",
                "the service is reached direct or through one proxy, not a pool".into(),
            ));
        }
        if self
            .client_id
            .as_deref()
            .is_some_and(|c| c.is_empty() || c.len() > 128)
        {
            out.push(("client_id", "must be 1-128 characters".into()));
        }
        out
    }

    /// The proxy the service is reached through, if any.
    pub fn via(&self) -> Option<&ProxyEndpoint> {
        match &self.proxy {
            Some(ProxySetting::Via(e)) => Some(e),
            _ => None,
        }
    }
}

/// Endpoint URLs: http or https, no credentials, no query (the error never repeats a
/// value: it may hold a secret).
fn endpoints<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<url::Url>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |why: &str| serde::de::Error::custom(format!("endpoint {i}: {why}"));
            let url = url::Url::parse(t).map_err(|e| bad(&format!("invalid URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad("must be http:// or https://"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad("credentials go in `auth`, not in the URL"));
            }
            if url.query().is_some() || url.host_str().is_none() {
                return Err(bad("must be scheme://host[:port][/path], without a query"));
            }
            Ok(url)
        })
        .collect()
}

fn yes() -> bool {
    true
}
fn two() -> u16 {
    2
}
fn five() -> u32 {
    5
}
fn thirty() -> u32 {
    30
}
fn three_hundred() -> u32 {
    300
}
fn thousand() -> usize {
    1_000
}
