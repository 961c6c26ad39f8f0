//! The Coinbase client: loads products, opens WebSockets (products split across
//! connections), subscribes one message per channel right after connecting (the venue
//! closes connections that do not subscribe within 5 s), resubscribes `level2` after a
//! sequence gap, and reconnects with backoff. All state logic is in `session`.

use super::jwt::Signer;
use super::parse;
use super::session::{Output, Session};
use crate::config::{Channel, ExchangeConfig, ExchangeId};
use crate::model::Event;
use crate::net::{ConnectionFactory, WsConn};
use crate::venues::backoff::Backoff;
use crate::venues::{VenueError, endpoint, fetch_at_start, stopped};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use url::Url;

const DEFAULT_WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";
const DEFAULT_REST_URL: &str = "https://api.coinbase.com/api/v3/brokerage";
/// Products per WebSocket connection.
const PRODUCTS_PER_CONNECTION: usize = 100;
/// Heartbeats arrive every second; this long without any message means a dead connection
/// (`idle_timeout_ms`).
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;
const EXCHANGE: ExchangeId = ExchangeId::Coinbase;

pub struct CoinbaseAdapter {
    config: ExchangeConfig,
    factory: Arc<ConnectionFactory>,
}

struct Shared {
    factory: Arc<ConnectionFactory>,
    signer: Option<Signer>,
    ws_url: Url,
    channels: Vec<&'static str>,
    idle_timeout: Duration,
    events: mpsc::Sender<Event>,
}

enum Ended {
    Shutdown,
    Reconnect(&'static str),
}

impl CoinbaseAdapter {
    pub fn new(config: ExchangeConfig, factory: Arc<ConnectionFactory>) -> Self {
        Self { config, factory }
    }

    /// Streams until `shutdown` turns true. Fails only on start-up errors.
    pub async fn run(
        self,
        events: mpsc::Sender<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), VenueError> {
        let rest = endpoint(
            EXCHANGE,
            self.config.rest_url.as_ref(),
            DEFAULT_REST_URL,
            "/market/products",
        )?;
        let http = self.factory.http(EXCHANGE);
        let Some(body) = fetch_at_start(&http, &rest, &mut shutdown).await? else {
            return Ok(());
        };
        let all = parse::parse_products(&body).map_err(|e| VenueError::Parse {
            exchange: EXCHANGE,
            source: Box::new(e),
        })?;
        let products = all
            .select(&self.config.symbols)
            .map_err(|symbols| VenueError::UnknownSymbols {
                exchange: EXCHANGE,
                symbols,
            })?;
        tracing::info!(exchange = %EXCHANGE, products = self.config.symbols.len(), "products loaded");
        let mut channels = Vec::new();
        for c in &self.config.channels {
            channels.push(match c {
                Channel::Trades => "market_trades",
                Channel::L2Book => "level2",
            });
        }
        channels.push("heartbeats");
        let signer = match &self.config.credentials {
            Some(c) => {
                Some(
                    Signer::new(&c.key_name, c.private_key.expose()).map_err(|e| VenueError::Parse {
                        exchange: EXCHANGE,
                        source: Box::new(e),
                    })?,
                )
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            factory: self.factory.clone(),
            signer,
            ws_url: endpoint(EXCHANGE, self.config.ws_url.as_ref(), DEFAULT_WS_URL, "")?,
            channels,
            idle_timeout: Duration::from_millis(
                self.config.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS),
            ),
            events,
        });
        let books = self.config.channels.contains(&Channel::L2Book);
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in self.config.symbols.chunks(PRODUCTS_PER_CONNECTION) {
            let subset = products.select(chunk).expect("chunk of selected products");
            let book_products: Vec<Arc<str>> = if books {
                subset.iter().cloned().collect()
            } else {
                Vec::new()
            };
            tasks.spawn(connection_loop(
                shared.clone(),
                Session::new(subset, &book_products),
                chunk.to_vec(),
                shutdown.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

async fn connection_loop(
    shared: Arc<Shared>,
    mut session: Session,
    products: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    loop {
        let delay = match stream_once(&shared, &mut session, &products, &mut shutdown, &mut backoff).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect(why)) => {
                tracing::warn!(exchange = %EXCHANGE, "reconnecting: {why}");
                backoff.next_delay()
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(exchange = %EXCHANGE, "connection failed, retrying in {} ms: {e}", delay.as_millis());
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// Sends a (un)subscribe message, with a fresh JWT when credentials are configured; the
/// recording gets the message with the token masked.
async fn subscription(
    shared: &Shared,
    ws: &mut WsConn,
    kind: &str,
    products: &[impl AsRef<str>],
    channel: &str,
) -> Result<(), VenueError> {
    let ids: Vec<&str> = products.iter().map(AsRef::as_ref).collect();
    let mut msg = serde_json::json!({"type": kind, "product_ids": ids, "channel": channel});
    let recorded = match &shared.signer {
        Some(signer) => {
            let now_s = crate::model::now_ns() / 1_000_000_000;
            let token = signer.token(now_s).map_err(|e| VenueError::Parse {
                exchange: EXCHANGE,
                source: Box::new(e),
            })?;
            msg["jwt"] = "***".into();
            let recorded = msg.to_string();
            msg["jwt"] = token.into();
            recorded
        }
        None => msg.to_string(),
    };
    ws.send_recorded_as(msg.to_string(), &recorded).await?;
    Ok(())
}

async fn stream_once(
    shared: &Shared,
    session: &mut Session,
    products: &[String],
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<Ended, VenueError> {
    let mut ws = shared.factory.websocket(EXCHANGE, &shared.ws_url).await?;
    for channel in &shared.channels {
        subscription(shared, &mut ws, "subscribe", products, channel).await?;
    }
    let mut out = Vec::new();
    session.on_connect(ws.connected_ts_ns(), &mut out);
    let mut connected = false;
    loop {
        if !handle(shared, &mut ws, &mut out).await? {
            return Ok(Ended::Shutdown);
        }
        tokio::select! {
            _ = stopped(shutdown) => {
                ws.close().await;
                return Ok(Ended::Shutdown);
            }
            frame = tokio::time::timeout(shared.idle_timeout, ws.recv()) => match frame {
                Err(_) => return Ok(Ended::Reconnect("no message within the idle timeout")),
                Ok(Ok(None)) => return Ok(Ended::Reconnect("closed by the server")),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(Some(frame))) => {
                    if !connected {
                        connected = true;
                        backoff.reset();
                    }
                    if let Err(e) = session.on_frame(&frame.text, frame.receive_ts_ns, &mut out) {
                        tracing::warn!(exchange = %EXCHANGE, "message skipped: {e}");
                    }
                }
            },
        }
    }
}

/// Publishes events (waiting when the sink is slow) and resubscribes after gaps.
/// Returns false when the sink has gone away.
async fn handle(shared: &Shared, ws: &mut WsConn, out: &mut Vec<Output>) -> Result<bool, VenueError> {
    for o in out.drain(..) {
        match o {
            Output::Event(e) => {
                if shared.events.send(e).await.is_err() {
                    return Ok(false);
                }
            }
            Output::Resubscribe(products) => {
                subscription(shared, ws, "unsubscribe", &products, "level2").await?;
                subscription(shared, ws, "subscribe", &products, "level2").await?;
            }
        }
    }
    Ok(true)
}
