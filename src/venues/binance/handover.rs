//! Make-before-break replacement of a Binance connection at its age limit. The new
//! connection is subscribed while the old one keeps streaming; the new one's frames are
//! held back until the old one has had [`OVERLAP`] to deliver everything the venue sent
//! before the new one started. Then the old one is closed and the held frames are
//! processed: diffs already applied are stale to the sequence checks and repeated trades
//! are dropped by id, so books carry over without a resync and no trade is lost. Held
//! frames are recorded when processed, so `replay` of a recording sees the same order.

use crate::net::{Frame, WsConn};
use std::time::Duration;

/// How long both connections stream before the replacement takes over.
pub const OVERLAP: Duration = Duration::from_secs(1);
/// Frames held at most; a replacement holding more takes over at once.
const MAX_HELD_FRAMES: usize = 100_000;

pub struct Replacement {
    ws: WsConn,
    held: Vec<Frame>,
    streaming: bool,
}

/// What holding a frame of the replacement means for the handover.
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// Its first data frame: the overlap starts now.
    FirstData,
    Waiting,
    /// The hold is full: take over now.
    Full,
}

impl Replacement {
    pub fn new(ws: WsConn) -> Self {
        Self {
            ws,
            held: Vec::new(),
            streaming: false,
        }
    }

    pub fn ws(&mut self) -> &mut WsConn {
        &mut self.ws
    }

    /// Whether a data frame (not just a subscription acknowledgement) has arrived.
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    pub fn hold(&mut self, frame: Frame) -> Held {
        let first = !self.streaming && frame.text.starts_with("{\"stream\"");
        self.streaming |= first;
        self.held.push(frame);
        if self.held.len() >= MAX_HELD_FRAMES {
            Held::Full
        } else if first {
            Held::FirstData
        } else {
            Held::Waiting
        }
    }

    /// Puts the replacement in place of `ws`, closes the old connection and returns the
    /// frames to process, in arrival order.
    pub async fn take_over(self, ws: &mut WsConn) -> Vec<Frame> {
        let old = std::mem::replace(ws, self.ws);
        old.close().await;
        self.held
    }

    pub async fn close(self) {
        self.ws.close().await;
    }
}
