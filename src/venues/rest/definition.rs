//! The venue definition format: what one `exchanges/<venue>.yaml` says about a REST
//! venue (base URL, rate limit, symbol mapping, the trades and book requests and how to
//! read their answers, venue errors inside a 200). Unknown keys are rejected; the rules
//! serde cannot express are checked in `validate`. `exchanges/schema.json` describes the
//! same format for editors.

use super::json::Path;
use crate::model::{Side, VenueId};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The venue's name in config, events and topics; equals the file's name.
    pub name: VenueId,
    /// Where the venue documents the endpoints used (for readers; not fetched).
    #[serde(default)]
    pub docs: Option<String>,
    /// Base URL of the public REST API; `rest_url` in the main config overrides it.
    pub rest_url: url::Url,
    pub rate_limit: RateLimit,
    /// Sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Venue asset codes and their normalized names (`XBT: BTC`, `UST: USDT`).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Letter case of venue ids built by a market's `id` rule.
    #[serde(default)]
    pub case: Case,
    pub markets: Markets,
    /// Venue errors inside a 200 answer.
    #[serde(default)]
    pub errors: Vec<ErrorRule>,
    #[serde(default)]
    pub trades: Option<TradesRequest>,
    #[serde(default)]
    pub book: Option<BookRequest>,
}

/// Requests per window, or weight per window with a cost per request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub requests: Option<u32>,
    #[serde(default)]
    pub weight: Option<u32>,
    pub per_seconds: u32,
    #[serde(default)]
    pub costs: Costs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    #[serde(default = "one")]
    pub trades: u32,
    #[serde(default = "one")]
    pub book: u32,
    #[serde(default = "one")]
    pub instruments: u32,
}

fn one() -> u32 {
    1
}

impl Default for Costs {
    fn default() -> Self {
        Self {
            trades: 1,
            book: 1,
            instruments: 1,
        }
    }
}

impl RateLimit {
    /// The budget per window (requests or weight).
    pub fn budget(&self) -> u32 {
        self.requests.or(self.weight).unwrap_or(1)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    #[default]
    Upper,
    Lower,
    /// As the template and the normalized symbol write it.
    Keep,
}

/// Normalized `BASE-QUOTE` symbols are spot; `BASE-QUOTE-PERP` are perpetual swaps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Markets {
    #[serde(default)]
    pub spot: Option<Market>,
    #[serde(default)]
    pub perp: Option<Market>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    /// The venue id by rule: `{base}{quote}`, `{base}_{quote}`, `t{base}{quote}`.
    #[serde(default)]
    pub id: Option<String>,
    /// Substituted for `{market}` in paths and parameters (Bybit's `category`).
    #[serde(default)]
    pub market: Option<String>,
    /// The venue's instrument list, loaded at start: symbols it does not list are
    /// refused before streaming.
    #[serde(default)]
    pub instruments: Option<Instruments>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instruments {
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Where the list is (an array, or an object keyed by id).
    pub list: Path,
    /// The venue id: a field, or `$key` for an object keyed by id.
    pub id: String,
    #[serde(default)]
    pub base: Option<Path>,
    #[serde(default)]
    pub quote: Option<Path>,
    /// One field with both assets (`wsname: XBT/USD`), split at `separator`.
    #[serde(default)]
    pub pair: Option<Path>,
    #[serde(default)]
    pub separator: Option<String>,
    /// Only entries whose field (a path) has this text.
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
}

/// A venue error in a 200 answer: the value at `path` not in `ok`, or non-empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    pub path: Path,
    #[serde(default)]
    pub ok: Vec<String>,
    #[serde(default)]
    pub nonempty: bool,
    /// Where the venue's message is, for the log.
    #[serde(default)]
    pub message: Option<Path>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub default: u32,
    pub max: u32,
    /// The only values the venue takes (KuCoin's book: 20, 100); a configured value is
    /// raised to the next one and the answer cut back to it.
    #[serde(default)]
    pub values: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradesRequest {
    /// May hold `{symbol}` and `{market}`.
    pub path: String,
    /// Values may hold `{symbol}`, `{market}`, `{limit}` and `{cursor}` (a parameter
    /// with `{cursor}` is sent once a cursor is known).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub limit: Limit,
    pub list: Path,
    #[serde(default)]
    pub order: Order,
    pub fields: TradeFields,
    pub timestamp: TimeUnit,
    pub side: SideRule,
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    OldestFirst,
    NewestFirst,
}

/// Where each trade's values are: a key, a dotted path, or an array index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeFields {
    /// Absent for venues whose trades have no id (de-duplicated by time and content).
    #[serde(default)]
    pub id: Option<Path>,
    pub price: Path,
    pub amount: Path,
    pub timestamp: Path,
    /// Absent when the side is the amount's sign.
    #[serde(default)]
    pub side: Option<Path>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Seconds, fractions allowed (`1616663113.2388`).
    S,
    Ms,
    Us,
    Ns,
    /// `2026-04-07T00:28:58.544778Z`.
    Iso8601,
}

/// The taker's side: the side field's values, or the sign of the amount.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a map of side values to buy/sell, or `amount_sign`")]
pub enum SideRule {
    Values(BTreeMap<String, Side>),
    Sign(SignRule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignRule {
    /// A negative amount is a sell (Bitfinex).
    AmountSign,
}

/// How the next page is asked for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// `answer`: a value in the answer (Kraken's `result.last`); `next_id`: the newest
    /// trade's id plus one (Binance's `fromId`).
    #[serde(default)]
    pub answer: Option<Path>,
    #[serde(default)]
    pub next_id: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub path: String,
    /// Values may hold `{symbol}`, `{market}` and `{depth}`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub depth: Limit,
    #[serde(default)]
    pub bids: Option<Path>,
    #[serde(default)]
    pub asks: Option<Path>,
    /// One list for both sides, a level's amount sign telling which (Bitfinex).
    #[serde(default)]
    pub levels: Option<Path>,
    #[serde(default)]
    pub level: LevelLayout,
    #[serde(default)]
    pub timestamp: Option<Stamp>,
    #[serde(default)]
    pub sequence: Option<Path>,
}

/// Where a level's price and amount are (`[price, size]` by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelLayout {
    pub price: Path,
    pub amount: Path,
}

impl Default for LevelLayout {
    fn default() -> Self {
        Self {
            price: Path(vec![super::json::Step::Index(0)]),
            amount: Path(vec![super::json::Step::Index(1)]),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    pub path: Path,
    pub unit: TimeUnit,
}
