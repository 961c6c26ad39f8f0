//! A local Coinbase Advanced Trade playing a recording: the products list over REST,
//! and on the WebSocket the recorded `l2_data`, `market_trades` and `heartbeats`
//! messages for what the client subscribed to, numbered per connection as Coinbase does.
//! Subscribing after the recorded snapshots were played yields snapshots of the venue's
//! current state (kept from the messages played). Switches drop connections and skip a
//! `sequence_num`.

mod stream;

use super::server::{HttpReply, ServerWs, Venue};
use crate::book::L2Book;
use crate::record::reader::{Recorded, Recording};
use crate::venues::coinbase::messages::{L2Event, Message, TradesEvent};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Switches {
    /// Close each connection after sending this many recorded messages.
    pub drop_after_frames: Option<u64>,
    /// Skip one `sequence_num` after the n-th (0-based) message of the first connection.
    pub skip_sequence_after: Option<u64>,
    /// Skip one `sequence_num` after every n messages of every connection.
    pub skip_sequence_every: Option<u64>,
    /// Close each connection this long after it opened.
    pub drop_every: Option<Duration>,
    /// Answer the first n `level2` subscriptions (per product) without a snapshot.
    pub withhold_level2_snapshots: u64,
    /// Number messages 0, 1, 2, … per connection, hiding gaps the recording has.
    pub renumber: bool,
}

/// Heartbeats once the recording has been played (Coinbase sends one per second).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Trades kept for the `market_trades` snapshot a subscription gets.
const SNAPSHOT_TRADES: usize = 50;
/// Subscriptions arriving within this quiet period are all in place before playback.
const SUBSCRIBE_SETTLE: Duration = Duration::from_millis(200);

struct Frame {
    channel: String,
    text: String,
    /// As recorded.
    sequence_num: Option<u64>,
}

#[derive(Default)]
struct State {
    cursor: usize,
    connections: u64,
    books: HashMap<String, L2Book>,
    trades: HashMap<String, Vec<Value>>,
    timestamp: String,
    /// `level2` snapshots withheld so far.
    withheld: u64,
}

pub struct CoinbaseSim {
    products: String,
    frames: Vec<Frame>,
    switches: Switches,
    state: Mutex<State>,
    http_requests: AtomicU64,
    client_messages: Mutex<Vec<String>>,
}

fn sequence_of(text: &str) -> Option<u64> {
    serde_json::from_str::<Value>(text).ok()?["sequence_num"].as_u64()
}

