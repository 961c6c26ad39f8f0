//! Pure Binance parsing: frames and REST bodies → normalized events, depth diffs and
//! instruments. No I/O; table-tested against recorded traffic.

use super::messages::{AggTradeMsg, DepthSnapshotMsg, DepthUpdateMsg, Envelope, ExchangeInfoMsg, TradeMsg};
use crate::config::ExchangeId;
use crate::model::{Level, Side, Trade, TradeId};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

const NS_PER_MS: i64 = 1_000_000;

/// Spot or USD-M futures: the venue rules that differ between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    Spot,
    Futures,
}

impl Market {
    pub fn exchange(self) -> ExchangeId {
        match self {
            Self::Spot => ExchangeId::Binance,
            Self::Futures => ExchangeId::BinanceFutures,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("malformed {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("symbol {0} is not a loaded instrument")]
    UnknownSymbol(String),
}

fn json<'a, T: serde::Deserialize<'a>>(what: &'static str, text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|source| ParseError::Json { what, source })
}

/// Symbols both ways: venue `BTCUSDT` ↔ normalized `BTC-USDT` (futures `BTC-USDT-PERP`).
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    by_wire: HashMap<String, Arc<str>>,
    by_normalized: HashMap<Arc<str>, String>,
}

impl Instruments {
    pub fn normalized(&self, wire: &str) -> Option<&Arc<str>> {
        self.by_wire.get(wire)
    }

    pub fn wire(&self, normalized: &str) -> Option<&str> {
        self.by_normalized.get(normalized).map(String::as_str)
    }

    /// Keeps only `symbols` (normalized), or returns the ones the venue does not list.
    pub fn select(&self, symbols: &[String]) -> Result<Self, Vec<String>> {
        let unknown: Vec<String> = symbols
            .iter()
            .filter(|s| self.wire(s).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let mut out = Self::default();
        for s in symbols {
            let (norm, wire) = self
                .by_normalized
                .get_key_value(s.as_str())
                .expect("checked above");
            out.by_wire.insert(wire.clone(), norm.clone());
            out.by_normalized.insert(norm.clone(), wire.clone());
        }
        Ok(out)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &str)> {
        self.by_normalized.iter().map(|(n, w)| (n, w.as_str()))
    }
}

/// Instruments from an `exchangeInfo` body. Futures keep perpetual contracts only.
pub fn parse_instruments(market: Market, body: &str) -> Result<Instruments, ParseError> {
    let info: ExchangeInfoMsg = json("exchangeInfo", body)?;
    let mut out = Instruments::default();
    for s in info.symbols {
        let normalized = match (market, s.contract_type) {
            (Market::Spot, _) => format!("{}-{}", s.base_asset, s.quote_asset),
            (Market::Futures, Some("PERPETUAL")) => format!("{}-{}-PERP", s.base_asset, s.quote_asset),
            (Market::Futures, _) => continue,
        };
        let normalized: Arc<str> = normalized.into();
        out.by_wire.insert(s.symbol.to_owned(), normalized.clone());
        out.by_normalized.insert(normalized, s.symbol.to_owned());
    }
    Ok(out)
}

/// One depth diff, normalized but not yet sequenced.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthDiff {
    pub symbol: Arc<str>,
    pub first_update_id: u64,
    pub final_update_id: u64,
    pub prev_final_update_id: Option<u64>,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub exchange_ts_ns: i64,
    pub receive_ts_ns: i64,
}

/// A REST depth snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub exchange_ts_ns: Option<i64>,
}

pub fn parse_snapshot(body: &str) -> Result<Snapshot, ParseError> {
    let m: DepthSnapshotMsg = json("depth snapshot", body)?;
    Ok(Snapshot {
        last_update_id: m.last_update_id,
        bids: m.bids,
        asks: m.asks,
        exchange_ts_ns: m.event_time_ms.map(|t| t * NS_PER_MS),
    })
}

/// What a WebSocket frame carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Trade(Trade),
    Depth(DepthDiff),
    /// Streams we do not normalize, and subscription acknowledgements.
    Other,
}

fn trade(
    market: Market,
    symbol: &Arc<str>,
    id: u64,
    price: rust_decimal::Decimal,
    amount: rust_decimal::Decimal,
    (trade_time_ms, buyer_is_maker, receive_ts_ns): (i64, bool, i64),
) -> Frame {
    Frame::Trade(Trade {
        exchange: market.exchange(),
        symbol: symbol.clone(),
        id: TradeId::Number(id),
        side: if buyer_is_maker { Side::Sell } else { Side::Buy },
        price,
        amount,
        exchange_ts_ns: trade_time_ms * NS_PER_MS,
        receive_ts_ns,
    })
}

