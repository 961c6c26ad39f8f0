//! Binance parsing and book sync on the real recordings: zero gaps, books that agree with
//! the venue's own best bid/ask, and trades exactly as recorded.

mod support;

use feedhandler::model::Event;
use feedhandler::model::VenueId;
use feedhandler::record::reader::Recorded;
use feedhandler::venues::binance::messages::{BookTickerMsg, Envelope};
use feedhandler::venues::binance::parse::{self, Market};
use feedhandler::venues::binance::session::{Output, Session};
use std::sync::Arc;
use support::*;

/// The venue a market's recordings come from.
fn venue(market: Market) -> VenueId {
    VenueId::new(match market {
        Market::Spot => "binance",
        Market::Futures => "binance_futures",
    })
    .unwrap()
}

fn session_for(rec: &feedhandler::record::reader::Recording, market: Market) -> Session {
    let info = rec.events.iter().find_map(|e| match e {
        Recorded::Http { url, body, .. } if url.contains("exchangeInfo") => Some(body.clone()),
        _ => None,
    });
    let info = info.unwrap_or_else(|| {
        parse::synthesize_exchange_info([String::from("BTCUSDT")].iter(), market == Market::Futures)
    });
    let instruments = parse::parse_instruments(venue(market), market, &info).unwrap();
    let books: Vec<Arc<str>> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            Recorded::Http { url, .. } if url.contains("/depth") => {
                let wire = url.split("symbol=").nth(1)?.split('&').next()?;
                instruments.normalized(wire).cloned()
            }
            _ => None,
        })
        .collect();
    Session::new(market, instruments, &books)
}

/// Feeds a whole recording; calls `check` after every frame with the frame text.
fn drive(rel: &str, market: Market, mut check: impl FnMut(&Session, &str)) -> Vec<Output> {
    let rec = recording(rel);
    let mut session = session_for(&rec, market);
    let mut all = Vec::new();
    for ev in &rec.events {
        let mut out = Vec::new();
        match ev {
            Recorded::Http { url, body, ts_ns } if url.contains("/depth") => {
                let wire = url.split("symbol=").nth(1).unwrap().split('&').next().unwrap();
                let symbol = session.instruments().normalized(wire).unwrap().clone();
                session.on_snapshot(&symbol, body, *ts_ns, &mut out).unwrap();
            }
            Recorded::Recv { data, ts_ns, .. } => {
                session.on_frame(data, *ts_ns, &mut out).unwrap();
                check(&session, data);
            }
            _ => {}
        }
        all.extend(out);
    }
    all
}

#[test]
fn every_recording_syncs_with_zero_gaps_and_books_never_cross() {
    for (rel, market, books) in [
        (BINANCE_CF, Market::Spot, 4),
        (SPOT_HFT, Market::Spot, 1),
        (USDM_HFT, Market::Futures, 1),
    ] {
        let mut crossed = 0;
        let outputs = drive(rel, market, |s, _| {
            for sym in [
                "NKN-USDT",
                "BLZ-ETH",
                "LRC-BTC",
                "RUNE-EUR",
                "BTC-USDT",
                "BTC-USDT-PERP",
            ] {
                if s.book(sym).is_some_and(|b| b.book().is_crossed()) {
                    crossed += 1;
                }
            }
        });
        let fetches = outputs
            .iter()
            .filter(|o| matches!(o, Output::FetchSnapshot(_)))
            .count();
        let statuses: Vec<_> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::BookStatus(s)) => Some(s.status),
                _ => None,
            })
            .collect();
        let deltas = outputs.iter().filter(|o| matches!(o, Output::Event(Event::Book(b)) if b.update == feedhandler::model::BookUpdateKind::Delta)).count();
        assert_eq!(fetches, 0, "{rel}: a gap asked for a new snapshot");
        assert_eq!(statuses.len(), books, "{rel}: one 'synced' per book, no resync");
        assert!(deltas > 100, "{rel}: only {deltas} deltas applied");
        assert_eq!(crossed, 0, "{rel}: crossed book");
    }
}

