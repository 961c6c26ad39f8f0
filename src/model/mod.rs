//! The normalized events every adapter emits and every sink writes: trades, L2 book
//! snapshots and deltas, and book status changes. Prices and sizes are exact decimals
//! serialized as strings with the venue's own digits; timestamps are integer nanoseconds.

use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::Arc;

mod venue_id;

pub use venue_id::{InvalidVenueId, VenueId};

/// Version of the event schema below; sinks may publish it alongside events.
pub const SCHEMA_VERSION: u32 = 1;

/// One price level: `[price, size]`; size 0 removes the level.
pub type Level = (Decimal, Decimal);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// A venue's trade id. Numeric ids (Binance, Coinbase) stay numbers, so the hot path
/// neither allocates nor formats; any other id is kept as text. Written as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TradeId {
    Number(u64),
    Text(Box<str>),
    /// The venue gives its trades no id (KuCoin's REST history): written as `null`.
    Absent,
}

impl TradeId {
    pub fn parse(text: &str) -> Self {
        match text.parse() {
            Ok(n) if !text.starts_with('0') || text == "0" => Self::Number(n),
            _ => Self::Text(text.into()),
        }
    }

    /// The id as a number, where it is one (venues whose ids increase per symbol).
    pub fn number(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(_) | Self::Absent => None,
        }
    }
}

impl std::fmt::Display for TradeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => f.write_str(itoa::Buffer::new().format(*n)),
            Self::Text(t) => f.write_str(t),
            Self::Absent => Ok(()),
        }
    }
}

impl Serialize for TradeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => s.serialize_str(itoa::Buffer::new().format(*n)),
            Self::Text(t) => s.serialize_str(t),
            Self::Absent => s.serialize_none(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    pub exchange: VenueId,
    /// Normalized symbol: `BTC-USDT`, futures `BTC-USDT-PERP`.
    pub symbol: Arc<str>,
    pub id: TradeId,
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
    pub exchange: VenueId,
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
    pub exchange: VenueId,
    pub symbol: Arc<str>,
    pub status: BookState,
    pub reason: String,
    pub receive_ts_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeState {
    /// Trades may be missing before the next trade event (a polled venue's page held
    /// only unseen trades): the reason says why.
    Gap,
}

/// A change in a symbol's trade stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeStatus {
    pub exchange: VenueId,
    pub symbol: Arc<str>,
    pub status: TradeState,
    pub reason: String,
    pub receive_ts_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Trade(Trade),
    Book(BookUpdate),
    BookStatus(BookStatus),
    TradeStatus(TradeStatus),
}

impl Event {
    pub fn exchange(&self) -> VenueId {
        match self {
            Self::Trade(t) => t.exchange,
            Self::Book(b) => b.exchange,
            Self::BookStatus(s) => s.exchange,
            Self::TradeStatus(s) => s.exchange,
        }
    }

    /// The symbol, shared (the Kafka key).
    pub fn symbol_arc(&self) -> &Arc<str> {
        match self {
            Self::Trade(t) => &t.symbol,
            Self::Book(b) => &b.symbol,
            Self::BookStatus(s) => &s.symbol,
            Self::TradeStatus(s) => &s.symbol,
        }
    }

    pub fn symbol(&self) -> &str {
        match self {
            Self::Trade(t) => &t.symbol,
            Self::Book(b) => &b.symbol,
            Self::BookStatus(s) => &s.symbol,
            Self::TradeStatus(s) => &s.symbol,
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

/// The current time in RFC 3339 (UTC), e.g. `2026-12-06T12:00:00.123456789Z`.
pub fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::TradeId;

    #[test]
    fn trade_ids_keep_the_venues_text() {
        for (text, number) in [
            ("3735683259", Some(3_735_683_259)),
            ("0", Some(0)),
            ("007", None),
            ("a-1", None),
        ] {
            let id = TradeId::parse(text);
            assert_eq!(id.number(), number, "{text}");
            assert_eq!(id.to_string(), text);
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        }
    }
}
