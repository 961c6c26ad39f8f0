//! Outages are announced when they happen, and feeds come back within seconds: a real
//! proxy killed mid-stream (every book `resyncing`, reason `disconnected`, at once, while
//! reconnects still fail), then restarted (data and `synced` again within the reconnect
//! cap); a Coinbase `level2` subscription whose snapshot never comes is detected and
//! made again.

mod support;

use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use feedhandler::sim::coinbase::{CoinbaseSim, Switches as CoinbaseSwitches};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_proxy_is_announced_at_once_and_the_feed_is_back_soon_after_it() {
    let switches = Switches {
        frame_interval: Some(Duration::from_millis(3)),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let mut proxy = support::proxies::Proxy::microsocks(None).await;
    let url = proxy.url("socks5h", None);
    let yaml = format!(
        "proxy:\n  default: {{ http: \"{url}\", websocket: \"{url}\" }}\nexchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    reconnect_max_delay_ms: 2000\n    ws_url: {}\n    rest_url: {}\ntls:\n  ca_file: {}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "outage.yaml", &yaml);
    let rec = venue.dir.path().join("outage.jsonl");
    let args = [
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ];
    let child = command(&args).spawn().unwrap();
    // Streaming, then the proxy dies for 3 s.
    while venue.sim.frames_sent() < 1500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_ns = now_ns();
    proxy.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarted_ns = now_ns();
    proxy.restart_microsocks().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !venue.sim.finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    unsafe_kill(child.id().unwrap() as i32, "TERM");
    let out = child.wait_with_output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");

    let events = lines(&stdout);
    let status_at = |status: &str, reason: &str, after_ns: i64| {
        events
            .iter()
            .find(|v| {
                v["type"] == "book_status"
                    && v["status"] == status
                    && v["reason"] == reason
                    && v["receive_ts_ns"].as_i64().unwrap() >= after_ns
            })
            .map(|v| v["receive_ts_ns"].as_i64().unwrap())
    };
    let announced = status_at("resyncing", "disconnected", killed_ns).expect("resyncing at the loss");
    let back = status_at("synced", "snapshot applied", restarted_ns).expect("synced again");
    let announce_ms = (announced - killed_ns) / 1_000_000;
    let back_ms = (back - restarted_ns) / 1_000_000;
    println!(
        "proxy killed: resyncing announced after {announce_ms} ms; proxy restarted: synced after {back_ms} ms"
    );
    assert!(
        announced < restarted_ns,
        "announced while the proxy was still down"
    );
    assert!(announce_ms < 1000, "announced {announce_ms} ms after the kill");
    // The reconnect cap is 2 s (with jitter); connecting and the snapshot take the rest.
    assert!(
        back_ms < 5000,
        "synced {back_ms} ms after the proxy came back:\n{stderr}"
    );
    assert!(
        !stdout.contains(r#""reason":"reconnected""#),
        "announced once, at the loss"
    );
    assert_replay_reproduces(&rec, &stdout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level2_snapshot_that_never_comes_is_asked_for_again() {
    let switches = CoinbaseSwitches {
        withhold_level2_snapshots: 2,
        ..CoinbaseSwitches::default()
    };
    let venue = LocalVenue::serve(Arc::new(CoinbaseSim::new(&recording(COINBASE_CF), switches))).await;
    let yaml = format!(
        "exchanges:\n  coinbase:\n    symbols: [BTC-USD, ETH-USD]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}/api/v3/brokerage\ntls: {{ ca_file: {} }}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "coinbase.yaml", &yaml);
    let out = run_until(
        command(&["run", "--config", cfg.to_str().unwrap()]),
        &venue,
        Duration::from_secs(40),
        |v| {
            v.sim
                .client_messages()
                .iter()
                .filter(|m| m.contains(r#""type":"subscribe""#) && m.contains("level2"))
                .count()
                >= 2
        },
    )
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("no level2 snapshot within 10 s"),
        "{}",
        out.stderr
    );
    let unsubscribed = venue
        .sim
        .client_messages()
        .iter()
        .any(|m| m.contains(r#""type":"unsubscribe""#));
    assert!(unsubscribed, "level2 subscribed again");
    for product in ["BTC-USD", "ETH-USD"] {
        let mine: Vec<(String, String)> = lines(&out.stdout)
            .iter()
            .filter(|v| v["type"] == "book_status" && v["symbol"] == product)
            .map(|v| {
                (
                    v["status"].as_str().unwrap().to_owned(),
                    v["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            mine,
            [
                (
                    "resyncing".to_owned(),
                    "no level2 snapshot within 10 s".to_owned()
                ),
                ("synced".to_owned(), "snapshot applied".to_owned())
            ],
            "{product}"
        );
    }
}