/// Independent check: when our book's last applied update id equals the `u` of a
/// `@bookTicker` frame (which may arrive before or after the depth diff ending at that id),
/// the venue's best bid/ask must be ours.
#[test]
fn book_matches_book_ticker_at_equal_update_ids() {
    use std::collections::HashMap;
    for (rel, market, symbol) in [
        (SPOT_HFT, Market::Spot, "BTC-USDT"),
        (USDM_HFT, Market::Futures, "BTC-USDT-PERP"),
    ] {
        let mut tickers = HashMap::new();
        let mut compared = 0;
        drive(rel, market, |s, frame| {
            if frame.contains("@bookTicker") {
                let env: Envelope = serde_json::from_str(frame).unwrap();
                let t: BookTickerMsg = serde_json::from_str(env.data.get()).unwrap();
                tickers.insert(
                    t.update_id,
                    ((t.bid_price.0, t.bid_qty.0), (t.ask_price.0, t.ask_qty.0)),
                );
            }
            let sync = s.book(symbol).unwrap();
            let Some(u) = sync.last_update_id() else { return };
            if let Some((bid, ask)) = tickers.remove(&u) {
                compared += 1;
                assert_eq!(sync.book().best_bid(), Some(bid), "{rel} bid at u={u}");
                assert_eq!(sync.book().best_ask(), Some(ask), "{rel} ask at u={u}");
            }
        });
        assert!(
            compared >= 40,
            "{rel}: only {compared} bookTicker frames had a matching update id"
        );
    }
}

#[test]
fn trades_carry_the_recorded_values() {
    // First @trade frame of each capture, values read from the raw recording.
    let spot = drive(SPOT_HFT, Market::Spot, |_, _| {});
    let futures = drive(USDM_HFT, Market::Futures, |_, _| {});
    let first_trade = |outs: &[Output]| {
        outs.iter()
            .find_map(|o| match o {
                Output::Event(Event::Trade(t)) => Some(serde_json::to_value(t).unwrap()),
                _ => None,
            })
            .unwrap()
    };
    let f = first_trade(&futures);
    assert_eq!(f["symbol"], "BTC-USDT-PERP");
    assert_eq!(f["id"], "5266583935");
    assert_eq!(f["price"], "61800.30");
    assert_eq!(f["amount"], "0.006");
    assert_eq!(f["side"], "buy", "m=false: the buyer was the taker");
    assert_eq!(f["exchange_ts_ns"], 1_723_161_256_322_000_000_i64);
    assert_eq!(f["receive_ts_ns"], 1_723_161_255_088_176_367_i64);
    let s = first_trade(&spot);
    assert_eq!(s["symbol"], "BTC-USDT");
    assert_eq!(s["exchange"], "binance");
    let trades = spot
        .iter()
        .filter(|o| matches!(o, Output::Event(Event::Trade(_))))
        .count();
    assert_eq!(
        trades, 1123,
        "every @trade frame of the spot capture, none lost or doubled"
    );
}

