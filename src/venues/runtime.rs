//! The adapter runtime, written once for every venue kind: the instrument list loaded at
//! start (retried while failures can pass), one task per connection, connect → subscribe
//! → read → reconnect with backoff and jitter, publishing into the bounded event queue,
//! and shutdown. A venue kind supplies an [`Adapter`] (its start-up plan) and a
//! [`Connection`] (one connection's subscribe-and-read loop).

use super::backoff::Backoff;
use super::{VenueError, fetch_at_start, stopped};
use crate::model::{Event, VenueId};
use crate::net::{ConnectionFactory, Frame, HttpClient, WsConn, WsError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use url::Url;

/// A venue kind's start-up: what to load, and the connections that follow from it.
pub trait Adapter: Send + 'static {
    type Conn: Connection;
    fn exchange(&self) -> VenueId;
    /// Longest wait between reconnect attempts (`reconnect_max_delay_ms`).
    fn reconnect_max_delay(&self) -> Duration;
    /// The client for the venue's requests (the factory's, with the venue's headers).
    fn http(&self, factory: &Arc<ConnectionFactory>) -> HttpClient {
        factory.http(self.exchange())
    }
    /// The instrument lists fetched before streaming (none for venues that map
    /// symbols by rule).
    fn instruments_urls(&self) -> Result<Vec<Url>, VenueError>;
    /// The connections to run, from the instrument lists' bodies (in the same order).
    fn connections(self, instruments: Vec<String>) -> Result<Vec<Self::Conn>, VenueError>;
}

/// One connection of a venue, run again after every failure until shutdown.
pub trait Connection: Send + 'static {
    /// Connects, subscribes and streams until the connection ends.
    fn stream_once(&mut self, link: &mut Link) -> impl Future<Output = Result<Ended, VenueError>> + Send;
}

/// How a connection that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Shutdown,
    Reconnect(&'static str),
}

/// Why reading a connection stopped.
#[derive(Debug)]
pub enum Lost {
    Idle,
    Closed,
    Failed(WsError),
}

impl Lost {
    /// As recorded and announced.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Idle => "idle timeout",
            Self::Closed => "closed by the venue",
            Self::Failed(_) => "connection failed",
        }
    }
}

impl From<Lost> for Result<Ended, VenueError> {
    fn from(lost: Lost) -> Self {
        match lost {
            Lost::Idle => Ok(Ended::Reconnect("no data within the idle timeout")),
            Lost::Closed => Ok(Ended::Reconnect("closed by the server")),
            Lost::Failed(e) => Err(e.into()),
        }
    }
}

/// The next frame, unless none comes by `idle_until` (the last frame's time plus the
/// idle timeout: other work in the caller's loop does not restart it), or the
/// connection is closed or failed. Cancel-safe (see [`WsConn::recv`]).
pub async fn read(ws: &mut WsConn, idle_until: Instant) -> Result<Frame, Lost> {
    match tokio::time::timeout_at(idle_until, ws.recv()).await {
        Ok(Ok(Some(frame))) => Ok(frame),
        Ok(Ok(None)) => Err(Lost::Closed),
        Ok(Err(e)) => Err(Lost::Failed(e)),
        Err(_) => Err(Lost::Idle),
    }
}

/// What one connection shares with the runtime: the event queue, the shutdown signal,
/// its reconnect backoff and the count of frames it rejected.
pub struct Link {
    exchange: VenueId,
    events: mpsc::Sender<Event>,
    shutdown: watch::Receiver<bool>,
    backoff: Backoff,
    /// No data yet on the current attempt.
    fresh: bool,
    rejects: Rejects,
}

