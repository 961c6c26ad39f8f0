//! Connection errors: every failure names the exchange, the connection kind, the target
//! and the route (`direct` or the proxy's `scheme://host:port`) with a typed cause.
//! Text taken from other libraries passes through [`Redactor`] before it is stored.

use super::resolver::ConnKind;
use crate::config::ExchangeId;
use base64::Engine;

/// Why a connection or request failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("proxy unreachable: {0}")]
    ProxyUnreachable(String),
    #[error("proxy rejected the credentials: {0}")]
    ProxyAuth(String),
    #[error("proxy refused the tunnel: {0}")]
    ProxyRefused(String),
    #[error("cannot resolve host: {0}")]
    Dns(String),
    #[error("target unreachable: {0}")]
    TargetUnreachable(String),
    #[error("timed out after {0} ms")]
    Timeout(u128),
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("invalid URL: {0}")]
    Url(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{exchange} {kind} connection to {target} via {route}: {cause}")]
pub struct ConnectError {
    pub exchange: ExchangeId,
    pub kind: ConnKind,
    /// `host:port` of the exchange endpoint.
    pub target: String,
    /// `direct` or `scheme://host:port` of the proxy.
    pub route: String,
    pub cause: Cause,
}

/// Removes configured proxy credentials (plain and as Basic-auth base64) from text that
/// came from another library, so it can be logged or returned safely.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a crate::config::Credentials>) -> Self {
        let mut secrets = Vec::new();
        for c in credentials {
            let (user, pass) = (c.username.expose(), c.password.expose());
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            secrets.extend([basic, pass.to_owned()]);
            // Very short user names would mask unrelated words; passwords are always masked.
            if user.len() >= 3 {
                secrets.push(user.to_owned());
            }
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn clean(&self, text: impl Into<String>) -> String {
        let mut text = text.into();
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "***");
            }
        }
        text
    }
}

/// The error and its sources as one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
