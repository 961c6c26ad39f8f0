//! Hostile input never turns into wrong numbers in silence: recorded frames with one
//! value broken (a sequence id at u64::MAX, timestamps past what nanoseconds hold,
//! negative or rounded decimals, a text trade id) run through `replay`, the same session
//! code `run` uses. Each broken frame is rejected and counted, or its book is announced
//! `resyncing`; no event carries an altered value.

mod support;

use feedhandler::model::{BookState, Event, TradeId};
use feedhandler::record::reader::{Recorded, Recording};
use feedhandler::replay::{ReplayStats, replay};
use support::*;

async fn events_of(rec: &Recording) -> (ReplayStats, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 20);
    let stats = replay(rec, &feedhandler::venues::rest::catalog::Catalog::shipped(), tx)
        .await
        .expect("replays");
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (stats, events)
}

/// The index of the `n`-th received frame containing `needle`, counted from the middle
/// of the recording.
fn middle_frame(rec: &Recording, needle: &str) -> usize {
    let frames: Vec<usize> = (rec.events.iter().enumerate())
        .filter(|(_, e)| matches!(e, Recorded::Recv { data, .. } if data.contains(needle)))
        .map(|(i, _)| i)
        .collect();
    frames[frames.len() / 2]
}

/// Replaces the first match of `from` in frame `i` with `to`.
fn edit(rec: &mut Recording, i: usize, from: &str, to: &str) {
    let Recorded::Recv { data, .. } = &mut rec.events[i] else {
        panic!("frame {i} is received data");
    };
    let before = data.clone();
    *data = data.replacen(from, to, 1);
    assert_ne!(*data, before, "{from:?} in frame {i}");
}

/// Replaces the value of JSON field `"key":` (a number or a string) in frame `i`.
fn set_field(rec: &mut Recording, i: usize, key: &str, value: &str) {
    let Recorded::Recv { data, .. } = &mut rec.events[i] else {
        panic!("frame {i} is received data");
    };
    let pat = format!("\"{key}\":");
    let start = data.find(&pat).unwrap_or_else(|| panic!("{key} in {data}")) + pat.len();
    let rest = &data[start..];
    let len = match rest.strip_prefix('"') {
        Some(quoted) => quoted.find('"').unwrap() + 2,
        None => rest.find([',', '}']).unwrap(),
    };
    data.replace_range(start..start + len, value);
}

/// `reason` was counted `n` times.
fn assert_rejected(stats: &ReplayStats, reason: &str, n: u64) {
    assert_eq!(
        stats.rejected.get(reason),
        Some(&n),
        "{reason}: {:?}",
        stats.rejected
    );
}

/// Some book was announced `resyncing` with a reason containing `needle`.
fn assert_resynced(events: &[Event], needle: &str) {
    let st = statuses(events);
    assert!(
        st.iter()
            .any(|(s, r)| *s == BookState::Resyncing && r.contains(needle)),
        "no resync for {needle:?}: {st:?}"
    );
}

