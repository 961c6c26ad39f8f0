//! Make-before-break replacement of a Binance connection at its age limit. The new
//! connection is opened and subscribed while the old one keeps streaming; the new one's
//! frames are held back. Binance sends every connection the same frames in the same
//! order, so once the old connection has delivered the replacement's first data frame,
//! everything before it has been processed and the held frames continue exactly where
//! the old one stops. Then the old one is closed and the held frames are processed: the
//! ones already seen are stale to the sequence checks or repeated trade ids, so books
//! carry over without a resync and no trade is lost. Held frames are recorded when
//! processed, so `replay` of a recording sees the same order.

use crate::net::{Frame, WsConn};
use rustc_hash::{FxBuildHasher, FxHashSet};
use std::hash::BuildHasher;
use std::time::Duration;

/// Longest wait for the old connection to catch up with the replacement's first data
/// frame; past it the replacement takes over anyway (the sequence checks then resync
/// any book that missed diffs).
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of frames held at most; a replacement holding more takes over at once.
const MAX_HELD_BYTES: usize = 64 << 20;

pub struct Replacement {
    /// None while it is being opened and subscribed.
    ws: Option<WsConn>,
    held: Vec<Frame>,
    held_bytes: usize,
    /// The replacement's first data frame (a hash of its text), once it has one.
    first: Option<u64>,
    /// Frames the old connection delivered before that (since the replacement started
    /// opening), in case it is ahead.
    old_seen: FxHashSet<u64>,
}

/// Whether the replacement should take over now, and why.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Waiting,
    TakeOver(&'static str),
}

fn digest(frame: &Frame) -> u64 {
    FxBuildHasher.hash_one(frame.text.as_str())
}

impl Replacement {
    /// A replacement about to be opened: the old connection's frames are tracked from now.
    pub fn opening() -> Self {
        Self {
            ws: None,
            held: Vec::new(),
            held_bytes: 0,
            first: None,
            old_seen: FxHashSet::default(),
        }
    }

    /// The replacement is open and subscribed.
    pub fn opened(&mut self, ws: WsConn) {
        self.ws = Some(ws);
    }

    pub fn is_open(&self) -> bool {
        self.ws.is_some()
    }

    pub fn ws(&mut self) -> &mut WsConn {
        self.ws.as_mut().expect("an open replacement")
    }

    /// Whether a data frame (not just a subscription acknowledgement) has arrived.
    pub fn streaming(&self) -> bool {
        self.first.is_some()
    }

    /// A frame of the replacement: held until it takes over.
    pub fn on_new(&mut self, frame: Frame) -> Progress {
        let mut progress = Progress::Waiting;
        if self.first.is_none() && frame.text.starts_with("{\"stream\"") {
            let h = digest(&frame);
            self.first = Some(h);
            if self.old_seen.contains(&h) {
                progress = Progress::TakeOver("the old connection is ahead");
            }
            self.old_seen = FxHashSet::default();
        }
        self.held_bytes += frame.text.len();
        self.held.push(frame);
        if self.held_bytes > MAX_HELD_BYTES {
            progress = Progress::TakeOver("the hold is full");
        }
        progress
    }

    /// A frame the old connection delivered (and the caller processed).
    pub fn on_old(&mut self, frame: &Frame) -> Progress {
        let h = digest(frame);
        match self.first {
            Some(first) if first == h => Progress::TakeOver("the old connection caught up"),
            Some(_) => Progress::Waiting,
            None => {
                self.old_seen.insert(h);
                Progress::Waiting
            }
        }
    }

    /// Puts the replacement in place of `ws`, closes the old connection and returns the
    /// held frames, in arrival order.
    pub async fn take_over(self, ws: &mut WsConn) -> Vec<Frame> {
        let old = std::mem::replace(ws, self.ws.expect("an open replacement"));
        old.close().await;
        self.held
    }

    pub async fn close(self) {
        if let Some(ws) = self.ws {
            ws.close().await;
        }
    }
}
