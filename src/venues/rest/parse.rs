//! Pure functions from a REST venue's answer to normalized values, driven by its
//! definition: venue errors inside a 200, a trades page (each trade applied or rejected
//! with a reason, oldest first), a book snapshot (refused whole if any level is bad, the
//! sides unsorted or crossed). Numbers keep the venue's digits; times are checked
//! integer nanoseconds.

use super::definition::{BookRequest, Definition, SideRule, TimeUnit, TradesRequest};
use super::json::{self, Raw, Record};
use super::symbols::Mapped;
use crate::model::{BookUpdate, BookUpdateKind, Level, Side, Trade, TradeId, VenueId};
use crate::venues::decimal::parse_exact;
use crate::venues::timestamp::rfc3339_ns;
use rust_decimal::Decimal;
use std::borrow::Cow;

/// Why an answer as a whole was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("venue error in a 200 answer: {0}")]
    Venue(String),
    #[error("unreadable answer: {0}")]
    Malformed(String),
    #[error("book refused: {0}")]
    Book(String),
}

impl PageError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Venue(_) => "venue error",
            Self::Malformed(_) => "unreadable answer",
            Self::Book(_) => "invalid book",
        }
    }
}

impl From<json::JsonError> for PageError {
    fn from(e: json::JsonError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// A trades page: its trades oldest first, the ones refused, and the cursor it gives.
#[derive(Debug, Default)]
pub struct Page {
    pub trades: Vec<Trade>,
    pub rejected: Vec<(&'static str, String)>,
    pub cursor: Option<String>,
    /// Entries on the page, refused ones included (a full page may hide a gap).
    pub entries: usize,
}

/// The venue's error, if the answer is one.
pub fn venue_error(def: &Definition, root: Raw<'_>) -> Option<String> {
    def.errors.iter().find_map(|rule| {
        let value = json::get(root, &rule.path, "").ok().flatten()?;
        let failed = if rule.ok.is_empty() {
            rule.nonempty && !json::is_empty(value)
        } else {
            json::text(value).is_none_or(|t| !rule.ok.iter().any(|ok| *ok == t))
        };
        failed.then(|| {
            let message = (rule.message.as_ref())
                .and_then(|m| json::get(root, m, "").ok().flatten())
                .unwrap_or(value);
            format!(
                "{} = {}",
                rule.path,
                message.get().chars().take(200).collect::<String>()
            )
        })
    })
}

/// Parses a trades answer for `m`.
pub fn trades(
    def: &Definition,
    req: &TradesRequest,
    exchange: VenueId,
    m: &Mapped,
    body: &str,
    receive_ts_ns: i64,
) -> Result<Page, PageError> {
    let root = json::parse(body)?;
    if let Some(e) = venue_error(def, root) {
        return Err(PageError::Venue(e));
    }
    let list = json::require(root, &req.list, &m.venue_id)?;
    let items = json::array_items(list, &req.list)?;
    let mut page = Page {
        trades: Vec::with_capacity(items.len()),
        entries: items.len(),
        ..Page::default()
    };
    for item in items {
        match trade(req, exchange, m, item, receive_ts_ns) {
            Ok(t) => page.trades.push(t),
            Err((reason, detail)) => page.rejected.push((reason, detail)),
        }
    }
    if req.order == super::definition::Order::NewestFirst {
        page.trades.reverse();
    }
    page.trades.sort_by_key(|t| t.exchange_ts_ns);
    if let Some(c) = req.cursor.as_ref().and_then(|c| c.answer.as_ref()) {
        page.cursor = json::get(root, c, &m.venue_id)?
            .and_then(json::text)
            .map(Cow::into_owned);
    }
    Ok(page)
}

type Refusal = (&'static str, String);

fn trade(
    req: &TradesRequest,
    exchange: VenueId,
    m: &Mapped,
    item: Raw<'_>,
    receive_ts_ns: i64,
) -> Result<Trade, Refusal> {
    let rec = Record::read(item).map_err(|e| ("unreadable trade", e.to_string()))?;
    let f = &req.fields;
    let field = |p: &json::Path, what: &'static str| {
        rec.get(p)
            .and_then(json::text)
            .ok_or(("missing field", format!("{what} ({p}) in {}", short(item))))
    };
    let price = decimal(&field(&f.price, "price")?, "price")?;
    let (amount, negative) = signed(&field(&f.amount, "amount")?)?;
    if price.is_zero() || amount.is_zero() {
        return Err(("zero price or amount", short(item)));
    }
    let side = match (&req.side, &f.side) {
        (SideRule::Sign(_), _) => {
            if negative {
                Side::Sell
            } else {
                Side::Buy
            }
        }
        (SideRule::Values(values), Some(p)) => {
            if negative {
                return Err(("negative amount", short(item)));
            }
            let text = field(p, "side")?;
            *values
                .get(text.as_ref())
                .ok_or_else(|| ("unknown side", format!("{} in {}", clip(&text), short(item))))?
        }
        (SideRule::Values(_), None) => return Err(("missing field", "side".into())),
    };
    let ts = field(&f.timestamp, "timestamp")?;
    let exchange_ts_ns = time_ns(&ts, req.timestamp).ok_or_else(|| ("invalid timestamp", clip(&ts)))?;
    let id = match &f.id {
        Some(p) => rec
            .get(p)
            .and_then(json::text)
            .map_or(TradeId::Absent, |t| TradeId::parse(&t)),
        None => TradeId::Absent,
    };
    Ok(Trade {
        exchange,
        symbol: m.symbol.clone(),
        id,
        side,
        price,
        amount,
        exchange_ts_ns,
        receive_ts_ns,
    })
}

/// An entry for a log line: at most 120 characters.
fn short(item: Raw<'_>) -> String {
    item.get().chars().take(120).collect()
}

fn decimal(text: &str, what: &'static str) -> Result<Decimal, Refusal> {
    parse_exact(text).map_err(|e| ("invalid number", format!("{what} {}: {e}", clip(text))))
}

/// A venue value as shown in a refusal: quoted, at most 40 characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{:?}… ({} bytes)", &text[..end], text.len()),
        None => format!("{text:?}"),
    }
}

/// An amount and whether it was negative (Bitfinex's sells).
fn signed(text: &str) -> Result<(Decimal, bool), Refusal> {
    match text.strip_prefix('-') {
        Some(abs) => decimal(abs, "amount").map(|d| (d, true)),
        None => decimal(text, "amount").map(|d| (d, false)),
    }
}

/// A venue time in `unit` as nanoseconds since the epoch: digits with an optional
/// fraction (exact to the nanosecond; finer digits are dropped), or RFC 3339. `None`
/// for negative, malformed or out-of-range values.
pub fn time_ns(text: &str, unit: TimeUnit) -> Option<i64> {
    let scale_digits = match unit {
        TimeUnit::Iso8601 => return rfc3339_ns(text),
        TimeUnit::S => 9,
        TimeUnit::Ms => 6,
        TimeUnit::Us => 3,
        TimeUnit::Ns => 0,
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || int.len() > 20
        || !digits(int)
        || !digits(frac)
        || (text.contains('.') && frac.is_empty())
    {
        return None;
    }
    let mut ns: i64 = int.parse::<i64>().ok()?.checked_mul(10_i64.pow(scale_digits))?;
    let mut place = 10_i64.pow(scale_digits);
    for b in frac.bytes().take(scale_digits as usize) {
        place /= 10;
        ns = ns.checked_add(i64::from(b - b'0') * place)?;
    }
    Some(ns)
}

/// How a snapshot is cut and numbered: `depth` levels a side; `number` is its sequence
/// when the venue gives none (the snapshot's number in this run).
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub depth: usize,
    pub number: u64,
}

/// Parses a book answer for `m`.
pub fn book(
    def: &Definition,
    req: &BookRequest,
    exchange: VenueId,
    m: &Mapped,
    cut: Cut,
    body: &str,
    receive_ts_ns: i64,
) -> Result<BookUpdate, PageError> {
    let root = json::parse(body)?;
    if let Some(e) = venue_error(def, root) {
        return Err(PageError::Venue(e));
    }
    let sym = m.venue_id.as_str();
    let (mut bids, mut asks) = match (&req.bids, &req.asks, &req.levels) {
        (Some(b), Some(a), _) => (
            levels(req, json::require(root, b, sym)?, b, false)?.0,
            levels(req, json::require(root, a, sym)?, a, false)?.0,
        ),
        (_, _, Some(l)) => levels(req, json::require(root, l, sym)?, l, true)?,
        _ => return Err(PageError::Malformed("the definition names no book sides".into())),
    };
    bids.sort_by_key(|l| std::cmp::Reverse(l.0));
    asks.sort_by_key(|l| l.0);
    for (side, list) in [("bid", &bids), ("ask", &asks)] {
        if list.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(PageError::Book(format!("a {side} price is listed twice")));
        }
    }
    if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
        if b.0 >= a.0 {
            return Err(PageError::Book(format!(
                "crossed: best bid {} >= best ask {}",
                b.0, a.0
            )));
        }
    }
    bids.truncate(cut.depth);
    asks.truncate(cut.depth);
    let exchange_ts_ns = match &req.timestamp {
        Some(stamp) => match json::get(root, &stamp.path, sym)?.and_then(json::text) {
            Some(t) => Some(
                time_ns(&t, stamp.unit)
                    .ok_or_else(|| PageError::Malformed(format!("book timestamp {}", clip(&t))))?,
            ),
            None => None,
        },
        None => None,
    };
    let sequence = match &req.sequence {
        Some(p) => {
            let t = json::require(root, p, sym)?;
            let t = json::text(t).unwrap_or_default();
            t.parse::<u64>().map_err(|_| {
                PageError::Malformed(format!("book sequence {} is not a whole number", clip(&t)))
            })?
        }
        None => cut.number,
    };
    Ok(BookUpdate {
        exchange,
        symbol: m.symbol.clone(),
        update: BookUpdateKind::Snapshot,
        sequence,
        bids,
        asks,
        exchange_ts_ns,
        receive_ts_ns,
    })
}

