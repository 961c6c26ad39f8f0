//! `feedhandler replay`: runs a recording through the same session (parse + book sync)
//! the live client uses, with no network, and sends the normalized events to the sink.

use crate::model::Event;
use crate::record::reader::{Recorded, Recording};
use crate::venues::binance::parse::{self, Market, ParseError};
use crate::venues::binance::session::{Output, Session};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("recordings of {0:?} cannot be replayed (supported: BINANCE, BINANCE_FUTURES)")]
    Unsupported(String),
    #[error("replay: {0}")]
    Parse(#[from] ParseError),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    pub frames: u64,
    pub events: u64,
    /// Snapshots the live client would have fetched: one per gap and per book after a
    /// reconnect. Zero for a gap-free recording with one connection.
    pub snapshot_requests: u64,
    pub skipped_frames: u64,
}

fn wire_of(url: &str) -> Option<String> {
    url.split("symbol=")
        .nth(1)
        .map(|s| s.split('&').next().unwrap_or(s).to_owned())
}

/// Replays `rec`; stops early if the receiver goes away.
pub async fn replay(rec: &Recording, events: mpsc::Sender<Event>) -> Result<ReplayStats, ReplayError> {
    let market = match rec.exchange.as_str() {
        "BINANCE" => Market::Spot,
        "BINANCE_FUTURES" => Market::Futures,
        other => return Err(ReplayError::Unsupported(other.to_owned())),
    };
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
    let mut connects = 0;
    for ev in &rec.events {
        match ev {
            // A reconnect in the recording: the live client restarted every book here.
            Recorded::Connect { ts_ns, .. } => {
                connects += 1;
                if connects > 1 {
                    session.restart("reconnected", *ts_ns, &mut out);
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
        for o in out.drain(..) {
            match o {
                Output::Event(e) => {
                    stats.events += 1;
                    if events.send(e).await.is_err() {
                        return Ok(stats);
                    }
                }
                Output::FetchSnapshot(_) => stats.snapshot_requests += 1,
            }
        }
    }
    Ok(stats)
}
