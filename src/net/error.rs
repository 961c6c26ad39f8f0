//! Connection errors: every failure names the exchange, the connection kind, the target
//! and the route (`direct` or the proxy's `scheme://host:port`) with a typed cause.
//! Text taken from other libraries passes through [`Redactor`] before it is stored.

use super::resolver::ConnKind;
use crate::model::VenueId;
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
    #[error("proxy handshake timed out after {0} ms")]
    ProxyTimeout(u128),
    #[error("TLS handshake with the proxy failed: {0}")]
    ProxyTls(String),
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
    Status {
        status: u16,
        body: String,
        /// The answer's `Retry-After`, in seconds.
        retry_after_s: Option<u64>,
    },
    #[error("invalid URL: {0}")]
    Url(String),
    /// No route may be used: the proxy service is unavailable and the fallback policy
    /// allows neither a configured proxy nor a direct connection.
    /// Shown after "via no route:", so the text says why without repeating that.
    #[error("{0}")]
    NoRoute(String),
}

impl Cause {
    /// Whether the proxy itself failed: unreachable, its handshake timed out, it
    /// rejected the credentials or refused the tunnel, or TLS with it failed. Anything
    /// past a working proxy (the venue's TLS, WebSocket handshake or HTTP status, a
    /// timeout after the tunnel was up, name resolution of the venue) is not its fault.
    pub fn blames_proxy(&self) -> bool {
        matches!(
            self,
            Self::ProxyUnreachable(_)
                | Self::ProxyAuth(_)
                | Self::ProxyRefused(_)
                | Self::ProxyTimeout(_)
                | Self::ProxyTls(_)
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{exchange} {kind} connection to {target} via {route}: {cause}")]
pub struct ConnectError {
    pub exchange: VenueId,
    pub kind: ConnKind,
    /// `host:port` of the exchange endpoint.
    pub target: String,
    /// `direct` or `scheme://host:port` of the proxy.
    pub route: String,
    pub cause: Cause,
}

impl ConnectError {
    /// Whether a later attempt can succeed. Not for rejected proxy credentials, invalid
    /// URLs, failed TLS handshakes (certificates), or a 4xx answer other than 408, 418
    /// and 429 (rate limits): those need a configuration change.
    pub fn is_transient(&self) -> bool {
        match &self.cause {
            Cause::ProxyAuth(_) | Cause::Url(_) | Cause::Tls { .. } | Cause::ProxyTls(_) => false,
            Cause::Status { status, .. } => !(400..500).contains(status) || matches!(status, 408 | 418 | 429),
            _ => true,
        }
    }

    /// How long the venue asked us to wait (`Retry-After`, in seconds).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self.cause {
            Cause::Status {
                retry_after_s: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(s)),
            _ => None,
        }
    }

    /// The venue answered that its request rate limit was hit (429) or the IP is banned
    /// for ignoring it (418, Binance).
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self.cause,
            Cause::Status {
                status: 418 | 429,
                ..
            }
        )
    }
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

    /// Also removes `secrets` (tokens, keys).
    pub fn with_secrets<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        self.secrets
            .extend(secrets.into_iter().filter(|s| !s.is_empty()).map(str::to_owned));
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets.dedup();
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_those_a_retry_can_fix() {
        let status = |status| Cause::Status {
            status,
            body: String::new(),
            retry_after_s: None,
        };
        let tls = Cause::Tls {
            host: "h".into(),
            reason: "unknown issuer".into(),
        };
        // (cause, transient, rate limit, the proxy's fault)
        let table = [
            (Cause::ProxyUnreachable("refused".into()), true, false, true),
            (Cause::ProxyTimeout(30_000), true, false, true),
            (
                Cause::ProxyRefused("CONNECT answered 403".into()),
                true,
                false,
                true,
            ),
            (Cause::ProxyTls("unknown issuer".into()), false, false, true),
            (Cause::Timeout(30_000), true, false, false),
            (Cause::Dns("no such host".into()), true, false, false),
            (Cause::TargetUnreachable("refused".into()), true, false, false),
            (Cause::Handshake("400".into()), true, false, false),
            (status(503), true, false, false),
            (status(429), true, true, false),
            (status(418), true, true, false),
            (status(408), true, false, false),
            (status(404), false, false, false),
            (status(400), false, false, false),
            (Cause::ProxyAuth("407".into()), false, false, true),
            (Cause::Url("no host".into()), false, false, false),
            (tls, false, false, false),
        ];
        for (cause, transient, rate_limit, proxy_fault) in table {
            assert_eq!(cause.blames_proxy(), proxy_fault, "{cause}");
            let text = cause.to_string();
            let e = ConnectError {
                exchange: VenueId::new("binance").unwrap(),
                kind: ConnKind::Http,
                target: "api.binance.com:443".into(),
                route: "direct".into(),
                cause,
            };
            assert_eq!(
                (e.is_transient(), e.is_rate_limit()),
                (transient, rate_limit),
                "{text}"
            );
        }
    }
}
