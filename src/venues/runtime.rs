//! The adapter runtime, written once for every venue kind: the instrument list loaded at
//! start (retried while failures can pass), one task per connection, connect → subscribe
//! → read → reconnect with backoff and jitter, publishing into the bounded event queue,
//! and shutdown. A venue kind supplies an [`Adapter`] (its start-up plan) and a
//! [`Connection`] (one connection's subscribe-and-read loop).

use super::backoff::Backoff;
use super::{VenueError, fetch_at_start, stopped};
use crate::model::{Event, VenueId};
use crate::net::{ConnectionFactory, Frame, WsConn, WsError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use url::Url;

/// A venue kind's start-up: what to load, and the connections that follow from it.
pub trait Adapter: Send + 'static {
    type Conn: Connection;
    fn exchange(&self) -> VenueId;
    /// The instrument list fetched before streaming.
    fn instruments_url(&self) -> Result<Url, VenueError>;
    /// The connections to run, from the instrument list's body.
    fn connections(self, instruments: &str) -> Result<Vec<Self::Conn>, VenueError>;
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

impl From<Lost> for Result<Ended, VenueError> {
    fn from(lost: Lost) -> Self {
        match lost {
            Lost::Idle => Ok(Ended::Reconnect("no data within the idle timeout")),
            Lost::Closed => Ok(Ended::Reconnect("closed by the server")),
            Lost::Failed(e) => Err(e.into()),
        }
    }
}

/// The next frame, unless the connection is idle past `idle`, closed, or failed.
/// Cancel-safe (see [`WsConn::recv`]).
pub async fn read(ws: &mut WsConn, idle: Duration) -> Result<Frame, Lost> {
    match tokio::time::timeout(idle, ws.recv()).await {
        Ok(Ok(Some(frame))) => Ok(frame),
        Ok(Ok(None)) => Err(Lost::Closed),
        Ok(Err(e)) => Err(Lost::Failed(e)),
        Err(_) => Err(Lost::Idle),
    }
}

/// What one connection shares with the runtime: the event queue, the shutdown signal
/// and its reconnect backoff.
pub struct Link {
    events: mpsc::Sender<Event>,
    shutdown: watch::Receiver<bool>,
    backoff: Backoff,
    /// No data yet on the current attempt.
    fresh: bool,
}

impl Link {
    /// Sends into the bounded queue, waiting while it is full (backpressure). False
    /// when the sink has gone away.
    pub async fn publish(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
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
    let url = adapter.instruments_url()?;
    let Some(body) = fetch_at_start(&factory.http(exchange), &url, &mut shutdown).await? else {
        return Ok(());
    };
    let connections = adapter.connections(&body)?;
    let mut tasks = tokio::task::JoinSet::new();
    for conn in connections {
        let link = Link {
            events: events.clone(),
            shutdown: shutdown.clone(),
            backoff: Backoff::default(),
            fresh: true,
        };
        tasks.spawn(connection_loop(exchange, conn, link));
    }
    drop(events);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn connection_loop<C: Connection>(exchange: VenueId, mut conn: C, mut link: Link) {
    loop {
        link.fresh = true;
        let delay = match conn.stream_once(&mut link).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect(why)) => {
                let delay = link.backoff.next_delay();
                tracing::warn!(%exchange, "reconnecting in {} ms: {why}", delay.as_millis());
                delay
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
