//! The Binance client: loads instruments, opens combined-stream WebSockets (split by the
//! venue's streams-per-connection limit), subscribes at the venue's message rate, fetches
//! throttled depth snapshots, and reconnects with backoff. All state logic is in `session`.

use super::handover::{CATCH_UP_TIMEOUT, Progress, Replacement};
use super::parse::{self, Instruments, Market};
use super::plan;
use super::session::{Output, Session};
use crate::config::{Channel, ExchangeConfig};
use crate::model::Event;
use crate::net::{Cause, ConnectError, ConnectionFactory, Fetched, Frame, HttpClient, WsConn};
use crate::venues::backoff::{Backoff, WeightBudget};
use crate::venues::{RATE_LIMIT_PAUSE, VenueError, endpoint, fetch_at_start, stopped};
use futures_util::future::BoxFuture;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use url::Url;

/// Reconnect before Binance's 24-hour connection limit (`max_connection_age_s`).
const DEFAULT_MAX_CONNECTION_AGE_S: u64 = 23 * 3600 + 50 * 60;
/// No data frame for this long: the connection is presumed dead (`idle_timeout_ms`).
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;

pub struct BinanceAdapter {
    market: Market,
    config: ExchangeConfig,
    factory: Arc<ConnectionFactory>,
}

/// Everything one connection task shares with the others.
struct Shared {
    market: Market,
    factory: Arc<ConnectionFactory>,
    http: HttpClient,
    rest_url: Url,
    ws_url: Url,
    depth_limit: u16,
    idle_timeout: Duration,
    max_connection_age: Duration,
    budget: WeightBudget,
    events: mpsc::Sender<Event>,
}

enum Ended {
    Shutdown,
    Reconnect(&'static str),
}

impl BinanceAdapter {
    pub fn new(market: Market, config: ExchangeConfig, factory: Arc<ConnectionFactory>) -> Self {
        Self {
            market,
            config,
            factory,
        }
    }

