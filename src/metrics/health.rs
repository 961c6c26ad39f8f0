//! Readiness of the configured feeds, for `/health/ready`: a feed is ready when it is
//! connected (a WebSocket open, or a polled venue's last request answered) and every
//! book it keeps is synced (announced `synced`, or a polled snapshot arrived, and no
//! `resyncing` since). Tracked only while the health endpoints are served.

use crate::model::{BookState, BookUpdateKind, Event, VenueId};
use crate::net::{ConnKind, Outcome};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

static FEEDS: OnceLock<Mutex<BTreeMap<VenueId, Feed>>> = OnceLock::new();

#[derive(Debug, Default)]
struct Feed {
    /// Books it keeps (one per symbol with `l2_book`).
    books_expected: usize,
    /// Polled over HTTP (a REST venue) rather than streamed.
    polled: bool,
    websockets_open: u32,
    last_request_ok: bool,
    synced: BTreeSet<String>,
    resyncing: BTreeSet<String>,
}

/// One feed as `/health/ready` shows it.
#[derive(Debug, Serialize)]
pub struct FeedReport {
    pub ready: bool,
    pub connected: bool,
    pub books_expected: usize,
    pub books_synced: usize,
    pub resyncing: Vec<String>,
}

/// Starts tracking `exchange`.
pub fn register(exchange: VenueId, books_expected: usize, polled: bool) {
    let feeds = FEEDS.get_or_init(Default::default);
    let feed = Feed {
        books_expected,
        polled,
        ..Feed::default()
    };
    lock(feeds).insert(exchange, feed);
}

fn with(exchange: VenueId, f: impl FnOnce(&mut Feed)) {
    if let Some(feeds) = FEEDS.get() {
        if let Some(feed) = lock(feeds).get_mut(&exchange) {
            f(feed);
        }
    }
}

pub(super) fn attempt(exchange: VenueId, kind: ConnKind, outcome: &Outcome<'_>) {
    if kind == ConnKind::Http {
        let ok = matches!(outcome, Outcome::Success { .. });
        with(exchange, |f| f.last_request_ok = ok);
    }
}

/// An open WebSocket of a feed, counted until dropped.
pub struct Open(VenueId);

impl Open {
    pub fn websocket(exchange: VenueId) -> Self {
        with(exchange, |f| {
            f.websockets_open = f.websockets_open.saturating_add(1)
        });
        Self(exchange)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        with(self.0, |f| {
            f.websockets_open = f.websockets_open.saturating_sub(1)
        });
    }
}

/// An event an adapter publishes: book statuses and snapshots move its books.
pub fn observe(event: &Event) {
    let (symbol, synced) = match event {
        Event::BookStatus(s) => (&s.symbol, s.status == BookState::Synced),
        Event::Book(b) if b.update == BookUpdateKind::Snapshot => (&b.symbol, true),
        _ => return,
    };
    with(event.exchange(), |f| {
        if synced {
            f.resyncing.remove(&**symbol);
            f.synced.insert(symbol.to_string());
        } else {
            f.synced.remove(&**symbol);
            f.resyncing.insert(symbol.to_string());
        }
    });
}

/// Every tracked feed, and whether all are ready.
pub fn report() -> (bool, BTreeMap<String, FeedReport>) {
    let Some(feeds) = FEEDS.get() else {
        return (true, BTreeMap::new());
    };
    let feeds = lock(feeds);
    let out: BTreeMap<String, FeedReport> = feeds
        .iter()
        .map(|(id, f)| {
            let connected = if f.polled {
                f.last_request_ok
            } else {
                f.websockets_open > 0
            };
            let books_synced = f.synced.len();
            let ready = connected && f.resyncing.is_empty() && books_synced >= f.books_expected;
            let resyncing = f.resyncing.iter().cloned().collect();
            let report = FeedReport {
                ready,
                connected,
                books_expected: f.books_expected,
                books_synced,
                resyncing,
            };
            (id.as_str().to_owned(), report)
        })
        .collect();
    (out.values().all(|f| f.ready), out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
