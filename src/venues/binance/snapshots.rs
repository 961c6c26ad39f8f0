//! Depth snapshot bookkeeping for one Binance connection: at most one request per
//! symbol, queued behind the venue's request-weight budget, the busiest waiting book
//! first (its buffer fills fastest); a pause of every request after a 429/418; and the
//! answers handed back to the session. Requests belong to their connection: dropping
//! this aborts them, so none outlives a reconnect or holds up shutdown.

use super::client::Shared;
use super::session::{Output, Session};
use crate::net::{ConnectError, Fetched};
use crate::venues::runtime::Link;
use crate::venues::{RATE_LIMIT_PAUSE, endpoint};
use futures_util::future::BoxFuture;
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
    /// Symbols with a request queued or in flight.
    pending: HashSet<Arc<str>>,
    /// Queued, waiting for budget.
    queued: Vec<Arc<str>>,
    /// Budget being acquired for the next queued request.
    grant: Option<BoxFuture<'static, ()>>,
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
            queued: Vec::new(),
            grant: None,
        }
    }

    /// Queues a request for `symbol` unless one is queued or in flight.
    pub fn request(&mut self, session: &mut Session, symbol: Arc<str>) {
        if session.instruments().wire(&symbol).is_some() && self.pending.insert(symbol.clone()) {
            session.snapshot_queued(&symbol);
            self.queued.push(symbol);
        }
    }

    /// Sends queued requests as the budget allows and returns the next answer.
    /// Cancel-safe: the budget being acquired and the answers wait in `self`.
    pub async fn next(&mut self, session: &mut Session) -> Answer {
        loop {
            if self.grant.is_none() && !self.queued.is_empty() {
                let shared = self.shared.clone();
                let weight = shared.venue.depth_weight(shared.depth_limit);
                self.grant = Some(Box::pin(async move { shared.budget.acquire(weight).await }));
            }
            tokio::select! {
                Some(answer) = self.rx.recv() => return answer,
                _ = async { self.grant.as_mut().expect("guarded").await }, if self.grant.is_some() => {
                    self.grant = None;
                    self.send_busiest(session);
                }
            }
        }
    }

    /// Sends the request of the queued book that has seen the most diffs.
    fn send_busiest(&mut self, session: &mut Session) {
        let Some((i, _)) = (self.queued.iter().enumerate())
            .max_by_key(|(i, s)| (session.activity(s), std::cmp::Reverse(*i)))
        else {
            return;
        };
        let symbol = self.queued.swap_remove(i);
        let Some(wire) = session.instruments().wire(&symbol).map(str::to_owned) else {
            return;
        };
        session.snapshot_sent(&symbol);
        self.fetches
            .spawn(fetch(self.shared.clone(), symbol, wire, self.tx.clone()));
    }

    /// Hands an answer to the session; a failed fetch or a bad body (counted) asks again.
    pub fn apply(
        &mut self,
        session: &mut Session,
        link: &mut Link,
        (symbol, answer): Answer,
        out: &mut Vec<Output>,
    ) {
        self.pending.remove(&symbol);
        // Finished fetch tasks are let go (the set lives as long as the connection).
        while self.fetches.try_join_next().is_some() {}
        match answer {
            Ok(got) => {
                if let Err(e) = session.on_snapshot(&symbol, &got.body, got.receive_ts_ns, out) {
                    link.reject("bad_snapshot", &format_args!("{symbol}: {e}"));
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
    crate::metrics::snapshot_request(shared.exchange);
    let answer = shared.http.get(&url).await;
    if answer.as_ref().is_err_and(ConnectError::is_rate_limit) {
        crate::metrics::rate_limit_pause(shared.exchange);
        // Binance bans IPs that keep requesting after a 429 (418 = banned).
        tracing::warn!(exchange = %shared.exchange, "REST rate limit hit; no snapshot requests for {} s", RATE_LIMIT_PAUSE.as_secs());
        shared.budget.pause(RATE_LIMIT_PAUSE).await;
    }
    let _ = tx.send((symbol, answer)).await;
}