    /// Streams until `shutdown` turns true. Fails only on start-up errors.
    pub async fn run(
        self,
        events: mpsc::Sender<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), VenueError> {
        let market = self.market;
        let exchange = market.exchange();
        let http = self.factory.http(exchange);
        let rest_url = endpoint(
            exchange,
            self.config.rest_url.as_ref(),
            market.default_rest_url(),
            "",
        )?;
        let info_url = endpoint(
            exchange,
            Some(&rest_url),
            "",
            &format!("{}/exchangeInfo", market.api_prefix()),
        )?;
        let Some(body) = fetch_at_start(&http, &info_url, &mut shutdown).await? else {
            return Ok(());
        };
        let all = parse::parse_instruments(market, &body).map_err(|source| VenueError::Parse {
            exchange,
            source: Box::new(source),
        })?;
        let instruments = all
            .select(&self.config.symbols)
            .map_err(|symbols| VenueError::UnknownSymbols { exchange, symbols })?;
        tracing::info!(%exchange, symbols = self.config.symbols.len(), "instruments loaded");

        let shared = Arc::new(Shared {
            market,
            factory: self.factory.clone(),
            http,
            ws_url: endpoint(
                exchange,
                self.config.ws_url.as_ref(),
                market.default_ws_url(),
                "/stream",
            )?,
            rest_url,
            depth_limit: self.config.depth_limit.unwrap_or(1000),
            idle_timeout: Duration::from_millis(
                self.config.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS),
            ),
            max_connection_age: Duration::from_secs(
                self.config
                    .max_connection_age_s
                    .unwrap_or(DEFAULT_MAX_CONNECTION_AGE_S),
            ),
            budget: WeightBudget::new(market.snapshot_weight_per_minute()),
            events,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for (subset, streams) in plan::connections(market, &self.config, &instruments) {
            let books: Vec<Arc<str>> = if self.config.channels.contains(&Channel::L2Book) {
                subset.iter().map(|(n, _)| n.clone()).collect()
            } else {
                Vec::new()
            };
            let session = Session::new(market, subset, &books);
            tasks.spawn(connection_loop(
                shared.clone(),
                session,
                streams,
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
    streams: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let exchange = shared.market.exchange();
    let mut backoff = Backoff::default();
    loop {
        let delay = match stream_once(&shared, &mut session, &streams, &mut shutdown, &mut backoff).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect(why)) => {
                tracing::warn!(%exchange, "reconnecting: {why}");
                backoff.next_delay()
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(%exchange, "connection failed, retrying in {} ms: {e}", delay.as_millis());
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut shutdown) => return,
        }
    }
}

type SnapshotResult = (Arc<str>, Result<Fetched, ConnectError>);

/// Subscribes to `streams` at the venue's incoming-message rate.
async fn subscribe(shared: &Shared, ws: &mut WsConn, streams: &[String]) -> Result<(), VenueError> {
    let pause = Duration::from_millis(1000 / shared.market.subscribe_messages_per_second());
    for (i, msg) in plan::subscribe_messages(streams).into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        ws.send_text(msg).await?;
    }
    Ok(())
}

/// A frame from either connection (both are read while a replacement comes up).
fn on_frame(shared: &Shared, session: &mut Session, frame: &Frame, out: &mut Vec<Output>) {
    if let Err(e) = session.on_frame(&frame.text, frame.receive_ts_ns, out) {
        tracing::warn!(exchange = %shared.market.exchange(), "frame skipped: {e}");
    }
}

async fn stream_once(
    shared: &Arc<Shared>,
    session: &mut Session,
    streams: &[String],
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<Ended, VenueError> {
    let exchange = shared.market.exchange();
    let mut ws = shared.factory.websocket(exchange, &shared.ws_url).await?;
    subscribe(shared, &mut ws, streams).await?;
    let (snap_tx, mut snap_rx) = mpsc::channel::<SnapshotResult>(64);
    // Snapshot fetches belong to this connection: leaving it aborts them, so none outlives
    // a reconnect or holds up shutdown while it waits out the request budget.
    let mut fetches = tokio::task::JoinSet::new();
    let mut pending = HashSet::new();
    let mut out = Vec::new();
    session.restart("reconnected", ws.connected_ts_ns(), &mut out);
    let mut deadline = Instant::now() + shared.max_connection_age;
    // At the age limit a replacement is opened (`opening`), then subscribed and held
    // (`replacement`) while this connection keeps streaming; see `handover`. Meanwhile
    // `deadline` bounds the replacement's first data and the catch-up; a replacement
    // that fails is dropped and tried again later while this connection lives on.
    let mut opening: Option<BoxFuture<'_, Result<WsConn, VenueError>>> = None;
    let mut replacement: Option<Replacement> = None;
    let mut retry = Backoff::default();
    let mut connected = false;
    loop {
        if !handle(
            shared,
            session.instruments(),
            &mut out,
            &mut pending,
            (&snap_tx, &mut fetches),
        )
        .await
        {
            return Ok(Ended::Shutdown);
        }
        let mut progress = Progress::Waiting;
        tokio::select! {
            _ = stopped(shutdown) => {
                ws.close().await;
                if let Some(r) = replacement {
                    r.close().await;
                }
                return Ok(Ended::Shutdown);
            }
            _ = tokio::time::sleep_until(deadline), if opening.is_none() => match replacement.as_ref().map(Replacement::streaming) {
                None => {
                    tracing::info!(%exchange, "connection age limit: opening a replacement");
                    opening = Some(open_replacement(shared, streams, &ws));
                    replacement = Some(Replacement::opening());
                }
                Some(false) => {
                    let delay = retry.next_delay();
                    tracing::warn!(%exchange, "the replacement connection sent no data; next try in {} ms", delay.as_millis());
                    replacement.take().expect("matched").close().await;
                    deadline = Instant::now() + delay;
                }
                Some(true) => progress = Progress::TakeOver("catch-up timeout"),
            },
            opened = async { opening.as_mut().expect("guarded").await }, if opening.is_some() => {
                opening = None;
                match opened {
                    Ok(r) => {
                        replacement.as_mut().expect("set with the opening").opened(r);
                        deadline = Instant::now() + shared.idle_timeout;
                    }
                    Err(e) => {
                        replacement = None;
                        let delay = retry.next_delay();
                        tracing::warn!(%exchange, "replacement connection failed, next try in {} ms: {e}", delay.as_millis());
                        deadline = Instant::now() + delay;
                    }
                }
            }
            Some((symbol, result)) = snap_rx.recv() => {
                pending.remove(&symbol);
                match result {
                    Ok(got) => if let Err(e) = session.on_snapshot(&symbol, &got.body, got.receive_ts_ns, &mut out) {
                        tracing::warn!(%symbol, "bad snapshot: {e}");
                        out.push(Output::FetchSnapshot(symbol));
                    },
                    Err(e) => {
                        tracing::warn!("snapshot for {symbol} failed: {e}");
                        out.push(Output::FetchSnapshot(symbol));
                    }
                }
            }
            frame = async { replacement.as_mut().expect("guarded").ws().recv_unrecorded().await }, if replacement.as_ref().is_some_and(Replacement::is_open) => {
                let r = replacement.as_mut().expect("guarded");
                let was_streaming = r.streaming();
                match frame {
                    Ok(Some(frame)) => {
                        progress = r.on_new(frame);
                        if !was_streaming && r.streaming() {
                            deadline = Instant::now() + CATCH_UP_TIMEOUT;
                        }
                    }
                    Ok(None) | Err(_) => {
                        let delay = retry.next_delay();
                        tracing::warn!(%exchange, "the replacement connection ended; next try in {} ms", delay.as_millis());
                        replacement = None;
                        deadline = Instant::now() + delay;
                    }
                }
            }
            frame = tokio::time::timeout(shared.idle_timeout, ws.recv()) => match frame {
                Ok(Ok(Some(frame))) => {
                    if !connected {
                        connected = true;
                        backoff.reset();
                    }
                    on_frame(shared, session, &frame, &mut out);
                    if let Some(r) = &mut replacement {
                        progress = r.on_old(&frame);
                    }
                }
                // This connection ended while a replacement is subscribed: it takes over.
                _ if replacement.as_ref().is_some_and(Replacement::is_open) => {
                    progress = Progress::TakeOver("the old connection ended");
                }
                Err(_) => return Ok(Ended::Reconnect("no data within the idle timeout")),
                Ok(Ok(None)) => return Ok(Ended::Reconnect("closed by the server")),
                Ok(Err(e)) => return Err(e.into()),
            },
        }
        if let Progress::TakeOver(why) = progress {
            let r = replacement.take().expect("only a replacement takes over");
            take_over(shared, session, &mut ws, r, &mut out).await;
            tracing::info!(%exchange, "replacement connection took over: {why}");
            deadline = Instant::now() + shared.max_connection_age;
            retry.reset();
        }
    }
}

/// Opens and subscribes a connection to replace `old`.
fn open_replacement<'a>(
    shared: &'a Shared,
    streams: &'a [String],
    old: &WsConn,
) -> BoxFuture<'a, Result<WsConn, VenueError>> {
    let opening = shared
        .factory
        .websocket_replacing(shared.market.exchange(), &shared.ws_url, old);
    Box::pin(async move {
        let mut r = opening.await?;
        subscribe(shared, &mut r, streams).await?;
        Ok(r)
    })
}

async fn take_over(
    shared: &Shared,
    session: &mut Session,
    ws: &mut WsConn,
    r: Replacement,
    out: &mut Vec<Output>,
) {
    for frame in r.take_over(ws).await {
        ws.record(&frame).await;
        on_frame(shared, session, &frame, out);
    }
}

/// Publishes events (waiting when the sink is slow) and starts snapshot fetches.
/// Returns false when the sink has gone away.
async fn handle(
    shared: &Arc<Shared>,
    instruments: &Instruments,
    out: &mut Vec<Output>,
    pending: &mut HashSet<Arc<str>>,
    (snap_tx, fetches): (&mpsc::Sender<SnapshotResult>, &mut tokio::task::JoinSet<()>),
) -> bool {
    for o in out.drain(..) {
        match o {
            Output::Event(e) => {
                if shared.events.send(e).await.is_err() {
                    return false;
                }
            }
            Output::FetchSnapshot(symbol) => {
                if let Some(wire) = instruments
                    .wire(&symbol)
                    .filter(|_| pending.insert(symbol.clone()))
                {
                    let wire = wire.to_owned();
                    fetches.spawn(fetch_snapshot(shared.clone(), symbol, wire, snap_tx.clone()));
                }
            }
        }
    }
    true
}

async fn fetch_snapshot(
    shared: Arc<Shared>,
    symbol: Arc<str>,
    wire: String,
    tx: mpsc::Sender<SnapshotResult>,
) {
    let path = format!(
        "{}/depth?symbol={wire}&limit={}",
        shared.market.api_prefix(),
        shared.depth_limit
    );
    let result = match endpoint(shared.market.exchange(), Some(&shared.rest_url), "", &path) {
        Ok(url) => {
            shared
                .budget
                .acquire(shared.market.depth_weight(shared.depth_limit))
                .await;
            let result = shared.http.get(&url).await;
            if let Err(ConnectError {
                cause: Cause::Status {
                    status: 418 | 429, ..
                },
                ..
            }) = &result
            {
                // Binance bans IPs that keep requesting after a 429 (418 = banned).
                tracing::warn!(exchange = %shared.market.exchange(), "REST rate limit hit; no snapshot requests for {} s", RATE_LIMIT_PAUSE.as_secs());
                shared.budget.pause(RATE_LIMIT_PAUSE).await;
            }
            result
        }
        Err(e) => return tracing::error!("snapshot URL for {symbol}: {e}"),
    };
    let _ = tx.send((symbol, result)).await;
}
