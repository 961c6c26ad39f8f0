//! Binance hot paths on recorded frames (../shared/fixtures): parse + normalize of `@trade`
//! frames, and parse + apply of depth diffs to synced books. Captures: the hftbacktest
//! BTCUSDT spot and USD-M captures (busy books, 30–60 levels per diff) and cryptofeed's
//! BINANCE.jsonl (four quiet spot symbols, a few levels per diff).
//! Run with `cargo bench --bench binance`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedhandler::model::VenueId;
use feedhandler::record::reader::{self, Recorded};
use feedhandler::venues::binance::parse::{self, Frame, Instruments, Market};
use feedhandler::venues::binance::sync::{BookSync, SnapshotStep};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const CAPTURES: [(&str, &str, Market); 3] = [
    (
        "spot",
        "hftbacktest/binance_spot_btcusdt_20240808_head6000.gz",
        Market::Spot,
    ),
    (
        "usdm",
        "hftbacktest/binance_usdm_btcusdt_20240808_head6000.gz",
        Market::Futures,
    ),
    ("spot_quiet", "cryptofeed/BINANCE.jsonl", Market::Spot),
];

struct Capture {
    market: Market,
    instruments: Instruments,
    /// Depth snapshot bodies by wire symbol.
    snapshots: Vec<(String, String)>,
    trades: Vec<String>,
    diffs: Vec<String>,
}

fn load(rel: &str, market: Market) -> Capture {
    let dir = std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    let rec = reader::read(&dir.join(rel)).expect("fixture");
    let exchange = VenueId::from_recording_name(&rec.exchange).unwrap();
    let (mut info, mut snapshots, mut trades, mut diffs) = (None, Vec::new(), Vec::new(), Vec::new());
    for ev in rec.events {
        match ev {
            Recorded::Http { url, body, .. } if url.contains("exchangeInfo") => info = Some(body),
            Recorded::Http { url, body, .. } => {
                let symbol = url.split("symbol=").nth(1).and_then(|s| s.split('&').next());
                snapshots.push((symbol.expect("depth URL names its symbol").to_owned(), body));
            }
            Recorded::Recv { data, .. } if data.contains("@depth") => diffs.push(data),
            Recorded::Recv { data, .. } if data.contains("@trade\"") => trades.push(data),
            _ => {}
        }
    }
    let wires: Vec<String> = snapshots.iter().map(|(w, _)| w.clone()).collect();
    let info =
        info.unwrap_or_else(|| parse::synthesize_exchange_info(wires.iter(), market == Market::Futures));
    Capture {
        market,
        instruments: parse::parse_instruments(exchange, market, &info).unwrap(),
        snapshots,
        trades,
        diffs,
    }
}

/// Books synced at the capture's snapshots, and the diffs that follow them.
fn synced(c: &Capture) -> (HashMap<Arc<str>, BookSync>, Vec<&str>) {
    let mut books = HashMap::new();
    let mut last = HashMap::new();
    for (wire, body) in &c.snapshots {
        let symbol = c.instruments.normalized(wire).expect("listed").clone();
        let mut sync = BookSync::new(c.instruments.exchange(), c.market, symbol.clone());
        let snap = parse::parse_snapshot(body).unwrap();
        last.insert(symbol.clone(), snap.last_update_id);
        assert!(matches!(sync.on_snapshot(snap, 0), SnapshotStep::Synced(_)));
        books.insert(symbol, sync);
    }
    let after = c
        .diffs
        .iter()
        .map(String::as_str)
        .filter(|d| match parse::parse_frame(&c.instruments, d, 0) {
            Ok(Frame::Depth(d)) => last.get(&d.symbol).is_some_and(|l| d.final_update_id > *l),
            _ => false,
        })
        .collect();
    (books, after)
}

fn bench(cr: &mut Criterion) {
    for (name, rel, market) in CAPTURES {
        let c = load(rel, market);
        let mut g = cr.benchmark_group(format!("binance_{name}"));
        if !c.trades.is_empty() {
            g.throughput(Throughput::Elements(c.trades.len() as u64));
            g.bench_function("trade_parse_normalize", |b| {
                b.iter(|| {
                    for t in &c.trades {
                        black_box(parse::parse_frame(&c.instruments, t, 0).unwrap());
                    }
                })
            });
        }
        let (base, diffs) = synced(&c);
        let levels: usize = diffs
            .iter()
            .map(|d| match parse::parse_frame(&c.instruments, d, 0) {
                Ok(Frame::Depth(d)) => d.bids.len() + d.asks.len(),
                _ => 0,
            })
            .sum();
        eprintln!(
            "{name}: {} trades; {} diffs after the snapshots, {:.1} levels per diff",
            c.trades.len(),
            diffs.len(),
            levels as f64 / diffs.len() as f64
        );
        // Depth throughput counts diffs; per price level = time per diff / levels per diff.
        g.throughput(Throughput::Elements(diffs.len() as u64));
        g.bench_function("depth_diff_parse_only", |b| {
            b.iter(|| {
                for d in &diffs {
                    black_box(parse::parse_frame(&c.instruments, d, 0).unwrap());
                }
            })
        });
        g.bench_function("depth_diff_parse_apply", |b| {
            b.iter_batched(
                || base.clone(),
                |mut books| {
                    for d in &diffs {
                        let Ok(Frame::Depth(d)) = parse::parse_frame(&c.instruments, d, 0) else {
                            unreachable!()
                        };
                        let sync = books.get_mut(&d.symbol).expect("synced");
                        black_box(sync.on_diff(d));
                    }
                    books // dropped outside the measurement
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
