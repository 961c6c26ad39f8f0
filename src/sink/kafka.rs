//! The Kafka sink (rdkafka): one message per event, key = symbol (per-symbol order on any
//! partition count), value = the stdout JSON line, headers exchange/type/schema_version.
//! Idempotent producer, acks=all, zstd by default. Every delivery report is counted; a
//! bounded queue in front of the producer either blocks the adapters (default) or drops
//! the oldest events with a counter; at shutdown in-flight messages are flushed within a
//! deadline and what could not be delivered is reported.

use super::topic::{TopicTemplate, event_type};
use crate::config::{KafkaConfig, OnFull};
use crate::model::{Event, SCHEMA_VERSION};
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// librdkafka settings applied before the user's `properties` (which win).
const DEFAULTS: [(&str, &str); 7] = [
    ("enable.idempotence", "true"),
    // Full-book snapshots (Coinbase BTC-USD: about 3 MB of JSON) exceed the 1 MB default;
    // the broker's message.max.bytes must allow them too.
    ("message.max.bytes", "16777216"),
    ("acks", "all"),
    ("compression.type", "zstd"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("batch.size", "1048576"),
];
/// Events taken off the adapters' queue at a time under `on_full: block` (that queue is
/// the bound; this is only the hand-over batch).
const HANDOVER_BATCH: usize = 1024;
/// Pause before retrying when librdkafka's own queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);
/// How long one broker reachability check may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    #[error("kafka producer for {bootstrap}: {reason}")]
    Create { bootstrap: String, reason: String },
}

/// What became of the events the sink was given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KafkaReport {
    pub delivered: u64,
    pub failed: u64,
    /// Dropped from the queue under `on_full: drop_oldest`.
    pub dropped: u64,
    /// Still in flight when the flush deadline passed.
    pub undelivered: u64,
    /// Times a full producer queue made the sink wait.
    pub backpressure_waits: u64,
}

#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "{facility}: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{facility}: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{facility}: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{facility}: {message}"),
        }
    }
}

impl ProducerContext for Deliveries {
    /// When the message was produced.
    type DeliveryOpaque = Box<std::time::Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, produced: Box<std::time::Instant>) {
        crate::metrics::kafka_produce(produced.elapsed());
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                crate::metrics::sink_events("delivered", 1);
            }
            Err((e, message)) => {
                crate::metrics::sink_events("failed", 1);
                let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(topic = message.topic(), failed, "kafka delivery failed: {e}");
            }
        }
    }
}

/// An event ready to produce.
struct Outgoing {
    topic: Arc<str>,
    key: Arc<str>,
    kind: &'static str,
    exchange: &'static str,
    value: Vec<u8>,
}

fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &cfg.bootstrap_servers);
    for (k, v) in DEFAULTS {
        client.set(k, v);
    }
    for (k, v) in &cfg.properties {
        client.set(k, v);
    }
    client
}

/// librdkafka's message with every configured property value masked: its errors
/// repeat the offending value, which may be a password.
fn masked(cfg: &KafkaConfig, e: &KafkaError) -> String {
    const SECRET_KEYS: [&str; 6] = ["password", "secret", "key", "token", "jaas", "credential"];
    let mut text = e.to_string();
    for (k, v) in &cfg.properties {
        // Very short values of other keys (a user name "u") would mask every letter "u".
        if v.len() >= 4 || (!v.is_empty() && SECRET_KEYS.iter().any(|s| k.contains(s))) {
            text = text.replace(v.as_str(), "***");
        }
    }
    text
}

fn producer(cfg: &KafkaConfig) -> Result<ThreadedProducer<Deliveries>, KafkaSinkError> {
    client_config(cfg)
        .create_with_context(Deliveries::default())
        .map_err(|e| KafkaSinkError::Create {
            bootstrap: cfg.bootstrap_servers.clone(),
            reason: masked(cfg, &e),
        })
}

