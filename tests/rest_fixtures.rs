//! The shipped REST definitions against recorded venue answers: ccxt's own recorded REST
//! bodies (`../shared/fixtures/ccxt/`) must normalize to ccxt's `parsedResponse` (id,
//! timestamp, side, price, amount; bids and asks; compared numerically), and the URLs
//! built must be ccxt's `requestUrl` (host aside); the venues' real instrument lists
//! (`../shared/fixtures/rest/`) must map symbols, and real full-size books must parse.

mod support;

use feedhandler::model::{Event, TradeId, VenueId};
use feedhandler::venues::rest::catalog::Catalog;
use feedhandler::venues::rest::definition::Definition;
use feedhandler::venues::rest::poll::Job;
use feedhandler::venues::rest::settings::RestSettings;
use feedhandler::venues::rest::symbols::{self, Kind, Mapped};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::fixture;

fn definition(name: &str) -> Arc<Definition> {
    let catalog = Catalog::shipped();
    catalog
        .get(VenueId::new(name).unwrap())
        .unwrap()
        .definition
        .clone()
}

/// The bodies of a `rest/*.http.jsonl` file, by URL.
fn rest_bodies(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixture(&format!("rest/{file}"))).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["url"].as_str().unwrap().to_owned(),
                v["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The venue's instrument list for `kind`, from the recorded answer to its request.
fn instrument_list(def: &Definition, kind: Kind, file: &str) -> BTreeMap<(String, String), String> {
    let inst = symbols::market(def, kind).unwrap().instruments.as_ref().unwrap();
    let bodies = rest_bodies(file);
    let (_, body) = bodies
        .iter()
        .find(|(url, _)| {
            let url = url::Url::parse(url).unwrap();
            url.path() == inst.path
                && inst
                    .params
                    .iter()
                    .all(|(k, v)| url.query_pairs().any(|(qk, qv)| qk == *k && qv == *v))
        })
        .unwrap_or_else(|| panic!("{file} has no answer to {}", inst.path));
    symbols::instrument_list(def, inst, body).unwrap()
}

/// Maps `symbol` as the run would: by rule, or by the venue's recorded instrument list.
fn map(def: &Definition, symbol: &str) -> Mapped {
    let (_, _, kind) = symbols::split(symbol).unwrap();
    let mut lists = BTreeMap::new();
    if symbols::market(def, kind).unwrap().instruments.is_some() {
        let file = match def.name.as_str() {
            "gate" => "gateio.http.jsonl".to_owned(),
            other => format!("{other}.http.jsonl"),
        };
        lists.insert(kind, instrument_list(def, kind, &file));
    }
    symbols::resolve(def, &[symbol.to_owned()], &lists)
        .unwrap()
        .remove(0)
}

/// ccxt's `BTC/USDT` and `BTC/USDT:USDT` as normalized symbols.
fn normalized(ccxt: &str) -> String {
    match ccxt.split_once(':') {
        Some((pair, _settle)) => format!("{}-PERP", pair.replace('/', "-")),
        None => ccxt.replace('/', "-"),
    }
}

fn number(v: &Value) -> Decimal {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.parse()
        .unwrap_or_else(|_| Decimal::from_scientific(&text).unwrap())
}

/// Path and query pairs of a URL or of ccxt's `requestUrl` (host aside).
fn request(url: &str) -> (String, BTreeMap<String, String>) {
    let url = if url.starts_with('/') {
        url::Url::parse(&format!("https://host{url}")).unwrap()
    } else {
        url::Url::parse(url).unwrap()
    };
    let pairs = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (url.path().to_owned(), pairs)
}

struct Case {
    venue: &'static str,
    method: String,
    description: String,
    input: Vec<Value>,
    body: String,
    parsed: Value,
    request_url: String,
}

fn cases() -> Vec<Case> {
    let files = [
        ("kraken.json", "kraken"),
        ("kucoin.json", "kucoin"),
        ("okx.json", "okx"),
        ("bybit.json", "bybit"),
        ("gate.json", "gate"),
        ("binance.derived.json", "binance_rest"),
        ("coinbase.derived.json", "coinbase_rest"),
    ];
    let mut out = Vec::new();
    for (file, venue) in files {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(&format!("ccxt/{file}"))).unwrap())
                .unwrap();
        for (method, list) in doc["methods"].as_object().unwrap() {
            for c in list.as_array().unwrap() {
                out.push(Case {
                    venue,
                    method: method.clone(),
                    description: c["description"].as_str().unwrap_or_default().to_owned(),
                    input: c["input"].as_array().unwrap().clone(),
                    body: c["httpResponse"].to_string(),
                    parsed: c["parsedResponse"].clone(),
                    request_url: c["requestUrl"].as_str().unwrap().to_owned(),
                });
            }
        }
    }
    out
}

