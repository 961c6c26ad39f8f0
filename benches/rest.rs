//! REST venue hot paths: a trades page parsed and normalized by its definition (per
//! trade, JSON parsing included) and a book page (per level). Pages: ccxt's recorded
//! Binance aggTrades and Coinbase ticker answers (`../shared/fixtures/ccxt/`), a
//! 1,000-trade Kraken page in the recorded answer's format, and the real full-depth
//! KuCoin and 100-level Gate books (`../shared/fixtures/rest/`).
//! `cargo bench --bench rest`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedhandler::model::VenueId;
use feedhandler::venues::rest::catalog::Catalog;
use feedhandler::venues::rest::definition::Definition;
use feedhandler::venues::rest::parse::{self, Cut};
use feedhandler::venues::rest::symbols::{Kind, Mapped};
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixtures() -> PathBuf {
    std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

fn ccxt_body(file: &str, method: &str, case: usize) -> String {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("ccxt").join(file)).unwrap()).unwrap();
    doc["methods"][method][case]["httpResponse"].to_string()
}

fn rest_body(file: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join("rest").join(file)).unwrap();
    (text.lines())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["url"].as_str().unwrap().contains(needle))
        .map(|v| v["data"].as_str().unwrap().to_owned())
        .max_by_key(String::len)
        .unwrap()
}

fn def(name: &str) -> Arc<Definition> {
    Catalog::shipped()
        .get(VenueId::new(name).unwrap())
        .unwrap()
        .definition
        .clone()
}

fn mapped(venue_id: &str) -> Mapped {
    Mapped {
        symbol: "BTC-USDT".into(),
        venue_id: venue_id.into(),
        market: String::new(),
        kind: Kind::Spot,
    }
}

/// A Kraken trades page of `n` trades in the format of the recorded one.
fn kraken_page(n: u64) -> String {
    let trades: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"["73{:03}.40000","0.0{:07}",1710327959.{:07},"{}","m","",{},"1710327959173746878"]"#,
                i % 1000,
                1_030_900 + i,
                1_733_468 + i,
                if i % 3 == 0 { "s" } else { "b" },
                6_324_366 + i
            )
        })
        .collect();
    format!(
        r#"{{"error":[],"result":{{"XBTUSDT":[{}],"last":"1710327959173746878"}}}}"#,
        trades.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let exchange = VenueId::new("bench").unwrap();
    let mut g = c.benchmark_group("rest_trades");
    for (name, venue, venue_id, body) in [
        (
            "binance_aggtrades_recorded",
            "binance_rest",
            "BTCUSDT",
            ccxt_body("binance.derived.json", "fetchTrades", 0),
        ),
        (
            "coinbase_ticker_recorded",
            "coinbase_rest",
            "BTC-USD",
            ccxt_body("coinbase.derived.json", "fetchTrades", 0),
        ),
        ("kraken_page_1000", "kraken", "XBTUSDT", kraken_page(1000)),
    ] {
        let (d, m) = (def(venue), mapped(venue_id));
        let req = d.trades.as_ref().unwrap();
        let n = parse::trades(&d, req, exchange, &m, &body, 0)
            .unwrap()
            .trades
            .len();
        eprintln!("{name}: {n} trades, {} bytes", body.len());
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse::trades(&d, req, exchange, &m, black_box(&body), 0).unwrap())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("rest_book");
    for (name, venue, venue_id, body) in [
        (
            "kucoin_full_depth_recorded",
            "kucoin",
            "CAPP-BTC",
            rest_body("kucoin.http.jsonl", "level2"),
        ),
        (
            "gate_100_recorded",
            "gate",
            "QTUM3S_USDT",
            rest_body("gateio.http.jsonl", "order_book"),
        ),
    ] {
        let (d, m) = (def(venue), mapped(venue_id));
        let req = d.book.as_ref().unwrap();
        let cut = Cut {
            depth: usize::MAX,
            number: 1,
        };
        let book = parse::book(&d, req, exchange, &m, cut, &body, 0).unwrap();
        let n = book.bids.len() + book.asks.len();
        eprintln!("{name}: {n} levels, {} bytes", body.len());
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse::book(&d, req, exchange, &m, cut, black_box(&body), 0).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
