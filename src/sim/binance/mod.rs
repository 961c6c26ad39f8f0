//! A local Binance (spot or USD-M) playing a recording: `exchangeInfo` and depth snapshots
//! over REST, frames on the streams each client subscribed to, in recorded order. A
//! recorded snapshot is served at the point the recording took it (playback waits for the
//! client's first request); later requests get the venue's current book, kept from the
//! frames played. Switches drop connections and inject sequence gaps. The WebSocket
//! playback is in `stream`.

mod stream;

use super::server::{HttpReply, ServerWs, Venue};
use crate::book::L2Book;
use crate::record::reader::{Recorded, Recording};
use crate::venues::binance::messages::DepthUpdateMsg;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Switches {
    /// Close each connection after sending this many frames.
    pub drop_after_frames: Option<u64>,
    /// Close each connection this long after it opened.
    pub drop_every: Option<Duration>,
    /// Withhold every n-th depth frame of every symbol: a gap each time.
    pub skip_depth_every: Option<usize>,
    /// Withhold the n-th (0-based) depth frame of this wire symbol: a sequence gap.
    pub skip_depth_frame: Option<(String, usize)>,
    /// Frames replayed again after a reconnect (an overlap the client must de-duplicate).
    pub rewind_on_reconnect: usize,
    /// Pause between frames sent (playback as fast as the client reads when absent).
    pub frame_interval: Option<Duration>,
    /// Send a ping after every n frames (Binance pings; a client that does not answer is
    /// disconnected).
    pub ping_every_frames: Option<u64>,
    /// Answer the first n depth snapshot requests with 429 (request weight exceeded).
    pub rate_limit_snapshots: u64,
    /// Answer the first n REST requests of any kind with 503 (venue unavailable).
    pub unavailable_requests: u64,
    /// Snapshots are of the venue's current book (never the recorded ones) and frames
    /// never wait for them: a venue with many symbols, as in the scale bench.
    pub live_book: bool,
    /// Frames go out at the pace of their recorded receive times.
    pub realtime: bool,
}

struct Frame {
    stream: String,
    text: String,
    ts_ns: i64,
    /// Snapshots (wire symbol) the recording took before this frame.
    after_snapshots: Vec<String>,
}

enum Next {
    Send(String),
    Skip,
    /// A recorded snapshot must be requested before playback goes on.
    Wait,
    /// In real time, the frame is due then.
    Until(tokio::time::Instant),
    /// The recording is exhausted.
    Idle,
}

struct Truth {
    book: L2Book,
    last_update_id: u64,
    recorded: String,
    advanced: bool,
}

#[derive(Default)]
struct State {
    /// The venue's clock: frames up to here have happened (the furthest any connection
    /// has played). Each connection plays from where the venue was when it subscribed.
    cursor: usize,
    /// Frames withheld to inject a gap (from every connection).
    withheld: HashSet<usize>,
    connections: u64,
    served: HashSet<String>,
    books: HashMap<String, Truth>,
    depth_seen: HashMap<String, usize>,
    /// Real-time playback: when the first frame went out, and its recorded time.
    clock: Option<(tokio::time::Instant, i64)>,
}

pub struct BinanceSim {
    exchange_info: String,
    frames: Vec<Frame>,
    switches: Switches,
    state: Mutex<State>,
    frames_sent: AtomicU64,
    pings_sent: AtomicU64,
    snapshot_requests: AtomicU64,
    pongs_received: AtomicU64,
    http_requests: AtomicU64,
}

fn wire_symbol_of_url(url: &str) -> Option<String> {
    url.split("symbol=")
        .nth(1)
        .map(|s| s.split('&').next().unwrap_or(s).to_owned())
}

