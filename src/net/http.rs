//! HTTP requests (REST data, book snapshots, instrument lists): reqwest clients built per
//! (exchange, route) with the route's proxy, or explicitly no proxy so HTTP(S)_PROXY and
//! ALL_PROXY in the environment never apply.

use super::error::{Cause, ConnectError, chain};
use super::resolver::{ConnKind, Outcome, Route};
use super::tls::TlsConfigs;
use super::{ConnectionFactory, target_of};
use crate::config::{ProxyEndpoint, ProxyScheme};
use crate::model::VenueId;
use std::sync::Arc;
use std::time::Instant;
use url::Url;

pub(super) fn build_client(route: &Route, tls: &TlsConfigs) -> Result<reqwest::Client, Cause> {
    let builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls.http.clone())
        .connect_timeout(route.timeout())
        .read_timeout(route.timeout())
        .user_agent(concat!("feedhandler/", env!("CARGO_PKG_VERSION")));
    let builder = match route {
        Route::Direct => builder.no_proxy(),
        Route::Proxy(p) => builder.proxy(
            reqwest::Proxy::all(p.url.with_credentials())
                .map_err(|_| Cause::Url(format!("proxy {} not accepted by the HTTP client", p.url)))?,
        ),
    };
    builder
        .build()
        .map_err(|e| Cause::Http(format!("building the HTTP client: {e}")))
}

/// A response body and its receive time.
pub struct Fetched {
    pub body: String,
    pub receive_ts_ns: i64,
}

/// HTTP access for one exchange.
#[derive(Clone)]
pub struct HttpClient {
    factory: Arc<ConnectionFactory>,
    exchange: VenueId,
    /// Sent with every request (a REST venue definition's `headers`).
    headers: Arc<[(String, String)]>,
}

impl HttpClient {
    pub(super) fn new(factory: Arc<ConnectionFactory>, exchange: VenueId) -> Self {
        Self {
            factory,
            exchange,
            headers: Arc::new([]),
        }
    }

    /// Whether a request that failed because of its proxy can go to another pool member.
    pub fn can_fail_over(&self, failed: &str) -> bool {
        self.factory.can_fail_over(self.exchange, ConnKind::Http, failed)
    }

    /// The same client, sending `headers` with every request.
    pub fn with_headers(self, headers: Arc<[(String, String)]>) -> Self {
        Self { headers, ..self }
    }

    /// GETs `url` and returns the body; any status but 2xx is an error.
    pub async fn get_text(&self, url: &Url) -> Result<String, ConnectError> {
        self.get(url).await.map(|r| r.body)
    }

    /// GETs `url`: the body and when it arrived.
    pub async fn get(&self, url: &Url) -> Result<Fetched, ConnectError> {
        let (exchange, f) = (self.exchange, &self.factory);
        let route = f.route(exchange, ConnKind::Http, url).await?;
        tracing::info!(%exchange, kind = "http", target = %target_of(url), path = url.path(), proxy = %route, "request");
        let started = Instant::now();
        let live = f.live(&route);
        let result = self.fetch(url, &route).await.map(|body| Fetched {
            body,
            receive_ts_ns: crate::model::now_ns(),
        });
        if let (Ok(fetched), Some(r)) = (&result, f.recorders.get(&exchange)) {
            r.http(url.as_str(), &fetched.body, fetched.receive_ts_ns).await;
        }
        let outcome = match &result {
            Ok(_) => Outcome::Success {
                latency: started.elapsed(),
            },
            Err(cause) => Outcome::Failure(cause),
        };
        drop(live);
        if let (Ok(fetched), Some(counters)) = (&result, crate::metrics::frames(exchange, ConnKind::Http)) {
            counters.frame(fetched.body.len(), fetched.receive_ts_ns);
        }
        f.report(exchange, ConnKind::Http, &route, outcome);
        result.map_err(|cause| ConnectError {
            exchange,
            kind: ConnKind::Http,
            target: target_of(url),
            route: route.to_string(),
            cause,
        })
    }

    /// One GET; when an HTTP proxy refused the tunnel or a 401/407 came back through it
    /// (reqwest says only "unsuccessful tunnel", and some proxies answer wrong
    /// credentials with 401), the proxy is asked once more with our own CONNECT, so the
    /// cause says whether it rejected the credentials.
    async fn fetch(&self, url: &Url, route: &Route) -> Result<String, Cause> {
        let result = self.fetch_once(url, route).await;
        match (&result, route) {
            (
                Err(
                    Cause::ProxyRefused(_)
                    | Cause::Status {
                        status: 401 | 407, ..
                    },
                ),
                Route::Proxy(p),
            ) if matches!(p.url.scheme, ProxyScheme::Http | ProxyScheme::Https) => {
                self.probe(url, p).await.map_or(result, Err)
            }
            _ => result,
        }
    }