/// The SASL mechanisms librdkafka offers (it accepts any text at configuration time and
/// fails only when connecting).
const SASL_MECHANISMS: [&str; 5] = ["GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Whether librdkafka accepts the properties (names and values), without connecting.
pub fn check_properties(cfg: &KafkaConfig) -> Result<(), String> {
    for key in ["sasl.mechanism", "sasl.mechanisms"] {
        if cfg
            .properties
            .get(key)
            .is_some_and(|m| !SASL_MECHANISMS.contains(&m.as_str()))
        {
            return Err(format!(
                "{key}: unsupported SASL mechanism; expected one of {}",
                SASL_MECHANISMS.join(", ")
            ));
        }
    }
    client_config(cfg)
        .create::<rdkafka::producer::BaseProducer>()
        .map(drop)
        .map_err(|e| masked(cfg, &e))
}

/// Waits until the brokers answer a metadata request, retrying with backoff; gives up
/// (returning false) only when shutdown is requested meanwhile.
async fn wait_for_brokers(
    producer: &Arc<ThreadedProducer<Deliveries>>,
    bootstrap: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = crate::venues::backoff::Backoff::default();
    loop {
        let p = producer.clone();
        let result = tokio::task::spawn_blocking(move || {
            p.client().fetch_metadata(None, METADATA_TIMEOUT).map(|_| ())
        })
        .await;
        match result {
            Ok(Ok(())) => {
                tracing::info!(bootstrap, "kafka brokers reachable");
                return true;
            }
            Ok(Err(e)) => {
                let delay = backoff.next_delay();
                tracing::error!(
                    bootstrap,
                    "kafka brokers unreachable ({e}); retrying in {} ms, adapters wait meanwhile",
                    delay.as_millis()
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = crate::venues::stopped(shutdown) => return false,
                }
            }
            Err(e) => {
                tracing::error!("kafka metadata check panicked: {e}");
                return false;
            }
        }
    }
}

/// Publishes every event until the queue closes, then flushes within the deadline. While
/// the brokers are unreachable at start it retries until they answer or `shutdown`.
pub async fn run(
    cfg: KafkaConfig,
    mut events: mpsc::Receiver<Event>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<KafkaReport, KafkaSinkError> {
    let producer = Arc::new(producer(&cfg)?);
    let mut topics = TopicTemplate::parse(&cfg.topic).expect("validated at load");
    let mut report = KafkaReport::default();
    let mut pending: VecDeque<Outgoing> = VecDeque::new();
    let schema = SCHEMA_VERSION.to_string();
    let reachable = wait_for_brokers(&producer, &cfg.bootstrap_servers, &mut shutdown).await;
    let mut open = true;
    let held = match cfg.on_full {
        OnFull::Block => HANDOVER_BATCH.min(cfg.queue_capacity),
        OnFull::DropOldest => cfg.queue_capacity,
    };
    while open || !pending.is_empty() {
        // Take events: wait for one when idle, otherwise only what is already queued.
        if pending.is_empty() {
            match events.recv().await {
                Some(e) => pending.push_back(outgoing(&mut topics, &e)),
                None => open = false,
            }
        }
        while open && (pending.len() < held || cfg.on_full == OnFull::DropOldest) {
            match events.try_recv() {
                Ok(e) => {
                    if pending.len() >= held {
                        pending.pop_front();
                        report.dropped += 1;
                        crate::metrics::sink_events("dropped", 1);
                    }
                    pending.push_back(outgoing(&mut topics, &e));
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        if !reachable {
            // Nothing can be sent: count what is left as undelivered.
            events.close();
            while events.recv().await.is_some() {
                report.undelivered += 1;
                crate::metrics::sink_events("undelivered", 1);
            }
            break;
        }
        // Hand events to librdkafka until its queue is full.
        while let Some(o) = pending.front() {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "exchange",
                    value: Some(o.exchange),
                })
                .insert(Header {
                    key: "type",
                    value: Some(o.kind),
                })
                .insert(Header {
                    key: "schema_version",
                    value: Some(schema.as_str()),
                });
            let record = BaseRecord::with_opaque_to(&o.topic, Box::new(std::time::Instant::now()))
                .key(o.key.as_bytes())
                .payload(&o.value)
                .headers(headers);
            match producer.send(record) {
                Ok(()) => {
                    pending.pop_front();
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    report.backpressure_waits += 1;
                    crate::metrics::backpressure_wait();
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                    break;
                }
                Err((e, _)) => {
                    report.failed += 1;
                    crate::metrics::sink_events("failed", 1);
                    tracing::warn!(topic = &*o.topic, "kafka produce failed: {e}");
                    pending.pop_front();
                }
            }
        }
    }
    let deadline = Duration::from_millis(cfg.flush_timeout_ms);
    let flushing = producer.clone();
    let _ = tokio::task::spawn_blocking(move || flushing.flush(deadline)).await;
    let left = u64::try_from(producer.in_flight_count()).unwrap_or(0) + pending.len() as u64;
    report.undelivered += left;
    crate::metrics::sink_events("undelivered", left);
    let deliveries = producer.context();
    report.delivered = deliveries.delivered.load(Ordering::Relaxed);
    report.failed += deliveries.failed.load(Ordering::Relaxed);
    let summary = format!(
        "kafka sink: {} delivered, {} failed, {} dropped, {} undelivered, {} backpressure waits",
        report.delivered, report.failed, report.dropped, report.undelivered, report.backpressure_waits
    );
    if report.failed + report.dropped + report.undelivered > 0 {
        tracing::error!("{summary}");
    } else {
        tracing::info!("{summary}");
    }
    Ok(report)
}

fn outgoing(topics: &mut TopicTemplate, event: &Event) -> Outgoing {
    crate::metrics::observe(event);
    let (exchange, key) = (event.exchange(), event.symbol_arc().clone());
    Outgoing {
        topic: topics.topic(event),
        key,
        kind: event_type(event),
        exchange: exchange.as_str(),
        value: serde_json::to_vec(event).expect("events hold only strings, numbers and lists"),
    }
}
