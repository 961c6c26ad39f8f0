//! Pure Coinbase parsing: WebSocket messages → normalized trades and book updates, and
//! the products list. No I/O; tested against the recorded session.

use super::messages::{Header, L2Event, Message, ProductsMsg, TradesEvent};
use crate::model::VenueId;
use crate::model::{BookUpdate, BookUpdateKind, Level, Side, Trade, TradeId};
use crate::venues::timestamp::rfc3339_ns;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("malformed {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("bad timestamp {0:?}")]
    Timestamp(String),
    #[error("product {0} is not a loaded instrument")]
    UnknownProduct(String),
    #[error("unknown {what} {value:?}")]
    Unknown { what: &'static str, value: String },
    /// An `l2_data` message that cannot be applied: every book must resync.
    #[error("invalid level2 message: {0}")]
    InvalidBook(String),
}

impl ParseError {
    /// The reason a message was rejected, as counted.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Json { .. } => "malformed",
            Self::Timestamp(_) => "timestamp_out_of_range",
            Self::UnknownProduct(_) => "unknown_product",
            Self::Unknown { .. } => "unknown_value",
            Self::InvalidBook(_) => "invalid_book",
        }
    }
}

fn json<'a, T: serde::Deserialize<'a>>(what: &'static str, text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|source| ParseError::Json { what, source })
}

fn ts(text: &str) -> Result<i64, ParseError> {
    rfc3339_ns(text).ok_or_else(|| ParseError::Timestamp(text.to_owned()))
}

/// Product ids (`BTC-USD`) the venue lists, interned.
#[derive(Debug, Clone)]
pub struct Products {
    exchange: VenueId,
    ids: FxHashMap<Box<str>, Arc<str>>,
}

impl Products {
    /// The venue listing these products.
    pub fn exchange(&self) -> VenueId {
        self.exchange
    }

    pub fn get(&self, id: &str) -> Option<&Arc<str>> {
        self.ids.get(id)
    }

    /// Keeps only `symbols`, or returns the ones the venue does not list.
    pub fn select(&self, symbols: &[String]) -> Result<Self, Vec<String>> {
        let unknown: Vec<String> = symbols
            .iter()
            .filter(|s| self.get(s).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        Ok(Self {
            exchange: self.exchange,
            ids: symbols
                .iter()
                .map(|s| (s.as_str().into(), self.ids[s.as_str()].clone()))
                .collect(),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        self.ids.values()
    }
}

/// `exchange`'s products from its `market/products` body; products the venue marks
/// disabled are left out.
pub fn parse_products(exchange: VenueId, body: &str) -> Result<Products, ParseError> {
    let msg: ProductsMsg = json("products", body)?;
    let ids = msg
        .products
        .into_iter()
        .filter(|p| p.status.is_none_or(|s| s == "online"))
        .map(|p| (p.product_id.as_ref().into(), Arc::from(p.product_id.as_ref())))
        .collect();
    Ok(Products { exchange, ids })
}

/// What one WebSocket message carried.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Trades in trade order (oldest first), with whether they came as a snapshot.
    Trades {
        trades: Vec<Trade>,
        snapshot: bool,
    },
    Book(Vec<BookUpdate>),
    /// Heartbeats, subscription confirmations, channels we do not normalize.
    Other,
}

/// A message's connection-wide sequence number and what it carried.
#[derive(Debug, PartialEq)]
pub struct Frame {
    pub sequence_num: u64,
    pub parsed: Parsed,
}

/// The channel when the message starts `{"channel":"…"` (as Coinbase writes it).
fn leading_channel(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("{\"channel\":\"")?;
    rest.get(..rest.find('"')?)
}

pub fn parse_frame(products: &Products, text: &str, receive_ts_ns: i64) -> Result<Frame, ParseError> {
    let channel = match leading_channel(text) {
        Some(c) => c,
        None => json::<Header>("message", text)?.channel,
    };
    let lookup = |id: &str| {
        products
            .get(id)
            .cloned()
            .ok_or_else(|| ParseError::UnknownProduct(id.to_owned()))
    };
    let (sequence_num, parsed) = match channel {
        "l2_data" => l2_data(products, lookup, text, receive_ts_ns)
            .map_err(|e| ParseError::InvalidBook(e.to_string()))?,
        "market_trades" => {
            let msg: Message<TradesEvent> = json("market_trades", text)?;
            let snapshot = msg.events.iter().any(|e| e.kind == "snapshot");
            let mut trades = Vec::new();
            for ev in msg.events {
                for t in ev.trades {
                    let side = match t.side {
                        "BUY" => Side::Buy,
                        "SELL" => Side::Sell,
                        other => {
                            return Err(ParseError::Unknown {
                                what: "trade side",
                                value: other.into(),
                            });
                        }
                    };
                    trades.push(Trade {
                        exchange: products.exchange,
                        symbol: lookup(&t.product_id)?,
                        id: TradeId::parse(&t.trade_id),
                        side,
                        price: t.price.0,
                        amount: t.size.0,
                        exchange_ts_ns: ts(t.time)?,
                        receive_ts_ns,
                    });
                }
            }
            trades.sort_by_key(|t| (trade_order(&t.id), t.exchange_ts_ns));
            (msg.sequence_num, Parsed::Trades { trades, snapshot })
        }
        _ => (json::<Header>("message", text)?.sequence_num, Parsed::Other),
    };
    Ok(Frame { sequence_num, parsed })
}

/// An `l2_data` message: snapshot or updates of one or more books.
fn l2_data(
    products: &Products,
    lookup: impl Fn(&str) -> Result<Arc<str>, ParseError>,
    text: &str,
    receive_ts_ns: i64,
) -> Result<(u64, Parsed), ParseError> {
    let msg: Message<L2Event> = json("l2_data", text)?;
    let exchange_ts_ns = Some(ts(msg.timestamp)?);
    let mut books = Vec::with_capacity(msg.events.len());
    for ev in msg.events {
        let update = match ev.kind {
            "snapshot" => BookUpdateKind::Snapshot,
            "update" => BookUpdateKind::Delta,
            other => {
                return Err(ParseError::Unknown {
                    what: "l2_data event type",
                    value: other.into(),
                });
            }
        };
        let (mut bids, mut asks) = (Vec::<Level>::new(), Vec::<Level>::new());
        for u in ev.updates {
            let level = (u.price_level.0, u.new_quantity.0);
            match u.side {
                "bid" => bids.push(level),
                "offer" | "ask" => asks.push(level),
                other => {
                    return Err(ParseError::Unknown {
                        what: "book side",
                        value: other.into(),
                    });
                }
            }
        }
        books.push(BookUpdate {
            exchange: products.exchange,
            symbol: lookup(&ev.product_id)?,
            update,
            sequence: msg.sequence_num,
            bids,
            asks,
            exchange_ts_ns,
            receive_ts_ns,
        });
    }
    Ok((msg.sequence_num, Parsed::Book(books)))
}

/// Coinbase trade ids are increasing integers per product.
pub fn trade_order(id: &TradeId) -> u64 {
    id.number().unwrap_or(0)
}