impl Link {
    /// Sends into the bounded queue, waiting while it is full (backpressure). False
    /// when the sink has gone away.
    pub async fn publish(&self, event: Event) -> bool {
        // Readiness follows the adapter, not the sink: a resync waiting in a full queue
        // is already one.
        crate::metrics::health::observe(&event);
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(event)) => {
                crate::metrics::backpressure_wait();
                self.events.send(event).await.is_ok()
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Data arrived: the connection works, so the next failure starts the backoff over.
    pub fn data_arrived(&mut self) {
        if self.fresh {
            self.fresh = false;
            self.backoff.reset();
        }
    }

    /// Resolves when shutdown has been requested.
    pub async fn stopped(&mut self) {
        stopped(&mut self.shutdown).await;
    }

    /// A frame was rejected (not applied) for `reason`: counted, and logged at most
    /// once per second per reason.
    pub fn reject(&mut self, reason: &'static str, detail: &dyn std::fmt::Display) {
        crate::metrics::rejected(self.exchange, reason);
        self.rejects.record(self.exchange, reason, detail);
    }
}

/// Rejected frames of one connection by reason, with log pacing.
#[derive(Default)]
struct Rejects {
    counts: BTreeMap<&'static str, u64>,
    /// When each reason was last logged, and how many went unlogged since.
    logged: BTreeMap<&'static str, (Instant, u64)>,
}

/// Shortest time between two log lines of one reason.
const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(1);

impl Rejects {
    fn record(&mut self, exchange: VenueId, reason: &'static str, detail: &dyn std::fmt::Display) {
        let total = self.counts.entry(reason).or_insert(0);
        *total += 1;
        let now = Instant::now();
        match self.logged.get_mut(reason) {
            Some((at, quiet)) if now.duration_since(*at) < REJECT_LOG_INTERVAL => *quiet += 1,
            entry => {
                let unlogged = entry.map_or(0, |(_, quiet)| *quiet);
                tracing::warn!(%exchange, reason, total = *total, unlogged, "frame rejected: {detail}");
                self.logged.insert(reason, (now, 0));
            }
        }
    }
}

/// Runs a venue until shutdown. Fails only on start-up errors (unknown symbols, an
/// instrument list that cannot be fetched or read).
pub async fn run<A: Adapter>(
    adapter: A,
    factory: &Arc<ConnectionFactory>,
    events: mpsc::Sender<Event>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), VenueError> {
    let exchange = adapter.exchange();
    let reconnect_max_delay = adapter.reconnect_max_delay();
    let http = adapter.http(factory);
    let mut bodies = Vec::new();
    for url in adapter.instruments_urls()? {
        let Some(body) = fetch_at_start(&http, &url, &mut shutdown).await? else {
            return Ok(());
        };
        bodies.push(body);
    }
    let connections = adapter.connections(bodies)?;
    let mut tasks = tokio::task::JoinSet::new();
    for conn in connections {
        let link = Link {
            exchange,
            events: events.clone(),
            shutdown: shutdown.clone(),
            backoff: Backoff::up_to(reconnect_max_delay),
            fresh: true,
            rejects: Rejects::default(),
        };
        tasks.spawn(connection_loop(exchange, conn, link, factory.clone()));
    }
    drop(events);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(%exchange, "a connection task ended abnormally: {e}");
        }
    }
    Ok(())
}

async fn connection_loop<C: Connection>(
    exchange: VenueId,
    mut conn: C,
    mut link: Link,
    factory: Arc<ConnectionFactory>,
) {
    for attempt in 0u64.. {
        if attempt > 0 {
            crate::metrics::reconnect(exchange);
        }
        link.fresh = true;
        let delay = match conn.stream_once(&mut link).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect(why)) => {
                let delay = link.backoff.next_delay();
                tracing::warn!(%exchange, "reconnecting in {} ms: {why}", delay.as_millis());
                delay
            }
            Err(e)
                if e.proxy_failure()
                    .is_some_and(|(kind, proxy)| factory.can_fail_over(exchange, kind, proxy)) =>
            {
                tracing::warn!(%exchange, "connection failed, failing over to another pool member: {e}");
                Duration::ZERO
            }
            Err(e) => {
                let delay = link.backoff.next_delay();
                tracing::warn!(%exchange, "connection failed, retrying in {} ms: {e}", delay.as_millis());
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = link.stopped() => return,
        }
    }
}
