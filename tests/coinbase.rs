//! Coinbase on the real recorded session: snapshots with both sides, every update applied,
//! books that never cross, trades unique and in order; and `run` against a local Coinbase
//! through a real proxy: equal to `replay`, resubscribe after a sequence gap, reconnects
//! without duplicate trades.

mod support;

use feedhandler::book::L2Book;
use feedhandler::model::{BookUpdateKind, Event};
use feedhandler::record::reader::Recorded;
use feedhandler::sim::Playback;
use feedhandler::sim::coinbase::{CoinbaseSim, Switches};
use feedhandler::venues::coinbase::{parse, session::Output, session::Session};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use support::proxies::Proxy;
use support::*;

const PRODUCTS: [&str; 2] = ["BTC-USD", "ETH-USD"];

fn replay_session() -> (Vec<Output>, Session, usize) {
    let rec = recording(COINBASE_CF);
    let body = rec
        .events
        .iter()
        .find_map(|e| match e {
            Recorded::Http { body, .. } => Some(body.clone()),
            _ => None,
        })
        .unwrap();
    let products =
        parse::parse_products(feedhandler::model::VenueId::new("coinbase").unwrap(), &body).unwrap();
    let books: Vec<Arc<str>> = PRODUCTS
        .iter()
        .map(|p| products.get(p).unwrap().clone())
        .collect();
    let mut session = Session::new(products, &books);
    let (mut all, mut crossed) = (Vec::new(), 0);
    for e in &rec.events {
        if let Recorded::Recv { data, ts_ns, .. } = e {
            session.on_frame(data, *ts_ns, &mut all).unwrap();
            crossed += PRODUCTS
                .iter()
                .filter(|p| session.book(p).is_some_and(L2Book::is_crossed))
                .count();
        }
    }
    (all, session, crossed)
}

#[test]
fn recorded_session_snapshots_have_both_sides_every_update_applies_books_never_cross() {
    let (outputs, session, crossed) = replay_session();
    assert_eq!(crossed, 0, "a book crossed");
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Resubscribe(_))),
        "no sequence gap in the recording"
    );
    let books: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Book(b)) => Some(b),
            _ => None,
        })
        .collect();
    let snapshots: Vec<_> = books
        .iter()
        .filter(|b| b.update == BookUpdateKind::Snapshot)
        .collect();
    assert_eq!(snapshots.len(), 2);
    for s in &snapshots {
        // Coinbase marks asks "offer": a parser filtering on "ask" would leave these empty.
        assert!(
            s.bids.len() > 100 && s.asks.len() > 100,
            "{}: {} bids, {} asks",
            s.symbol,
            s.bids.len(),
            s.asks.len()
        );
    }
    // 773 l2_data updates in the recording (counted from the file), all applied.
    assert_eq!(books.len() - snapshots.len(), 773);
    for p in PRODUCTS {
        let book = session.book(p).unwrap();
        let (bid, ask) = (book.best_bid().unwrap().0, book.best_ask().unwrap().0);
        assert!(bid < ask, "{p}: {bid} / {ask}");
    }
}

