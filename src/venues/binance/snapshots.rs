//! Depth snapshot bookkeeping for one Binance connection: at most one fetch in flight
//! per symbol, each waiting for the venue's request-weight budget, a pause of every fetch
//! after a 429/418, and the answers handed back to the session. Fetches belong to their
//! connection: dropping this aborts them, so none outlives a reconnect or holds up
//! shutdown while it waits out the budget.

use super::client::Shared;
use super::parse::Instruments;
use super::session::{Output, Session};
use crate::net::{ConnectError, Fetched};
use crate::venues::{RATE_LIMIT_PAUSE, endpoint};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

type Answer = (Arc<str>, Result<Fetched, ConnectError>);

pub struct Snapshots {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Answer>,
    rx: mpsc::Receiver<Answer>,
    fetches: JoinSet<()>,
    pending: HashSet<Arc<str>>,
}

impl Snapshots {
    pub fn new(shared: Arc<Shared>) -> Self {
        let (tx, rx) = mpsc::channel(64);
        Self {
            shared,
            tx,
            rx,
            fetches: JoinSet::new(),
            pending: HashSet::new(),
        }
    }

    /// Starts a fetch for `symbol` unless one is in flight.
    pub fn request(&mut self, instruments: &Instruments, symbol: Arc<str>) {
        let Some(wire) = instruments.wire(&symbol) else {
            return;
        };
        if self.pending.insert(symbol.clone()) {
            let fetch = fetch(self.shared.clone(), symbol, wire.to_owned(), self.tx.clone());
            self.fetches.spawn(fetch);
        }
    }

    /// The next answer. Cancel-safe.
    pub async fn next(&mut self) -> Option<Answer> {
        self.rx.recv().await
    }

    /// Hands an answer to the session; a failed fetch or a bad body asks again.
    pub fn apply(&mut self, session: &mut Session, (symbol, answer): Answer, out: &mut Vec<Output>) {
        self.pending.remove(&symbol);
        match answer {
            Ok(got) => {
                if let Err(e) = session.on_snapshot(&symbol, &got.body, got.receive_ts_ns, out) {
                    tracing::warn!(%symbol, "bad snapshot: {e}");
                    out.push(Output::FetchSnapshot(symbol));
                }
            }
            Err(e) => {
                tracing::warn!("snapshot for {symbol} failed: {e}");
                out.push(Output::FetchSnapshot(symbol));
            }
        }
    }
}

async fn fetch(shared: Arc<Shared>, symbol: Arc<str>, wire: String, tx: mpsc::Sender<Answer>) {
    let path = format!(
        "{}/depth?symbol={wire}&limit={}",
        shared.venue.api_prefix, shared.depth_limit
    );
    let url = match endpoint(shared.exchange, Some(&shared.rest_url), "", &path) {
        Ok(url) => url,
        Err(e) => return tracing::error!("snapshot URL for {symbol}: {e}"),
    };
    shared
        .budget
        .acquire(shared.venue.depth_weight(shared.depth_limit))
        .await;
    let answer = shared.http.get(&url).await;
    if answer.as_ref().is_err_and(ConnectError::is_rate_limit) {
        // Binance bans IPs that keep requesting after a 429 (418 = banned).
        tracing::warn!(exchange = %shared.exchange, "REST rate limit hit; no snapshot requests for {} s", RATE_LIMIT_PAUSE.as_secs());
        shared.budget.pause(RATE_LIMIT_PAUSE).await;
    }
    let _ = tx.send((symbol, answer)).await;
}
