//! Binance's local order book algorithm, per symbol: buffer diffs until a REST snapshot
//! arrives, drop diffs the snapshot already contains, require the first applied diff to
//! straddle the snapshot (spot `U ≤ L+1 ≤ u`, futures `U ≤ L ≤ u`), then require
//! continuity (spot `U = prev u + 1`, futures `pu = prev u`). A break is a gap: the
//! symbol alone goes back to buffering and needs a new snapshot. Ids that cannot be
//! right (`u < U`, a jump no venue makes, a sequence that goes backwards while event
//! time goes forward, a snapshot nothing continues) are gaps too, never dropped diffs.

use super::parse::{DepthDiff, Market, Snapshot};
use crate::book::L2Book;
use crate::model::VenueId;
use crate::model::{BookUpdate, BookUpdateKind};
use std::sync::Arc;

/// Diffs kept while waiting for a snapshot; beyond this the oldest are dropped, which the
/// straddle check then reports as needing another snapshot.
const MAX_BUFFERED_DIFFS: usize = 10_000;
/// Diffs kept while the snapshot request waits for the request-weight budget (it may
/// wait minutes with many symbols): the snapshot, fetched later, contains every diff
/// older than its request, so only a margin for a stream lagging the REST answer is kept.
const QUEUED_BUFFERED_DIFFS: usize = 64;
/// Most update ids one diff may span (`u - U`). A busy book moves thousands of ids per
/// 100 ms; a larger span is a corrupt id, which would freeze the book if applied.
pub const MAX_UPDATE_SPAN: u64 = 100_000_000;
/// Update ids beyond this are corrupt (Binance's are near 10^13); below it, `id + 1`
/// never overflows.
const MAX_UPDATE_ID: u64 = 1 << 62;
/// A diff already contained in the book repeats an applied event, so its event time is
/// not later than the newest applied one; this much later means the ids went backwards.
const STALE_EVENT_SLACK_NS: i64 = 1_000_000_000;
/// After a snapshot, diffs it already contains may arrive for a while (the stream lags
/// the REST answer); none continuing it for this long means the snapshot cannot be right.
const STRADDLE_WAIT_NS: i64 = 10_000_000_000;

#[derive(Debug, Clone)]
enum State {
    /// Waiting for a snapshot.
    Buffering(Vec<DepthDiff>),
    /// Snapshot applied at `last` (received at `since_ns`); the next diff must straddle it.
    Straddle { last: u64, since_ns: i64 },
    /// In sync; the next diff must continue from `last`, applied with event time
    /// `event_ns`.
    Synced { last: u64, event_ns: i64 },
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
    /// The diff cannot be right (see the module doc); the book starts over and needs a
    /// snapshot.
    Invalid {
        reason: String,
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
    /// A snapshot request waits for the budget (not sent yet).
    queued: bool,
    /// Diffs seen since the book last started buffering: how busy it is.
    seen: u64,
}

impl BookSync {
    pub fn new(exchange: VenueId, market: Market, symbol: Arc<str>) -> Self {
        Self {
            exchange,
            market,
            symbol,
            state: State::Buffering(Vec::new()),
            book: L2Book::default(),
            queued: false,
            seen: 0,
        }
    }

    /// A snapshot request is queued behind the request-weight budget.
    pub fn snapshot_queued(&mut self) {
        self.queued = true;
    }

    /// The snapshot request is being sent: from now on every diff is kept.
    pub fn snapshot_sent(&mut self) {
        self.queued = false;
    }

    /// Diffs seen while buffering (a busier book fills its buffer faster).
    pub fn activity(&self) -> u64 {
        self.seen
    }

    pub fn book(&self) -> &L2Book {
        &self.book
    }

