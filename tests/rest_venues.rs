//! REST venues end to end: `feedhandler run` polls local venues that answer with the
//! venues' real bodies (Gate's instrument list and a full book, Kraken's AssetPairs and a
//! recorded trades page) and scripted trade pages in Gate's format (overlapping pages, a
//! page full of new trades, a 500, a 429 with Retry-After, a venue error inside a 200),
//! through a real HTTP proxy; stdout, the venue's request log and the proxy's log are
//! checked. REST sections refuse the keys of streaming venues.

mod support;

use feedhandler::sim::server::HttpReply;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use support::proxies::Proxy;
use support::rest_venue::{ScriptedRest, events};
use support::*;

/// The answer to `path` in a `rest/*.http.jsonl` recording.
fn recorded(file: &str, path: &str) -> String {
    let text = std::fs::read_to_string(fixture(&format!("rest/{file}"))).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["url"].as_str().unwrap().contains(path))
        .map(|v| v["data"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{file} has no {path}"))
}

/// A Gate trades page (newest first, as Gate answers) of ids `ids`, in the fields and
/// formats of Gate's recorded answer (`ccxt/gate.json`).
fn gate_page(ids: std::ops::RangeInclusive<u64>) -> HttpReply {
    let trades: Vec<String> = ids
        .rev()
        .map(|id| {
            let side = if id % 2 == 0 { "sell" } else { "buy" };
            format!(
                r#"{{"id":"{id}","create_time":"1710327648","create_time_ms":"{}.035000","currency_pair":"FAST_USDT","side":"{side}","amount":"0.00020","price":"10.{id:02}","sequence_id":"{}"}}"#,
                1_710_327_648_000 + id,
                29_014_700 + id
            )
        })
        .collect();
    HttpReply::ok(format!("[{}]", trades.join(",")))
}

/// No span of requests came faster than the limit's `spacing` allows: requests i..j
/// took at least (j - i) spacings, less 15 ms for the network (the client paces request
/// starts; arrivals vary with each tunnel's setup).
fn assert_within_limit(requests: &[(std::time::Instant, String)], spacing: Duration) {
    let jitter = Duration::from_millis(15);
    for i in 0..requests.len() {
        for j in i + 1..requests.len() {
            let span = requests[j].0 - requests[i].0;
            let least = spacing * u32::try_from(j - i).unwrap();
            assert!(
                span + jitter >= least,
                "requests {i}..{j} within {span:?}, limit {least:?}"
            );
        }
    }
}

/// Smallest time between two consecutive requests.
fn min_spacing(requests: &[(std::time::Instant, String)]) -> Duration {
    requests
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .min()
        .unwrap_or(Duration::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_venues_poll_through_a_proxy_and_lose_nothing() {
    let kraken_page = {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("ccxt/kraken.json")).unwrap()).unwrap();
        doc["methods"]["fetchTrades"][0]["httpResponse"].to_string()
    };
    let script = ScriptedRest::default()
        .route(
            "/api/v4/spot/currency_pairs",
            vec![HttpReply::ok(recorded("gateio.http.jsonl", "currency_pairs"))],
        )
        .route(
            "/api/v4/spot/order_book",
            vec![HttpReply::ok(recorded("gateio.http.jsonl", "FAST_USDT"))],
        )
        .route(
            "/api/v4/spot/trades",
            vec![
                HttpReply::status(500, r#"{"label":"SERVER_ERROR","message":"internal"}"#),
                gate_page(1..=5),
                gate_page(3..=7),
                HttpReply {
                    retry_after_s: Some(1),
                    ..HttpReply::status(429, r#"{"label":"TOO_MANY_REQUESTS"}"#)
                },
                gate_page(20..=24),
                gate_page(22..=26),
            ],
        )
        .route(
            "/0/public/AssetPairs",
            vec![HttpReply::ok(recorded("kraken.http.jsonl", "AssetPairs"))],
        )
        .route(
            "/0/public/Trades",
            vec![
                HttpReply::ok(r#"{"error":["EService:Unavailable"]}"#),
                HttpReply::ok(kraken_page),
                HttpReply::ok(r#"{"error":[],"result":{"XBTUSDT":[],"last":"1710327959173746878"}}"#),
            ],
        );
    let venue = LocalVenue::serve(Arc::new(script)).await;
    let proxy = Proxy::tinyproxy(None).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "tls: {{ ca_file: {ca} }}\n\
         proxy:\n  default:\n    http: \"http://127.0.0.1:{port}\"\n\
         exchanges:\n\
         \x20 gate:\n    symbols: [FAST-USDT]\n    channels: [trades, l2_book]\n    rest_url: {url}\n\
         \x20   trades_limit: 5\n    trades_interval_ms: 200\n    book_interval_ms: 400\n    book_depth: 10\n\
         \x20   reconnect_max_delay_ms: 500\n\
         \x20 kraken:\n    symbols: [BTC-USDT]\n    channels: [trades]\n    rest_url: {url}\n    reconnect_max_delay_ms: 500\n",
        ca = venue.ca.ca_pem.display(),
        port = proxy.port,
        url = venue.rest_url(),
    );
    let config = write_config(dir.path(), "feedhandler.yaml", &yaml);
    let rec = dir.path().join("rec.jsonl");
    let cmd = command(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    let out = run_until(cmd, &venue, Duration::from_secs(30), |v| {
        use feedhandler::sim::Playback;
        v.sim.finished() && v.sim.requests_to("/0/public/Trades").len() >= 3
    })
    .await;
    assert!(out.status.success(), "{}", out.stderr);

    // Gate: every trade once, oldest first; the gap announced before the page that
    // held only unseen trades.
    let gate = events(&out.stdout, "gate");
    let tape: Vec<String> = (gate.iter())
        .filter(|e| e["type"] == "trade" || e["type"] == "trade_status")
        .map(|e| match e["type"].as_str() {
            Some("trade") => e["id"].as_str().unwrap().to_owned(),
            _ => format!(
                "{}:{}",
                e["status"].as_str().unwrap(),
                e["symbol"].as_str().unwrap()
            ),
        })
        .collect();
    let mut want: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
    want.push("gap:FAST-USDT".into());
    want.extend((20..=26).map(|i| i.to_string()));
    assert_eq!(tape, want, "{}", out.stderr);
    let first = gate.iter().find(|e| e["type"] == "trade").unwrap();
    assert_eq!(
        (first["price"].as_str(), first["amount"].as_str()),
        (Some("10.01"), Some("0.00020"))
    );
    assert_eq!(first["exchange_ts_ns"], 1_710_327_648_001_035_000_i64);
    // Books: snapshots of the recorded book, cut to the configured depth.
    let books: Vec<&Value> = gate.iter().filter(|e| e["type"] == "book").collect();
    assert!(books.len() >= 2, "{}", out.stderr);
    let raw: Value = serde_json::from_str(&recorded("gateio.http.jsonl", "FAST_USDT")).unwrap();
    for b in &books {
        assert_eq!(
            (b["update"].as_str(), b["sequence"].as_u64()),
            (Some("snapshot"), raw["id"].as_u64())
        );
        assert_eq!(b["bids"].as_array().unwrap().len(), 10);
        assert_eq!(b["asks"][0], serde_json::json!(raw["asks"][0]));
    }

    // The 429 paused the whole venue for its Retry-After: no Gate request of either
    // kind came sooner; and requests never came faster than the definition's limit
    // (Gate 200 per 10 s; Kraken 1 per second).
    let gate_requests = venue.sim.requests_to("/api/v4");
    let limited = (venue.sim.requests_to("/api/v4/spot/trades"))[3].0;
    let next = gate_requests.iter().find(|(t, _)| *t > limited).unwrap().0;
    assert!(
        next - limited >= Duration::from_millis(990),
        "resumed after {:?}",
        next - limited
    );
    assert!(out.stderr.contains("rate limited"), "{}", out.stderr);
    assert_within_limit(&gate_requests, Duration::from_millis(50));
    let kraken_requests = venue.sim.requests_to("/0/public");
    assert_within_limit(&kraken_requests, Duration::from_secs(1));
    println!(
        "spacing: gate {:?} (limit 50 ms), kraken {:?} (limit 1 s); resumed {:?} after a 429 with Retry-After: 1",
        min_spacing(&gate_requests),
        min_spacing(&kraken_requests),
        next - limited
    );

    // Kraken: the venue error inside a 200 is an error (logged, retried); the recorded
    // trade comes once; the next request follows the answer's cursor.
    assert!(out.stderr.contains("EService:Unavailable"), "{}", out.stderr);
    let kraken = events(&out.stdout, "kraken");
    let ids: Vec<&str> = kraken.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["6324366"]);
    let trades = venue.sim.requests_to("/0/public/Trades");
    assert!(!trades[1].1.contains("since="), "{}", trades[1].1);
    assert!(
        trades[2].1.contains("since=1710327959173746878"),
        "{}",
        trades[2].1
    );

    // Every request went through the proxy: one tunnel per request (the venue closes
    // each connection), all in the proxy's log.
    let tunnels = proxy
        .log()
        .matches(&format!("CONNECT localhost:{}", venue.addr.port()))
        .count();
    assert_eq!(tunnels, venue.sim.requests().len(), "{}", proxy.log());

    // Replay of the recording gives the same Gate events.
    let gate_lines: String = (out.stdout.lines())
        .filter(|l| l.contains(r#""exchange":"gate""#))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_replay_reproduces(&dir.path().join("rec.gate.jsonl"), &gate_lines).await;
}

#[tokio::test]
async fn rest_venue_sections_refuse_streaming_keys_and_unknown_markets() {
    let yaml = "exchanges:\n  kraken:\n    symbols: [BTC-USD, BTC-USD-PERP, btc-usd]\n    channels: [trades]\n    ws_url: wss://ws.kraken.com\n    idle_timeout_ms: 5000\n    depth_limit: 100\n    trades_interval_ms: 50\n    book_depth: 501\n";
    let (code, _, stderr) = check(yaml, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    for want in [
        "exchanges.kraken.ws_url (file FILE): kraken is polled over REST: it has no WebSocket",
        "exchanges.kraken.idle_timeout_ms (file FILE): kraken is polled: set trades_interval_ms / book_interval_ms",
        "exchanges.kraken.depth_limit (file FILE): kraken takes book_depth",
        "exchanges.kraken.trades_interval_ms (file FILE): must be 100-3600000",
        "exchanges.kraken.book_depth (file FILE): must be 1-500 (kraken takes no more)",
        "exchanges.kraken.symbols (file FILE): symbol BTC-USD-PERP: kraken defines no perp market",
        "exchanges.kraken.symbols (file FILE): symbol btc-usd: a REST venue takes normalized symbols, BASE-QUOTE or BASE-QUOTE-PERP",
    ] {
        assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");
    }
}