#[tokio::test]
async fn replay_command_writes_exact_decimals_as_recorded() {
    let out = replay(BINANCE_CF).await;
    let snapshot = out
        .lines()
        .find(|l| l.contains(r#""update":"snapshot""#) && l.contains("NKN-USDT"))
        .unwrap();
    // Recorded REST body: {"lastUpdateId":499869752,"bids":[["0.35210000","672.00000000"],...
    assert!(snapshot.contains(r#""sequence":499869752"#));
    assert!(
        snapshot.contains(r#""bids":[["0.35210000","672.00000000"],["0.35200000","1144.00000000"]"#),
        "{}",
        &snapshot[..300]
    );
}

/// The capture's snapshot and its depth diffs, parsed.
fn snapshot_and_diffs(rel: &str, market: Market) -> (parse::Snapshot, Vec<parse::DepthDiff>) {
    let rec = recording(rel);
    let info = parse::synthesize_exchange_info([String::from("BTCUSDT")].iter(), market == Market::Futures);
    let instruments = parse::parse_instruments(venue(market), market, &info).unwrap();
    let mut snapshot = None;
    let mut diffs = Vec::new();
    for ev in &rec.events {
        match ev {
            Recorded::Http { body, .. } => snapshot = Some(parse::parse_snapshot(body).unwrap()),
            Recorded::Recv { data, .. } => {
                if let Ok(parse::Frame::Depth(d)) = parse::parse_frame(&instruments, data, 0) {
                    diffs.push(d);
                }
            }
            _ => {}
        }
    }
    (snapshot.unwrap(), diffs)
}

#[test]
fn sequence_rules_on_recorded_diffs_spot_and_futures() {
    use feedhandler::venues::binance::sync::{BookSync, SnapshotStep, Step};
    for (rel, market) in [(SPOT_HFT, Market::Spot), (USDM_HFT, Market::Futures)] {
        let (snap, diffs) = snapshot_and_diffs(rel, market);
        let last = snap.last_update_id;
        // Diffs contained in the snapshot are dropped; the first applied one straddles it.
        let first = diffs.iter().position(|d| d.final_update_id > last).unwrap();
        let d = &diffs[first];
        match market {
            Market::Spot => assert!(d.first_update_id <= last + 1 && last < d.final_update_id),
            Market::Futures => assert!(d.first_update_id <= last && last <= d.final_update_id),
        }
        let mut sync = BookSync::new(venue(market), market, Arc::from("BTC-USDT"));
        for d in &diffs[..first + 3] {
            assert_eq!(sync.on_diff(d.clone()), Step::Buffered);
        }
        let SnapshotStep::Synced(updates) = sync.on_snapshot(snap.clone(), 0) else {
            panic!("{rel}: the recorded snapshot syncs");
        };
        assert_eq!(
            updates.len(),
            4,
            "{rel}: the snapshot and the 3 buffered diffs after it"
        );
        // Skipping one diff is a gap for the next, which starts buffering again.
        let skipped = &diffs[first + 3];
        let next = &diffs[first + 4];
        match sync.on_diff(next.clone()) {
            // The message names what continuity required: the skipped diff's start.
            Step::Gap { expected } => {
                let wanted = match market {
                    Market::Spot => format!("U={}", skipped.first_update_id),
                    Market::Futures => format!("pu={}", skipped.prev_final_update_id.unwrap()),
                };
                assert!(expected.starts_with(&wanted), "{rel}: {expected}");
            }
            other => panic!("{rel}: a skipped diff is a gap, got {other:?}"),
        }
        assert!(sync.is_buffering() && sync.book().depth() == (0, 0));
        // A snapshot older than every buffered diff cannot sync them.
        assert!(matches!(
            sync.on_snapshot(snap.clone(), 0),
            SnapshotStep::TooOld { .. }
        ));
    }
    // Futures: a snapshot at a diff boundary (lastUpdateId = u of a diff) drops that diff
    // and takes the next one, whose pu equals lastUpdateId, as the straddling diff.
    let (snap, diffs) = snapshot_and_diffs(USDM_HFT, Market::Futures);
    let k = diffs
        .iter()
        .position(|d| d.final_update_id > snap.last_update_id)
        .unwrap()
        + 5;
    // The book as the venue held it at that boundary: the recorded snapshot and every
    // diff after it up to `diffs[k]`.
    let mut book = feedhandler::book::L2Book::default();
    book.reset(&snap.bids, &snap.asks);
    let first = diffs
        .iter()
        .position(|d| d.final_update_id > snap.last_update_id)
        .unwrap();
    for d in &diffs[first..=k] {
        book.apply(&d.bids, &d.asks);
    }
    let at_boundary = parse::Snapshot {
        last_update_id: diffs[k].final_update_id,
        bids: book.bids().collect(),
        asks: book.asks().collect(),
        ..snap
    };
    assert_eq!(diffs[k + 1].prev_final_update_id, Some(diffs[k].final_update_id));
    let mut sync = BookSync::new(
        venue(Market::Futures),
        Market::Futures,
        Arc::from("BTC-USDT-PERP"),
    );
    for d in &diffs[k..k + 3] {
        sync.on_diff(d.clone());
    }
    let SnapshotStep::Synced(updates) = sync.on_snapshot(at_boundary, 0) else {
        panic!("boundary snapshot syncs");
    };
    let sequences: Vec<u64> = updates.iter().map(|u| u.sequence).collect();
    assert_eq!(
        sequences,
        [
            diffs[k].final_update_id,
            diffs[k + 1].final_update_id,
            diffs[k + 2].final_update_id
        ]
    );
}

/// BINANCE.jsonl re-cut as if its four symbols had streamed on two connections; halfway,
/// `third` connects again with the first connection's streams (a reconnect under a new
/// or, as cryptofeed does, the same name; or, with `replaces`, a handover). LRC-BTC's
/// trades ride on the first connection, its book on the second.
fn two_connection_recording(third: &str, replaces: Option<&str>) -> feedhandler::record::reader::Recording {
    let mut rec = recording(BINANCE_CF);
    let url = |streams: &str| format!("wss://stream.binance.com:9443/stream?streams={streams}");
    let connect = |conn: &str, streams: &str, ts_ns: i64, replaces: Option<&str>| Recorded::Connect {
        conn: conn.into(),
        url: url(streams),
        ts_ns,
        replaces: replaces.map(Into::into),
    };
    let first = rec
        .events
        .iter()
        .position(|e| matches!(e, Recorded::Connect { .. }))
        .unwrap();
    let Recorded::Connect { ts_ns, .. } = rec.events[first] else {
        unreachable!()
    };
    let a = "nknusdt@depth@100ms/blzeth@depth@100ms/nknusdt@aggTrade/blzeth@aggTrade/lrcbtc@aggTrade";
    let b = "lrcbtc@depth@100ms/runeeur@depth@100ms/runeeur@aggTrade";
    rec.events.splice(
        first..=first,
        [
            connect("BINANCE.ws.1", a, ts_ns, None),
            connect("BINANCE.ws.2", b, ts_ns, None),
        ],
    );
    let half = first + (rec.events.len() - first) / 2;
    let Recorded::Recv { ts_ns, .. } = rec.events[half] else {
        panic!("a frame halfway")
    };
    rec.events.insert(half, connect(third, a, ts_ns, replaces));
    rec
}

async fn replay_statuses(rec: feedhandler::record::reader::Recording) -> Vec<(String, String)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
    feedhandler::replay::replay(&rec, &feedhandler::venues::rest::catalog::Catalog::shipped(), tx)
        .await
        .unwrap();
    let mut lines = String::new();
    while let Ok(e) = rx.try_recv() {
        lines.push_str(&serde_json::to_string(&e).unwrap());
        lines.push('\n');
    }
    statuses(&lines)
}

#[tokio::test]
async fn replay_resyncs_only_the_books_of_the_connection_that_reconnected() {
    for third in ["BINANCE.ws.3", "BINANCE.ws.1"] {
        let st = replay_statuses(two_connection_recording(third, None)).await;
        let of = |symbol: &str| -> Vec<&str> {
            st.iter()
                .filter(|(s, _)| s == symbol)
                .map(|(_, s)| s.as_str())
                .collect()
        };
        for symbol in ["NKN-USDT", "BLZ-ETH"] {
            assert_eq!(
                of(symbol),
                ["synced", "resyncing"],
                "{third}: {symbol}'s book was on the connection that reconnected"
            );
        }
        for symbol in ["LRC-BTC", "RUNE-EUR"] {
            assert_eq!(
                of(symbol),
                ["synced"],
                "{third}: {symbol}'s book was on the one that stayed up"
            );
        }
    }
    let st = replay_statuses(two_connection_recording("BINANCE.ws.3", Some("BINANCE.ws.1"))).await;
    assert!(
        st.iter().all(|(_, s)| s == "synced"),
        "a handover keeps every book: {st:?}"
    );
}
