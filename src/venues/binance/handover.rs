//! Make-before-break replacement of a Binance connection at its age limit. The new
//! connection is opened and subscribed while the old one keeps streaming; the new one's
//! frames are held back ([`Hold`]). Binance sends every connection the same frames in
//! the same order, so once the old connection has delivered the replacement's first
//! data frame, everything before it has been processed and the held frames continue
//! exactly where the old one stops. Then the old one is closed and the held frames are
//! processed: the ones already seen are stale to the sequence checks or repeated trade
//! ids, so books carry over without a resync and no trade is lost. `replay` runs the
//! same [`Hold`] over a recording, which lists frames as they arrived.

use crate::net::{Frame, WsConn};
use crate::venues::VenueError;
use crate::venues::backoff::Backoff;
use futures_util::future::BoxFuture;
use rustc_hash::{FxBuildHasher, FxHashSet};
use std::hash::BuildHasher;
use std::time::Duration;
use tokio::time::Instant;

/// Longest wait for the old connection to catch up with the replacement's first data
/// frame; past it the replacement takes over anyway (the sequence checks then resync
/// any book that missed diffs).
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of frames held at most; a replacement holding more takes over at once.
const MAX_HELD_BYTES: usize = 64 << 20;

/// What the connection loop should do next about the handover.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Waiting,
    /// The age limit is reached: open a replacement and pass it to [`Handover::opening`].
    Open,
    TakeOver(&'static str),
}

/// The replacement's frames, held until it takes over, and how far the old connection
/// has come. Pure: no I/O.
#[derive(Default)]
pub struct Hold {
    held: Vec<Frame>,
    held_bytes: usize,
    /// The replacement's first data frame (a hash of its text), once it has one.
    first: Option<u64>,
    /// Frames the old connection delivered before that (since the replacement started
    /// opening), in case it is ahead.
    old_seen: FxHashSet<u64>,
    /// The id of the replacement's last SUBSCRIBE: data before its answer may come from
    /// streams subscribed earlier while later ones are not live yet, so the first data
    /// frame that counts is the one after it.
    last_subscribe: Option<u64>,
    subscribed: bool,
}

/// A SUBSCRIBE answer: `{"result":null,"id":N}`.
#[derive(serde::Deserialize)]
struct Answer {
    id: u64,
}

fn digest(frame: &Frame) -> u64 {
    FxBuildHasher.hash_one(frame.text.as_str())
}

impl Hold {
    /// Whether a data frame (not just a subscription acknowledgement) has arrived.
    pub fn streaming(&self) -> bool {
        self.first.is_some()
    }

    /// The replacement's SUBSCRIBE messages were numbered up to `id`.
    pub fn subscribed_up_to(&mut self, id: u64) {
        self.last_subscribe = Some(id);
    }

    /// A frame of the replacement: held until it takes over.
    pub fn on_new(&mut self, frame: Frame) -> Step {
        let mut step = Step::Waiting;
        let data = frame.text.starts_with("{\"stream\"");
        if !data && !self.subscribed {
            let answer = serde_json::from_str::<Answer>(&frame.text).ok();
            self.subscribed = answer.is_some_and(|a| Some(a.id) == self.last_subscribe);
        }
        let counts = self.subscribed || self.last_subscribe.is_none();
        if self.first.is_none() && data && counts {
            let h = digest(&frame);
            self.first = Some(h);
            if self.old_seen.contains(&h) {
                step = Step::TakeOver("the old connection is ahead");
            }
            self.old_seen = FxHashSet::default();
        }
        self.held_bytes += frame.text.len();
        self.held.push(frame);
        if self.held_bytes > MAX_HELD_BYTES {
            step = Step::TakeOver("the hold is full");
        }
        step
    }

    /// A frame the old connection delivered (and the caller processed).
    pub fn on_old(&mut self, frame: &Frame) -> Step {
        let h = digest(frame);
        match self.first {
            Some(first) if first == h => Step::TakeOver("the old connection caught up"),
            Some(_) => Step::Waiting,
            None => {
                self.old_seen.insert(h);
                Step::Waiting
            }
        }
    }

    /// The held frames, in arrival order.
    pub fn release(self) -> Vec<Frame> {
        self.held
    }
}