impl BinanceSim {
    pub fn new(rec: &Recording, switches: Switches) -> Self {
        let mut exchange_info = None;
        let mut frames = Vec::new();
        let mut pending_snapshots = Vec::new();
        let mut books = HashMap::new();
        for ev in &rec.events {
            match ev {
                Recorded::Http { url, body, .. } if url.contains("exchangeInfo") => {
                    exchange_info = Some(body.clone())
                }
                Recorded::Http { url, body, .. } => {
                    if let (Some(sym), Ok(snap)) = (
                        wire_symbol_of_url(url),
                        crate::venues::binance::parse::parse_snapshot(body),
                    ) {
                        let mut book = L2Book::default();
                        book.reset(&snap.bids, &snap.asks);
                        let truth = Truth {
                            book,
                            last_update_id: snap.last_update_id,
                            recorded: body.clone(),
                            advanced: false,
                        };
                        books.insert(sym.clone(), truth);
                        pending_snapshots.push(sym);
                    }
                }
                Recorded::Recv { data, ts_ns, .. } => {
                    let stream = data
                        .split("\"stream\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or_default();
                    frames.push(Frame {
                        stream: stream.to_owned(),
                        text: data.clone(),
                        ts_ns: *ts_ns,
                        after_snapshots: std::mem::take(&mut pending_snapshots),
                    });
                }
                _ => {}
            }
        }
        let futures = rec.exchange.contains("FUTURES");
        let exchange_info = exchange_info.unwrap_or_else(|| {
            crate::venues::binance::parse::synthesize_exchange_info(books.keys(), futures)
        });
        Self {
            exchange_info,
            frames,
            switches,
            state: Mutex::new(State {
                books,
                ..State::default()
            }),
            frames_sent: AtomicU64::new(0),
            pings_sent: AtomicU64::new(0),
            snapshot_requests: AtomicU64::new(0),
            pongs_received: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
        }
    }

    /// Depth snapshot requests received (rate-limited ones included).
    pub fn snapshot_requests(&self) -> u64 {
        self.snapshot_requests.load(Ordering::Relaxed)
    }

    /// Pings sent and pongs answered with the same payload.
    pub fn pings(&self) -> (u64, u64) {
        (
            self.pings_sent.load(Ordering::Relaxed),
            self.pongs_received.load(Ordering::Relaxed),
        )
    }

    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Relaxed)
    }

    pub fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::Relaxed)
    }

    /// The venue's current book for a wire symbol, best levels first (for test checks).
    pub fn book(&self, wire: &str) -> Option<(u64, L2Book)> {
        self.lock()
            .books
            .get(wire)
            .map(|t| (t.last_update_id, t.book.clone()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self, wire: &str, limit: usize) -> HttpReply {
        if self.snapshot_requests.fetch_add(1, Ordering::Relaxed) < self.switches.rate_limit_snapshots {
            return HttpReply::status(429, r#"{"code":-1003,"msg":"Too many requests."}"#);
        }
        let mut st = self.lock();
        let first_request = st.served.insert(wire.to_owned());
        let Some(t) = st.books.get(wire) else {
            return HttpReply::status(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#);
        };
        if !self.switches.live_book && (first_request || !t.advanced) {
            return HttpReply::ok(t.recorded.clone());
        }
        let side = |levels: Vec<crate::model::Level>| {
            levels
                .into_iter()
                .take(limit)
                .map(|(p, s)| [p.to_string(), s.to_string()])
                .collect::<Vec<_>>()
        };
        let body = serde_json::json!({
            "lastUpdateId": t.last_update_id,
            "bids": side(t.book.bids().collect()),
            "asks": side(t.book.asks().collect()),
        });
        HttpReply::ok(body.to_string())
    }

    /// Advances the venue's book; returns false when the frame is to be withheld.
    fn play_depth(&self, st: &mut State, frame: &Frame) -> bool {
        let Ok(env) = serde_json::from_str::<crate::venues::binance::messages::Envelope>(&frame.text) else {
            return true;
        };
        let Ok(d) = serde_json::from_str::<DepthUpdateMsg>(env.data.get()) else {
            return true;
        };
        let n = *st
            .depth_seen
            .entry(d.symbol.to_owned())
            .and_modify(|n| *n += 1)
            .or_insert(0);
        if let Some(t) = st.books.get_mut(d.symbol) {
            if d.final_update_id > t.last_update_id {
                t.book.apply(&d.bids, &d.asks);
                t.last_update_id = d.final_update_id;
                t.advanced = true;
            }
        }
        let every = self
            .switches
            .skip_depth_every
            .is_some_and(|k| k > 0 && n % k == k - 1);
        !every && !matches!(&self.switches.skip_depth_frame, Some((sym, k)) if sym == d.symbol && *k == n)
    }
}

impl Venue for BinanceSim {
    fn http(&self, path: &str) -> HttpReply {
        if self.http_requests.fetch_add(1, Ordering::Relaxed) < self.switches.unavailable_requests {
            return HttpReply::status(503, "Service Unavailable");
        }
        if path.contains("/exchangeInfo") {
            HttpReply::ok(self.exchange_info.clone())
        } else if path.contains("/depth") {
            let limit = path
                .split("limit=")
                .nth(1)
                .and_then(|l| l.split('&').next()?.parse().ok())
                .unwrap_or(100);
            match wire_symbol_of_url(path) {
                Some(sym) => self.snapshot(&sym, limit),
                None => HttpReply::status(400, r#"{"code":-1102,"msg":"symbol missing"}"#),
            }
        } else {
            HttpReply::not_found()
        }
    }

    fn websocket(self: Arc<Self>, path: String, ws: ServerWs) -> BoxFuture<'static, ()> {
        Box::pin(self.stream(path, ws))
    }
}

impl super::Playback for BinanceSim {
    fn finished(&self) -> bool {
        self.lock().cursor >= self.frames.len()
    }

    fn connections(&self) -> u64 {
        self.lock().connections
    }
}
