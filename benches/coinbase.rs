//! Coinbase hot paths on the recorded session (../shared/fixtures/cryptofeed/COINBASE.jsonl):
//! `level2` update messages parsed, sequence-checked and applied (per price level), and
//! `market_trades` messages parsed and normalized (per trade). `cargo bench --bench coinbase`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedhandler::record::reader::{self, Recorded};
use feedhandler::venues::coinbase::parse;
use feedhandler::venues::coinbase::session::Session;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let dir = std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    let rec = reader::read(&dir.join("cryptofeed/COINBASE.jsonl")).expect("fixture");
    let mut products = None;
    let mut frames = Vec::new();
    for ev in rec.events {
        match ev {
            Recorded::Http { body, .. } => {
                products = Some(
                    parse::parse_products(feedhandler::model::VenueId::new("coinbase").unwrap(), &body)
                        .unwrap(),
                )
            }
            Recorded::Recv { data, .. } => frames.push(data),
            _ => {}
        }
    }
    let products = products.unwrap();
    let books: Vec<Arc<str>> = ["BTC-USD", "ETH-USD"]
        .iter()
        .map(|p| products.get(p).unwrap().clone())
        .collect();
    // Session synced on both snapshots; the update messages that follow them.
    let mut synced = Session::new(products.clone(), &books);
    let mut out = Vec::new();
    let mut updates = Vec::new();
    let mut trades = Vec::new();
    let mut snapshots_seen = 0;
    for f in &frames {
        if snapshots_seen < 2 {
            synced.on_frame(f, 0, &mut out).unwrap();
            snapshots_seen += usize::from(f.contains(r#""type":"snapshot","product_id""#));
        } else if f.starts_with(r#"{"channel":"l2_data""#) {
            updates.push(f.as_str());
        }
        if f.starts_with(r#"{"channel":"market_trades""#) {
            trades.push(f.as_str());
        }
    }
    let levels: usize = updates.iter().map(|u| u.matches("\"price_level\"").count()).sum();
    let trade_count: usize = trades.iter().map(|t| t.matches("\"trade_id\"").count()).sum();
    eprintln!(
        "{} level2 updates with {levels} levels; {} market_trades messages with {trade_count} trades",
        updates.len(),
        trades.len()
    );

    let mut g = c.benchmark_group("coinbase");
    g.throughput(Throughput::Elements(levels as u64));
    g.bench_function("level2_update_parse_apply_per_level", |b| {
        b.iter_batched(
            || (synced.clone(), Vec::with_capacity(4)),
            |(mut s, mut out)| {
                for u in &updates {
                    s.on_frame(u, 0, &mut out).unwrap();
                    out.clear();
                }
                black_box(s)
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(trade_count as u64));
    g.bench_function("market_trades_parse_normalize_per_trade", |b| {
        b.iter(|| {
            for t in &trades {
                black_box(parse::parse_frame(&products, t, 0).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
