//! Binance wire messages (spot and USD-M futures) as serde structs borrowing from the frame.

use crate::model::Level;
use crate::venues::decimal::{Dec, levels};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A combined-stream frame: `{"stream":"btcusdt@trade","data":{…}}`.
#[derive(Deserialize)]
pub struct Envelope<'a> {
    pub stream: &'a str,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

/// `@trade`.
#[derive(Deserialize)]
pub struct TradeMsg<'a> {
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "t")]
    pub id: u64,
    #[serde(rename = "p")]
    pub price: Dec,
    #[serde(rename = "q")]
    pub quantity: Dec,
    #[serde(rename = "T")]
    pub trade_time_ms: i64,
    /// Buyer is the maker: the taker sold.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `@aggTrade`.
#[derive(Deserialize)]
pub struct AggTradeMsg<'a> {
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "a")]
    pub id: u64,
    #[serde(rename = "p")]
    pub price: Dec,
    #[serde(rename = "q")]
    pub quantity: Dec,
    #[serde(rename = "T")]
    pub trade_time_ms: i64,
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `@depth@100ms` (spot) and `@depth@…ms` (futures, with `pu`).
#[derive(Deserialize)]
pub struct DepthUpdateMsg<'a> {
    #[serde(rename = "E")]
    pub event_time_ms: i64,
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "U")]
    pub first_update_id: u64,
    #[serde(rename = "u")]
    pub final_update_id: u64,
    /// Futures only: the previous frame's `u`.
    #[serde(rename = "pu", default)]
    pub prev_final_update_id: Option<u64>,
    #[serde(rename = "b", deserialize_with = "levels")]
    pub bids: Vec<Level>,
    #[serde(rename = "a", deserialize_with = "levels")]
    pub asks: Vec<Level>,
}

/// REST `/api/v3/depth` and `/fapi/v1/depth`.
#[derive(Deserialize)]
pub struct DepthSnapshotMsg {
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    #[serde(rename = "E", default)]
    pub event_time_ms: Option<i64>,
    #[serde(deserialize_with = "levels")]
    pub bids: Vec<Level>,
    #[serde(deserialize_with = "levels")]
    pub asks: Vec<Level>,
}

/// `@bookTicker`: best bid and ask at update id `u`.
#[derive(Deserialize)]
pub struct BookTickerMsg<'a> {
    #[serde(rename = "u")]
    pub update_id: u64,
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "b")]
    pub bid_price: Dec,
    #[serde(rename = "B")]
    pub bid_qty: Dec,
    #[serde(rename = "a")]
    pub ask_price: Dec,
    #[serde(rename = "A")]
    pub ask_qty: Dec,
}

/// REST `exchangeInfo` (only what instrument loading needs).
#[derive(Deserialize)]
pub struct ExchangeInfoMsg<'a> {
    #[serde(borrow)]
    pub symbols: Vec<SymbolInfo<'a>>,
}

#[derive(Deserialize)]
pub struct SymbolInfo<'a> {
    pub symbol: &'a str,
    #[serde(rename = "baseAsset")]
    pub base_asset: &'a str,
    #[serde(rename = "quoteAsset")]
    pub quote_asset: &'a str,
    /// Futures only: `PERPETUAL`, `CURRENT_QUARTER`, …
    #[serde(rename = "contractType", default)]
    pub contract_type: Option<&'a str>,
}
