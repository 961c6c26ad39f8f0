//! Hostile REST answers (huge, negative, malformed, out of order, crossed) through the
//! shipped definitions: each bad trade is refused with its reason while the rest of
//! its page is applied; a book with any bad level is refused whole; an unreadable or
//! erroring answer is refused as a whole. Nothing is rounded, wrapped or guessed.

use feedhandler::model::{Event, VenueId};
use feedhandler::venues::rest::catalog::Catalog;
use feedhandler::venues::rest::parse::PageError;
use feedhandler::venues::rest::poll::Job;
use feedhandler::venues::rest::settings::RestSettings;
use feedhandler::venues::rest::symbols::{Kind, Mapped};

fn job(venue: &str, venue_id: &str, book: bool) -> Job {
    let def = Catalog::shipped()
        .get(VenueId::new(venue).unwrap())
        .unwrap()
        .definition
        .clone();
    let m = Mapped {
        symbol: "BTC-USDT".into(),
        venue_id: venue_id.into(),
        market: String::new(),
        kind: Kind::Spot,
    };
    let settings = RestSettings {
        trades_limit: Some(100),
        book_depth: Some(50),
        ..RestSettings::default()
    };
    if book {
        Job::book(def.name, def.clone(), m, &settings)
    } else {
        Job::trades(def.name, def.clone(), m, &settings)
    }
}

/// A Gate trade (the recorded format of `ccxt/gate.json`) with fields replaced.
fn gate_trade(id: u64, price: &str, amount: &str, side: &str, ms: &str) -> String {
    format!(
        r#"{{"id":"{id}","create_time":"1710327648","create_time_ms":{ms},"currency_pair":"BTC_USDT","side":{side},"amount":{amount},"price":{price}}}"#
    )
}

