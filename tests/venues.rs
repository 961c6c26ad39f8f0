//! The venue registry seen from outside: unknown venues are rejected with the key path
//! and the list of known ones; Binance.US (`binance_us`) runs through the Binance code
//! with its own rules, live against a local venue through a real proxy and in replay;
//! recordings of venues feedhandler does not know are refused.

mod support;

use feedhandler::record::reader;
use feedhandler::sim::binance::Switches;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

const VALID: &str = "exchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades] }\n";

#[tokio::test]
async fn unknown_venues_are_rejected_with_the_key_path_and_the_known_venues() {
    // Native venues first, then the shipped REST definitions.
    let known = "expected one of: binance, binance_futures, binance_us, coinbase, binance_rest, bitfinex, bitstamp, bybit, coinbase_rest, cryptocom, gate, gemini, kraken, kucoin, mexc, okx";
    for (yaml, expected) in [
        (
            "exchanges:\n  krakn: { symbols: [BTC-USD], channels: [trades] }\n".to_owned(),
            format!("exchanges.krakn (file FILE): unknown value `krakn`; {known}"),
        ),
        (
            format!("proxy:\n  exchanges:\n    binanceus: {{ http: \"http://p:1\" }}\n{VALID}"),
            format!("proxy.exchanges.binanceus (file FILE): unknown value `binanceus`; {known}"),
        ),
        (
            "exchanges:\n  Binance: { symbols: [BTC-USDT], channels: [trades] }\n".to_owned(),
            "a venue name is 1-32 characters of a-z, 0-9 and _".to_owned(),
        ),
    ] {
        let (code, stdout, stderr) = check(&yaml, &[]).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
    }
}

#[tokio::test]
async fn each_venue_validates_its_own_keys() {
    // (section, expected): Binance.US takes 5000-level snapshots, USD-M futures not; keys
    // of another kind are named as such; unknown keys list what the kind takes.
    for (section, expected) in [
        (
            "binance_futures: { symbols: [A-B-PERP], channels: [l2_book], depth_limit: 5000 }",
            "exchanges.binance_futures.depth_limit (file FILE): must be one of [5, 10, 20, 50, 100, 500, 1000]",
        ),
        (
            "binance_us: { symbols: [A-B], channels: [trades], credentials: { key_name: k, private_key: p } }",
            "exchanges.binance_us.credentials (file FILE): binance_us public market data takes no credentials",
        ),
        (
            "coinbase: { symbols: [BTC-USD], channels: [trades], depth_limit: 100 }",
            "exchanges.coinbase.depth_limit (file FILE): coinbase has no depth limit (snapshots are the whole book)",
        ),
        (
            "binance_us: { symbols: [A-B], channels: [trades], depth: 100 }",
            "exchanges.binance_us.depth (file FILE): unknown key `depth`; expected one of: symbols, channels, ws_url, rest_url, idle_timeout_ms, reconnect_max_delay_ms, trade_stream, depth_limit, max_connection_age_s, snapshot_weight_share_percent",
        ),
    ] {
        let (code, _, stderr) = check(&format!("exchanges:\n  {section}\n"), &[]).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
    let yaml = "exchanges:\n  binance_us: { symbols: [BTC-USD, ETH-USDT], channels: [trades, l2_book], depth_limit: 5000 }\n";
    let (code, stdout, stderr) = check(yaml, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.ends_with("exchange binance_us\n  channels:  trades, l2_book\n  symbols:   BTC-USD, ETH-USDT\n  snapshots: 5000 levels, weight 50 each, 100 for 2 books; budget 600 weight/min (50% of 1200) -> first sync at once\n  http:      direct [nothing configured]\n  websocket: direct [nothing configured]\n"),
        "{stdout}"
    );
}

/// The cryptofeed Binance spot session as Binance.US would have sent it: Binance.US
/// serves the same combined streams and depth snapshots on its own hosts (its API
/// documentation), so the header and hosts are all that differ.
fn binance_us_recording(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fixture(BINANCE_CF)).unwrap();
    let text = text
        .replacen(r#""exchange":"BINANCE""#, r#""exchange":"BINANCE_US""#, 1)
        .replace("api.binance.com", "api.binance.us")
        .replace("stream.binance.com", "stream.binance.us");
    let path = dir.join("BINANCE_US.jsonl");
    std::fs::write(&path, text).unwrap();
    assert_eq!(reader::read(&path).unwrap().exchange, "BINANCE_US");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_us_streams_through_a_proxy_with_zero_gaps_and_replays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let us = binance_us_recording(dir.path());
    let venue = LocalVenue::start(&reader::read(&us).unwrap(), Switches::default()).await;
    let proxy = support::proxies::Proxy::microsocks(None).await;
    let url = proxy.url("socks5h", None);
    let yaml = format!(
        "proxy:\n  default: {{ http: \"{url}\", websocket: \"{url}\" }}\nexchanges:\n  binance_us:\n    symbols: [NKN-USDT, BLZ-ETH, LRC-BTC, RUNE-EUR]\n    channels: [trades, l2_book]\n    trade_stream: agg_trade\n    ws_url: {}\n    rest_url: {}\ntls:\n  ca_file: {}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(dir.path(), "us.yaml", &yaml);
    let rec = dir.path().join("run.jsonl");
    let cmd = command(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    let out = run_until_played(cmd, &venue, Duration::from_millis(500)).await;
    assert!(out.status.success(), "{}", out.stderr);
    // The connections went through the proxy, which resolved the venue's host name.
    proxy
        .wait_log(&format!("connected to localhost:{}", venue.addr.port()))
        .await;
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 100, "{}", out.stderr);
    assert!(lines.iter().all(|v| v["exchange"] == "binance_us"));
    let st = statuses(&out.stdout);
    assert_eq!(st.len(), 4, "one `synced` per book and no resync: {st:?}");
    assert!(st.iter().all(|(_, s)| s == "synced"));
    assert!(!out.stderr.contains("sequence gap"), "{}", out.stderr);
    assert_replay_reproduces(&rec, &out.stdout).await;

    // The recording itself replays as Binance.US: the same events as the run.
    let replayed = command(&["replay", us.to_str().unwrap()]).output().await.unwrap();
    assert!(replayed.status.success());
    let replayed = String::from_utf8(replayed.stdout).unwrap();
    assert_eq!(by_stream(&replayed), by_stream(&out.stdout));
}

#[tokio::test]
async fn recordings_of_unknown_venues_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("BITSO.jsonl");
    std::fs::write(
        &path,
        "{\"t\":\"header\",\"exchange\":\"BITSO\",\"recorded\":1.0}\n",
    )
    .unwrap();
    for args in [
        vec!["replay", path.to_str().unwrap()],
        vec![
            "simulate",
            "--recording",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let out = command(&args).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(r#"recordings of "BITSO" cannot be replayed (supported: BINANCE, BINANCE_FUTURES, BINANCE_US, COINBASE, BINANCE_REST, BITFINEX, BITSTAMP, BYBIT, COINBASE_REST, CRYPTOCOM, GATE, GEMINI, KRAKEN, KUCOIN, MEXC, OKX)"#),
            "{args:?}: {stderr}"
        );
    }
}