/// The job for a case with ccxt's limit (or the definition's default), and the URL it
/// builds compared with ccxt's.
fn job_for(case: &Case, def: &Arc<Definition>) -> Job {
    let id = def.name;
    let m = map(def, &normalized(case.input[0].as_str().unwrap()));
    let limit_at = if case.method == "fetchTrades" { 2 } else { 1 };
    let limit = case.input.get(limit_at).and_then(Value::as_u64).map(|n| n as u32);
    let job = if case.method == "fetchTrades" {
        let settings = RestSettings {
            trades_limit: limit,
            ..Default::default()
        };
        Job::trades(id, def.clone(), m, &settings)
    } else {
        let levels = case.parsed["bids"].as_array().map_or(0, Vec::len) as u32;
        let max = def.book.as_ref().unwrap().depth.max;
        let settings = RestSettings {
            book_depth: Some(limit.unwrap_or(levels.max(1)).min(max)),
            ..Default::default()
        };
        Job::book(id, def.clone(), m, &settings)
    };
    let ours = request(job.url(&def.rest_url, false).unwrap().as_str());
    let theirs = request(&case.request_url);
    assert_eq!(ours.0, theirs.0, "{} {}: path", case.venue, case.description);
    for (k, v) in &theirs.1 {
        assert_eq!(
            ours.1.get(k),
            Some(v),
            "{} {}: parameter {k}",
            case.venue,
            case.description
        );
    }
    for k in ours.1.keys().filter(|k| !theirs.1.contains_key(*k)) {
        // Only the page size or depth may be ours alone, where ccxt was given none.
        assert!(
            limit.is_none() && ["limit", "count", "sz", "len"].contains(&k.as_str()),
            "{} {}: extra parameter {k}",
            case.venue,
            case.description
        );
    }
    job
}

#[test]
fn ccxt_recorded_answers_normalize_as_ccxt_does() {
    let (mut trades_checked, mut levels_checked, mut skipped) = (0, 0, Vec::new());
    for case in cases() {
        let def = definition(case.venue);
        let ours_path = match case.method.as_str() {
            "fetchTrades" => &def.trades.as_ref().unwrap().path,
            _ => &def.book.as_ref().unwrap().path,
        };
        // A case for an endpoint the definition does not use (ccxt's alternative
        // fetchTradesMethod) has nothing to compare.
        let case_path = request(&case.request_url).0;
        if !ours_path.contains('{') && case_path != *ours_path {
            skipped.push(format!("{} {}", case.venue, case.description));
            continue;
        }
        let mut job = job_for(&case, &def);
        let applied = job
            .apply(&case.body, 1)
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.venue, case.description));
        assert!(
            applied.rejected.is_empty(),
            "{} {}: {:?}",
            case.venue,
            case.description,
            applied.rejected
        );
        let what = format!("{} {}", case.venue, case.description);
        if case.method == "fetchTrades" {
            let want = case.parsed.as_array().unwrap();
            let got: Vec<_> = (applied.events.iter())
                .map(|e| match e {
                    Event::Trade(t) => t,
                    other => panic!("{what}: {other:?}"),
                })
                .collect();
            assert_eq!(got.len(), want.len(), "{what}: trade count");
            for (g, w) in got.iter().zip(want) {
                match &w["id"] {
                    Value::Null => assert_eq!(g.id, TradeId::Absent, "{what}"),
                    id => assert_eq!(g.id.to_string(), id.as_str().unwrap(), "{what}"),
                }
                assert_eq!(
                    g.exchange_ts_ns / 1_000_000,
                    w["timestamp"].as_i64().unwrap(),
                    "{what}: timestamp"
                );
                assert_eq!(serde_json::to_value(g.side).unwrap(), w["side"], "{what}: side");
                assert_eq!(g.price, number(&w["price"]), "{what}: price");
                assert_eq!(g.amount, number(&w["amount"]), "{what}: amount");
                trades_checked += 1;
            }
        } else {
            let [Event::Book(book)] = applied.events.as_slice() else {
                panic!("{what}: {:?}", applied.events);
            };
            for (side, got) in [("bids", &book.bids), ("asks", &book.asks)] {
                let want = case.parsed[side].as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{what}: {side}");
                for (g, w) in got.iter().zip(want) {
                    assert_eq!((g.0, g.1), (number(&w[0]), number(&w[1])), "{what}: {side}");
                    levels_checked += 1;
                }
            }
            if let Some(ts) = case.parsed["timestamp"].as_i64() {
                assert_eq!(
                    book.exchange_ts_ns.map(|ns| ns / 1_000_000),
                    Some(ts),
                    "{what}: timestamp"
                );
            }
            if let Some(nonce) = case.parsed["nonce"].as_u64() {
                assert_eq!(book.sequence, nonce, "{what}: sequence");
            }
        }
    }
    assert_eq!(
        skipped,
        ["binance_rest real GET /api/v3/trades BTCUSDT (fetchTradesMethod=publicGetTrades)"]
    );
    println!("ccxt cases: {trades_checked} trades and {levels_checked} book levels equal ccxt's output");
    assert!(
        trades_checked >= 7 && levels_checked >= 100,
        "{trades_checked} {levels_checked}"
    );
}

