//! Calls to the proxy service (`api/proxy-service.openapi.yaml`): `proxy/request` with
//! endpoint failover (a failed endpoint is skipped for a while, then its health
//! endpoint must answer before it is used again), `proxy/feedback`, and the checks an
//! answer must pass: a proxy URL of the six schemes or null, a TTL clamped to a day, a
//! known fallback policy, a body of at most 64 KiB. The service is reached through the
//! factory's HTTP client builder on its own fixed route (direct or one proxy), never
//! through the resolver it serves.

use super::super::http::build_client;
use super::super::resolver::{ConnKind, Route};
use super::super::tls::TlsConfigs;
use super::super::{Cause, Redactor};
use super::lock;
use crate::config::{DEFAULT_TIMEOUT_SECONDS, MAX_CACHE_TTL_SECONDS, ProxyEndpoint, ProxyUrl, ServiceConfig};
use crate::model::VenueId;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Largest answer read from the service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The service's fallback policy, as it last answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Policy {
    #[serde(rename = "direct_connection")]
    Direct,
    #[serde(rename = "embedded_fallback")]
    Embedded,
    #[serde(rename = "fail")]
    Fail,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct_connection",
            Self::Embedded => "embedded_fallback",
            Self::Fail => "fail",
        }
    }
}

/// A checked answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub route: Route,
    pub ttl: Duration,
    pub policy: Policy,
}

/// The answer as sent; `proxy_url` must be present (null: direct), `ttl_seconds` may be
/// any JSON number (clamped) or absent.
#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "present")]
    proxy_url: Option<Option<String>>,
    #[serde(default)]
    ttl_seconds: Option<serde_json::Number>,
    fallback_policy: Policy,
}

#[derive(Serialize)]
struct Request<'a> {
    exchange_id: &'a str,
    connection_type: &'a str,
    region: Option<&'a str>,
    client_id: &'a str,
    metadata: std::collections::BTreeMap<&'a str, &'a str>,
}

/// One attempt's report (`proxy/feedback`); `proxy_url` never holds credentials.
#[derive(Debug, Clone, Serialize)]
pub struct Feedback {
    pub proxy_url: Option<String>,
    pub exchange_id: String,
    pub connection_type: &'static str,
    pub success: bool,
    pub latency_ms: Option<u64>,
    pub error_details: Option<String>,
    pub timestamp: String,
    pub client_id: String,
}

/// Why a call failed (each counts against the breaker).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{endpoint}: {reason}")]
    Failed { endpoint: String, reason: String },
    #[error("every endpoint failed recently and none answers its health check")]
    NoEndpoint,
}

struct Endpoint {
    base: Url,
    /// Skipped until then after a failure.
    down_until: Mutex<Option<Instant>>,
}

pub struct Client {
    endpoints: Vec<Endpoint>,
    http: reqwest::Client,
    auth: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    timeout: Duration,
    /// How long a failed endpoint is skipped before its health endpoint is asked (the
    /// breaker's recovery time).
    endpoint_retry: Duration,
    default_ttl: Duration,
    pub client_id: String,
    pub region: Option<String>,
    redactor: Redactor,
}

impl Client {
    pub fn new(
        config: &ServiceConfig,
        region: Option<String>,
        tls: &TlsConfigs,
        redactor: Redactor,
    ) -> Result<Self, Cause> {
        let timeout = Duration::from_secs(u64::from(config.timeout_seconds));
        let route = match config.via() {
            Some(p) => Route::Proxy(ProxyEndpoint {
                url: p.url.clone(),
                timeout_seconds: config.timeout_seconds,
            }),
            None => Route::Direct,
        };
        let http = build_client(&route, tls)?;
        let auth = config.auth.as_ref().and_then(|a| {
            let (name, value) = match (&a.bearer_token, &a.api_key) {
                (Some(t), _) => (reqwest::header::AUTHORIZATION, format!("Bearer {}", t.expose())),
                (None, Some(k)) => (
                    reqwest::header::HeaderName::from_static("x-api-key"),
                    k.expose().to_owned(),
                ),
                (None, None) => return None,
            };
            let mut value = reqwest::header::HeaderValue::from_str(&value).ok()?;
            value.set_sensitive(true);
            Some((name, value))
        });
        let endpoints = (config.endpoints.iter())
            .map(|u| Endpoint {
                base: u.clone(),
                down_until: Mutex::new(None),
            })
            .collect();
        Ok(Self {
            endpoints,
            http,
            auth,
            timeout,
            endpoint_retry: Duration::from_secs(u64::from(config.circuit_breaker.recovery_timeout_seconds)),
            default_ttl: Duration::from_secs(u64::from(config.cache_ttl_seconds)),
            client_id: config.client_id.clone().unwrap_or_else(hostname),
            region,
            redactor,
        })
    }