/// The stream name when the frame starts `{"stream":"…"` (Binance always writes it first).
fn leading_stream(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("{\"stream\":\"")?;
    rest.get(..rest.find('"')?)
}

/// A combined-stream frame whose payload type is known from the stream name.
#[derive(serde::Deserialize)]
struct Data<T> {
    data: T,
}

/// How a payload is read from the input `parse_payload` gets.
trait Decode: Copy {
    fn decode<'a, T: serde::Deserialize<'a>>(
        self,
        what: &'static str,
        input: &'a str,
    ) -> Result<T, ParseError>;
}

/// The input is the whole frame; the payload sits under `data` (one pass over the text).
#[derive(Clone, Copy)]
struct WholeFrame;

impl Decode for WholeFrame {
    fn decode<'a, T: serde::Deserialize<'a>>(
        self,
        what: &'static str,
        input: &'a str,
    ) -> Result<T, ParseError> {
        json::<Data<T>>(what, input).map(|d| d.data)
    }
}

/// The input is the payload itself.
#[derive(Clone, Copy)]
struct Payload;

impl Decode for Payload {
    fn decode<'a, T: serde::Deserialize<'a>>(
        self,
        what: &'static str,
        input: &'a str,
    ) -> Result<T, ParseError> {
        json(what, input)
    }
}

/// Parses one combined-stream frame.
pub fn parse_frame(
    market: Market,
    instruments: &Instruments,
    text: &str,
    receive_ts_ns: i64,
) -> Result<Frame, ParseError> {
    if let Some(stream) = leading_stream(text) {
        return parse_payload(market, instruments, stream, text, receive_ts_ns, WholeFrame);
    }
    if !text.contains("\"stream\"") {
        return Ok(Frame::Other);
    }
    let env: Envelope = json("combined-stream frame", text)?;
    parse_payload(
        market,
        instruments,
        env.stream,
        env.data.get(),
        receive_ts_ns,
        Payload,
    )
}

fn parse_payload(
    market: Market,
    instruments: &Instruments,
    stream: &str,
    data: &str,
    receive_ts_ns: i64,
    decode: impl Decode,
) -> Result<Frame, ParseError> {
    let kind = stream.split('@').nth(1).unwrap_or_default();
    let lookup = |wire: &str| {
        instruments
            .normalized(wire)
            .ok_or_else(|| ParseError::UnknownSymbol(wire.to_owned()))
    };
    Ok(match kind {
        "trade" => {
            let m: TradeMsg = decode.decode("trade", data)?;
            let extra = (m.trade_time_ms, m.buyer_is_maker, receive_ts_ns);
            trade(market, lookup(m.symbol)?, m.id, m.price.0, m.quantity.0, extra)
        }
        "aggTrade" => {
            let m: AggTradeMsg = decode.decode("aggTrade", data)?;
            let extra = (m.trade_time_ms, m.buyer_is_maker, receive_ts_ns);
            trade(market, lookup(m.symbol)?, m.id, m.price.0, m.quantity.0, extra)
        }
        "depth" => {
            let m: DepthUpdateMsg = decode.decode("depthUpdate", data)?;
            Frame::Depth(DepthDiff {
                symbol: lookup(m.symbol)?.clone(),
                first_update_id: m.first_update_id,
                final_update_id: m.final_update_id,
                prev_final_update_id: m.prev_final_update_id,
                bids: m.bids,
                asks: m.asks,
                exchange_ts_ns: m.event_time_ms * NS_PER_MS,
                receive_ts_ns,
            })
        }
        _ => Frame::Other,
    })
}

/// An `exchangeInfo` body for recordings that lack one (hftbacktest captures), splitting
/// each wire symbol at a well-known quote asset.
pub fn synthesize_exchange_info<'a>(wires: impl Iterator<Item = &'a String>, futures: bool) -> String {
    const QUOTES: [&str; 8] = ["USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR"];
    let symbols: Vec<serde_json::Value> = wires
        .filter_map(|w| {
            let quote = QUOTES.iter().find(|q| w.ends_with(*q) && w.len() > q.len())?;
            let base = &w[..w.len() - quote.len()];
            Some(
                serde_json::json!({"symbol": w, "baseAsset": base, "quoteAsset": quote,
                "contractType": if futures { "PERPETUAL" } else { "" }}),
            )
        })
        .collect();
    serde_json::json!({ "symbols": symbols }).to_string()
}
