//! Coinbase Advanced Trade wire messages (WebSocket channels and the public products
//! endpoint) as serde structs borrowing from the frame.

use crate::venues::decimal::Dec;
use serde::Deserialize;
use std::borrow::Cow;

/// The fields every WebSocket message has: `{"channel", "timestamp", "sequence_num", …}`.
#[derive(Deserialize)]
pub struct Header<'a> {
    pub channel: &'a str,
    pub sequence_num: u64,
}

/// A message of a known channel, read in one pass.
#[derive(Deserialize)]
pub struct Message<'a, E> {
    #[serde(borrow)]
    pub timestamp: &'a str,
    pub sequence_num: u64,
    pub events: Vec<E>,
}

/// `l2_data` event: a snapshot or absolute-size updates for one product.
#[derive(Deserialize)]
pub struct L2Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub product_id: Cow<'a, str>,
    pub updates: Vec<L2Update<'a>>,
}

#[derive(Deserialize)]
pub struct L2Update<'a> {
    /// `bid` or `offer` (the ask side).
    pub side: &'a str,
    pub price_level: Dec,
    pub new_quantity: Dec,
}

/// `market_trades` event: trades newest first.
#[derive(Deserialize)]
pub struct TradesEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(borrow)]
    pub trades: Vec<TradeMsg<'a>>,
}

#[derive(Deserialize)]
pub struct TradeMsg<'a> {
    pub product_id: Cow<'a, str>,
    pub trade_id: Cow<'a, str>,
    pub price: Dec,
    pub size: Dec,
    pub time: &'a str,
    /// The taker's side: `BUY` or `SELL`.
    pub side: &'a str,
}

/// REST `market/products`.
#[derive(Deserialize)]
pub struct ProductsMsg<'a> {
    #[serde(borrow)]
    pub products: Vec<ProductMsg<'a>>,
}

#[derive(Deserialize)]
pub struct ProductMsg<'a> {
    pub product_id: Cow<'a, str>,
    #[serde(default)]
    pub status: Option<&'a str>,
}
