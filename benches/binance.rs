//! Binance hot paths on recorded frames (hftbacktest captures in ../shared/fixtures):
//! parse + normalize of `@trade` frames, and parse + apply of depth diffs to a synced book.
//! Run with `cargo bench --bench binance`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedhandler::record::reader::{self, Recorded};
use feedhandler::venues::binance::parse::{self, Frame, Instruments, Market};
use feedhandler::venues::binance::sync::{BookSync, SnapshotStep};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const SPOT: &str = "hftbacktest/binance_spot_btcusdt_20240808_head6000.gz";
const USDM: &str = "hftbacktest/binance_usdm_btcusdt_20240808_head6000.gz";

struct Capture {
    market: Market,
    instruments: Instruments,
    snapshot: String,
    trades: Vec<String>,
    diffs: Vec<String>,
}

fn load(rel: &str, market: Market) -> Capture {
    let dir = std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    let rec = reader::read(&dir.join(rel)).expect("fixture");
    let info = parse::synthesize_exchange_info([String::from("BTCUSDT")].iter(), market == Market::Futures);
    let mut c = Capture {
        market,
        instruments: parse::parse_instruments(market, &info).unwrap(),
        snapshot: String::new(),
        trades: Vec::new(),
        diffs: Vec::new(),
    };
    for ev in rec.events {
        match ev {
            Recorded::Http { body, .. } => c.snapshot = body,
            Recorded::Recv { data, .. } if data.contains("@trade") => c.trades.push(data),
            Recorded::Recv { data, .. } if data.contains("@depth") => c.diffs.push(data),
            _ => {}
        }
    }
    c
}

/// A book synced at the capture's snapshot, and the diffs that follow it.
fn synced(c: &Capture) -> (BookSync, Vec<&str>) {
    let mut sync = BookSync::new(
        c.market,
        Arc::from(if c.market == Market::Spot {
            "BTC-USDT"
        } else {
            "BTC-USDT-PERP"
        }),
    );
    let snap = parse::parse_snapshot(&c.snapshot).unwrap();
    let last = snap.last_update_id;
    assert!(matches!(sync.on_snapshot(snap, 0), SnapshotStep::Synced(_)));
    let after: Vec<&str> = c
        .diffs
        .iter()
        .map(String::as_str)
        .filter(|d| match parse::parse_frame(c.market, &c.instruments, d, 0) {
            Ok(Frame::Depth(d)) => d.final_update_id > last,
            _ => false,
        })
        .collect();
    (sync, after)
}

fn bench(cr: &mut Criterion) {
    for (name, rel, market) in [("spot", SPOT, Market::Spot), ("usdm", USDM, Market::Futures)] {
        let c = load(rel, market);
        let mut g = cr.benchmark_group(format!("binance_{name}"));
        g.throughput(Throughput::Elements(c.trades.len() as u64));
        g.bench_function("trade_parse_normalize", |b| {
            b.iter(|| {
                for t in &c.trades {
                    black_box(parse::parse_frame(c.market, &c.instruments, t, 0).unwrap());
                }
            })
        });
        let (base, diffs) = synced(&c);
        let levels: usize = diffs
            .iter()
            .map(|d| match parse::parse_frame(c.market, &c.instruments, d, 0) {
                Ok(Frame::Depth(d)) => d.bids.len() + d.asks.len(),
                _ => 0,
            })
            .sum();
        eprintln!(
            "{name}: {} diffs after the snapshot, {:.1} levels per diff",
            diffs.len(),
            levels as f64 / diffs.len() as f64
        );
        // Depth throughput counts price levels; time per diff = iteration time / diffs.
        g.throughput(Throughput::Elements(levels as u64));
        g.bench_function("depth_diff_parse_only", |b| {
            b.iter(|| {
                for d in &diffs {
                    black_box(parse::parse_frame(c.market, &c.instruments, d, 0).unwrap());
                }
            })
        });
        g.bench_function("depth_diff_parse_apply", |b| {
            b.iter_batched(
                || base.clone(),
                |mut sync| {
                    for d in &diffs {
                        let Ok(Frame::Depth(d)) = parse::parse_frame(c.market, &c.instruments, d, 0) else {
                            unreachable!()
                        };
                        black_box(sync.on_diff(d));
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
