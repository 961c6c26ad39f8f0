//! Venue adapters. `registry` knows every venue; `runtime` runs any of them (start-up,
//! reconnects, publishing). Each kind's folder keeps the same roles: `messages` (wire
//! structs), `parse` (pure wire → normalized functions), `session`/`sync` (sequence and
//! book rules), `client` (I/O), `replay`, and `settings` (its configuration keys).

pub mod backoff;
pub mod binance;
pub mod coinbase;
pub mod decimal;
pub mod registry;
pub mod rest;
pub mod runtime;
pub mod timestamp;

use crate::model::VenueId;
use crate::net::{ConnectError, HttpClient, WsError};
use backoff::Backoff;
use std::time::Duration;
use tokio::sync::watch;

/// Requests stop this long after a venue answers 429 or 418.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// Why an adapter could not start (later failures are retried, not returned).
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    #[error(transparent)]
    Connect(Box<ConnectError>),
    #[error(transparent)]
    Ws(#[from] WsError),
    #[error("{exchange}: {source}")]
    Parse {
        exchange: VenueId,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{exchange}: unknown symbols {symbols:?} (not listed by the venue)")]
    UnknownSymbols { exchange: VenueId, symbols: Vec<String> },
    #[error("{exchange} {channel} {symbol}: {reason}")]
    Answer {
        exchange: VenueId,
        channel: &'static str,
        symbol: String,
        reason: String,
    },
    #[error("{exchange}: URL {url}: {reason}")]
    Url {
        exchange: VenueId,
        url: String,
        reason: String,
    },
}

impl VenueError {
    /// The kind of connection and the proxy (as displayed) that failed, when the proxy
    /// is why this attempt failed.
    pub fn proxy_failure(&self) -> Option<(crate::net::ConnKind, &str)> {
        match self {
            Self::Connect(e) if e.cause.blames_proxy() => Some((e.kind, e.route.as_str())),
            _ => None,
        }
    }
}

impl From<ConnectError> for VenueError {
    fn from(e: ConnectError) -> Self {
        Self::Connect(Box::new(e))
    }
}

/// Resolves when shutdown has been requested.
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Fetches what an adapter needs before it can stream (its instrument list). Failures
/// that can pass (network, proxy unreachable, 5xx, rate limits) are retried with backoff
/// — after a 429/418 only once [`RATE_LIMIT_PAUSE`] has passed — until it arrives;
/// others are returned. `None` when shutdown comes first.
pub async fn fetch_at_start(
    http: &HttpClient,
    url: &url::Url,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<String>, VenueError> {
    let mut backoff = Backoff::default();
    loop {
        let e = tokio::select! {
            got = http.get_text(url) => match got {
                Ok(body) => return Ok(Some(body)),
                Err(e) => e,
            },
            _ = stopped(shutdown) => return Ok(None),
        };
        // Rejected proxy credentials are final for that proxy, not for another member.
        let another_member = e.cause.blames_proxy() && http.can_fail_over(&e.route);
        if !e.is_transient() && !another_member {
            return Err(e.into());
        }
        let delay = if e.is_rate_limit() {
            RATE_LIMIT_PAUSE
        } else if another_member {
            std::time::Duration::ZERO
        } else {
            backoff.next_delay()
        };
        tracing::warn!("{e}; retrying in {} ms", delay.as_millis());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(shutdown) => return Ok(None),
        }
    }
}

/// `base` (or the venue default) joined with `path`.
pub fn endpoint(
    exchange: VenueId,
    configured: Option<&url::Url>,
    default: &str,
    path: &str,
) -> Result<url::Url, VenueError> {
    let base = configured.map_or(default, url::Url::as_str).trim_end_matches('/');
    let text = format!("{base}{path}");
    url::Url::parse(&text).map_err(|e| VenueError::Url {
        exchange,
        url: text,
        reason: e.to_string(),
    })
}
