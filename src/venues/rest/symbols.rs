//! Normalized symbols (`BTC-USDT` spot, `BTC-USDT-PERP` perpetual) to a REST venue's ids
//! (`XBTUSDT`, `BTC_USDT`, `tBTCUST`, `BTC-USDT-SWAP`, `btcusd`): by the market's `id` rule
//! with the asset aliases reversed, or from the venue's instrument list loaded at start.

use super::definition::{Case, Definition, Instruments, Market};
use super::json::{self, Path};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Spot,
    Perp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::Perp => "perp",
        }
    }
}

/// One configured symbol and what the venue calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub symbol: Arc<str>,
    pub venue_id: String,
    /// `{market}` for its requests.
    pub market: String,
    pub kind: Kind,
}

/// `BTC-USDT` → (BTC, USDT, spot); `BTC-USDT-PERP` → perp. `None` for other shapes.
pub fn split(symbol: &str) -> Option<(&str, &str, Kind)> {
    let mut parts = symbol.split('-');
    let (base, quote) = (parts.next()?, parts.next()?);
    let kind = match parts.next() {
        None => Kind::Spot,
        Some("PERP") => Kind::Perp,
        Some(_) => return None,
    };
    let asset = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (parts.next().is_none() && asset(base) && asset(quote)).then_some((base, quote, kind))
}

pub fn market(def: &Definition, kind: Kind) -> Option<&Market> {
    match kind {
        Kind::Spot => def.markets.spot.as_ref(),
        Kind::Perp => def.markets.perp.as_ref(),
    }
}

/// Why `symbol` cannot be used with `def`, checked at config load.
pub fn check(def: &Definition, symbol: &str) -> Result<(), String> {
    let (_, _, kind) = split(symbol).ok_or_else(|| {
        format!("symbol {symbol}: a REST venue takes normalized symbols, BASE-QUOTE or BASE-QUOTE-PERP")
    })?;
    match market(def, kind) {
        Some(_) => Ok(()),
        None => Err(format!(
            "symbol {symbol}: {} defines no {} market",
            def.name,
            kind.as_str()
        )),
    }
}

/// The venue's code for a normalized asset (`BTC` → `XBT` where aliased).
fn venue_asset<'a>(def: &'a Definition, asset: &'a str) -> &'a str {
    def.aliases
        .iter()
        .find(|(_, normalized)| normalized.as_str() == asset)
        .map_or(asset, |(venue, _)| venue.as_str())
}

/// A venue asset code as normalized (`XBT` → `BTC`, `usdt` → `USDT`).
fn normalized_asset(def: &Definition, asset: &str) -> String {
    let upper = asset.trim().to_ascii_uppercase();
    let aliased = def
        .aliases
        .iter()
        .find(|(venue, _)| venue.eq_ignore_ascii_case(&upper))
        .map_or(upper.as_str(), |(_, n)| n.as_str());
    aliased.to_owned()
}

/// The venue id by the market's rule.
pub fn by_rule(def: &Definition, rule: &str, base: &str, quote: &str) -> String {
    let id = rule
        .replace("{base}", venue_asset(def, base))
        .replace("{quote}", venue_asset(def, quote));
    match def.case {
        Case::Upper => id.to_ascii_uppercase(),
        Case::Lower => id.to_ascii_lowercase(),
        Case::Keep => id,
    }
}

/// The instrument list's (normalized base, quote) → venue id.
pub fn instrument_list(
    def: &Definition,
    inst: &Instruments,
    body: &str,
) -> Result<BTreeMap<(String, String), String>, String> {
    let root = super::doc::Doc::parse(body).map_err(|e| e.to_string())?;
    let filters: Vec<(Path, &str)> = (inst.filter.iter())
        .map(|(p, v)| Path::parse(p).map(|p| (p, v.as_str())))
        .collect::<Result<_, _>>()?;
    let id_path = (inst.id != "$key").then(|| Path::parse(&inst.id)).transpose()?;
    let mut out = BTreeMap::new();
    for (key, item) in root.entries(&inst.list).map_err(|e| e.to_string())? {
        let field = |p: &Path| json::get(item, p, "").ok().flatten().and_then(json::text);
        if filters.iter().any(|(p, want)| field(p).as_deref() != Some(*want)) {
            continue;
        }
        let id = match &id_path {
            Some(p) => field(p).map(|c| c.into_owned()),
            None => key.map(|k| k.into_owned()),
        };
        let assets = match (&inst.base, &inst.quote, &inst.pair, &inst.separator) {
            (Some(b), Some(q), _, _) => field(b)
                .zip(field(q))
                .map(|(b, q)| (b.into_owned(), q.into_owned())),
            (_, _, Some(p), Some(sep)) => field(p).and_then(|pair| {
                let (b, q) = pair.split_once(sep.as_str())?;
                Some((b.to_owned(), q.to_owned()))
            }),
            _ => None,
        };
        // Entries without the fields (Kraken's dark-pool `.d` pairs) are not tradable
        // here; an id that could change a request's path or query is not taken.
        let id = id.filter(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        });
        if let (Some(id), Some((b, q))) = (id, assets) {
            if !b.is_empty() && !q.is_empty() {
                out.entry((normalized_asset(def, &b), normalized_asset(def, &q)))
                    .or_insert(id);
            }
        }
    }
    Ok(out)
}

/// Maps every configured symbol; `lists` holds each market's instrument list where the
/// market loads one. Unknown symbols are returned as the error.
pub fn resolve(
    def: &Definition,
    symbols: &[String],
    lists: &BTreeMap<Kind, BTreeMap<(String, String), String>>,
) -> Result<Vec<Mapped>, Vec<String>> {
    let mut mapped = Vec::new();
    let mut unknown = Vec::new();
    for s in symbols {
        let found = split(s).and_then(|(base, quote, kind)| {
            let m = market(def, kind)?;
            let venue_id = match (lists.get(&kind), &m.id) {
                (Some(list), _) => list.get(&(base.to_owned(), quote.to_owned()))?.clone(),
                (None, Some(rule)) => by_rule(def, rule, base, quote),
                (None, None) => return None,
            };
            Some(Mapped {
                symbol: s.as_str().into(),
                venue_id,
                market: m.market.clone().unwrap_or_default(),
                kind,
            })
        });
        match found {
            Some(m) => mapped.push(m),
            None => unknown.push(s.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(mapped)
    } else {
        Err(unknown)
    }
}
