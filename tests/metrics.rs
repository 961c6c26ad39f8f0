//! Observability end to end: a real Prometheus (Debian's package, 1 s scrapes) scrapes a
//! `run` that streams the local Binance venue through a real microsocks proxy into a real
//! Kafka-protocol broker, with a sequence gap and dropped connections injected; the
//! test checks Prometheus's answers against what the venue, the proxy's log and the
//! broker saw; `/health/ready` flips while a book resyncs or the feed is disconnected;
//! `promtool` accepts a scrape and the shipped alert rules.

mod support;

use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use std::time::Duration;
use support::kafka::Broker;
use support::prometheus::{Prometheus, get, promtool};
use support::proxies::{Proxy, free_port};
use support::*;

const TOPICS: [&str; 3] = ["trade.binance", "book.binance", "book_status.binance"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_what_a_run_did_and_readiness_follows_the_books() {
    let switches = Switches {
        frame_interval: Some(Duration::from_millis(1)),
        drop_after_frames: Some(600),
        skip_depth_frame: Some(("BTCUSDT".into(), 50)),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let proxy = Proxy::microsocks(None).await;
    let broker = Broker::start().await;
    for t in TOPICS {
        broker.create_topic(t, 1);
    }
    let addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::scraping(&addr).await;
    let via = proxy.url("socks5h", None);
    let yaml = format!(
        "proxy:\n  default:\n    http: \"{via}\"\n    websocket: \"{via}\"\n\
         exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    reconnect_max_delay_ms: 500\n\
         \x20   ws_url: {}\n    rest_url: {}\n\
         sink:\n  kind: kafka\n  bootstrap_servers: \"{}\"\n  topic: \"{{type}}.{{exchange}}\"\n\
         metrics:\n  listen: \"{addr}\"\ntls:\n  ca_file: {}\n",
        venue.ws_url(),
        venue.rest_url(),
        broker.bootstrap(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "metrics.yaml", &yaml);
    let (code, plan, _) = check(&yaml, &[]).await;
    assert_eq!(code, 0);
    assert!(
        plan.contains(&format!("metrics: http://{addr}/metrics")),
        "{plan}"
    );
    let child = command(&["run", "--config", cfg.to_str().unwrap()])
        .spawn()
        .unwrap();

    // Readiness while the venue plays: every change of /health/ready.
    let mut seen: Vec<(u16, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !venue.sim.finished() && tokio::time::Instant::now() < deadline {
        if let Some((status, body)) = get(&addr, "/health/ready").await {
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            let why = body["feeds"]["binance"].to_string();
            if seen.last().is_none_or(|(s, _)| *s != status) {
                seen.push((status, why));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (status, why) in &seen {
        println!("/health/ready {status}: {why}");
    }
    println!(
        "venue connections: {}, frames sent: {}",
        venue.sim.connections(),
        venue.sim.frames_sent()
    );
    let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
    let flips = statuses.windows(2).filter(|w| w == &[200, 503]).count();
    assert!(
        flips >= 2,
        "ready → not ready at the gap and at the drops: {statuses:?}"
    );
    assert!(
        seen.iter()
            .any(|(s, why)| *s == 503 && why.contains("\"resyncing\":[\"BTC-USDT\"]")),
        "{seen:?}"
    );

    // Everything delivered (the broker acknowledged as many as were produced), then two
    // more scrapes.
    let scrape = || async { get(&addr, "/metrics").await.unwrap().1 };
    let sample = |text: &str, series: &str| -> f64 {
        (text.lines())
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    for _ in 0..100 {
        let text = scrape().await;
        let delivered = sample(&text, "feedhandler_sink_events_total{result=\"delivered\"}");
        let events: f64 = ["trade", "book", "book_status"]
            .iter()
            .map(|t| {
                sample(
                    &text,
                    &format!("feedhandler_events_total{{exchange=\"binance\",type=\"{t}\"}}"),
                )
            })
            .sum();
        if delivered > 1_000.0 && delivered == events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    prometheus.wait_scrapes(2).await;
    let q = |promql: &str| prometheus.value(promql);

    let connections = venue.sim.connections() as f64;
    assert!(
        connections >= 3.0,
        "the venue dropped the connection twice at least"
    );
    let frames = venue.sim.frames_sent() as f64;
    let ws = "{exchange=\"binance\",kind=\"websocket\"}";
    let messages = q(&format!("feedhandler_messages_received_total{ws}"));
    // Each connection also answers its SUBSCRIBE once (not a data frame).
    assert_eq!(
        messages,
        frames + connections,
        "frames the venue sent, plus subscription answers"
    );
    assert_eq!(
        q("feedhandler_reconnects_total{exchange=\"binance\"}"),
        connections - 1.0
    );
    assert_eq!(
        q(&format!("feedhandler_connections_opened_total{ws}")),
        connections
    );
    let resyncs = prometheus.query("feedhandler_book_resyncs_total");
    println!("resyncs: {resyncs:?}");
    let disconnected = q("feedhandler_book_resyncs_total{reason=\"disconnected\"}");
    assert_eq!(
        disconnected,
        connections - 1.0,
        "one resync per dropped connection"
    );
    assert!(
        q("sum(feedhandler_book_resyncs_total)") > disconnected,
        "and the injected gap"
    );
    // Every connection through the proxy: its log counts them too.
    let relayed = proxy
        .log()
        .matches(&format!("connected to localhost:{}", venue.addr.port()))
        .count() as f64;
    let successes = q(&format!(
        "sum(feedhandler_proxy_connect_successes_total{{proxy=\"{via}\"}})"
    ));
    assert_eq!(
        successes, relayed,
        "proxy successes = connections the proxy relayed"
    );
    assert_eq!(q("sum(feedhandler_proxy_connect_failures_total)"), 0.0);
    assert!(
        q(&format!(
            "feedhandler_proxy_handshake_seconds_count{{proxy=\"{via}\",kind=\"websocket\"}}"
        )) >= connections
    );
    let events = q("sum(feedhandler_events_total{exchange=\"binance\"})");
    let delivered = q("feedhandler_sink_events_total{result=\"delivered\"}");
    assert_eq!(delivered, events, "every event delivered");
    assert_eq!(q("feedhandler_sink_queue_capacity"), 65_536.0);
    assert_eq!(q("feedhandler_build_info{version=\"0.1.0\"}"), 1.0);

    let text = scrape().await;
    let (ok, said) = promtool(&["check", "metrics"], &text);
    assert!(ok, "promtool check metrics: {said}");
    println!("scrape excerpt:");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket"))
        .take(40)
    {
        println!("  {line}");
    }
    unsafe_kill(child.id().unwrap() as i32, "TERM");
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let topics: Vec<String> = TOPICS.iter().map(|t| t.to_string()).collect();
    let consumed = broker
        .consume(&topics, delivered as usize, Duration::from_secs(60))
        .await;
    assert_eq!(
        consumed.len() as f64,
        delivered,
        "the broker holds what the metrics count"
    );
}

#[tokio::test]
async fn the_shipped_alert_rules_pass_promtool() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
    let (ok, said) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    assert!(ok, "{said}");
    let tests = rules.with_file_name("alerts_test.yml");
    let (ok, said) = promtool(&["test", "rules", tests.to_str().unwrap()], "");
    assert!(ok, "{said}");
}
