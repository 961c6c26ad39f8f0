//! `feedhandler run` against a local Binance playing real recordings: output equals
//! `replay`, an injected gap resyncs only its symbol, dropped connections reconnect,
//! resubscribe and resync without duplicate trades.

mod support;

use feedhandler::book::L2Book;
use feedhandler::model::Level;
use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use serde_json::Value;
use std::time::Duration;
use support::*;

fn config(venue: &LocalVenue, exchange: &str, symbols: &str, extra: &str) -> std::path::PathBuf {
    let yaml = format!(
        "exchanges:\n  {exchange}:\n    symbols: [{symbols}]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}\n{extra}tls:\n  ca_file: {}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    write_config(venue.dir.path(), "feedhandler.yaml", &yaml)
}

async fn run(venue: &LocalVenue, cfg: &std::path::Path) -> Finished {
    let out = run_until_played(
        command(&["run", "--config", cfg.to_str().unwrap()]),
        venue,
        Duration::from_millis(500),
    )
    .await;
    assert!(out.status.success(), "run failed: {}", out.stderr);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_through_a_proxy_equals_replay() {
    for (rel, exchange, symbols, extra) in [
        (
            BINANCE_CF,
            "binance",
            "NKN-USDT, BLZ-ETH, LRC-BTC, RUNE-EUR",
            "    trade_stream: agg_trade\n",
        ),
        (USDM_HFT, "binance_futures", "BTC-USDT-PERP", ""),
    ] {
        let venue = LocalVenue::start(&recording(rel), Switches::default()).await;
        let proxy = support::proxies::Proxy::danted(true).await;
        let url = proxy.url("socks5h", Some(support::proxies::DANTE_USER));
        let cfg = config(
            &venue,
            exchange,
            symbols,
            &format!("{extra}proxy:\n  default: {{ http: \"{url}\", websocket: \"{url}\" }}\n"),
        );
        let out = run(&venue, &cfg).await;
        proxy
            .wait_log(&format!("127.0.0.1.{}\n", venue.addr.port()))
            .await;
        let live = by_stream(&out.stdout);
        let replayed = by_stream(&replay(rel).await);
        assert_eq!(
            live.keys().collect::<Vec<_>>(),
            replayed.keys().collect::<Vec<_>>(),
            "{rel}"
        );
        for (key, events) in &replayed {
            let got = &live[key];
            let first_diff = events.iter().zip(got).position(|(a, b)| a != b);
            assert!(
                first_diff.is_none() && got.len() == events.len(),
                "{rel}: {key:?} differs between run and replay: {} vs {} events, first difference at {first_diff:?}; run stderr:\n{}",
                got.len(),
                events.len(),
                out.stderr
            );
        }
    }
}

fn top(book: &L2Book, n: usize) -> (Vec<Level>, Vec<Level>) {
    (book.bids().take(n).collect(), book.asks().take(n).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_gap_resyncs_only_that_symbol_and_the_book_is_right_afterwards() {
    let switches = Switches {
        skip_depth_frame: Some(("NKNUSDT".into(), 100)),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(BINANCE_CF), switches).await;
    let cfg = config(
        &venue,
        "binance",
        "NKN-USDT, BLZ-ETH, LRC-BTC, RUNE-EUR",
        "    trade_stream: agg_trade\n",
    );
    let out = run(&venue, &cfg).await;
    let st = statuses(&out.stdout);
    let resyncing: Vec<_> = st
        .iter()
        .filter(|(_, s)| s == "resyncing")
        .map(|(sym, _)| sym.as_str())
        .collect();
    assert_eq!(resyncing, ["NKN-USDT"], "only the gapped symbol resyncs: {st:?}");
    let synced_nkn = st
        .iter()
        .filter(|(sym, s)| sym == "NKN-USDT" && s == "synced")
        .count();
    assert_eq!(synced_nkn, 2, "initial sync and the resync");
    assert!(out.stderr.contains("sequence gap"), "the gap is logged");
    for (symbol, wire) in [
        ("NKN-USDT", "NKNUSDT"),
        ("BLZ-ETH", "BLZETH"),
        ("LRC-BTC", "LRCBTC"),
        ("RUNE-EUR", "RUNEEUR"),
    ] {
        let (_, truth) = venue.sim.book(wire).unwrap();
        assert_eq!(
            top(&books_from_output(&out.stdout)[symbol], 50),
            top(&truth, 50),
            "{symbol} book"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_reconnect_resubscribe_resync_without_duplicate_trades() {
    let switches = Switches {
        drop_after_frames: Some(400),
        rewind_on_reconnect: 40,
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let out = run(&venue, &config(&venue, "binance", "BTC-USDT", "")).await;
    assert!(
        venue.sim.connections() >= 3,
        "reconnected: {} connections",
        venue.sim.connections()
    );
    let ids: Vec<u64> = out
        .stdout
        .lines()
        .filter(|l| l.contains(r#""type":"trade""#))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no duplicate trades");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "trades in order");
    assert_eq!(ids.len(), 1123, "every recorded trade exactly once");
    // Each reconnect that found a synced book announces a resync, and every resync ends
    // synced (a connection dropped while its snapshot was pending has nothing to announce).
    let st: Vec<String> = statuses(&out.stdout).into_iter().map(|(_, s)| s).collect();
    let resyncs = st.iter().filter(|s| *s == "resyncing").count();
    assert!(resyncs >= 2, "books resynced after reconnects: {st:?}");
    let alternating = st
        .iter()
        .enumerate()
        .all(|(i, s)| s == if i % 2 == 0 { "synced" } else { "resyncing" });
    assert!(
        alternating && st.len() % 2 == 1,
        "synced, then resyncing/synced pairs: {st:?}"
    );
    let (_, truth) = venue.sim.book("BTCUSDT").unwrap();
    assert_eq!(
        top(&books_from_output(&out.stdout)["BTC-USDT"], 50),
        top(&truth, 50)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_run_and_replaying_it_reproduces_the_output() {
    let switches = Switches {
        drop_after_frames: Some(500),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let cfg = config(&venue, "binance", "BTC-USDT", "");
    let rec = venue.dir.path().join("run.jsonl");
    let cmd = command(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    let out = run_until_played(cmd, &venue, Duration::from_millis(500)).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(venue.sim.connections() >= 2, "the recording spans a reconnect");

    let recorded = feedhandler::record::reader::read(&rec).unwrap();
    assert_eq!(recorded.exchange, "BINANCE");
    let count = |pred: fn(&feedhandler::record::reader::Recorded) -> bool| {
        recorded.events.iter().filter(|e| pred(e)).count()
    };
    use feedhandler::record::reader::Recorded as R;
    assert_eq!(
        count(|e| matches!(e, R::Connect { .. })) as u64,
        venue.sim.connections()
    );
    assert!(count(|e| matches!(e, R::Send { data, .. } if data.contains("SUBSCRIBE"))) >= 2);
    assert!(count(|e| matches!(e, R::Http { url, .. } if url.contains("exchangeInfo"))) == 1);

    assert_replay_reproduces(&rec, &out.stdout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pings_are_answered() {
    let switches = Switches {
        ping_every_frames: Some(100),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let out = run(&venue, &config(&venue, "binance", "BTC-USDT", "")).await;
    let (pings, pongs) = venue.sim.pings();
    assert!(pings >= 10, "{pings} pings sent");
    assert_eq!(pongs, pings, "every ping answered with its payload");
    assert_eq!(venue.sim.connections(), 1, "no reconnect: {}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_stops_snapshot_requests_instead_of_hammering() {
    let switches = Switches {
        rate_limit_snapshots: 1,
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let cfg = config(&venue, "binance", "BTC-USDT", "");
    let child = command(&["run", "--config", cfg.to_str().unwrap()])
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while venue.sim.snapshot_requests() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "no snapshot request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(venue.sim.snapshot_requests(), 1, "no retry during the pause");
    unsafe_kill(child.id().unwrap() as i32, "TERM");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("REST rate limit hit; no snapshot requests for 60 s"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_after_the_idle_timeout() {
    // After the recording the venue keeps the connection open and sends nothing.
    let venue = LocalVenue::start(&recording(BINANCE_CF), Switches::default()).await;
    let cfg = config(
        &venue,
        "binance",
        "NKN-USDT, LRC-BTC",
        "    idle_timeout_ms: 2000\n",
    );
    let cmd = command(&["run", "--config", cfg.to_str().unwrap()]);
    let out = run_until(cmd, &venue, Duration::from_secs(20), |v| {
        v.sim.finished() && v.sim.connections() >= 2
    })
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(venue.sim.connections() >= 2, "replaced: {}", out.stderr);
    assert!(
        out.stderr.contains("no data within the idle timeout"),
        "{}",
        out.stderr
    );
    let st = statuses(&out.stdout);
    for symbol in ["NKN-USDT", "LRC-BTC"] {
        let mine: Vec<&str> = st
            .iter()
            .filter(|(s, _)| s == symbol)
            .map(|(_, s)| s.as_str())
            .collect();
        assert!(
            mine.starts_with(&["synced", "resyncing", "synced"]),
            "{symbol}: {mine:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_age_limit_a_replacement_takes_over_without_resync_or_lost_trades() {
    let switches = Switches {
        frame_interval: Some(Duration::from_millis(2)),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let cfg = config(&venue, "binance", "BTC-USDT", "    max_connection_age_s: 1\n");
    let rec = venue.dir.path().join("aged.jsonl");
    let cmd = command(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    let out = run_until(cmd, &venue, Duration::from_secs(60), |v| v.sim.finished()).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        venue.sim.connections() >= 2,
        "replaced while streaming: {}",
        out.stderr
    );
    // Taken over on evidence (the old connection reached the replacement's first frame,
    // or was past it), not by a timeout.
    let took_over = ["caught up", "is ahead"]
        .map(|why| format!("replacement connection took over: the old connection {why}"));
    assert!(took_over.iter().any(|t| out.stderr.contains(t)), "{}", out.stderr);
    let trades = out
        .stdout
        .lines()
        .filter(|l| l.contains(r#""type":"trade""#))
        .count();
    assert_eq!(trades, 1123, "every recorded trade exactly once");
    let st: Vec<String> = statuses(&out.stdout).into_iter().map(|(_, s)| s).collect();
    assert_eq!(st, ["synced"], "the book carried over without a resync");
    let (_, truth) = venue.sim.book("BTCUSDT").unwrap();
    assert_eq!(
        top(&books_from_output(&out.stdout)["BTC-USDT"], 50),
        top(&truth, 50)
    );
    // The recording marks the handover, so replaying it gives the same events.
    assert_replay_reproduces(&rec, &out.stdout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruments_are_retried_while_the_venue_is_unavailable() {
    let switches = Switches {
        unavailable_requests: 2,
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(BINANCE_CF), switches).await;
    let out = run(&venue, &config(&venue, "binance", "NKN-USDT", "")).await;
    assert_eq!(out.stderr.matches("HTTP status 503").count(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("retrying in"), "{}", out.stderr);
    assert!(
        statuses(&out.stdout).contains(&("NKN-USDT".into(), "synced".into())),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbols_are_rejected_at_start() {
    let venue = LocalVenue::start(&recording(BINANCE_CF), Switches::default()).await;
    let cfg = config(&venue, "binance", "NKN-USDT, NOPE-USDT, BTC-DOGE", "");
    let out = command(&["run", "--config", cfg.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NOPE-USDT") && stderr.contains("BTC-DOGE"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("NKN-USDT"),
        "only the unknown ones are named: {stderr}"
    );
    assert_eq!(venue.sim.connections(), 0, "no stream opened");
    assert_eq!(venue.sim.http_requests(), 1, "exchangeInfo only");
}