/// The age limit of one connection: when to open a replacement, the replacement while
/// it comes up, and the retry pacing of replacements that fail.
pub struct Handover {
    max_age: Duration,
    idle_timeout: Duration,
    deadline: Instant,
    opening: Option<BoxFuture<'static, Result<WsConn, VenueError>>>,
    /// The replacement (None while it is being opened) and its held frames.
    replacement: Option<(Option<WsConn>, Hold)>,
    retry: Backoff,
}

impl Handover {
    pub fn new(max_age: Duration, idle_timeout: Duration) -> Self {
        Self {
            max_age,
            idle_timeout,
            deadline: Instant::now() + max_age,
            opening: None,
            replacement: None,
            retry: Backoff::default(),
        }
    }

    /// A replacement is being opened and subscribed; the old connection's frames are
    /// tracked from now.
    pub fn opening(&mut self, open: BoxFuture<'static, Result<WsConn, VenueError>>, last_subscribe: u64) {
        self.opening = Some(open);
        let mut hold = Hold::default();
        hold.subscribed_up_to(last_subscribe);
        self.replacement = Some((None, hold));
    }

    /// Whether a replacement is open and subscribed (it can take over at once).
    pub fn is_open(&self) -> bool {
        matches!(self.replacement, Some((Some(_), _)))
    }

    fn retry_later(&mut self, what: &str) {
        let delay = self.retry.next_delay();
        tracing::warn!("{what}; next try in {} ms", delay.as_millis());
        self.deadline = Instant::now() + delay;
    }

    /// Waits for the handover's next event: the deadline, the replacement opened, or a
    /// frame of the replacement. Cancel-safe.
    pub async fn next(&mut self) -> Step {
        let open = self.is_open();
        tokio::select! {
            _ = tokio::time::sleep_until(self.deadline), if self.opening.is_none() => {
                match self.replacement.as_ref().map(|(_, hold)| hold.streaming()) {
                    None => Step::Open,
                    Some(false) => {
                        self.retry_later("the replacement connection sent no data");
                        if let Some((Some(ws), _)) = self.replacement.take() {
                            ws.close().await;
                        }
                        Step::Waiting
                    }
                    Some(true) => Step::TakeOver("catch-up timeout"),
                }
            }
            opened = async { self.opening.as_mut().expect("guarded").await }, if self.opening.is_some() => {
                self.opening = None;
                match opened {
                    Ok(ws) => {
                        if let Some((slot, _)) = &mut self.replacement {
                            *slot = Some(ws);
                        }
                        self.deadline = Instant::now() + self.idle_timeout;
                    }
                    Err(e) => {
                        self.replacement = None;
                        self.retry_later(&format!("replacement connection failed: {e}"));
                    }
                }
                Step::Waiting
            }
            frame = async {
                match &mut self.replacement {
                    Some((Some(ws), _)) => ws.recv().await,
                    _ => unreachable!("guarded"),
                }
            }, if open => {
                match (frame, &mut self.replacement) {
                    (Ok(Some(frame)), Some((_, hold))) => {
                        let was_streaming = hold.streaming();
                        let step = hold.on_new(frame);
                        if !was_streaming && hold.streaming() {
                            self.deadline = Instant::now() + CATCH_UP_TIMEOUT;
                        }
                        step
                    }
                    _ => {
                        self.replacement = None;
                        self.retry_later("the replacement connection ended");
                        Step::Waiting
                    }
                }
            }
        }
    }

    /// A frame the old connection delivered (and the caller processed).
    pub fn on_old(&mut self, frame: &Frame) -> Step {
        match &mut self.replacement {
            Some((_, hold)) => hold.on_old(frame),
            None => Step::Waiting,
        }
    }

    /// Puts the replacement in place of `ws`, closes the old connection and returns the
    /// held frames, in arrival order. The next age limit starts now.
    pub async fn take_over(&mut self, ws: &mut WsConn) -> Vec<Frame> {
        let Some((Some(new), hold)) = self.replacement.take() else {
            return Vec::new();
        };
        let old = std::mem::replace(ws, new);
        old.close().await;
        self.deadline = Instant::now() + self.max_age;
        self.retry.reset();
        hold.release()
    }

    pub async fn close(self) {
        if let Some((Some(ws), _)) = self.replacement {
            ws.close().await;
        }
    }
}
