//! End-to-end sink throughput: the normalized events of the recorded sessions (Binance
//! spot and USD-M captures, Coinbase session), repeated to 300k events, through the
//! stdout sink into /dev/null and through the Kafka sink (acks=all, idempotence) into a
//! broker at $FEEDHANDLER_BENCH_KAFKA (scripts/bench.sh starts one). Prints events/s.
//! Under `cargo test` it runs a small smoke pass only.

use feedhandler::config::{KafkaConfig, OnFull};
use feedhandler::model::Event;
use feedhandler::record::reader;
use std::path::Path;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

const EVENTS: usize = 300_000;

async fn recorded_events() -> Vec<Event> {
    let dir = std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    let mut all = Vec::new();
    for rel in [
        "hftbacktest/binance_spot_btcusdt_20240808_head6000.gz",
        "hftbacktest/binance_usdm_btcusdt_20240808_head6000.gz",
        "cryptofeed/COINBASE.jsonl",
    ] {
        let rec = reader::read(&dir.join(rel)).expect("fixture");
        let (tx, mut rx) = mpsc::channel(1 << 16);
        let replay = tokio::spawn(async move {
            feedhandler::replay::replay(&rec, &feedhandler::venues::rest::catalog::Catalog::shipped(), tx)
                .await
        });
        while let Some(e) = rx.recv().await {
            all.push(e);
        }
        replay.await.unwrap().unwrap();
    }
    all
}

/// Feeds `n` events (the recorded ones, repeated) into a fresh queue of `capacity`.
fn feed(events: &[Event], n: usize, capacity: usize) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(capacity);
    let events = events.to_vec();
    tokio::spawn(async move {
        for e in events.iter().cycle().take(n) {
            if tx.send(e.clone()).await.is_err() {
                return;
            }
        }
    });
    rx
}

fn report(what: &str, n: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{what}: {n} events in {:.3} s = {:.0} events/s",
        secs,
        n as f64 / secs
    );
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { EVENTS } else { 1_000 };
    let events = recorded_events().await;
    println!("{} distinct recorded events, sending {n}", events.len());

    let devnull = tokio::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .await
        .unwrap();
    let started = Instant::now();
    let written = feedhandler::sink::stdout::run(feed(&events, n, 65_536), devnull)
        .await
        .unwrap();
    assert_eq!(written as usize, n);
    report("stdout sink -> /dev/null", n, started);

    let Some(bootstrap) = std::env::var("FEEDHANDLER_BENCH_KAFKA").ok().filter(|_| full) else {
        println!("kafka sink: skipped (set FEEDHANDLER_BENCH_KAFKA=host:port and run with cargo bench)");
        return;
    };
    let cfg = KafkaConfig {
        bootstrap_servers: bootstrap,
        topic: "bench.{type}.{exchange}".into(),
        properties: Default::default(),
        queue_capacity: 65_536,
        on_full: OnFull::Block,
        flush_timeout_ms: 60_000,
    };
    let (_stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let r = feedhandler::sink::kafka::run(cfg, feed(&events, n, 65_536), shutdown)
        .await
        .unwrap();
    assert_eq!(
        (r.delivered as usize, r.failed, r.undelivered),
        (n, 0, 0),
        "{r:?}"
    );
    report(
        "kafka sink (acks=all, idempotent, zstd) -> broker, all delivered",
        n,
        started,
    );
}
