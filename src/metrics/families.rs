//! The metric families: their names, help texts and labels, and how each observation
//! finds its series (hot ones looked up once and kept).

use super::live::{self, Live};
use crate::model::{BookState, Event, VenueId};
use crate::net::{ConnKind, Outcome, Route};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub type Labels = Vec<(&'static str, String)>;

/// Handshake and produce latencies: 1 ms to ~33 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

fn histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

#[derive(Debug)]
pub struct Families {
    registry: Registry,
    symbol_labels: bool,
    pub connections: Family<Labels, Counter>,
    pub connection_failures: Family<Labels, Counter>,
    pub reconnects: Family<Labels, Counter>,
    pub messages: Family<Labels, Counter>,
    pub bytes: Family<Labels, Counter>,
    pub rejected: Family<Labels, Counter>,
    pub events: Family<Labels, Counter>,
    pub resyncs: Family<Labels, Counter>,
    pub trade_gaps: Family<Labels, Counter>,
    pub snapshot_requests: Family<Labels, Counter>,
    pub rate_limit_pauses: Family<Labels, Counter>,
    pub proxy_attempts: Family<Labels, Counter>,
    pub proxy_successes: Family<Labels, Counter>,
    pub proxy_failures: Family<Labels, Counter>,
    pub proxy_handshake: Family<Labels, Histogram, fn() -> Histogram>,
    pub proxy_live: Family<Labels, Gauge>,
    pub proxy_ejections: Family<Labels, Counter>,
    pub service_requests: Family<Labels, Counter>,
    pub service_cache: Family<Labels, Counter>,
    pub service_fallbacks: Family<Labels, Counter>,
    pub service_feedback: Family<Labels, Counter>,
    /// `sink_events_total` by result, looked up once.
    pub sink_results: [(&'static str, Counter); 4],
    /// `events_total` per (exchange, type) without symbol labels, looked up once each.
    event_counters: Mutex<rustc_hash::FxHashMap<(VenueId, &'static str), Counter>>,
    pub backpressure_waits: Counter,
    pub kafka_produce: Histogram,
    /// What is read at scrape time.
    pub live: Arc<Live>,
}

/// One WebSocket's frame counters.
#[derive(Debug, Clone)]
pub struct FrameCounters {
    messages: Counter,
    bytes: Counter,
    last_ms: Arc<AtomicI64>,
}

impl FrameCounters {
    pub fn frame(&self, len: usize, receive_ts_ns: i64) {
        self.messages.inc();
        self.bytes.inc_by(len as u64);
        self.last_ms.store(receive_ts_ns / 1_000_000, Ordering::Relaxed);
    }
}

/// Counts a live connection on its proxy until dropped.
#[derive(Debug)]
pub struct LiveGuard(Gauge);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A new metric, registered under `name`.
fn reg<M: prometheus_client::registry::Metric + Clone + Default>(
    r: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    let m = M::default();
    r.register(name, help, m.clone());
    m
}

macro_rules! register {
    ($reg:expr, $( $field:ident : $name:literal, $help:literal ;)*) => {{
        $( let $field = reg(&mut $reg, $name, $help); )*
        ($( $field, )*)
    }};
}

impl Families {
    pub fn new(symbol_labels: bool) -> Self {
        let mut r = Registry::with_prefix("feedhandler");
        let (connections, connection_failures, reconnects, messages, bytes, rejected, events, resyncs) = register!(r,
            connections: "connections_opened", "Connections opened (WebSocket) and requests answered (HTTP), per exchange and kind";
            connection_failures: "connection_failures", "Connection attempts and requests that failed, by cause";
            reconnects: "reconnects", "WebSocket connections started again after one ended";
            messages: "messages_received", "Frames (WebSocket) and answers (HTTP) received";
            bytes: "received_bytes", "Bytes of frames and answers received";
            rejected: "frames_rejected", "Frames not applied (parse errors, invalid values), by reason";
            events: "events", "Normalized events handed to the sink, by type";
            resyncs: "book_resyncs", "Books announced resyncing, by reason class";
        );
        let (
            trade_gaps,
            snapshot_requests,
            rate_limit_pauses,
            proxy_attempts,
            proxy_successes,
            proxy_failures,
        ) = register!(r,
            trade_gaps: "trade_gaps", "Possible gaps in a polled venue's trades (trade_status gap events)";
            snapshot_requests: "snapshot_requests", "Book snapshot requests";
            rate_limit_pauses: "rate_limit_pauses", "Pauses after a venue's 429/418 answer";
            proxy_attempts: "proxy_connect_attempts", "Connection attempts through each proxy";
            proxy_successes: "proxy_connect_successes", "Connection attempts through each proxy that succeeded";
            proxy_failures: "proxy_connect_failures", "Connection attempts through each proxy that failed, by cause";
        );
        let proxy_handshake = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        r.register_with_unit(
            "proxy_handshake",
            "Connection setup through each proxy (TCP, proxy handshake, TLS, upgrade)",
            prometheus_client::registry::Unit::Seconds,
            proxy_handshake.clone(),
        );
        let (
            proxy_live,
            proxy_ejections,
            service_requests,
            service_cache,
            service_fallbacks,
            service_feedback,
        ) = register!(r,
            proxy_live: "proxy_live_connections", "Open WebSocket connections through each proxy";
            proxy_ejections: "proxy_ejections", "Pool members ejected after consecutive failures or failed health checks";
            service_requests: "proxy_service_requests", "Calls to the proxy service, by result";
            service_cache: "proxy_service_cache", "Route lookups in the proxy service's answer cache (hit: fresh answer)";
            service_fallbacks: "proxy_service_fallbacks", "Routes taken without a fresh service answer, by fallback kind";
            service_feedback: "proxy_service_feedback", "Feedback reports to the proxy service: sent, failed, dropped (queue full)";
        );
        let (sink_events, backpressure_waits): (Family<Labels, Counter>, Counter) = register!(r,
            sink_events: "sink_events", "Events the sink delivered, failed to deliver or dropped";
            backpressure_waits: "sink_backpressure_waits", "Times a publisher waited for room in the full sink queue";
        );
        let sink_results = ["delivered", "failed", "dropped", "undelivered"].map(|r| {
            (
                r,
                sink_events.get_or_create_owned(&vec![("result", r.to_owned())]),
            )
        });
        let kafka_produce = histogram();
        r.register_with_unit(
            "kafka_produce",
            "From produce to the broker's acknowledgement",
            prometheus_client::registry::Unit::Seconds,
            kafka_produce.clone(),
        );
        let build = Family::<Labels, Gauge>::default();
        build
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").into())])
            .set(1);
        r.register("build_info", "The running build (value 1)", build);
        let start = Gauge::<i64>::default();
        start.set(crate::model::now_ns() / 1_000_000_000);
        r.register_with_unit(
            "start_time",
            "When the process started, unix time",
            prometheus_client::registry::Unit::Seconds,
            start,
        );
        let live = Arc::new(Live::default());
        r.register_collector(Box::new(live::Collector(live.clone())));
        Self {
            registry: r,
            symbol_labels,
            connections,
            connection_failures,
            reconnects,
            messages,
            bytes,
            rejected,
            events,
            resyncs,
            trade_gaps,
            snapshot_requests,
            rate_limit_pauses,
            proxy_attempts,
            proxy_successes,
            proxy_failures,
            proxy_handshake,
            proxy_live,
            proxy_ejections,
            service_requests,
            service_cache,
            service_fallbacks,
            service_feedback,
            sink_results,
            event_counters: Mutex::default(),
            backpressure_waits,
            kafka_produce,
            live,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    pub fn counter(&self, family: &Family<Labels, Counter>, labels: Labels) -> Counter {
        family.get_or_create_owned(&labels)
    }

    pub fn gauge(&self, family: &Family<Labels, Gauge>, labels: Labels) -> Gauge {
        family.get_or_create_owned(&labels)
    }

    pub fn attempt(&self, exchange: VenueId, kind: ConnKind, route: &Route, outcome: &Outcome<'_>) {
        let ek = || {
            vec![
                ("exchange", exchange.as_str().into()),
                ("kind", kind.as_str().into()),
            ]
        };
        let proxy = match route {
            Route::Proxy(p) => Some(self.live.proxy_label(&p.url.to_string())),
            Route::Direct => None,
        };
        let pk = |p: &String| vec![("proxy", p.clone()), ("kind", kind.as_str().into())];
        if let Some(p) = &proxy {
            self.counter(&self.proxy_attempts, pk(p)).inc();
        }
        match outcome {
            Outcome::Success { latency } => {
                self.counter(&self.connections, ek()).inc();
                if let Some(p) = &proxy {
                    self.counter(&self.proxy_successes, pk(p)).inc();
                    self.proxy_handshake
                        .get_or_create(&pk(p))
                        .observe(latency.as_secs_f64());
                }
            }
            Outcome::Failure(cause) => {
                let label = super::cause_label(cause);
                let mut l = ek();
                l.push(("cause", label.into()));
                self.counter(&self.connection_failures, l).inc();
                if let Some(p) = proxy.as_ref().filter(|_| cause.blames_proxy()) {
                    let mut l = pk(p);
                    l.push(("cause", label.into()));
                    self.counter(&self.proxy_failures, l).inc();
                }
            }
        }
    }

    pub fn frames(&self, exchange: VenueId, kind: ConnKind) -> FrameCounters {
        let labels = vec![
            ("exchange", exchange.as_str().into()),
            ("kind", kind.as_str().into()),
        ];
        let last_ms = self.live.last_message(exchange, kind);
        FrameCounters {
            messages: self.counter(&self.messages, labels.clone()),
            bytes: self.counter(&self.bytes, labels),
            last_ms,
        }
    }

    pub fn live_proxy(&self, proxy: &str) -> LiveGuard {
        let g = self.gauge(&self.proxy_live, vec![("proxy", self.live.proxy_label(proxy))]);
        g.inc();
        LiveGuard(g)
    }

    pub fn observe(&self, event: &Event) {
        let exchange = || ("exchange", event.exchange().as_str().to_owned());
        let (kind, symbol) = match event {
            Event::Trade(_) => ("trade", None),
            Event::Book(_) => ("book", None),
            Event::BookStatus(s) => {
                if s.status == BookState::Resyncing {
                    let mut l = vec![exchange(), ("reason", reason_class(&s.reason))];
                    if self.symbol_labels {
                        l.push(("symbol", s.symbol.to_string()));
                    }
                    self.counter(&self.resyncs, l).inc();
                }
                ("book_status", Some(&s.symbol))
            }
            Event::TradeStatus(s) => {
                self.counter(&self.trade_gaps, vec![exchange()]).inc();
                ("trade_status", Some(&s.symbol))
            }
        };
        if self.symbol_labels {
            let s = symbol.unwrap_or_else(|| event.symbol_arc());
            let l = vec![exchange(), ("type", kind.into()), ("symbol", s.to_string())];
            self.counter(&self.events, l).inc();
            return;
        }
        let mut cache = self.event_counters.lock().unwrap_or_else(|e| e.into_inner());
        let counter = cache
            .entry((event.exchange(), kind))
            .or_insert_with(|| self.counter(&self.events, vec![exchange(), ("type", kind.into())]));
        counter.inc();
    }
}

/// A resync reason as a bounded label: its words up to the first number or detail
/// (`:`, `=`, `(`, a quote): "update id out of range: u=…" → "update id out of range",
/// at most 40 characters.
pub fn reason_class(reason: &str) -> String {
    let mut words = Vec::new();
    for word in reason.split_whitespace() {
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        match word.find([':', '=', '(', '"']) {
            Some(i) => {
                words.push(&word[..i]);
                break;
            }
            None => words.push(word),
        }
    }
    let class: String = words.join(" ").trim().chars().take(40).collect();
    if class.is_empty() { "other".into() } else { class }
}

#[cfg(test)]
mod tests {
    use super::reason_class;

    #[test]
    fn reason_classes_are_bounded() {
        for (reason, class) in [
            (
                "update id out of range: u=18446744073709551615",
                "update id out of range",
            ),
            ("disconnected", "disconnected"),
            ("buffered gap: expected 17 got 20", "buffered gap"),
            ("snapshot lastUpdateId=123 is crossed", "snapshot lastUpdateId"),
            ("no level2 snapshot within 10 s", "no level2 snapshot within"),
            ("invalid depth frame: price -1", "invalid depth frame"),
            ("12345", "other"),
        ] {
            assert_eq!(reason_class(reason), class, "{reason}");
        }
    }
}
