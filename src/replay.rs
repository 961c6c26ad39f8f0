//! `feedhandler replay`: runs a recording through the same session (parse + book sync)
//! the live client uses, with no network, and sends the normalized events to the sink.

use crate::model::Event;
use crate::record::reader::{Recorded, Recording};
use crate::venues::binance::parse::{self, Market, ParseError};
use crate::venues::binance::session::{Output, Session};
use crate::venues::coinbase;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("recordings of {0:?} cannot be replayed (supported: BINANCE, BINANCE_FUTURES, COINBASE)")]
    Unsupported(String),
    #[error("replay: {0}")]
    Parse(#[from] ParseError),
    #[error("replay: {0}")]
    CoinbaseParse(#[from] coinbase::parse::ParseError),
    #[error("replay: the recording has no products list (market/products)")]
    NoProducts,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    pub frames: u64,
    pub events: u64,
    /// Snapshots the live client would have requested (fetched or resubscribed): one
    /// per gap and per book after a reconnect. Zero for a gap-free single connection.
    pub snapshot_requests: u64,
    pub skipped_frames: u64,
}

/// Sends the events among a session's outputs and counts its snapshot requests
/// (`split` gives an event, or how many snapshots were asked for). False when the sink
/// has gone away.
async fn publish<O>(
    outputs: &mut Vec<O>,
    stats: &mut ReplayStats,
    events: &mpsc::Sender<Event>,
    split: impl Fn(O) -> Result<Event, u64>,
) -> bool {
    for o in outputs.drain(..) {
        match split(o) {
            Ok(e) => {
                stats.events += 1;
                if events.send(e).await.is_err() {
                    return false;
                }
            }
            Err(requests) => stats.snapshot_requests += requests,
        }
    }
    true
}

fn wire_of(url: &str) -> Option<String> {
    url.split("symbol=")
        .nth(1)
        .map(|s| s.split('&').next().unwrap_or(s).to_owned())
}

/// Replays `rec`; stops early if the receiver goes away.
pub async fn replay(rec: &Recording, events: mpsc::Sender<Event>) -> Result<ReplayStats, ReplayError> {
    match rec.exchange.as_str() {
        "BINANCE" => replay_binance(rec, Market::Spot, events).await,
        "BINANCE_FUTURES" => replay_binance(rec, Market::Futures, events).await,
        "COINBASE" => replay_coinbase(rec, events).await,
        other => Err(ReplayError::Unsupported(other.to_owned())),
    }
}

async fn replay_coinbase(rec: &Recording, events: mpsc::Sender<Event>) -> Result<ReplayStats, ReplayError> {
    use coinbase::session::{Output, Session};
    let body = rec
        .events
        .iter()
        .find_map(|e| match e {
            Recorded::Http { url, body, .. } if url.contains("market/products") => Some(body),
            _ => None,
        })
        .ok_or(ReplayError::NoProducts)?;
    let products = coinbase::parse::parse_products(body)?;
    let mut books = BTreeSet::new();
    for e in &rec.events {
        if let Recorded::Send { data, .. } = e {
            if let Ok(sub) = serde_json::from_str::<Subscription>(data) {
                if sub.kind == "subscribe" && sub.channel == "level2" {
                    books.extend(sub.product_ids);
                }
            }
        }
    }
    let books: Vec<Arc<str>> = books.iter().filter_map(|p| products.get(p).cloned()).collect();
    let mut session = Session::new(products, &books);
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    for ev in &rec.events {
        match ev {
            Recorded::Connect { ts_ns, .. } => session.on_connect(*ts_ns, &mut out),
            Recorded::Recv { data, ts_ns } => {
                stats.frames += 1;
                if let Err(e) = session.on_frame(data, *ts_ns, &mut out) {
                    stats.skipped_frames += 1;
                    tracing::warn!("message skipped: {e}");
                }
            }
            _ => {}
        }
        let split = |o| match o {
            Output::Event(e) => Ok(e),
            Output::Resubscribe(products) => Err(products.len() as u64),
        };
        if !publish(&mut out, &mut stats, &events, split).await {
            return Ok(stats);
        }
    }
    Ok(stats)
}

#[derive(serde::Deserialize)]
struct Subscription {
    #[serde(rename = "type")]
    kind: String,
    channel: String,
    #[serde(default)]
    product_ids: Vec<String>,
}

#[derive(serde::Deserialize)]
struct SubscribeRequest<'a> {
    method: &'a str,
    #[serde(borrow, default)]
    params: Vec<&'a str>,
}

