//! Pure functions from a REST venue's answer to normalized values, driven by its
//! definition: venue errors inside a 200, a trades page (each trade applied or rejected
//! with a reason, oldest first), a book snapshot (refused whole if any level is bad, the
//! sides unsorted or crossed). Numbers keep the venue's digits; times are checked
//! integer nanoseconds.

use super::definition::{BookRequest, Definition, SideRule, TimeUnit, TradesRequest};
use super::doc::{Doc, Record};
use super::json;
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
pub fn venue_error(def: &Definition, root: &Doc<'_>) -> Option<String> {
    def.errors.iter().find_map(|rule| {
        let value = root.get(&rule.path, "").ok().flatten()?;
        let failed = if rule.ok.is_empty() {
            rule.nonempty && !json::is_empty(value)
        } else {
            json::text(value).is_none_or(|t| !rule.ok.iter().any(|ok| *ok == t))
        };
        failed.then(|| {
            let message = (rule.message.as_ref())
                .and_then(|m| root.get(m, "").ok().flatten())
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
    let root = Doc::parse(body)?;
    if let Some(e) = venue_error(def, &root) {
        return Err(PageError::Venue(e));
    }
    let items = root.records(&req.list, &m.venue_id)?;
    let mut page = Page {
        trades: Vec::with_capacity(items.len()),
        entries: items.len(),
        ..Page::default()
    };
    for item in &items {
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
        page.cursor = root
            .get(c, &m.venue_id)?
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
    rec: &Record<'_>,
    receive_ts_ns: i64,
) -> Result<Trade, Refusal> {
    if matches!(rec, Record::Scalar) {
        return Err((
            "unreadable trade",
            "an entry that is not an array or an object".into(),
        ));
    }
    let f = &req.fields;
    let field = |p: &json::Path, what: &'static str| {
        rec.get(p)
            .and_then(json::text)
            .ok_or_else(|| ("missing field", format!("{what} ({p})")))
    };
    let price = decimal(&field(&f.price, "price")?, "price")?;
    let (amount, negative) = signed(&field(&f.amount, "amount")?)?;
    if price.is_zero() || amount.is_zero() {
        return Err(("zero price or amount", format!("price {price}, amount {amount}")));
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
                return Err(("negative amount", format!("-{amount}")));
            }
            let text = field(p, "side")?;
            *values
                .get(text.as_ref())
                .ok_or_else(|| ("unknown side", clip(&text)))?
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
    let b = text.as_bytes();
    let dot = b.iter().position(|&c| c == b'.');
    let (int, frac) = match dot {
        Some(d) => (&b[..d], &b[d + 1..]),
        None => (b, &b[..0]),
    };
    if int.is_empty() || (dot.is_some() && frac.is_empty()) {
        return None;
    }
    let digit = |c: u8| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then_some(i64::from(d))
    };
    let mut ns: i64 = 0;
    for &c in int {
        ns = ns.checked_mul(10)?.checked_add(digit(c)?)?;
    }
    let mut place = 10_i64.pow(scale_digits);
    ns = ns.checked_mul(place)?;
    for (i, &c) in frac.iter().enumerate() {
        let d = digit(c)?;
        if i < scale_digits as usize {
            place /= 10;
            ns = ns.checked_add(d * place)?;
        }
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
    let root = Doc::parse(body)?;
    if let Some(e) = venue_error(def, &root) {
        return Err(PageError::Venue(e));
    }
    let sym = m.venue_id.as_str();
    let (mut bids, mut asks) = match (&req.bids, &req.asks, &req.levels) {
        (Some(b), Some(a), _) => (
            levels(req, root.records(b, sym)?, false)?.0,
            levels(req, root.records(a, sym)?, false)?.0,
        ),
        (_, _, Some(l)) => levels(req, root.records(l, sym)?, true)?,
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
        Some(stamp) => match root.get(&stamp.path, sym)?.and_then(json::text) {
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
            let t = root.require(p, sym)?;
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
    list: Vec<Record<'_>>,
    by_sign: bool,
) -> Result<(Vec<Level>, Vec<Level>), PageError> {
    let (mut first, mut second) = (Vec::with_capacity(list.len()), Vec::new());
    let bad = |what: String| PageError::Book(what);
    for rec in &list {
        let get = |p: &json::Path| {
            rec.get(p)
                .and_then(json::text)
                .ok_or_else(|| bad(format!("a level lacks {p}")))
        };
        let price = decimal(&get(&req.level.price)?, "price").map_err(|(_, d)| bad(d))?;
        let (amount, negative) = signed(&get(&req.level.amount)?).map_err(|(_, d)| bad(d))?;
        if price.is_zero() || amount.is_zero() {
            return Err(bad(format!("level {price} x {amount} has a zero price or size")));
        }
        match (by_sign, negative) {
            (false, true) => return Err(bad(format!("level {price} x -{amount} has a negative size"))),
            (true, true) => second.push((price, amount)),
            _ => first.push((price, amount)),
        }
    }
    Ok((first, second))
}

#[cfg(test)]
mod tests {
    use super::{TimeUnit, time_ns};

    #[test]
    fn venue_times_are_exact_nanoseconds_or_refused() {
        for (text, unit, want) in [
            ("1616663113.2388", TimeUnit::S, Some(1_616_663_113_238_800_000)),
            (
                "1710327648162.035000",
                TimeUnit::Ms,
                Some(1_710_327_648_162_035_000),
            ),
            (
                "1709897616745000000",
                TimeUnit::Ns,
                Some(1_709_897_616_745_000_000),
            ),
            ("1619378326628123", TimeUnit::Us, Some(1_619_378_326_628_123_000)),
            ("1.0000000019", TimeUnit::S, Some(1_000_000_001)),
            ("9223372036.854775807", TimeUnit::S, Some(i64::MAX)),
            ("9223372036.854775808", TimeUnit::S, None),
            ("99999999999999999999", TimeUnit::Ms, None),
            ("-5", TimeUnit::Ms, None),
            ("1.", TimeUnit::S, None),
            (".5", TimeUnit::S, None),
            ("1e5", TimeUnit::Ms, None),
            ("", TimeUnit::Ms, None),
            ("1.2.3", TimeUnit::S, None),
        ] {
            assert_eq!(time_ns(text, unit), want, "{text} {unit:?}");
        }
    }
}
