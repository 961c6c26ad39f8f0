//! The Coinbase client: the venue's start-up (products, split across connections) and
//! one connection's loop for the adapter runtime: subscribe one message per channel
//! right after connecting (the venue closes connections that do not subscribe within
//! 5 s), read, publish, and resubscribe `level2` after a sequence gap. All state logic
//! is in `session`.

use super::jwt::Signer;
use super::parse;
use super::session::{Output, Session};
use super::settings::CoinbaseSettings;
use crate::config::{Channel, ExchangeConfig};
use crate::model::VenueId;
use crate::net::{ConnectionFactory, WsConn};
use crate::venues::runtime::{self, Adapter, Connection, Ended, Link};
use crate::venues::{VenueError, endpoint};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

const DEFAULT_WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";
const DEFAULT_REST_URL: &str = "https://api.coinbase.com/api/v3/brokerage";
/// Products per WebSocket connection.
const PRODUCTS_PER_CONNECTION: usize = 100;
/// Heartbeats arrive every second; this long without any message means a dead connection
/// (`idle_timeout_ms`).
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;

pub struct CoinbaseAdapter {
    exchange: VenueId,
    config: ExchangeConfig,
    settings: CoinbaseSettings,
    factory: Arc<ConnectionFactory>,
}

struct Shared {
    exchange: VenueId,
    factory: Arc<ConnectionFactory>,
    signer: Option<Signer>,
    ws_url: Url,
    channels: Vec<&'static str>,
    idle_timeout: Duration,
}

impl CoinbaseAdapter {
    pub fn new(
        exchange: VenueId,
        config: ExchangeConfig,
        settings: CoinbaseSettings,
        factory: Arc<ConnectionFactory>,
    ) -> Self {
        Self {
            exchange,
            config,
            settings,
            factory,
        }
    }
}

impl Adapter for CoinbaseAdapter {
    type Conn = CoinbaseConnection;

    fn exchange(&self) -> VenueId {
        self.exchange
    }

    fn reconnect_max_delay(&self) -> Duration {
        Duration::from_millis(self.config.reconnect_max_delay_ms)
    }

    fn instruments_urls(&self) -> Result<Vec<Url>, VenueError> {
        let configured = self.config.rest_url.as_ref();
        Ok(vec![endpoint(
            self.exchange,
            configured,
            DEFAULT_REST_URL,
            "/market/products",
        )?])
    }

    fn connections(self, bodies: Vec<String>) -> Result<Vec<CoinbaseConnection>, VenueError> {
        let exchange = self.exchange;
        let body = bodies.concat();
        let parse_error = |e: parse::ParseError| VenueError::Parse {
            exchange,
            source: Box::new(e),
        };
        let all = parse::parse_products(exchange, &body).map_err(parse_error)?;
        let products = all
            .select(&self.config.symbols)
            .map_err(|symbols| VenueError::UnknownSymbols { exchange, symbols })?;
        tracing::info!(%exchange, products = self.config.symbols.len(), "products loaded");
        let mut channels: Vec<&'static str> = (self.config.channels.iter())
            .map(|c| match c {
                Channel::Trades => "market_trades",
                Channel::L2Book => "level2",
            })
            .collect();
        channels.push("heartbeats");
        let signer = match &self.settings.credentials {
            Some(c) => {
                Some(
                    Signer::new(&c.key_name, c.private_key.expose()).map_err(|e| VenueError::Parse {
                        exchange,
                        source: Box::new(e),
                    })?,
                )
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            exchange,
            factory: self.factory,
            signer,
            ws_url: endpoint(exchange, self.config.ws_url.as_ref(), DEFAULT_WS_URL, "")?,
            channels,
            idle_timeout: Duration::from_millis(
                self.config.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS),
            ),
        });
        let books = self.config.channels.contains(&Channel::L2Book);
        Ok(self
            .config
            .symbols
            .chunks(PRODUCTS_PER_CONNECTION)
            .map(|chunk| {
                let subset = products.select(chunk).expect("chunk of selected products");
                let book_products: Vec<Arc<str>> = if books {
                    subset.iter().cloned().collect()
                } else {
                    Vec::new()
                };
                CoinbaseConnection {
                    shared: shared.clone(),
                    session: Session::new(subset, &book_products),
                    products: chunk.to_vec(),
                }
            })
            .collect())
    }
}

pub struct CoinbaseConnection {
    shared: Arc<Shared>,
    session: Session,
    products: Vec<String>,
}

impl Connection for CoinbaseConnection {
    async fn stream_once(&mut self, link: &mut Link) -> Result<Ended, VenueError> {
        let shared = &*self.shared;
        let mut ws = shared.factory.websocket(shared.exchange, &shared.ws_url).await?;
        for channel in &shared.channels {
            subscription(shared, &mut ws, "subscribe", &self.products, channel).await?;
        }
        let mut out = Vec::new();
        self.session.on_connect(ws.connected_ts_ns(), &mut out);
        let mut idle_until = Instant::now() + shared.idle_timeout;
        loop {
            if !publish(shared, link, &mut ws, &mut out).await? {
                return Ok(Ended::Shutdown);
            }
            tokio::select! {
                _ = link.stopped() => {
                    ws.close().await;
                    return Ok(Ended::Shutdown);
                }
                frame = runtime::read(&mut ws, idle_until) => match frame {
                    Ok(frame) => {
                        idle_until = Instant::now() + shared.idle_timeout;
                        link.data_arrived();
                        if let Err(e) = self.session.on_frame(&frame.text, frame.receive_ts_ns, &mut out) {
                            link.reject(e.reason(), &e);
                        }
                    }
                    Err(lost) => {
                        let ts_ns = ws.lost(lost.reason()).await;
                        self.session.disconnected(ts_ns, &mut out);
                        for o in out.drain(..) {
                            if let Output::Event(e) = o {
                                link.publish(e).await;
                            }
                        }
                        return lost.into();
                    }
                },
            }
        }
    }
}

/// Sends a (un)subscribe message, with a fresh JWT when credentials are configured (the
/// recording gets the message with the token masked).
async fn subscription(
    shared: &Shared,
    ws: &mut WsConn,
    kind: &str,
    products: &[impl AsRef<str>],
    channel: &str,
) -> Result<(), VenueError> {
    let ids: Vec<&str> = products.iter().map(AsRef::as_ref).collect();
    let mut msg = serde_json::json!({"type": kind, "product_ids": ids, "channel": channel});
    match &shared.signer {
        Some(signer) => {
            let now_s = crate::model::now_ns() / 1_000_000_000;
            let token = signer.token(now_s).map_err(|e| VenueError::Parse {
                exchange: shared.exchange,
                source: Box::new(e),
            })?;
            msg["jwt"] = token.as_str().into();
            ws.send_secret(msg.to_string(), &token).await?;
        }
        None => ws.send_text(msg.to_string()).await?,
    }
    Ok(())
}

/// Publishes events (waiting when the sink is slow) and resubscribes after gaps.
/// Returns false when the sink has gone away.
async fn publish(
    shared: &Shared,
    link: &Link,
    ws: &mut WsConn,
    out: &mut Vec<Output>,
) -> Result<bool, VenueError> {
    for o in out.drain(..) {
        match o {
            Output::Event(e) => {
                if !link.publish(e).await {
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
