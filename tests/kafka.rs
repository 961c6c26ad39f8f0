//! The Kafka sink against a real Kafka-protocol broker (tansu) with a real consumer
//! (confluent-kafka): every event once, in order per symbol, byte-identical to stdout;
//! a broker frozen for 20 s loses and duplicates nothing while backpressure holds the
//! adapters; SIGTERM flushes what is in flight; an unreachable broker is retried.

mod support;

use feedhandler::sim::binance::Switches;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::kafka::{Broker, Consumed};
use support::*;

fn kafka_sink(broker_bootstrap: &str, extra: &str) -> String {
    format!(
        "sink:\n  kind: kafka\n  bootstrap_servers: \"{broker_bootstrap}\"\n  topic: \"{{type}}.{{exchange}}\"\n{extra}"
    )
}

fn topics(exchange: &str) -> Vec<String> {
    ["trade", "book", "book_status"]
        .iter()
        .map(|t| format!("{t}.{exchange}"))
        .collect()
}

/// `feedhandler replay <fixture> --config <kafka sink>`; returns its stderr.
async fn replay_to(broker: &Broker, rel: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    // replay takes only the sink from the configuration; the exchange is a placeholder.
    let yaml = format!(
        "{}exchanges:\n  binance: {{ symbols: [X-Y], channels: [trades] }}\n",
        kafka_sink(&broker.bootstrap(), "")
    );
    let cfg = write_config(dir.path(), "kafka.yaml", &yaml);
    let out = command(&[
        "replay",
        fixture(rel).to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_to_kafka_delivers_every_event_once_in_order_per_symbol_byte_identical() {
    let broker = Broker::start().await;
    for t in topics("binance") {
        broker.create_topic(&t, 3);
    }
    let stderr = replay_to(&broker, BINANCE_CF).await;
    let stdout = replay(BINANCE_CF).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        stderr.contains(&format!(
            "kafka sink: {} delivered, 0 failed, 0 dropped, 0 undelivered",
            lines.len()
        )),
        "{stderr}"
    );

    let consumed = broker
        .consume(&topics("binance"), lines.len(), Duration::from_secs(60))
        .await;
    assert_eq!(consumed.len(), lines.len());
    let values: Vec<&str> = consumed.iter().map(|c| c.value.as_str()).collect();
    let mut a = values.clone();
    let mut b = lines.clone();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the same events, each once, byte-identical to stdout");

    // Per symbol (the key) and topic: one partition, and the stdout order.
    let mut streams: BTreeMap<(String, String), Vec<&Consumed>> = BTreeMap::new();
    for c in &consumed {
        streams
            .entry((c.topic.clone(), c.key.clone()))
            .or_default()
            .push(c);
    }
    let mut partitions = HashSet::new();
    for ((topic, key), msgs) in &mut streams {
        let parts: HashSet<i64> = msgs.iter().map(|m| m.partition).collect();
        assert_eq!(parts.len(), 1, "{topic}/{key} spread over partitions {parts:?}");
        partitions.extend(parts);
        msgs.sort_by_key(|m| m.offset);
        let kind = topic.split('.').next().unwrap();
        let expected: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                l.starts_with(&format!(r#"{{"type":"{kind}""#)) && l.contains(&format!(r#""symbol":"{key}""#))
            })
            .collect();
        let got: Vec<&str> = msgs.iter().map(|m| m.value.as_str()).collect();
        assert_eq!(got, expected, "{topic}/{key} out of order");
        for m in msgs.iter() {
            assert_eq!(m.headers["exchange"], "binance");
            assert_eq!(m.headers["type"], kind);
            assert_eq!(m.headers["schema_version"], "1");
        }
    }
    assert_eq!(
        streams.keys().filter(|(t, _)| t == "book.binance").count(),
        4,
        "four symbols' books"
    );
    assert!(
        partitions.len() >= 2,
        "symbols spread over the 3 partitions: {partitions:?}"
    );
}

/// `feedhandler run` with its stdout and stderr collected while it runs.
struct Running {
    child: tokio::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(cfg: &std::path::Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = command(&["run", "--config", cfg.to_str().unwrap()])
            .spawn()
            .unwrap();
        // stdout stays empty with the Kafka sink; it is read only so the pipe never fills.
        let (stderr, stdout) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        for (pipe, sink) in [
            (
                Box::new(child.stderr.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                stderr.clone(),
            ),
            (Box::new(child.stdout.take().unwrap()), stdout.clone()),
        ] {
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&l);
                    s.push('\n');
                }
            });
        }
        Self { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    async fn wait_stderr(&self, needle: &str, count: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.stderr().matches(needle).count() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {count}x {needle:?} in:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn terminate(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        unsafe_kill(self.child.id().unwrap() as i32, "TERM");
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.stderr())
    }
}

/// Number of events the sink reports delivered, after asserting none was lost.
fn delivered_without_loss(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("kafka sink:"))
        .unwrap_or_else(|| panic!("no summary:\n{stderr}"));
    assert!(line.contains(" 0 failed, 0 dropped, 0 undelivered"), "{line}");
    line.split("kafka sink: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn backpressure_waits(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.contains("kafka sink:")).unwrap();
    line.split(", ")
        .find(|p| p.ends_with("backpressure waits"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Each trade id once; returns how many trades.
fn unique_trades(consumed: &[Consumed]) -> usize {
    let ids: Vec<String> = consumed
        .iter()
        .filter(|c| c.topic.starts_with("trade."))
        .map(|c| {
            serde_json::from_str::<serde_json::Value>(&c.value).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "duplicate trades in Kafka"
    );
    ids.len()
}

async fn paced_venue() -> LocalVenue {
    LocalVenue::start(
        &recording(SPOT_HFT),
        Switches {
            frame_interval: Some(Duration::from_millis(2)),
            ..Switches::default()
        },
    )
    .await
}

fn run_config(venue: &LocalVenue, bootstrap: &str, extra: &str) -> std::path::PathBuf {
    let yaml = format!(
        "{}exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}\ntls: {{ ca_file: {} }}\n",
        kafka_sink(bootstrap, extra),
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    write_config(venue.dir.path(), "run-kafka.yaml", &yaml)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_frozen_for_20_s_loses_and_duplicates_nothing_and_backpressure_engages() {
    let broker = Broker::start().await;
    let venue = paced_venue().await;
    let small_queues = "  queue_capacity: 50\n  properties:\n    queue.buffering.max.messages: \"20\"\n";
    let running = Running::start(&run_config(&venue, &broker.bootstrap(), small_queues));
    running
        .wait_stderr("kafka brokers reachable", 1, Duration::from_secs(20))
        .await;
    while venue.sim.frames_sent() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.signal("STOP");
    tokio::time::sleep(Duration::from_secs(20)).await;
    broker.signal("CONT");
    // The run's whole output: `replay` of the same recording gives 1653 events.
    let expected = replay(SPOT_HFT).await.lines().count();
    let consumed = broker
        .consume(&topics("binance"), expected, Duration::from_secs(90))
        .await;
    let (status, stderr) = running.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{stderr}");
    assert_eq!(
        delivered_without_loss(&stderr),
        expected,
        "nothing more was produced (no duplicates)"
    );
    assert!(backpressure_waits(&stderr) > 0, "backpressure engaged");
    assert_eq!(
        unique_trades(&consumed),
        1123,
        "every recorded trade exactly once"
    );
    let values: HashSet<&str> = consumed.iter().map(|c| c.value.as_str()).collect();
    assert_eq!(values.len(), consumed.len(), "no message twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_messages_in_flight_delivers_them_before_exit() {
    let broker = Broker::start().await;
    let venue = paced_venue().await;
    let running = Running::start(&run_config(
        &venue,
        &broker.bootstrap(),
        "  flush_timeout_ms: 20000\n",
    ));
    running
        .wait_stderr("kafka brokers reachable", 1, Duration::from_secs(20))
        .await;
    while venue.sim.frames_sent() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.signal("STOP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    unsafe_kill(running.child.id().unwrap() as i32, "TERM");
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.signal("CONT");
    let (status, stderr) = running.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{stderr}");
    let delivered = delivered_without_loss(&stderr);
    let printed = stderr.lines().filter(|l| l.contains("SIGTERM")).count();
    assert!(printed >= 1, "{stderr}");
    let consumed = broker
        .consume(&topics("binance"), delivered, Duration::from_secs(60))
        .await;
    assert_eq!(consumed.len(), delivered);
    assert!(unique_trades(&consumed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_at_start_is_reported_and_retried_not_a_crash() {
    let venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    let port = support::proxies::free_port();
    let cfg = run_config(&venue, &format!("127.0.0.1:{port}"), "  flush_timeout_ms: 1000\n");
    let running = Running::start(&cfg);
    running
        .wait_stderr("kafka brokers unreachable", 2, Duration::from_secs(30))
        .await;
    assert!(
        running.stderr().contains(&format!("127.0.0.1:{port}")),
        "names the brokers"
    );
    let (status, stderr) = running.terminate(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("events were not delivered"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_book_snapshots_of_megabytes_are_delivered() {
    let broker = Broker::start().await;
    let stderr = replay_to(&broker, COINBASE_CF).await;
    let stdout = replay(COINBASE_CF).await;
    let snapshot = stdout
        .lines()
        .find(|l| l.contains(r#""update":"snapshot""#) && l.contains("BTC-USD"))
        .unwrap();
    assert!(
        snapshot.len() > 1_000_000,
        "the BTC-USD snapshot is {} bytes",
        snapshot.len()
    );
    let books: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"book""#))
        .collect();
    let consumed = broker
        .consume(
            &["book.coinbase".to_owned()],
            books.len(),
            Duration::from_secs(60),
        )
        .await;
    assert!(
        consumed.iter().any(|c| c.value == snapshot),
        "the snapshot arrived byte-identical"
    );
    assert!(stderr.contains(" 0 failed, 0 dropped, 0 undelivered"), "{stderr}");
}