#[test]
fn recorded_trades_are_unique_in_trade_order_with_the_venues_values() {
    let (outputs, _, _) = replay_session();
    let trades: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Trade(t)) => Some(t),
            _ => None,
        })
        .collect();
    // 279 distinct trade ids appear in the recording's market_trades messages.
    assert_eq!(trades.len(), 279);
    for p in PRODUCTS {
        let ids: Vec<u64> = trades
            .iter()
            .filter(|t| &*t.symbol == p)
            .map(|t| t.id.number().unwrap())
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{p}: trade ids in increasing order"
        );
    }
    // The snapshot lists BTC-USD newest first; its oldest trade must come out first.
    let first_btc = trades.iter().find(|t| &*t.symbol == "BTC-USD").unwrap();
    let v = serde_json::to_value(first_btc).unwrap();
    let raw = std::fs::read_to_string(fixture(COINBASE_CF)).unwrap();
    assert!(raw.contains(&format!(r#"\"trade_id\":\"{}\""#, first_btc.id)));
    assert_eq!(v["exchange"], "coinbase");
    let newest = trades.iter().find(|t| t.id.to_string() == "1068572090").unwrap();
    assert_eq!(serde_json::to_value(newest).unwrap()["price"], "65083.67");
    assert_eq!(serde_json::to_value(newest).unwrap()["amount"], "0.002186");
    assert_eq!(serde_json::to_value(newest).unwrap()["side"], "sell");
    assert_eq!(
        newest.exchange_ts_ns, 1_786_309_542_514_318_000,
        "2026-08-09T21:05:42.514318Z"
    );
}

async fn venue(switches: Switches) -> LocalVenue<CoinbaseSim> {
    LocalVenue::serve(Arc::new(CoinbaseSim::new(&recording(COINBASE_CF), switches))).await
}

fn config(venue: &LocalVenue<CoinbaseSim>, proxy: Option<&str>) -> std::path::PathBuf {
    let proxy = proxy
        .map(|p| format!("proxy:\n  default: {{ http: \"{p}\", websocket: \"{p}\" }}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "{proxy}exchanges:\n  coinbase:\n    symbols: [BTC-USD, ETH-USD]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}/api/v3/brokerage\ntls: {{ ca_file: {} }}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    write_config(venue.dir.path(), "coinbase.yaml", &yaml)
}

/// Coinbase snapshots are the whole book (megabytes): the quiet period before stopping
/// leaves a debug build time to parse one.
async fn run(venue: &LocalVenue<CoinbaseSim>, cfg: &std::path::Path) -> Finished {
    let out = run_until_played(
        command(&["run", "--config", cfg.to_str().unwrap()]),
        venue,
        Duration::from_millis(2000),
    )
    .await;
    assert!(out.status.success(), "run failed: {}", out.stderr);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_through_a_proxy_equals_replay() {
    let v = venue(Switches::default()).await;
    let p = Proxy::microsocks(None).await;
    let out = run(&v, &config(&v, Some(&p.url("socks5h", None)))).await;
    p.wait_log(&format!("connected to localhost:{}", v.addr.port()))
        .await;
    // `sequence` is Coinbase's per-connection message number: it depends on what the
    // connection subscribed to, so it differs from the recorded session's and is left out.
    let strip = |jsonl: &str| {
        let mut grouped = by_stream(jsonl);
        grouped.values_mut().flatten().for_each(|v| {
            v.as_object_mut().unwrap().remove("sequence");
        });
        grouped
    };
    let (live, replayed) = (strip(&out.stdout), strip(&replay(COINBASE_CF).await));
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>()
    );
    for (key, events) in &replayed {
        let got = &live[key];
        let first_diff = events.iter().zip(got).position(|(a, b)| a != b);
        assert!(
            first_diff.is_none() && got.len() == events.len(),
            "{key:?}: {} live vs {} replayed, first difference at {first_diff:?}",
            got.len(),
            events.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_gap_resubscribes_and_the_books_end_right() {
    let v = venue(Switches {
        skip_sequence_after: Some(100),
        ..Switches::default()
    })
    .await;
    let out = run(&v, &config(&v, None)).await;
    assert!(
        out.stderr.contains("sequence gap: expected sequence_num"),
        "{}",
        out.stderr
    );
    let (books, statuses) = (books_from_output(&out.stdout), statuses(&out.stdout));
    for p in PRODUCTS {
        let st: Vec<&str> = statuses
            .iter()
            .filter(|(s, _)| s == p)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(st, ["synced", "resyncing", "synced"], "{p}");
        assert_eq!(
            books[p],
            v.sim.book(p).unwrap(),
            "{p}: book after the resync equals the venue's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_reconnect_resubscribe_resync_without_duplicate_trades() {
    let v = venue(Switches {
        drop_after_frames: Some(250),
        ..Switches::default()
    })
    .await;
    let out = run(&v, &config(&v, None)).await;
    assert!(v.sim.connections() >= 3, "{} connections", v.sim.connections());
    let ids: Vec<(String, u64)> = out
        .stdout
        .lines()
        .filter(|l| l.contains(r#""type":"trade""#))
        .map(|l| {
            let t: Value = serde_json::from_str(l).unwrap();
            (
                t["symbol"].as_str().unwrap().to_owned(),
                t["id"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids.len(),
        279,
        "every recorded trade exactly once (reconnect snapshots repeat recent trades)"
    );
    for p in PRODUCTS {
        let mine: Vec<u64> = ids.iter().filter(|(s, _)| s == p).map(|(_, i)| *i).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{p}: unique and in order");
    }
    let (books, statuses) = (books_from_output(&out.stdout), statuses(&out.stdout));
    for p in PRODUCTS {
        let resyncs = statuses
            .iter()
            .filter(|(s, st)| s == p && st == "resyncing")
            .count();
        assert!(
            resyncs >= 2,
            "{p}: books resync after each reconnect: {statuses:?}"
        );
        assert_eq!(books[p], v.sim.book(p).unwrap(), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_credentials_sign_every_subscription_and_never_show_the_key() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use feedhandler::venues::coinbase::jwt::Signer;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let v = venue(Switches::default()).await;
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let key_name = "organizations/test-org/apiKeys/test-key";
    let indented: String = pem.lines().map(|l| format!("        {l}\n")).collect();
    let yaml = format!(
        "exchanges:\n  coinbase:\n    symbols: [BTC-USD, ETH-USD]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}/api/v3/brokerage\n    credentials:\n      key_name: {key_name}\n      private_key: |\n{indented}tls: {{ ca_file: {} }}\n",
        v.ws_url(),
        v.rest_url(),
        v.ca.ca_pem.display()
    );
    let cfg = write_config(v.dir.path(), "signed.yaml", &yaml);
    let rec = v.dir.path().join("signed.jsonl");
    let cmd = command(&[
        "--log",
        "trace",
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    let out = run_until_played(cmd, &v, Duration::from_millis(2000)).await;
    assert!(
        out.status.success(),
        "{}",
        &out.stderr[out.stderr.len().saturating_sub(2000)..]
    );

    let public = Signer::new(key_name, &pem).unwrap().public_key().to_vec();
    let subscriptions = v.sim.client_messages();
    assert_eq!(subscriptions.len(), 3, "market_trades, level2, heartbeats");
    let mut tokens = Vec::new();
    for s in &subscriptions {
        let msg: Value = serde_json::from_str(s).unwrap();
        let token = msg["jwt"]
            .as_str()
            .unwrap_or_else(|| panic!("unsigned subscription {s}"));
        let (input, signature) = token.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .expect("ES256 signature by the configured key");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(input.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("cdp"), Some(key_name))
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
            120
        );
        tokens.push(token.to_owned());
    }
    let recording = std::fs::read_to_string(&rec).unwrap();
    assert_eq!(
        recording.matches(r#"\"jwt\":\"***\""#).count(),
        3,
        "the recording masks the tokens"
    );
    let key_body = pem.lines().nth(1).unwrap();
    for text in [&out.stderr, &out.stdout, &recording] {
        assert!(!text.contains(key_body), "private key leaked");
        let leak = text
            .lines()
            .find(|l| tokens.iter().any(|t| l.contains(t.as_str())));
        assert!(leak.is_none(), "token leaked: {:.300}", leak.unwrap_or_default());
    }
    let check = command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        shown.contains("credentials: configured") && !shown.contains(key_body),
        "{shown}"
    );
}
