//! THE connection factory: the only code that opens network connections. Adapters ask it
//! for an HTTP client or a WebSocket for their exchange; it resolves the route (a proxy or
//! direct) per attempt, builds the stream, and reports the outcome to the resolver. A
//! configured proxy is used or the connection fails: there is no fallback to direct.

mod configured;
mod error;
mod health;
mod http;
mod pool;
mod resolver;
mod service;
mod tls;
mod tunnel;
mod ws;

pub use configured::StaticResolver;
pub use error::{Cause, ConnectError, Redactor};
pub use http::{Fetched, HttpClient};
pub use pool::Pool;
pub use resolver::{ConnKind, Outcome, ProxyResolver, Route, for_checking as resolver_for};
pub use service::{CircuitState, ServiceResolver};
pub use tls::TlsSetupError;
pub use ws::{Frame, WsConn, WsError};

use crate::config::Config;
use crate::model::VenueId;
use crate::record::writer::Recorder;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use url::Url;

/// HTTP clients kept, one per route: routes change with pools and proxy services, and
/// each client holds its own connection pool.
const MAX_HTTP_CLIENTS: usize = 32;

pub struct ConnectionFactory {
    resolver: Arc<dyn ProxyResolver>,
    tls: tls::TlsConfigs,
    redactor: Redactor,
    /// Clients by route, most recently used last.
    http_clients: Mutex<Vec<(Route, reqwest::Client)>>,
    /// Where each exchange's raw traffic is recorded (`run --record`).
    recorders: HashMap<VenueId, Recorder>,
    websockets_opened: AtomicU64,
}

impl ConnectionFactory {
    /// A factory with the configured static proxies and trust settings.
    pub fn from_config(config: &Config) -> Result<Arc<Self>, TlsSetupError> {
        Self::recording(config, HashMap::new())
    }

    /// Like [`Self::from_config`], recording every exchange's traffic that has a recorder.
    pub fn recording(
        config: &Config,
        recorders: HashMap<VenueId, Recorder>,
    ) -> Result<Arc<Self>, TlsSetupError> {
        let redactor = redactor_for(config);
        let tls = tls::build(config.tls.ca_file.as_deref())?;
        let resolver = resolver::for_config(&config.proxy, &tls, &redactor).map_err(TlsSetupError::Client)?;
        Ok(Self::with_tls(resolver, tls, redactor, recorders))
    }

    /// A factory with any resolver (pools, regional rules, a proxy service).
    pub fn new(
        resolver: Arc<dyn ProxyResolver>,
        ca_file: Option<&std::path::Path>,
        redactor: Redactor,
        recorders: HashMap<VenueId, Recorder>,
    ) -> Result<Arc<Self>, TlsSetupError> {
        Ok(Self::with_tls(
            resolver,
            tls::build(ca_file)?,
            redactor,
            recorders,
        ))
    }

    fn with_tls(
        resolver: Arc<dyn ProxyResolver>,
        tls: tls::TlsConfigs,
        redactor: Redactor,
        recorders: HashMap<VenueId, Recorder>,
    ) -> Arc<Self> {
        Arc::new(Self {
            resolver,
            tls,
            redactor,
            http_clients: Mutex::new(Vec::new()),
            recorders,
            websockets_opened: AtomicU64::new(0),
        })
    }

    /// An HTTP client for `exchange`: each request resolves its route.
    pub fn http(self: &Arc<Self>, exchange: VenueId) -> HttpClient {
        HttpClient::new(self.clone(), exchange)
    }

    /// Opens a WebSocket to `url` for `exchange`, through its configured proxy if any.
    pub async fn websocket(&self, exchange: VenueId, url: &Url) -> Result<WsConn, ConnectError> {
        self.open_websocket(exchange, url, None).await
    }

    /// Opens a WebSocket that takes over from the recorded connection `replaces` (which
    /// stays open until the caller closes it); a recording notes the handover so
    /// `replay` keeps the books.
    pub async fn websocket_replacing(
        &self,
        exchange: VenueId,
        url: &Url,
        replaces: Option<&str>,
    ) -> Result<WsConn, ConnectError> {
        self.open_websocket(exchange, url, replaces).await
    }

    /// The route of one attempt, from the resolver.
    async fn route(&self, exchange: VenueId, kind: ConnKind, url: &Url) -> Result<Route, ConnectError> {
        self.resolver
            .route(exchange, kind)
            .await
            .map_err(|cause| ConnectError {
                exchange,
                kind,
                target: target_of(url),
                route: "no route".into(),
                cause,
            })
    }

