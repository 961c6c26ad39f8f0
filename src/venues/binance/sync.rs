//! Binance's local order book algorithm, per symbol: buffer diffs until a REST snapshot
//! arrives, drop diffs the snapshot already contains, require the first applied diff to
//! straddle the snapshot (spot `U ≤ L+1 ≤ u`, futures `U ≤ L ≤ u`), then require
//! continuity (spot `U = prev u + 1`, futures `pu = prev u`). A break is a gap: the
//! symbol alone goes back to buffering and needs a new snapshot.

use super::parse::{DepthDiff, Market, Snapshot};
use crate::book::L2Book;
use crate::model::VenueId;
use crate::model::{BookUpdate, BookUpdateKind};
use std::sync::Arc;

/// Diffs kept while waiting for a snapshot; beyond this the oldest are dropped, which the
/// straddle check then reports as needing another snapshot.
const MAX_BUFFERED_DIFFS: usize = 10_000;

#[derive(Debug, Clone)]
enum State {
    /// Waiting for a snapshot.
    Buffering(Vec<DepthDiff>),
    /// Snapshot applied at `last`; the next diff must straddle it.
    Straddle { last: u64 },
    /// In sync; the next diff must continue from `last`.
    Synced { last: u64 },
}

/// What a diff did to the book.
#[derive(Debug, PartialEq)]
pub enum Step {
    Buffered,
    /// Already contained in the book.
    Stale,
    Applied(BookUpdate),
    /// Sequence broken; the symbol is buffering again and needs a snapshot.
    Gap {
        expected: String,
    },
}

/// What a snapshot did.
#[derive(Debug, PartialEq)]
pub enum SnapshotStep {
    /// The snapshot and the buffered diffs that followed it, in order.
    Synced(Vec<BookUpdate>),
    /// The snapshot predates every buffered diff, or a buffered diff broke the sequence:
    /// fetch another.
    TooOld { reason: String },
}

#[derive(Debug, Clone)]
pub struct BookSync {
    exchange: VenueId,
    market: Market,
    symbol: Arc<str>,
    state: State,
    book: L2Book,
}

impl BookSync {
    pub fn new(exchange: VenueId, market: Market, symbol: Arc<str>) -> Self {
        Self {
            exchange,
            market,
            symbol,
            state: State::Buffering(Vec::new()),
            book: L2Book::default(),
        }
    }

    pub fn book(&self) -> &L2Book {
        &self.book
    }

    /// Last applied update id, when synced.
    pub fn last_update_id(&self) -> Option<u64> {
        match self.state {
            State::Synced { last } | State::Straddle { last } => Some(last),
            State::Buffering(_) => None,
        }
    }

    pub fn is_buffering(&self) -> bool {
        matches!(self.state, State::Buffering(_))
    }

    /// Drops the book and starts buffering (after a reconnect).
    pub fn restart(&mut self) {
        self.state = State::Buffering(Vec::new());
        self.book = L2Book::default();
    }

    fn straddles(&self, d: &DepthDiff, last: u64) -> bool {
        match self.market {
            Market::Spot => d.first_update_id <= last + 1 && last < d.final_update_id,
            // A snapshot taken exactly at an event boundary is continued by `pu = L`.
            Market::Futures => {
                (d.first_update_id <= last && last <= d.final_update_id)
                    || d.prev_final_update_id == Some(last)
            }
        }
    }

    fn continues(&self, d: &DepthDiff, last: u64) -> bool {
        match self.market {
            Market::Spot => d.first_update_id == last + 1,
            Market::Futures => d.prev_final_update_id == Some(last),
        }
    }

    fn apply(&mut self, d: DepthDiff) -> BookUpdate {
        self.book.apply(&d.bids, &d.asks);
        self.state = State::Synced {
            last: d.final_update_id,
        };
        BookUpdate {
            exchange: self.exchange,
            symbol: self.symbol.clone(),
            update: BookUpdateKind::Delta,
            sequence: d.final_update_id,
            bids: d.bids,
            asks: d.asks,
            exchange_ts_ns: Some(d.exchange_ts_ns),
            receive_ts_ns: d.receive_ts_ns,
        }
    }

    pub fn on_diff(&mut self, d: DepthDiff) -> Step {
        match &mut self.state {
            State::Buffering(buf) => {
                if buf.len() == MAX_BUFFERED_DIFFS {
                    buf.remove(0);
                }
                buf.push(d);
                Step::Buffered
            }
            State::Straddle { last } | State::Synced { last } if d.final_update_id <= *last => Step::Stale,
            State::Straddle { last } => {
                let last = *last;
                if self.straddles(&d, last) {
                    Step::Applied(self.apply(d))
                } else {
                    let expected = format!(
                        "first diff after snapshot {last} to straddle it, got U={} u={}",
                        d.first_update_id, d.final_update_id
                    );
                    self.gap(d, expected)
                }
            }
            State::Synced { last } => {
                let last = *last;
                if self.continues(&d, last) {
                    Step::Applied(self.apply(d))
                } else {
                    let expected = match self.market {
                        Market::Spot => format!("U={} after u={last}, got U={}", last + 1, d.first_update_id),
                        Market::Futures => format!("pu={last}, got pu={:?}", d.prev_final_update_id),
                    };
                    self.gap(d, expected)
                }
            }
        }
    }

    fn gap(&mut self, d: DepthDiff, expected: String) -> Step {
        self.book = L2Book::default();
        self.state = State::Buffering(vec![d]);
        Step::Gap { expected }
    }

    /// Applies a snapshot and the buffered diffs after it.
    pub fn on_snapshot(&mut self, snap: Snapshot, receive_ts_ns: i64) -> SnapshotStep {
        let State::Buffering(buf) = &mut self.state else {
            return SnapshotStep::Synced(Vec::new());
        };
        let last = snap.last_update_id;
        let pending: Vec<DepthDiff> = std::mem::take(buf)
            .into_iter()
            .filter(|d| d.final_update_id > last)
            .collect();
        if let Some(first) = pending.first() {
            if !self.straddles(first, last) {
                let reason = format!(
                    "snapshot lastUpdateId={last} predates buffered U={}",
                    first.first_update_id
                );
                self.state = State::Buffering(pending);
                return SnapshotStep::TooOld { reason };
            }
        }
        self.book.reset(&snap.bids, &snap.asks);
        self.state = State::Straddle { last };
        let mut out = vec![BookUpdate {
            exchange: self.exchange,
            symbol: self.symbol.clone(),
            update: BookUpdateKind::Snapshot,
            sequence: last,
            bids: snap.bids,
            asks: snap.asks,
            exchange_ts_ns: snap.exchange_ts_ns,
            receive_ts_ns,
        }];
        for d in pending {
            match self.on_diff(d) {
                Step::Applied(u) => out.push(u),
                Step::Gap { expected } => {
                    return SnapshotStep::TooOld {
                        reason: format!("buffered gap: {expected}"),
                    };
                }
                Step::Buffered | Step::Stale => {}
            }
        }
        SnapshotStep::Synced(out)
    }
}