#[test]
fn bad_trades_are_refused_one_by_one_with_their_reason() {
    let good = |id: u64| {
        gate_trade(
            id,
            r#""73236.4""#,
            r#""0.00020""#,
            r#""buy""#,
            &format!("\"171032764816{id}.035000\""),
        )
    };
    let huge = format!("\"{}\"", "9".repeat(1 << 20));
    let table: Vec<(String, &str)> = vec![
        (
            gate_trade(10, r#""-1""#, r#""1""#, r#""buy""#, r#""1710327648162""#),
            "invalid number",
        ),
        (
            gate_trade(11, r#""1""#, r#""-1""#, r#""buy""#, r#""1710327648162""#),
            "negative amount",
        ),
        (
            gate_trade(12, r#""1e-5""#, r#""1""#, r#""buy""#, r#""1710327648162""#),
            "invalid number",
        ),
        (
            gate_trade(13, &huge, r#""1""#, r#""buy""#, r#""1710327648162""#),
            "invalid number",
        ),
        (
            gate_trade(
                14,
                r#""1.00000000000000000000000000001""#,
                r#""1""#,
                r#""buy""#,
                r#""1710327648162""#,
            ),
            "invalid number",
        ),
        (
            gate_trade(15, r#""0""#, r#""1""#, r#""buy""#, r#""1710327648162""#),
            "zero price or amount",
        ),
        (
            gate_trade(16, r#""1""#, r#""1""#, r#""long""#, r#""1710327648162""#),
            "unknown side",
        ),
        (
            gate_trade(17, r#""1""#, r#""1""#, r#""buy""#, r#""-5""#),
            "invalid timestamp",
        ),
        (
            gate_trade(18, r#""1""#, r#""1""#, r#""buy""#, r#""99999999999999999999999""#),
            "invalid timestamp",
        ),
        (
            gate_trade(19, r#""1""#, r#""1""#, r#""buy""#, r#""soon""#),
            "invalid timestamp",
        ),
        (
            r#"{"id":"20","price":"1","side":"buy","create_time_ms":"1"}"#.to_owned(),
            "missing field",
        ),
        (r#"[1,2,3]"#.to_owned(), "missing field"),
        ("7".to_owned(), "unreadable trade"),
    ];
    // Newest first, as Gate answers.
    let mut entries = vec![good(2)];
    entries.extend(table.iter().map(|(t, _)| t.clone()));
    entries.push(good(1));
    let mut job = job("gate", "BTC_USDT", false);
    let applied = job.apply(&format!("[{}]", entries.join(",")), 1).unwrap();
    let reasons: Vec<&str> = applied.rejected.iter().map(|(r, _)| *r).collect();
    let want: Vec<&str> = table.iter().map(|(_, r)| *r).collect();
    assert_eq!(reasons, want);
    let ids: Vec<String> = (applied.events.iter())
        .map(|e| match e {
            Event::Trade(t) => t.id.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, ["1", "2"], "the good trades around the bad ones are applied");
    // Details never carry a megabyte: log lines stay short.
    assert!(applied.rejected.iter().all(|(_, d)| d.len() < 400));
}

#[test]
fn unreadable_and_erroring_answers_are_refused_whole() {
    for (venue, body, want) in [
        ("gate", "[{", "unreadable answer"),
        (
            "gate",
            r#"{"label":"INVALID_CURRENCY","message":"x"}"#,
            "unreadable answer",
        ),
        ("gate", "", "unreadable answer"),
        (
            "okx",
            r#"{"code":"50011","msg":"Too Many Requests","data":[]}"#,
            "venue error",
        ),
        (
            "kraken",
            r#"{"error":["EQuery:Unknown asset pair"]}"#,
            "venue error",
        ),
        (
            "bybit",
            r#"{"retCode":10001,"retMsg":"params error","result":{}}"#,
            "venue error",
        ),
        ("kucoin", r#"{"code":"400100","msg":"bad symbol"}"#, "venue error"),
    ] {
        let mut job = job(venue, "BTC_USDT", false);
        let e = job.apply(body, 1).expect_err(body);
        assert_eq!(e.reason(), want, "{venue} {body}: {e}");
        if let PageError::Venue(text) = &e {
            assert!(
                text.contains("Too Many Requests")
                    || text.contains("EQuery")
                    || text.contains("params error")
                    || text.contains("bad symbol"),
                "{text}"
            );
        }
    }
}

#[test]
fn books_with_any_bad_level_are_refused_whole() {
    let book = |bids: &str, asks: &str| {
        format!(r#"{{"id":5,"current":1619093533760,"update":1,"asks":{asks},"bids":{bids}}}"#)
    };
    let ok_asks = r#"[["101","1"],["102","2"]]"#;
    let ok_bids = r#"[["100","1"],["99","2"]]"#;
    for (body, why) in [
        (book(r#"[["101.5","1"]]"#, ok_asks), "crossed"),
        (book(r#"[["100","1"],["100","2"]]"#, ok_asks), "listed twice"),
        (book(r#"[["100","-1"]]"#, ok_asks), "negative size"),
        (book(r#"[["100","0"]]"#, ok_asks), "zero price or size"),
        (book(r#"[["1e2","1"]]"#, ok_asks), "not a plain"),
        (book(r#"[["100"]]"#, ok_asks), "lacks 1"),
        (book(ok_bids, r#"[["101",null]]"#), "lacks 1"),
        (
            format!(r#"{{"id":-5,"asks":{ok_asks},"bids":{ok_bids}}}"#),
            "sequence",
        ),
        (
            format!(r#"{{"id":"5x","asks":{ok_asks},"bids":{ok_bids}}}"#),
            "sequence",
        ),
        (format!(r#"{{"id":5,"asks":{ok_asks}}}"#), "bids is missing"),
    ] {
        let mut job = job("gate", "BTC_USDT", true);
        let e = job.apply(&body, 1).expect_err(&body);
        assert!(e.to_string().contains(why), "{body}: {e}");
    }
    // Unsorted sides are put in order; the venue's digits are kept.
    let mut job = job("gate", "BTC_USDT", true);
    let applied = job
        .apply(
            &book(r#"[["99","2"],["100.10","1"]]"#, r#"[["102","2"],["101","1"]]"#),
            1,
        )
        .unwrap();
    let [Event::Book(b)] = applied.events.as_slice() else {
        panic!()
    };
    assert_eq!(b.bids[0].0.to_string(), "100.10");
    assert_eq!(b.asks[0].0.to_string(), "101");
}

#[test]
fn out_of_order_and_repeated_pages_emit_nothing_twice() {
    let t = |id: u64, ms: u64| gate_trade(id, r#""1""#, r#""1""#, r#""buy""#, &format!("\"{ms}\""));
    let mut job = job("gate", "BTC_USDT", false);
    let first = job.apply(&format!("[{},{}]", t(3, 3000), t(2, 2000)), 1).unwrap();
    assert_eq!(first.events.len(), 2);
    // The same page again, and a page with an unseen trade older than those emitted.
    assert!(
        job.apply(&format!("[{},{}]", t(3, 3000), t(2, 2000)), 2)
            .unwrap()
            .events
            .is_empty()
    );
    let late = job
        .apply(&format!("[{},{},{}]", t(4, 4000), t(3, 3000), t(1, 1000)), 3)
        .unwrap();
    assert_eq!(late.events.len(), 1);
    assert_eq!(
        late.rejected.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        ["older than emitted trades"]
    );
}