    /// The proxy's own answer to `CONNECT` for `url`'s host, when it refuses.
    async fn probe(&self, url: &Url, proxy: &ProxyEndpoint) -> Option<Cause> {
        let (host, port) = (url.host_str()?, url.port_or_known_default()?);
        let f = &self.factory;
        let connector = tokio_rustls::TlsConnector::from(f.tls.stream.clone());
        let tunnel = super::tunnel::via_proxy(&proxy.url, host, port, &connector, &f.redactor);
        let timeout = std::time::Duration::from_secs(u64::from(proxy.timeout_seconds));
        match tokio::time::timeout(timeout, tunnel).await {
            Ok(Err(cause @ (Cause::ProxyAuth(_) | Cause::ProxyRefused(_)))) => Some(cause),
            _ => None,
        }
    }

    async fn fetch_once(&self, url: &Url, route: &Route) -> Result<String, Cause> {
        let f = &self.factory;
        let client = f.http_client(route)?;
        let proxied = matches!(route, Route::Proxy(_));
        let classify = |e: reqwest::Error| {
            let text = f.redactor.clean(chain(&e));
            if proxied && looks_like_proxy_auth(&text) {
                Cause::ProxyAuth(text)
            } else if proxied && e.is_connect() && e.is_timeout() {
                // Through a proxy, the connect phase is the proxy's: TCP to it and its
                // handshake (a venue it cannot reach is answered, not left hanging).
                Cause::ProxyTimeout(route.timeout().as_millis())
            } else if e.is_timeout() {
                Cause::Timeout(route.timeout().as_millis())
            } else if proxied
                && e.is_connect()
                && !looks_like_proxy_unreachable(&text)
                && looks_like_tunnel_refusal(&text)
            {
                Cause::ProxyRefused(text)
            } else if proxied && e.is_connect() && !text.contains("tls") && !text.contains("certificate") {
                Cause::ProxyUnreachable(text)
            } else {
                Cause::Http(text)
            }
        };
        let mut request = client.get(url.clone());
        for (name, value) in self.headers.iter() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let proxied_http = matches!(route, Route::Proxy(p) if matches!(p.url.scheme, ProxyScheme::Http | ProxyScheme::Https));
        if status == 407 && proxied_http {
            return Err(Cause::ProxyAuth("407 Proxy Authentication Required".into()));
        }
        let retry_after_s = (response.headers().get(reqwest::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let body = response.text().await.map_err(classify)?;
        if !(200..300).contains(&status) {
            return Err(Cause::Status {
                status,
                body: summary(&body),
                retry_after_s,
            });
        }
        Ok(body)
    }
}

/// An error body as shown in an error: at most 200 characters, and an HTML page by its
/// title only.
fn summary(body: &str) -> String {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        let title = (trimmed.split_once("<title>"))
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map(|(t, _)| t.trim());
        return match title {
            Some(t) => format!("an HTML page: {}", t.chars().take(100).collect::<String>()),
            None => "an HTML page".to_owned(),
        };
    }
    trimmed.chars().take(200).collect()
}

/// Through a proxy, a TCP connection that could not be made is one to the proxy.
fn looks_like_proxy_unreachable(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "tcp connect error",
        "failed to create underlying connection",
        "connection refused",
        "dns error",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// reqwest reports a proxy that refused the tunnel (a non-2xx CONNECT answer, a SOCKS
/// error reply) only as text.
fn looks_like_tunnel_refusal(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["tunnel", "socks"].iter().any(|needle| lower.contains(needle))
}

/// reqwest reports proxy authentication failures only as text. Not a bare "407": the
/// text holds the target URL, whose port may contain those digits.
fn looks_like_proxy_auth(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "proxy authentication",
        "proxy authorization",
        "credentials not accepted",
        "authentication failed",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a CI run: a dead SOCKS proxy, and a venue port with "407" in it.
    const DEAD_SOCKS: &str = "error sending request for url (https://localhost:44071/api/v3/exchangeInfo): client error (Connect): error connecting to socks proxy: SOCKS error: failed to create underlying connection";

    #[test]
    fn proxy_texts_are_told_apart() {
        assert!(!looks_like_proxy_auth(DEAD_SOCKS));
        assert!(looks_like_proxy_unreachable(DEAD_SOCKS));
        let tunnel_407 = "error sending request: client error (Connect): proxy authorization required";
        assert!(looks_like_proxy_auth(tunnel_407));
        assert!(!looks_like_proxy_unreachable(tunnel_407));
    }
}
