//! Adding a venue needs one YAML file and no Rust: a definition for Bitso (none ships)
//! is written into `venue_definitions:`, checked and run against a local venue; a broken
//! definition names its file, key path and reason.

mod support;

use feedhandler::sim::server::HttpReply;
use std::sync::Arc;
use std::time::Duration;
use support::rest_venue::{ScriptedRest, events};
use support::*;

/// Bitso (no definition ships for it), written as a user would from its API docs
/// (https://docs.bitso.com/bitso-api/docs/list-trades): `maker_side` is the maker's, so
/// the taker's side is the other one.
const BITSO: &str = r#"
name: bitso
rest_url: https://api.bitso.com
rate_limit: { requests: 60, per_seconds: 60 }
markets:
  spot: { id: "{base}_{quote}" }
case: lower
errors:
  - { path: success, ok: ["true"], message: error.message }
trades:
  path: /v3/trades/
  params: { book: "{symbol}", limit: "{limit}" }
  limit: { default: 100, max: 100 }
  list: payload
  order: newest_first
  fields: { id: tid, price: price, amount: amount, timestamp: created_at, side: maker_side }
  timestamp: iso8601
  side: { buy: sell, sell: buy }
book:
  path: /v3/order_book/
  params: { book: "{symbol}", aggregate: "true" }
  depth: { default: 20, max: 20 }
  bids: payload.bids
  asks: payload.asks
  level: { price: price, amount: amount }
  sequence: payload.sequence
  timestamp: { path: payload.updated_at, unit: iso8601 }
"#;

fn bitso_trades(tids: &[u64]) -> HttpReply {
    let trades: Vec<String> = (tids.iter().rev())
        .map(|t| {
            let side = if t % 2 == 0 { "buy" } else { "sell" };
            format!(
                r#"{{"book":"btc_mxn","created_at":"2026-12-04T10:00:{t:02}.000+0000","amount":"0.0{t}","maker_side":"{side}","price":"1700000.{t}","tid":{t}}}"#
            )
        })
        .collect();
    HttpReply::ok(format!(r#"{{"success":true,"payload":[{}]}}"#, trades.join(",")))
}

#[tokio::test]
async fn a_new_venue_needs_one_yaml_file_and_no_rust() {
    let book = r#"{"success":true,"payload":{"asks":[{"book":"btc_mxn","price":"1700100.00","amount":"0.5"}],"bids":[{"book":"btc_mxn","price":"1699900.00","amount":"0.25"},{"book":"btc_mxn","price":"1699800","amount":"1"}],"updated_at":"2026-12-04T10:00:05+00:00","sequence":"27214"}}"#;
    let script = ScriptedRest::default()
        .route(
            "/v3/trades/",
            vec![bitso_trades(&[1, 2]), bitso_trades(&[2, 3, 4])],
        )
        .route("/v3/order_book/", vec![HttpReply::ok(book)]);
    let venue = LocalVenue::serve(Arc::new(script)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("venues")).unwrap();
    std::fs::write(dir.path().join("venues/bitso.yaml"), BITSO).unwrap();
    let yaml = format!(
        "venue_definitions: venues\ntls: {{ ca_file: {} }}\nexchanges:\n  bitso:\n    symbols: [BTC-MXN]\n    channels: [trades, l2_book]\n    rest_url: {}\n    trades_interval_ms: 300\n",
        venue.ca.ca_pem.display(),
        venue.rest_url()
    );
    let config = write_config(dir.path(), "feedhandler.yaml", &yaml);
    let checked = command(&["check", "--config", config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let plan = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for line in [
        &format!(
            "definition: file {}",
            dir.path().join("venues/bitso.yaml").display()
        ),
        "venue ids: BTC-MXN -> btc_mxn",
        "polling:   trades every 300 ms (100 per page), book every 1000 ms (20 levels)",
        "rate:      4.33 requests/s against the limit of 60 per 60 s (1.00/s): over the limit",
    ] {
        assert!(plan.contains(line), "{line:?} not in:\n{plan}");
    }
    assert!(
        !plan.contains("websocket:"),
        "a REST venue opens no WebSocket:\n{plan}"
    );
    let out = run_until(
        command(&["run", "--config", config.to_str().unwrap()]),
        &venue,
        Duration::from_secs(20),
        |v| v.sim.requests_to("/v3/trades/").len() >= 3,
    )
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    let events = events(&out.stdout, "bitso");
    let trades: Vec<(String, String)> = (events.iter().filter(|e| e["type"] == "trade"))
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["side"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [(1, "buy"), (2, "sell"), (3, "buy"), (4, "sell")]
        .iter()
        .map(|(id, side)| (id.to_string(), side.to_string()))
        .collect();
    assert_eq!(
        trades, want,
        "taker side is the maker's opposite; each trade once, oldest first"
    );
    let first = events.iter().find(|e| e["type"] == "trade").unwrap();
    // `date -u -d 2026-12-04T10:00:01Z +%s`
    assert_eq!(first["exchange_ts_ns"], 1_796_378_401_000_000_000_i64);
    let b = events.iter().find(|e| e["type"] == "book").unwrap();
    assert_eq!(b["sequence"], 27214);
    assert_eq!(
        b["bids"],
        serde_json::json!([["1699900.00", "0.25"], ["1699800", "1"]])
    );
}

#[tokio::test]
async fn a_broken_definition_names_its_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("venues")).unwrap();
    let broken = BITSO
        .replace("fields: { id: tid", "feilds: { id: tid")
        .replace(r#"book: "{symbol}", aggregate"#, r#"book: "{sym}", aggregate"#);
    std::fs::write(dir.path().join("venues/bitso.yaml"), broken).unwrap();
    let yaml = "venue_definitions: venues\nexchanges:\n  bitso: { symbols: [BTC-MXN], channels: [trades] }\n";
    let config = write_config(dir.path(), "feedhandler.yaml", yaml);
    let out = command(&["check", "--config", config.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = dir.path().join("venues/bitso.yaml");
    assert!(
        stderr.contains(&format!(
            "trades.feilds (file {}): unknown key `feilds`",
            file.display()
        )),
        "{stderr}"
    );
}