fn statuses(events: &[Event]) -> Vec<(BookState, String)> {
    (events.iter())
        .filter_map(|e| match e {
            Event::BookStatus(s) => Some((s.status, s.reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_corrupt_sequence_id_ends_in_an_announced_resync_not_a_frozen_book() {
    let clean = recording(SPOT_HFT);
    let (_, before) = events_of(&clean).await;
    let mut rec = clean.clone();
    let i = middle_frame(&rec, "@depth");
    set_field(&mut rec, i, "u", "18446744073709551615");
    let (stats, events) = events_of(&rec).await;
    let st = statuses(&events);
    assert_eq!(st[0].0, BookState::Synced);
    assert_eq!(st.len(), 2, "{st:?}");
    assert_eq!(st[1].0, BookState::Resyncing);
    assert!(
        st[1].1.contains("update id out of range: u=18446744073709551615"),
        "{st:?}"
    );
    // The corrupt delta is never published, and every delta before it is.
    let deltas = |events: &[Event]| {
        (events.iter())
            .filter_map(|e| match e {
                Event::Book(b) => Some(b.sequence),
                _ => None,
            })
            .collect::<Vec<u64>>()
    };
    let (got, all) = (deltas(&events), deltas(&before));
    assert!(!got.contains(&u64::MAX));
    assert_eq!(
        got[..],
        all[..got.len()],
        "the deltas before the corrupt one are unchanged"
    );
    // The live client would have fetched a new snapshot for it (the recording's own
    // snapshot is not a request of the replay).
    assert_eq!(stats.snapshot_requests, 1);
}

#[tokio::test]
async fn timestamps_out_of_range_are_rejected_not_wrapped() {
    let mut rec = recording(SPOT_HFT);
    let trade = middle_frame(&rec, "@trade");
    set_field(&mut rec, trade, "T", &i64::MAX.to_string());
    let depth = middle_frame(&rec, "@depth");
    set_field(&mut rec, depth, "E", &i64::MAX.to_string());
    let (stats, events) = events_of(&rec).await;
    assert_rejected(&stats, "timestamp_out_of_range", 1);
    assert_rejected(&stats, "invalid_depth", 1);
    assert_resynced(&events, "depth event time");
    for e in &events {
        match e {
            Event::Trade(t) => assert!(t.exchange_ts_ns > 0),
            Event::Book(b) => assert!(b.exchange_ts_ns.is_none_or(|t| t > 0)),
            Event::BookStatus(_) | Event::TradeStatus(_) => {}
        }
    }

    // Coinbase: a trade time in the year 2300 is refused...
    let mut cb = recording(COINBASE_CF);
    let i = middle_frame(&cb, "\"channel\":\"market_trades\"");
    set_field(&mut cb, i, "time", "\"2300-01-01T00:00:00Z\"");
    let (stats, events) = events_of(&cb).await;
    assert_rejected(&stats, "timestamp_out_of_range", 1);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::Trade(t) if t.exchange_ts_ns < 0))
    );
    // ... and a book message of that time resyncs the books at once.
    let mut cb = recording(COINBASE_CF);
    let j = middle_frame(&cb, "\"channel\":\"l2_data\"");
    set_field(&mut cb, j, "timestamp", "\"2300-01-01T00:00:00Z\"");
    let (stats, events) = events_of(&cb).await;
    assert_rejected(&stats, "invalid_book", 1);
    assert_resynced(&events, "invalid level2 message: bad timestamp");
    for e in &events {
        if let Event::Book(b) = e {
            assert!(b.exchange_ts_ns.is_none_or(|t| t > 0));
        }
    }
}

#[tokio::test]
async fn recording_times_out_of_range_skip_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture(BINANCE_CF)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let i = lines.iter().rposition(|l| l.contains("\"t\":\"recv\"")).unwrap();
    let ts_at = lines[i].find("\"ts\":").unwrap() + 5;
    let end = ts_at + lines[i][ts_at..].find(',').unwrap();
    lines[i].replace_range(ts_at..end, "1e300");
    let path = dir.path().join("BINANCE.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let rec = feedhandler::record::reader::read(&path).unwrap();
    assert_eq!(rec.skipped_lines, 1);
    let (_, events) = events_of(&rec).await;
    assert!(events.iter().all(|e| match e {
        Event::Trade(t) => t.receive_ts_ns > 0,
        Event::Book(b) => b.receive_ts_ns > 0,
        Event::BookStatus(s) => s.receive_ts_ns > 0,
        Event::TradeStatus(s) => s.receive_ts_ns > 0,
    }));
}

#[tokio::test]
async fn negative_values_are_refused_and_books_resync() {
    // A depth level, a trade amount, and (Coinbase) a book quantity below zero.
    let mut rec = recording(SPOT_HFT);
    let depth = middle_frame(&rec, "@depth");
    edit(&mut rec, depth, "[\"", "[\"-");
    let trade = middle_frame(&rec, "@trade");
    set_field(&mut rec, trade, "q", "\"-1\"");
    let (stats, events) = events_of(&rec).await;
    assert_rejected(&stats, "invalid_depth", 1);
    assert_rejected(&stats, "malformed", 1);
    assert_resynced(&events, "invalid depth frame");
    for e in &events {
        match e {
            Event::Trade(t) => assert!(t.price.is_sign_positive() && t.amount.is_sign_positive()),
            Event::Book(b) => assert!(
                b.bids
                    .iter()
                    .chain(&b.asks)
                    .all(|(p, s)| p.is_sign_positive() && s.is_sign_positive())
            ),
            Event::BookStatus(_) | Event::TradeStatus(_) => {}
        }
    }

    // A snapshot with a negative size is refused; the live client would ask again.
    let mut rec = recording(SPOT_HFT);
    let snap = rec
        .events
        .iter()
        .position(|e| matches!(e, Recorded::Http { .. }))
        .unwrap();
    if let Recorded::Http { body, .. } = &mut rec.events[snap] {
        *body = body.replacen("\"bids\":[[\"", "\"bids\":[[\"-", 1);
    }
    let (stats, events) = events_of(&rec).await;
    assert_rejected(&stats, "bad_snapshot", 1);
    assert!(
        events.iter().all(|e| !matches!(e, Event::Book(_))),
        "no book without a valid snapshot"
    );

    let mut cb = recording(COINBASE_CF);
    let i = middle_frame(&cb, "\"channel\":\"l2_data\"");
    edit(&mut cb, i, "\"new_quantity\":\"", "\"new_quantity\":\"-");
    let (stats, events) = events_of(&cb).await;
    assert_rejected(&stats, "invalid_book", 1);
    assert_resynced(&events, "invalid level2 message");
}

#[tokio::test]
async fn digits_are_carried_exactly_or_the_value_is_refused() {
    for bad in ["\"61837.1234567890123456789012345678901234567890\"", "\"6.1e4\""] {
        let mut rec = recording(SPOT_HFT);
        let trade = middle_frame(&rec, "@trade");
        set_field(&mut rec, trade, "p", bad);
        let (stats, events) = events_of(&rec).await;
        assert_eq!(
            stats.rejected.get("malformed"),
            Some(&1),
            "{bad}: {:?}",
            stats.rejected
        );
        assert!(
            events.iter().all(|e| !matches!(e, Event::Trade(t) if t.price.to_string().starts_with("6100") || t.price.scale() > 8)),
            "{bad} was altered into a published price"
        );
    }
}

#[tokio::test]
async fn text_trade_ids_are_carried_as_text() {
    let mut cb = recording(COINBASE_CF);
    let i = middle_frame(&cb, "\"type\":\"update\",\"trades\"");
    set_field(&mut cb, i, "trade_id", "\"a1b2-c3\"");
    let (stats, events) = events_of(&cb).await;
    assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
    let text: Vec<_> = (events.iter())
        .filter_map(|e| match e {
            Event::Trade(t) if matches!(t.id, TradeId::Text(_)) => Some(t.id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(text, ["a1b2-c3"]);
}