/// A side's levels; with `by_sign`, one list split into (bids, asks) by the amount's sign.
fn levels(
    req: &BookRequest,
    list: Raw<'_>,
    path: &json::Path,
    by_sign: bool,
) -> Result<(Vec<Level>, Vec<Level>), PageError> {
    let items = json::array_items(list, path)?;
    let (mut first, mut second) = (Vec::with_capacity(items.len()), Vec::new());
    let bad = |what: String| PageError::Book(what);
    for item in items {
        let rec = Record::read(item)?;
        let get = |p: &json::Path| {
            rec.get(p)
                .and_then(json::text)
                .ok_or_else(|| bad(format!("level {} lacks {p}", short(item))))
        };
        let price = decimal(&get(&req.level.price)?, "price").map_err(|(_, d)| bad(d))?;
        let (amount, negative) = signed(&get(&req.level.amount)?).map_err(|(_, d)| bad(d))?;
        if price.is_zero() || amount.is_zero() {
            return Err(bad(format!("level {} has a zero price or size", short(item))));
        }
        match (by_sign, negative) {
            (false, true) => return Err(bad(format!("level {} has a negative size", short(item)))),
            (true, true) => second.push((price, amount)),
            _ => first.push((price, amount)),
        }
    }
    Ok((first, second))
}