    async fn open_websocket(
        &self,
        exchange: VenueId,
        url: &Url,
        replaces: Option<&str>,
    ) -> Result<WsConn, ConnectError> {
        let route = self.route(exchange, ConnKind::Websocket, url).await?;
        let err = |cause| ConnectError {
            exchange,
            kind: ConnKind::Websocket,
            target: target_of(url),
            route: route.to_string(),
            cause,
        };
        tracing::info!(%exchange, kind = "websocket", target = %target_of(url), proxy = %route, "connecting");
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + route.timeout();
        let opening = ws::open(url, &route, &self.tls, &self.redactor, deadline);
        let result = match tokio::time::timeout_at(deadline, opening).await {
            Ok(r) => r,
            Err(_) => Err(Cause::Timeout(route.timeout().as_millis())),
        };
        let outcome = match &result {
            Ok(_) => Outcome::Success {
                latency: started.elapsed(),
            },
            Err(cause) => Outcome::Failure(cause),
        };
        self.report(exchange, ConnKind::Websocket, &route, outcome);
        let stream = result.map_err(err)?;
        let live = Watched {
            _pool_member: self.live(&route),
            _proxy: crate::metrics::live_proxy(&route),
            _open: crate::metrics::health::Open::websocket(exchange),
            frames: crate::metrics::frames(exchange, ConnKind::Websocket),
        };
        let n = self.websockets_opened.fetch_add(1, Ordering::Relaxed) + 1;
        let connected_ts_ns = crate::model::now_ns();
        let tap = match self.recorders.get(&exchange) {
            Some(r) => {
                let conn = r.conn_name("ws", n);
                r.connect(&conn, url.as_str(), connected_ts_ns, replaces).await;
                Some((r.clone(), conn))
            }
            None => None,
        };
        Ok(WsConn::new(
            exchange,
            url.clone(),
            stream,
            tap,
            connected_ts_ns,
            live,
        ))
    }

    /// Tells the resolver and the metrics how an attempt went.
    fn report(&self, exchange: VenueId, kind: ConnKind, route: &Route, outcome: Outcome<'_>) {
        crate::metrics::attempt(exchange, kind, route, &outcome);
        self.resolver.report(exchange, kind, route, outcome);
    }

    /// Counts a connection on its pool member until the returned guard is dropped.
    fn live(&self, route: &Route) -> Option<Live> {
        let count = self.resolver.live_count(route)?;
        count.fetch_add(1, Ordering::Relaxed);
        Some(Live(count))
    }

    /// Whether a connection of `exchange` that failed because of its proxy (`failed`, as
    /// displayed) can be tried again at once on another pool member.
    pub fn can_fail_over(&self, exchange: VenueId, kind: ConnKind, failed: &str) -> bool {
        self.resolver.can_fail_over(exchange, kind, failed)
    }

    /// Starts the background work of the resolver: health checks of every pool that has
    /// them, a proxy service's feedback; they stop when `shutdown` is set.
    pub fn start_background(self: &Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        self.resolver.start(shutdown.clone());
        for pool in self.resolver.checked_pools() {
            tokio::spawn(health::run(pool, self.clone(), shutdown.clone()));
        }
    }

    /// The HTTP client for `route`, built on first use; the least recently used one is
    /// dropped beyond [`MAX_HTTP_CLIENTS`].
    fn http_client(&self, route: &Route) -> Result<reqwest::Client, Cause> {
        let mut clients = self.http_clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = clients.iter().position(|(r, _)| r == route) {
            let entry = clients.remove(i);
            let client = entry.1.clone();
            clients.push(entry);
            return Ok(client);
        }
        let client = http::build_client(route, &self.tls)?;
        if clients.len() >= MAX_HTTP_CLIENTS {
            clients.remove(0);
        }
        clients.push((route.clone(), client.clone()));
        Ok(client)
    }

    /// HTTP clients currently kept (bounded by [`MAX_HTTP_CLIENTS`]).
    pub fn http_clients_kept(&self) -> usize {
        self.http_clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Removes every configured secret from text: proxy credentials and the proxy service's
/// token or key.
pub fn redactor_for(config: &Config) -> Redactor {
    let p = &config.proxy;
    let endpoints = p.settings().flat_map(|s| s.endpoints());
    let service = p.external_service.iter().filter_map(|s| s.auth.as_ref());
    let tokens = service.flat_map(|a| a.bearer_token.iter().chain(&a.api_key));
    Redactor::new(endpoints.filter_map(|e| e.url.credentials.as_ref()))
        .with_secrets(tokens.map(|t| t.expose()))
}

/// One open connection counted on its pool member (`least_connections`).
#[derive(Debug)]
pub struct Live(Arc<AtomicU32>);

/// What watches an open WebSocket: its pool member's and proxy's live counts, its
/// feed's readiness, and its frame counters, until it is dropped.
pub struct Watched {
    _pool_member: Option<Live>,
    _proxy: Option<crate::metrics::LiveGuard>,
    _open: crate::metrics::health::Open,
    frames: Option<crate::metrics::FrameCounters>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `host:port` of a URL, for logs and errors.
fn target_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}
