//! The Binance client: the venue's start-up (instruments, the connection plan) and one
//! connection's loop for the adapter runtime: subscribe at the venue's message rate,
//! read frames, publish, fetch snapshots (`snapshots`) and hand over at the age limit
//! (`handover`). All state logic is in `session`.

use super::handover::{Handover, Step};
use super::parse;
use super::plan;
use super::session::{Output, Session};
use super::settings::BinanceSettings;
use super::snapshots::Snapshots;
use super::venue::BinanceVenue;
use crate::config::{Channel, ExchangeConfig};
use crate::model::VenueId;
use crate::net::{ConnectionFactory, Frame, HttpClient, WsConn};
use crate::venues::backoff::WeightBudget;
use crate::venues::runtime::{self, Adapter, Connection, Ended, Link};
use crate::venues::{VenueError, endpoint};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// No data frame for this long: the connection is presumed dead (`idle_timeout_ms`).
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;

pub struct BinanceAdapter {
    exchange: VenueId,
    venue: &'static BinanceVenue,
    config: ExchangeConfig,
    settings: BinanceSettings,
    factory: Arc<ConnectionFactory>,
}

/// Everything one connection task shares with the others.
pub struct Shared {
    pub exchange: VenueId,
    pub venue: &'static BinanceVenue,
    factory: Arc<ConnectionFactory>,
    pub http: HttpClient,
    pub rest_url: Url,
    ws_url: Url,
    pub depth_limit: u16,
    idle_timeout: Duration,
    max_connection_age: Duration,
    pub budget: WeightBudget,
}

impl BinanceAdapter {
    pub fn new(
        exchange: VenueId,
        venue: &'static BinanceVenue,
        config: ExchangeConfig,
        settings: BinanceSettings,
        factory: Arc<ConnectionFactory>,
    ) -> Self {
        Self {
            exchange,
            venue,
            config,
            settings,
            factory,
        }
    }

    fn rest_url(&self) -> Result<Url, VenueError> {
        endpoint(
            self.exchange,
            self.config.rest_url.as_ref(),
            self.venue.rest_url,
            "",
        )
    }

    fn ws_url(&self) -> Result<Url, VenueError> {
        let configured = self.config.ws_url.as_ref();
        endpoint(self.exchange, configured, self.venue.ws_url, "/stream")
    }
}

impl Adapter for BinanceAdapter {
    type Conn = BinanceConnection;

    fn exchange(&self) -> VenueId {
        self.exchange
    }

    fn reconnect_max_delay(&self) -> Duration {
        Duration::from_millis(self.config.reconnect_max_delay_ms)
    }

    fn instruments_urls(&self) -> Result<Vec<Url>, VenueError> {
        let path = format!("{}/exchangeInfo", self.venue.api_prefix);
        Ok(vec![endpoint(self.exchange, Some(&self.rest_url()?), "", &path)?])
    }

    fn connections(self, bodies: Vec<String>) -> Result<Vec<BinanceConnection>, VenueError> {
        let (exchange, venue) = (self.exchange, self.venue);
        let body = bodies.concat();
        let all =
            parse::parse_instruments(exchange, venue.market, &body).map_err(|source| VenueError::Parse {
                exchange,
                source: Box::new(source),
            })?;
        let instruments = all
            .select(&self.config.symbols)
            .map_err(|symbols| VenueError::UnknownSymbols { exchange, symbols })?;
        tracing::info!(%exchange, symbols = self.config.symbols.len(), "instruments loaded");
        let shared = Arc::new(Shared {
            exchange,
            venue,
            http: self.factory.http(exchange),
            ws_url: self.ws_url()?,
            rest_url: self.rest_url()?,
            factory: self.factory,
            depth_limit: self.settings.depth_limit(),
            idle_timeout: Duration::from_millis(
                self.config.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS),
            ),
            max_connection_age: Duration::from_secs(self.settings.max_connection_age_s()),
            budget: WeightBudget::new(venue.snapshot_budget(self.settings.snapshot_weight_share_percent())),
        });
        let keeps_books = self.config.channels.contains(&Channel::L2Book);
        let plan = plan::connections(venue, &self.config, self.settings.trade_stream, &instruments);
        Ok(plan
            .into_iter()
            .map(|(subset, streams)| {
                let books: Vec<Arc<str>> = if keeps_books {
                    subset.iter().map(|(n, _)| n.clone()).collect()
                } else {
                    Vec::new()
                };
                BinanceConnection {
                    shared: shared.clone(),
                    session: Session::new(venue.market, subset, &books),
                    streams: Arc::new(streams),
                }
            })
            .collect())
    }
}

/// One combined-stream connection and the symbols it carries.
pub struct BinanceConnection {
    shared: Arc<Shared>,
    session: Session,
    streams: Arc<Vec<String>>,
}