/// Which connection of a recording carried each Binance book (its `@depth` stream), to
/// restart exactly the books the live client restarted. A book's stream subscribed again
/// on another connection means a reconnect: the book starts over, as of that
/// connection's connect time, unless the connection took over from another at its age
/// limit (`replaces`). A connection name connecting again (cryptofeed reuses them)
/// restarts the books it carried.
#[derive(Default)]
struct Resubscriptions {
    /// The connection each book's depth stream was last subscribed on.
    carried_by: HashMap<Arc<str>, String>,
    connects: HashMap<String, (i64, bool)>,
}

impl Resubscriptions {
    fn connected(
        &mut self,
        session: &mut Session,
        conn: &str,
        ts_ns: i64,
        handover: bool,
        out: &mut Vec<Output>,
    ) {
        if self.connects.insert(conn.to_owned(), (ts_ns, handover)).is_some() && !handover {
            let carried: Vec<Arc<str>> = self
                .carried_by
                .iter()
                .filter(|(_, c)| *c == conn)
                .map(|(s, _)| s.clone())
                .collect();
            session.restart_symbols(&carried, "reconnected", ts_ns, out);
        }
    }

    fn subscribed<'a>(
        &mut self,
        session: &mut Session,
        conn: &str,
        streams: impl Iterator<Item = &'a str>,
        out: &mut Vec<Output>,
    ) {
        let mut again: Vec<Arc<str>> = Vec::new();
        for stream in streams.filter(|s| s.contains("@depth")) {
            let wire = stream.split('@').next().unwrap_or_default().to_ascii_uppercase();
            let Some(symbol) = session.instruments().normalized(&wire).cloned() else {
                continue;
            };
            match self.carried_by.insert(symbol.clone(), conn.to_owned()) {
                Some(before) if before != conn && !again.contains(&symbol) => again.push(symbol),
                _ => {}
            }
        }
        match self.connects.get(conn) {
            Some(&(ts_ns, false)) if !again.is_empty() => {
                session.restart_symbols(&again, "reconnected", ts_ns, out);
            }
            _ => {}
        }
    }
}

async fn replay_binance(
    rec: &Recording,
    market: Market,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    let snapshot_wires: BTreeSet<String> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Recorded::Http { url, .. } if url.contains("/depth") => wire_of(url),
            _ => None,
        })
        .collect();
    let info = rec.events.iter().find_map(|e| match e {
        Recorded::Http { url, body, .. } if url.contains("exchangeInfo") => Some(body.clone()),
        _ => None,
    });
    let info = info
        .unwrap_or_else(|| parse::synthesize_exchange_info(snapshot_wires.iter(), market == Market::Futures));
    let instruments = parse::parse_instruments(market, &info)?;
    let books: Vec<Arc<str>> = snapshot_wires
        .iter()
        .filter_map(|w| instruments.normalized(w).cloned())
        .collect();
    let mut session = Session::new(market, instruments, &books);
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    let mut resubscriptions = Resubscriptions::default();
    for ev in &rec.events {
        match ev {
            Recorded::Connect {
                conn,
                url,
                ts_ns,
                replaces,
            } => {
                resubscriptions.connected(&mut session, conn, *ts_ns, replaces.is_some(), &mut out);
                let streams = url.split("streams=").nth(1).unwrap_or_default().split('/');
                resubscriptions.subscribed(&mut session, conn, streams, &mut out);
            }
            Recorded::Send { conn, data, .. } => {
                if let Ok(req) = serde_json::from_str::<SubscribeRequest>(data) {
                    if req.method == "SUBSCRIBE" {
                        resubscriptions.subscribed(&mut session, conn, req.params.iter().copied(), &mut out);
                    }
                }
            }
            Recorded::Http { url, body, ts_ns } if url.contains("/depth") => {
                let symbol = wire_of(url).and_then(|w| session.instruments().normalized(&w).cloned());
                if let Some(symbol) = symbol {
                    session.on_snapshot(&symbol, body, *ts_ns, &mut out)?;
                }
            }
            Recorded::Recv { data, ts_ns } => {
                stats.frames += 1;
                if let Err(e) = session.on_frame(data, *ts_ns, &mut out) {
                    stats.skipped_frames += 1;
                    tracing::warn!("frame skipped: {e}");
                }
            }
            _ => {}
        }
        let split = |o| match o {
            Output::Event(e) => Ok(e),
            Output::FetchSnapshot(_) => Err(1),
        };
        if !publish(&mut out, &mut stats, &events, split).await {
            return Ok(stats);
        }
    }
    Ok(stats)
}
