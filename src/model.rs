//! The normalized events every adapter emits and every sink writes: trades, L2 book
//! snapshots and deltas, and book status changes. Prices and sizes are exact decimals
//! serialized as strings with the venue's own digits; timestamps are integer nanoseconds.

use crate::config::ExchangeId;
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::Arc;

/// Version of the event schema below; sinks may publish it alongside events.
pub const SCHEMA_VERSION: u32 = 1;

/// One price level: `[price, size]`; size 0 removes the level.
pub type Level = (Decimal, Decimal);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    pub exchange: ExchangeId,
    /// Normalized symbol: `BTC-USDT`, futures `BTC-USDT-PERP`.
    pub symbol: Arc<str>,
    pub id: String,
    /// The taker's side.
    pub side: Side,
    pub price: Decimal,
    pub amount: Decimal,
    pub exchange_ts_ns: i64,
    pub receive_ts_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookUpdateKind {
    Snapshot,
    Delta,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookUpdate {
    pub exchange: ExchangeId,
    pub symbol: Arc<str>,
    pub update: BookUpdateKind,
    /// The venue's sequence after this update (Binance: last update id).
    pub sequence: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub exchange_ts_ns: Option<i64>,
    pub receive_ts_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    /// The book is being rebuilt: discard what you hold for this symbol.
    Resyncing,
    /// A fresh snapshot follows or has been applied; deltas are continuous again.
    Synced,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookStatus {
    pub exchange: ExchangeId,
    pub symbol: Arc<str>,
    pub status: BookState,
    pub reason: String,
    pub receive_ts_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Trade(Trade),
    Book(BookUpdate),
    BookStatus(BookStatus),
}

impl Event {
    pub fn symbol(&self) -> &str {
        match self {
            Self::Trade(t) => &t.symbol,
            Self::Book(b) => &b.symbol,
            Self::BookStatus(s) => &s.symbol,
        }
    }

    /// The event as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events hold only strings, numbers and lists")
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
