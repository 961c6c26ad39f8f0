//! `feedhandler simulate` as a tool: its fault flags reach the local venue (a gap every
//! N depth frames, a connection dropped every N ms show up as resyncs in a real `run`),
//! and a fault the venue cannot play is refused.

mod support;

use std::time::Duration;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_flags_reach_the_local_venue() {
    let spot = fixture(SPOT_HFT);
    let args = [
        "simulate",
        "--recording",
        spot.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--frame-interval-ms",
        "1",
        "--skip-depth-every",
        "150",
        "--drop-every-ms",
        "2000",
    ];
    let mut sim = command(&args).spawn().unwrap();
    let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
    let banner = lines.next_line().await.unwrap().expect("the venue's URLs");
    let url = |key: &str| {
        banner
            .split(key)
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (ws, rest) = (url("ws_url: "), url("rest_url: "));
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    reconnect_max_delay_ms: 500\n    ws_url: {ws}\n    rest_url: {rest}\n"
    );
    let cfg = write_config(dir.path(), "sim.yaml", &yaml);
    let run = command(&["run", "--config", cfg.to_str().unwrap()])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    unsafe_kill(run.id().unwrap() as i32, "TERM");
    let out = run.wait_with_output().await.unwrap();
    sim.kill().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reasons: Vec<String> = stdout
        .lines()
        .filter(|l| l.contains(r#""status":"resyncing""#))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("sequence gap")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "disconnected"), "{reasons:?}");
}

#[tokio::test]
async fn a_fault_the_venue_cannot_play_is_refused() {
    let spot = fixture(SPOT_HFT);
    let args = [
        "simulate",
        "--recording",
        spot.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--withhold-level2-snapshots",
        "1",
    ];
    let out = command(&args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("are Coinbase faults"), "{stderr}");
}

/// A Coinbase recording with one message taken out: a gap in its `sequence_num`.
fn coinbase_with_a_gap() -> feedhandler::record::reader::Recording {
    use feedhandler::record::reader::Recorded;
    let mut rec = recording(COINBASE_CF);
    let l2: Vec<usize> = (rec.events.iter().enumerate())
        .filter(|(_, e)| matches!(e, Recorded::Recv { data, .. } if data.contains(r#""channel":"l2_data""#) && data.contains(r#""type":"update""#)))
        .map(|(i, _)| i)
        .collect();
    rec.events.remove(l2[l2.len() / 2]);
    rec
}

async fn coinbase_statuses(switches: feedhandler::sim::coinbase::Switches) -> Vec<String> {
    use feedhandler::sim::coinbase::CoinbaseSim;
    let venue = LocalVenue::serve(std::sync::Arc::new(CoinbaseSim::new(
        &coinbase_with_a_gap(),
        switches,
    )))
    .await;
    let yaml = format!(
        "exchanges:\n  coinbase:\n    symbols: [BTC-USD, ETH-USD]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}/api/v3/brokerage\ntls: {{ ca_file: {} }}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "coinbase.yaml", &yaml);
    let cmd = command(&["run", "--config", cfg.to_str().unwrap()]);
    let out = run_until_played(cmd, &venue, Duration::from_millis(2000)).await;
    assert!(out.status.success(), "{}", out.stderr);
    statuses(&out.stdout).into_iter().map(|(_, s)| s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coinbase_simulator_keeps_the_recordings_gaps_unless_renumbering() {
    use feedhandler::sim::coinbase::Switches;
    let kept = coinbase_statuses(Switches::default()).await;
    assert!(
        kept.iter().any(|s| s == "resyncing"),
        "the recorded gap reaches the client: {kept:?}"
    );
    let renumbered = coinbase_statuses(Switches {
        renumber: true,
        ..Switches::default()
    })
    .await;
    assert_eq!(renumbered, ["synced", "synced"], "renumbered: no gap");
}