    /// Asks for the route of one (exchange, kind), trying endpoints in order.
    pub async fn request(&self, exchange: VenueId, kind: ConnKind) -> Result<Answer, CallError> {
        let body = Request {
            exchange_id: exchange.as_str(),
            connection_type: kind.as_str(),
            region: self.region.as_deref(),
            client_id: &self.client_id,
            metadata: [("version", env!("CARGO_PKG_VERSION"))].into(),
        };
        let mut last = None;
        for ep in self.candidates() {
            if !self.usable(ep).await {
                continue;
            }
            let result = self.post(ep, "proxy/request", &body).await;
            match result.and_then(|text| self.check(&text)) {
                Ok(answer) => {
                    *lock(&ep.down_until) = None;
                    return Ok(answer);
                }
                Err(reason) => {
                    *lock(&ep.down_until) = Some(Instant::now() + self.endpoint_retry);
                    last = Some(CallError::Failed {
                        endpoint: ep.base.to_string(),
                        reason,
                    });
                }
            }
        }
        Err(last.unwrap_or(CallError::NoEndpoint))
    }

    /// Sends one report to the first usable endpoint.
    pub async fn feedback(&self, report: &Feedback) -> Result<(), CallError> {
        let mut last = None;
        for ep in self.candidates() {
            if !self.usable(ep).await {
                continue;
            }
            match self.post(ep, "proxy/feedback", report).await {
                Ok(_) => return Ok(()),
                Err(reason) => {
                    last = Some(CallError::Failed {
                        endpoint: ep.base.to_string(),
                        reason,
                    })
                }
            }
        }
        Err(last.unwrap_or(CallError::NoEndpoint))
    }

    /// The endpoints to try, in order: those not skipped after a failure; when every one
    /// is, all of them (the circuit breaker, not the skipping, decides when to stop).
    fn candidates(&self) -> Vec<&Endpoint> {
        let now = Instant::now();
        let up: Vec<&Endpoint> = (self.endpoints.iter())
            .filter(|ep| lock(&ep.down_until).is_none_or(|until| now >= until))
            .collect();
        if up.is_empty() {
            self.endpoints.iter().collect()
        } else {
            up
        }
    }

    /// An endpoint that failed is used again once its time out is over and its health
    /// endpoint answers 2xx (or when every endpoint failed recently).
    async fn usable(&self, ep: &Endpoint) -> bool {
        let down = *lock(&ep.down_until);
        match down {
            None => true,
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                let healthy = match ep.base.join("api/v1/health") {
                    Ok(url) => {
                        let call = self.http.get(url).timeout(self.timeout).send();
                        matches!(call.await, Ok(r) if r.status().is_success())
                    }
                    Err(_) => false,
                };
                let mut d = lock(&ep.down_until);
                *d = (!healthy).then(|| Instant::now() + self.endpoint_retry);
                if healthy {
                    tracing::info!(endpoint = %ep.base, "proxy service endpoint healthy again");
                }
                healthy
            }
        }
    }

    /// POSTs `body` as JSON to `api/v1/<path>`; the answer's text, at most
    /// [`MAX_ANSWER_BYTES`], when the status is 2xx.
    async fn post(&self, ep: &Endpoint, path: &str, body: &impl Serialize) -> Result<String, String> {
        let url = ep
            .base
            .join(&format!("api/v1/{path}"))
            .map_err(|e| e.to_string())?;
        let mut request = self.http.post(url).timeout(self.timeout).json(body);
        if let Some((name, value)) = &self.auth {
            request = request.header(name, value.clone());
        }
        let mut response = request.send().await.map_err(|e| self.clean(&e))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(format!(
                "HTTP {}: answer over {MAX_ANSWER_BYTES} bytes",
                status.as_u16()
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.clean(&e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "HTTP {}: answer over {MAX_ANSWER_BYTES} bytes",
                    status.as_u16()
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        String::from_utf8(bytes).map_err(|_| "answer is not UTF-8".into())
    }

    fn clean(&self, e: &reqwest::Error) -> String {
        let text = self.redactor.clean(super::super::error::chain(e));
        if e.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else {
            text
        }
    }

    /// Parses and checks an answer.
    fn check(&self, text: &str) -> Result<Answer, String> {
        let wire: Wire = serde_json::from_str(text).map_err(|e| format!("malformed answer: {e}"))?;
        let route = match wire.proxy_url {
            None => return Err("malformed answer: no proxy_url (null means direct)".into()),
            Some(None) => Route::Direct,
            Some(Some(raw)) => Route::Proxy(ProxyEndpoint {
                url: ProxyUrl::try_from(raw).map_err(|e| format!("malformed answer: proxy_url: {e}"))?,
                timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            }),
        };
        let ttl = match wire.ttl_seconds {
            None => self.default_ttl,
            Some(n) => match n.as_f64() {
                Some(s) if s >= 0.0 => Duration::from_secs_f64(s.min(f64::from(MAX_CACHE_TTL_SECONDS))),
                _ => {
                    return Err(
                        "malformed answer: ttl_seconds must be a number of seconds, 0 or more".into(),
                    );
                }
            },
        };
        Ok(Answer {
            route,
            ttl,
            policy: wire.fallback_policy,
        })
    }
}

/// A field that is present, null or not: absent stays `None` (by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The machine's host name, the default `client_id`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 128)
        .unwrap_or_else(|| "feedhandler".to_owned())
}