impl Connection for BinanceConnection {
    async fn stream_once(&mut self, link: &mut Link) -> Result<Ended, VenueError> {
        let shared = self.shared.clone();
        let mut ws = shared.factory.websocket(shared.exchange, &shared.ws_url).await?;
        subscribe(&shared, &mut ws, &self.streams).await?;
        let mut snapshots = Snapshots::new(shared.clone());
        let mut handover = Handover::new(shared.max_connection_age, shared.idle_timeout);
        let mut out = Vec::new();
        self.session
            .restart("reconnected", ws.connected_ts_ns(), &mut out);
        let mut idle_until = Instant::now() + shared.idle_timeout;
        loop {
            if !publish(link, &mut snapshots, &mut self.session, &mut out).await {
                handover.close().await;
                return Ok(Ended::Shutdown);
            }
            let step = tokio::select! {
                _ = link.stopped() => {
                    ws.close().await;
                    handover.close().await;
                    return Ok(Ended::Shutdown);
                }
                step = handover.next() => step,
                answer = snapshots.next(&mut self.session) => {
                    snapshots.apply(&mut self.session, link, answer, &mut out);
                    Step::Waiting
                }
                frame = runtime::read(&mut ws, idle_until) => match frame {
                    Ok(frame) => {
                        idle_until = Instant::now() + shared.idle_timeout;
                        link.data_arrived();
                        on_frame(&mut self.session, link, &frame, &mut out);
                        handover.on_old(&frame)
                    }
                    // This connection ended while a replacement is subscribed: it takes over.
                    Err(_) if handover.is_open() => Step::TakeOver("the old connection ended"),
                    Err(lost) => {
                        handover.close().await;
                        let ts_ns = ws.lost(lost.reason()).await;
                        self.session.disconnected(ts_ns, &mut out);
                        publish(link, &mut snapshots, &mut self.session, &mut out).await;
                        return lost.into();
                    }
                },
            };
            match step {
                Step::Waiting => {}
                Step::Open => {
                    tracing::info!(exchange = %shared.exchange, "connection age limit: opening a replacement");
                    let last_subscribe = plan::subscribe_messages(&self.streams).len() as u64;
                    handover.opening(
                        open_replacement(shared.clone(), self.streams.clone(), &ws),
                        last_subscribe,
                    );
                }
                Step::TakeOver(why) => {
                    idle_until = Instant::now() + shared.idle_timeout;
                    for frame in handover.take_over(&mut ws).await {
                        on_frame(&mut self.session, link, &frame, &mut out);
                    }
                    tracing::info!(exchange = %shared.exchange, "replacement connection took over: {why}");
                }
            }
        }
    }
}

/// Subscribes to `streams` at the venue's incoming-message rate.
async fn subscribe(shared: &Shared, ws: &mut WsConn, streams: &[String]) -> Result<(), VenueError> {
    let pause = Duration::from_millis(1000 / shared.venue.subscribe_messages_per_second);
    for (i, msg) in plan::subscribe_messages(streams).into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        ws.send_text(msg).await?;
    }
    Ok(())
}

/// A frame from either connection (both are read while a replacement comes up).
fn on_frame(session: &mut Session, link: &mut Link, frame: &Frame, out: &mut Vec<Output>) {
    if let Err(e) = session.on_frame(&frame.text, frame.receive_ts_ns, out) {
        link.reject(e.reason(), &e);
    }
}

/// Opens and subscribes a connection to replace `old`.
fn open_replacement(
    shared: Arc<Shared>,
    streams: Arc<Vec<String>>,
    old: &WsConn,
) -> BoxFuture<'static, Result<WsConn, VenueError>> {
    let replaces = old.recorded_name().map(str::to_owned);
    Box::pin(async move {
        let mut r = shared
            .factory
            .websocket_replacing(shared.exchange, &shared.ws_url, replaces.as_deref())
            .await?;
        subscribe(&shared, &mut r, &streams).await?;
        Ok(r)
    })
}

/// Publishes events (waiting when the sink is slow) and starts snapshot fetches.
/// Returns false when the sink has gone away.
async fn publish(
    link: &Link,
    snapshots: &mut Snapshots,
    session: &mut Session,
    out: &mut Vec<Output>,
) -> bool {
    for o in out.drain(..) {
        match o {
            Output::Event(e) => {
                if !link.publish(e).await {
                    return false;
                }
            }
            Output::FetchSnapshot(symbol) => snapshots.request(session, symbol),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyConfig;
    use crate::net::{Redactor, StaticResolver};
    use crate::venues::binance::venue::{FUTURES, SPOT, US};

    #[test]
    fn each_venue_of_the_family_has_its_own_endpoints() {
        let factory = ConnectionFactory::new(
            Arc::new(StaticResolver::new(&ProxyConfig::default())),
            None,
            Redactor::default(),
            Default::default(),
        )
        .unwrap();
        let config: ExchangeConfig =
            serde_json::from_str(r#"{"symbols":["BTC-USD"],"channels":["trades"]}"#).unwrap();
        let settings: BinanceSettings = serde_json::from_str("{}").unwrap();
        // (venue, instrument list, streams): the venues' documented public endpoints.
        for (name, venue, info, ws) in [
            (
                "binance",
                &SPOT,
                "https://api.binance.com/api/v3/exchangeInfo",
                "wss://stream.binance.com:9443/stream",
            ),
            (
                "binance_futures",
                &FUTURES,
                "https://fapi.binance.com/fapi/v1/exchangeInfo",
                "wss://fstream.binance.com/stream",
            ),
            (
                "binance_us",
                &US,
                "https://api.binance.us/api/v3/exchangeInfo",
                "wss://stream.binance.us:9443/stream",
            ),
        ] {
            let id = VenueId::new(name).unwrap();
            let adapter = BinanceAdapter::new(id, venue, config.clone(), settings.clone(), factory.clone());
            assert_eq!(adapter.instruments_urls().unwrap()[0].as_str(), info);
            assert_eq!(adapter.ws_url().unwrap().as_str(), ws);
        }
    }
}
