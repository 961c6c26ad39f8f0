//! The WebSocket side of the local Binance: the streams a client subscribed to (in the
//! URL or by SUBSCRIBE), frames played in recorded order with the switches' faults
//! (dropped connections, skipped depth frames, pings), acknowledgements and pongs.

use super::{BinanceSim, Next};
use crate::sim::server::ServerWs;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

impl BinanceSim {
    pub(super) async fn stream(self: Arc<Self>, path: String, mut ws: ServerWs) {
        let mut subscribed: HashSet<String> = path
            .split("streams=")
            .nth(1)
            .map(|s| s.split('/').map(str::to_owned).collect())
            .unwrap_or_default();
        let rewind = {
            let mut st = self.lock();
            st.connections += 1;
            if st.connections > 1 {
                self.switches.rewind_on_reconnect
            } else {
                0
            }
        };
        // Where this connection's playback starts: the venue's position when the client
        // first subscribed (set below, once something is subscribed).
        let mut start: Option<usize> = None;
        let mut sent_here = 0u64;
        let opened = tokio::time::Instant::now();
        loop {
            // Take what the client sent: wait for it while nothing is subscribed, else
            // only what is already there, so playback never blocks on the client.
            loop {
                let msg = if subscribed.is_empty() {
                    ws.next().await
                } else {
                    ws.next().now_or_never().flatten()
                };
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if !subscribe(&t, &mut subscribed, &mut ws).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) => return,
                    Some(Ok(Message::Pong(payload))) => {
                        if payload.starts_with(b"feedhandler-sim-ping") {
                            self.pongs_received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    None if subscribed.is_empty() => return,
                    None => break,
                }
            }
            if self.switches.drop_after_frames.is_some_and(|n| sent_here >= n)
                || self.switches.drop_every.is_some_and(|d| opened.elapsed() >= d)
            {
                return;
            }
            let next = {
                let mut st = self.lock();
                let cursor = start.get_or_insert_with(|| st.cursor.saturating_sub(rewind));
                match self.frames.get(*cursor) {
                    None => Next::Idle,
                    Some(frame) => {
                        let due = self.switches.realtime.then(|| {
                            let now = tokio::time::Instant::now();
                            let (t0, ts0) = *st.clock.get_or_insert((now, frame.ts_ns));
                            t0 + Duration::from_nanos(u64::try_from(frame.ts_ns - ts0).unwrap_or(0))
                        });
                        let waiting = !self.switches.live_book
                            && frame.after_snapshots.iter().any(|s| {
                                !st.served.contains(s)
                                    && subscribed.contains(&format!("{}@depth@100ms", s.to_ascii_lowercase()))
                            });
                        if waiting {
                            Next::Wait
                        } else if let Some(due) = due.filter(|d| *d > tokio::time::Instant::now()) {
                            Next::Until(due)
                        } else {
                            *cursor += 1;
                            let cursor = *cursor;
                            // The first connection to reach a frame makes it happen at the
                            // venue; the others see the same frame (as Binance broadcasts).
                            let keep = if cursor > st.cursor {
                                st.cursor = cursor;
                                let keep =
                                    !frame.stream.contains("@depth") || self.play_depth(&mut st, frame);
                                if !keep {
                                    st.withheld.insert(cursor - 1);
                                }
                                keep
                            } else {
                                !st.withheld.contains(&(cursor - 1))
                            };
                            let wanted = subscribed.contains(&frame.stream)
                                || frame_matches(&subscribed, &frame.stream);
                            if keep && wanted {
                                Next::Send(frame.text.clone())
                            } else {
                                Next::Skip
                            }
                        }
                    }
                }
            };
            match next {
                Next::Send(text) => {
                    if ws.send(Message::text(text)).await.is_err() {
                        return;
                    }
                    sent_here += 1;
                    self.frames_sent.fetch_add(1, Ordering::Relaxed);
                    if self
                        .switches
                        .ping_every_frames
                        .is_some_and(|n| sent_here % n == 0)
                    {
                        let payload = format!("feedhandler-sim-ping-{sent_here}");
                        if ws.send(Message::Ping(payload.into_bytes().into())).await.is_err() {
                            return;
                        }
                        self.pings_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(pause) = self.switches.frame_interval {
                        tokio::time::sleep(pause).await;
                    }
                }
                Next::Skip => {}
                Next::Wait => tokio::time::sleep(Duration::from_millis(5)).await,
                Next::Until(due) => tokio::time::sleep_until(due).await,
                Next::Idle => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// Handles a SUBSCRIBE request: records the streams and acknowledges. False when the
/// connection is gone.
async fn subscribe(text: &str, subscribed: &mut HashSet<String>, ws: &mut ServerWs) -> bool {
    let Ok(req) = serde_json::from_str::<serde_json::Value>(text) else {
        return true;
    };
    if let Some(params) = req["params"].as_array() {
        subscribed.extend(params.iter().filter_map(|p| p.as_str().map(str::to_owned)));
    }
    let ack = format!(r#"{{"result":null,"id":{}}}"#, req["id"]);
    ws.send(Message::text(ack)).await.is_ok()
}

/// `btcusdt@depth@100ms` also serves a recording of `btcusdt@depth@0ms` or `@depth`.
fn frame_matches(subscribed: &HashSet<String>, stream: &str) -> bool {
    match stream.split_once("@depth") {
        Some((sym, _)) => subscribed.contains(&format!("{sym}@depth@100ms")),
        None => false,
    }
}
