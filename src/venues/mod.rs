//! Venue adapters. Each venue folder keeps the same roles: `messages` (wire structs),
//! `parse` (pure wire → normalized functions), `sync` (book sequencing), `client` (I/O).

pub mod backoff;
pub mod binance;
pub mod coinbase;
pub mod decimal;
pub mod timestamp;

use crate::config::ExchangeId;
use crate::net::{ConnectError, WsError};

/// Why an adapter could not start (later failures are retried, not returned).
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Ws(#[from] WsError),
    #[error("{exchange}: {source}")]
    Parse {
        exchange: ExchangeId,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{exchange}: unknown symbols {symbols:?} (not listed by the venue)")]
    UnknownSymbols {
        exchange: ExchangeId,
        symbols: Vec<String>,
    },
    #[error("{exchange}: URL {url}: {reason}")]
    Url {
        exchange: ExchangeId,
        url: String,
        reason: String,
    },
}

/// Resolves when shutdown has been requested.
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// `base` (or the venue default) joined with `path`.
pub fn endpoint(
    exchange: ExchangeId,
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