fn channel_of(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["channel"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Replaces the message's `sequence_num` with `n`.
fn renumber(text: &str, n: u64) -> String {
    let key = "\"sequence_num\":";
    let Some(start) = text.find(key).map(|i| i + key.len()) else {
        return text.to_owned();
    };
    let end = text[start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |e| start + e);
    format!("{}{n}{}", &text[..start], &text[end..])
}

impl CoinbaseSim {
    pub fn new(rec: &Recording, switches: Switches) -> Self {
        let mut products = String::from(r#"{"products":[]}"#);
        let mut frames = Vec::new();
        for ev in &rec.events {
            match ev {
                Recorded::Http { url, body, .. } if url.contains("market/products") => {
                    products = body.clone()
                }
                Recorded::Recv { data, .. } => frames.push(Frame {
                    channel: channel_of(data),
                    text: data.clone(),
                    sequence_num: sequence_of(data),
                }),
                _ => {}
            }
        }
        Self {
            products,
            frames,
            switches,
            state: Mutex::new(State::default()),
            http_requests: AtomicU64::new(0),
            client_messages: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every message clients sent (subscriptions), for test checks.
    pub fn client_messages(&self) -> Vec<String> {
        self.client_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::Relaxed)
    }

    /// The venue's current book of a product (for test checks).
    pub fn book(&self, product: &str) -> Option<L2Book> {
        self.lock().books.get(product).cloned()
    }

    /// Keeps the venue's state: books from `l2_data`, recent trades from `market_trades`.
    fn advance(st: &mut State, frame: &Frame) {
        if let Ok(v) = serde_json::from_str::<Value>(&frame.text) {
            if let Some(ts) = v["timestamp"].as_str() {
                st.timestamp = ts.to_owned();
            }
        }
        match frame.channel.as_str() {
            "l2_data" => {
                let Ok(msg) = serde_json::from_str::<Message<L2Event>>(&frame.text) else {
                    return;
                };
                for ev in msg.events {
                    let book = st.books.entry(ev.product_id.to_string()).or_default();
                    let (bids, asks): (Vec<_>, Vec<_>) = ev.updates.iter().partition(|u| u.side == "bid");
                    let levels = |us: Vec<&crate::venues::coinbase::messages::L2Update>| {
                        us.iter()
                            .map(|u| (u.price_level.0, u.new_quantity.0))
                            .collect::<Vec<_>>()
                    };
                    if ev.kind == "snapshot" {
                        book.reset(&levels(bids), &levels(asks));
                    } else {
                        book.apply(&levels(bids), &levels(asks));
                    }
                }
            }
            "market_trades" => {
                let Ok(msg) = serde_json::from_str::<Message<TradesEvent>>(&frame.text) else {
                    return;
                };
                for ev in msg.events {
                    for t in ev.trades.iter().rev() {
                        let trades = st.trades.entry(t.product_id.to_string()).or_default();
                        if trades.iter().all(|k| k["trade_id"] != t.trade_id.as_ref()) {
                            trades.push(json!({"product_id": t.product_id, "trade_id": t.trade_id,
                                "price": t.price.0.to_string(), "size": t.size.0.to_string(), "time": t.time, "side": t.side}));
                        }
                        if trades.len() > SNAPSHOT_TRADES {
                            trades.remove(0);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Snapshots a subscription gets once the recorded ones have been played.
    /// Whether this `level2` subscription goes without a snapshot (`withhold_level2_snapshots`).
    fn withhold(&self, products: usize) -> bool {
        let mut st = self.lock();
        let withhold = st.withheld < self.switches.withhold_level2_snapshots;
        if withhold {
            st.withheld += products as u64;
        }
        withhold
    }

    fn snapshots(&self, channel: &str, products: &[String]) -> Vec<Value> {
        let st = self.lock();
        let level = |(p, s): crate::model::Level, side: &str| json!({"side": side, "price_level": p.to_string(), "new_quantity": s.to_string()});
        let mut out = Vec::new();
        for p in products {
            match channel {
                "level2" => {
                    if let Some(book) = st.books.get(p) {
                        let updates: Vec<Value> = book
                            .bids()
                            .map(|l| level(l, "bid"))
                            .chain(book.asks().map(|l| level(l, "offer")))
                            .collect();
                        out.push(
                            json!({"channel": "l2_data", "timestamp": st.timestamp, "sequence_num": 0,
                            "events": [{"type": "snapshot", "product_id": p, "updates": updates}]}),
                        );
                    }
                }
                "market_trades" => {
                    if let Some(trades) = st.trades.get(p).filter(|t| !t.is_empty()) {
                        let newest_first: Vec<Value> = trades.iter().rev().cloned().collect();
                        out.push(
                            json!({"channel": "market_trades", "timestamp": st.timestamp, "sequence_num": 0,
                            "events": [{"type": "snapshot", "trades": newest_first}]}),
                        );
                    }
                }
                _ => {}
            }
        }
        out
    }
}

impl Venue for CoinbaseSim {
    fn http(&self, path: &str) -> HttpReply {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        if path.contains("/market/products") {
            HttpReply::ok(self.products.clone())
        } else {
            HttpReply::not_found()
        }
    }

    fn websocket(self: Arc<Self>, _path: String, ws: ServerWs) -> BoxFuture<'static, ()> {
        Box::pin(self.stream(ws))
    }
}

impl super::Playback for CoinbaseSim {
    fn finished(&self) -> bool {
        self.lock().cursor >= self.frames.len()
    }

    fn connections(&self) -> u64 {
        self.lock().connections
    }
}