#[test]
fn real_instrument_lists_map_symbols_and_refuse_unknown_ones() {
    let table = [
        ("kraken", "BTC-USD", "XXBTZUSD"),
        ("kraken", "BTC-USDT", "XBTUSDT"),
        ("kraken", "ETH-USD", "XETHZUSD"),
        ("kraken", "DOGE-USD", "XDGUSD"),
        ("okx", "BTC-USDT", "BTC-USDT"),
        ("okx", "BTC-USDT-PERP", "BTC-USDT-SWAP"),
        ("okx", "ETH-USDT-PERP", "ETH-USDT-SWAP"),
        ("bybit", "BTC-USDT", "BTCUSDT"),
        ("bybit", "BTC-USDT-PERP", "BTCUSDT"),
        ("gate", "BTC-USDT", "BTC_USDT"),
        ("kucoin", "BTC-USDT", "BTC-USDT"),
        ("kucoin", "ETH-BTC", "ETH-BTC"),
    ];
    for (venue, symbol, want) in table {
        let def = definition(venue);
        let m = map(&def, symbol);
        assert_eq!(m.venue_id, want, "{venue} {symbol}");
    }
    // Rules: Bitfinex keeps its lower-case `t` and calls USDT `UST`; Gemini is lower case.
    assert_eq!(map(&definition("bitfinex"), "BTC-USDT").venue_id, "tBTCUST");
    assert_eq!(map(&definition("gemini"), "BTC-USD").venue_id, "btcusd");
    assert_eq!(map(&definition("coinbase_rest"), "BTC-USD").venue_id, "BTC-USD");
    // Bybit's linear perpetual and its spot market are told apart by `category`.
    let bybit = definition("bybit");
    assert_eq!(
        (
            map(&bybit, "BTC-USDT").market,
            map(&bybit, "BTC-USDT-PERP").market
        ),
        ("spot".into(), "linear".into())
    );
    // Symbols the venue does not list are refused (as at start), every one named.
    let kraken = definition("kraken");
    let lists = BTreeMap::from([(
        Kind::Spot,
        instrument_list(&kraken, Kind::Spot, "kraken.http.jsonl"),
    )]);
    let unknown = symbols::resolve(
        &kraken,
        &["BTC-USD".into(), "NOPE-USD".into(), "BTC-NOPE".into()],
        &lists,
    );
    assert_eq!(unknown, Err(vec!["NOPE-USD".to_owned(), "BTC-NOPE".to_owned()]));
    // A dated future is not the perpetual.
    let linear = instrument_list(&bybit, Kind::Perp, "bybit.http.jsonl");
    assert!(
        linear.values().all(|id| !id.contains('-')),
        "Bybit linear list holds only perpetuals"
    );
}

#[test]
fn real_full_size_books_parse_whole_and_in_order() {
    for (venue, file) in [("gate", "gateio.http.jsonl"), ("kucoin", "kucoin.http.jsonl")] {
        let def = definition(venue);
        let books: Vec<(String, String)> = rest_bodies(file)
            .into_iter()
            .filter(|(u, _)| u.contains("order"))
            .collect();
        assert_eq!(books.len(), 3, "{file}");
        for (url, body) in books {
            let raw: Value = serde_json::from_str(&body).unwrap();
            let root = if venue == "kucoin" { &raw["data"] } else { &raw };
            let q = request(&url).1;
            let venue_id = q.get("currency_pair").or(q.get("symbol")).unwrap().clone();
            let m = Mapped {
                symbol: venue_id.replace('_', "-").into(),
                venue_id,
                market: String::new(),
                kind: Kind::Spot,
            };
            let settings = RestSettings {
                book_depth: Some(def.book.as_ref().unwrap().depth.max),
                ..Default::default()
            };
            let mut job = Job::book(def.name, def.clone(), m, &settings);
            let applied = job.apply(&body, 7).unwrap_or_else(|e| panic!("{url}: {e}"));
            let [Event::Book(book)] = applied.events.as_slice() else {
                panic!("{url}")
            };
            for (side, got) in [("bids", &book.bids), ("asks", &book.asks)] {
                let want = root[side].as_array().unwrap();
                assert_eq!(
                    got.len(),
                    want.len().min(settings.book_depth.unwrap() as usize),
                    "{url} {side}"
                );
                assert_eq!(
                    (got[0].0, got[0].1),
                    (number(&want[0][0]), number(&want[0][1])),
                    "{url} {side}"
                );
                assert_eq!(
                    got[0].0.to_string(),
                    want[0][0].as_str().unwrap(),
                    "{url}: the venue's digits are kept"
                );
            }
            assert!(
                book.bids.windows(2).all(|w| w[0].0 > w[1].0)
                    && book.asks.windows(2).all(|w| w[0].0 < w[1].0)
            );
            assert!(book.bids[0].0 < book.asks[0].0, "{url}: not crossed");
            let seq = if venue == "kucoin" {
                root["sequence"].as_str().unwrap().parse().unwrap()
            } else {
                root["id"].as_u64().unwrap()
            };
            assert_eq!(book.sequence, seq, "{url}");
        }
    }
}
