//! A Binance venue's instruments: venue symbols (`BTCUSDT`) and normalized ones
//! (`BTC-USDT`, futures `BTC-USDT-PERP`) both ways, from `exchangeInfo` (or made up
//! from the symbols of a recording that has none).

use super::messages::ExchangeInfoMsg;
use super::parse::{Market, ParseError, json};
use crate::model::VenueId;
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// One venue's symbols both ways: venue `BTCUSDT` ↔ normalized `BTC-USDT` (futures
/// `BTC-USDT-PERP`).
#[derive(Debug, Clone)]
pub struct Instruments {
    pub(super) exchange: VenueId,
    by_wire: HashMap<String, Arc<str>>,
    by_normalized: HashMap<Arc<str>, String>,
}

impl Instruments {
    fn empty(exchange: VenueId) -> Self {
        Self {
            exchange,
            by_wire: HashMap::default(),
            by_normalized: HashMap::default(),
        }
    }

    /// The venue these instruments are listed on.
    pub fn exchange(&self) -> VenueId {
        self.exchange
    }

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
        let mut out = Self::empty(self.exchange);
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

/// `exchange`'s instruments from its `exchangeInfo` body. Futures keep perpetual
/// contracts only.
pub fn parse_instruments(exchange: VenueId, market: Market, body: &str) -> Result<Instruments, ParseError> {
    let info: ExchangeInfoMsg = json("exchangeInfo", body)?;
    let mut out = Instruments::empty(exchange);
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