    /// Last applied update id, when synced.
    pub fn last_update_id(&self) -> Option<u64> {
        match self.state {
            State::Synced { last, .. } | State::Straddle { last, .. } => Some(last),
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
        self.seen = 0;
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

    /// Applies a continuing diff; one that leaves the book crossed cannot be right.
    fn apply(&mut self, d: DepthDiff) -> Step {
        self.book.apply(&d.bids, &d.asks);
        if self.book.is_crossed() {
            return self.reject(format!("book crossed after u={}", d.final_update_id));
        }
        self.state = State::Synced {
            last: d.final_update_id,
            event_ns: d.exchange_ts_ns,
        };
        Step::Applied(BookUpdate {
            exchange: self.exchange,
            symbol: self.symbol.clone(),
            update: BookUpdateKind::Delta,
            sequence: d.final_update_id,
            bids: d.bids,
            asks: d.asks,
            exchange_ts_ns: Some(d.exchange_ts_ns),
            receive_ts_ns: d.receive_ts_ns,
        })
    }

    /// Why a diff's ids cannot be right, whatever the book's state.
    fn implausible(d: &DepthDiff) -> Option<String> {
        let (first, last) = (d.first_update_id, d.final_update_id);
        if last > MAX_UPDATE_ID || d.prev_final_update_id.is_some_and(|pu| pu > MAX_UPDATE_ID) {
            return Some(format!("update id out of range: u={last}"));
        }
        match last.checked_sub(first) {
            None => Some(format!("update ids out of order: U={first} u={last}")),
            Some(span) if span > MAX_UPDATE_SPAN => Some(format!(
                "update id jump of {span} in one diff (U={first} u={last})"
            )),
            Some(_) => None,
        }
    }

    /// A diff the book already contains: a repeat, unless it cannot be one.
    fn stale(&mut self, d: DepthDiff) -> Step {
        let reason = match self.state {
            State::Synced { last, event_ns }
                if d.exchange_ts_ns > event_ns.saturating_add(STALE_EVENT_SLACK_NS) =>
            {
                format!(
                    "update ids went backwards: u={} after {last}, with a later event time",
                    d.final_update_id
                )
            }
            // Venue time: a reader lagging behind its socket still gets old diffs late.
            State::Straddle { last, since_ns }
                if d.exchange_ts_ns > since_ns.saturating_add(STRADDLE_WAIT_NS) =>
            {
                format!("no diff continued snapshot {last} within 10 s")
            }
            _ => return Step::Stale,
        };
        self.reject(reason)
    }

    pub fn on_diff(&mut self, mut d: DepthDiff) -> Step {
        if let Some(reason) = Self::implausible(&d) {
            return self.reject(reason);
        }
        match &mut self.state {
            State::Buffering(buf) => {
                self.seen += 1;
                let cap = if self.queued {
                    QUEUED_BUFFERED_DIFFS
                } else {
                    MAX_BUFFERED_DIFFS
                };
                if buf.len() >= cap {
                    buf.drain(..=buf.len() - cap);
                }
                // Held until a snapshot comes, maybe for minutes: only as large as its levels.
                d.bids.shrink_to_fit();
                d.asks.shrink_to_fit();
                buf.push(d);
                Step::Buffered
            }
            State::Straddle { last, .. } | State::Synced { last, .. } if d.final_update_id <= *last => {
                self.stale(d)
            }
            State::Straddle { last, .. } => {
                let last = *last;
                if self.straddles(&d, last) {
                    self.apply(d)
                } else {
                    let expected = format!(
                        "first diff after snapshot {last} to straddle it, got U={} u={}",
                        d.first_update_id, d.final_update_id
                    );
                    self.gap(d, expected)
                }
            }
            State::Synced { last, .. } => {
                let last = *last;
                if self.continues(&d, last) {
                    self.apply(d)
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

    /// Drops the book and the diff: it cannot be applied nor kept for a snapshot.
    fn reject(&mut self, reason: String) -> Step {
        self.book = L2Book::default();
        self.state = State::Buffering(Vec::new());
        Step::Invalid { reason }
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
        if self.book.is_crossed() {
            self.book = L2Book::default();
            self.state = State::Buffering(pending);
            return SnapshotStep::TooOld {
                reason: format!("snapshot lastUpdateId={last} is crossed"),
            };
        }
        self.state = State::Straddle {
            last,
            since_ns: receive_ts_ns,
        };
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
                Step::Invalid { reason } => {
                    return SnapshotStep::TooOld {
                        reason: format!("buffered diff: {reason}"),
                    };
                }
                Step::Buffered | Step::Stale => {}
            }
        }
        SnapshotStep::Synced(out)
    }
}
