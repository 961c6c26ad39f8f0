//! Replay of a Binance-family recording: the session the live client runs, fed the
//! recorded instruments, snapshots and frames in order. A recording lists frames as they
//! arrived; around a handover the replacement's frames are held exactly as the live
//! client held them ([`Hold`]), and a reconnect restarts only the books its connection
//! carried.

use super::handover::{CATCH_UP_TIMEOUT, Hold, Step};
use super::parse;
use super::session::{Output, Session};
use super::venue::BinanceVenue;
use crate::model::{Event, VenueId};
use crate::net::Frame;
use crate::record::reader::{Recorded, Recording};
use crate::replay::{ReplayError, ReplayStats};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
struct SubscribeRequest<'a> {
    method: &'a str,
    #[serde(borrow, default)]
    params: Vec<&'a str>,
    #[serde(default)]
    id: Option<u64>,
}

fn wire_of(url: &str) -> Option<String> {
    url.split("symbol=")
        .nth(1)
        .map(|s| s.split('&').next().unwrap_or(s).to_owned())
}

/// Which connection of a recording carried each book (its `@depth` stream), to restart
/// exactly the books the live client restarted. A book's stream subscribed again on
/// another connection means a reconnect: the book starts over, as of that connection's
/// connect time, unless the connection took over from another at its age limit
/// (`replaces`). A connection name connecting again (cryptofeed reuses them) restarts
/// the books it carried.
#[derive(Default)]
struct Resubscriptions {
    /// The connection each book's depth stream was last subscribed on.
    carried_by: HashMap<Arc<str>, String>,
    connects: HashMap<String, (i64, bool)>,
}

impl Resubscriptions {
    /// The books whose depth stream `conn` carries.
    fn carried(&self, conn: &str) -> Vec<Arc<str>> {
        (self.carried_by.iter())
            .filter(|(_, c)| *c == conn)
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn connected(
        &mut self,
        session: &mut Session,
        conn: &str,
        ts_ns: i64,
        handover: bool,
        out: &mut Vec<Output>,
    ) {
        if self.connects.insert(conn.to_owned(), (ts_ns, handover)).is_some() && !handover {
            session.restart_symbols(&self.carried(conn), "reconnected", ts_ns, out);
        }
    }

    fn subscribed<'a>(
        &mut self,
        session: &mut Session,
        conn: &str,
        streams: impl Iterator<Item = &'a str>,
        out: &mut Vec<Output>,
    ) {
        let mut again: Vec<Arc<str>> = Vec::new();
        for stream in streams.filter(|s| s.contains("@depth")) {
            let wire = stream.split('@').next().unwrap_or_default().to_ascii_uppercase();
            let Some(symbol) = session.instruments().normalized(&wire).cloned() else {
                continue;
            };
            match self.carried_by.insert(symbol.clone(), conn.to_owned()) {
                Some(before) if before != conn && !again.contains(&symbol) => again.push(symbol),
                _ => {}
            }
        }
        match self.connects.get(conn) {
            Some(&(ts_ns, false)) if !again.is_empty() => {
                session.restart_symbols(&again, "reconnected", ts_ns, out);
            }
            _ => {}
        }
    }
}

/// A replacement connection of the recording whose frames are held: its name, the
/// connection it replaces, and when its first data frame came.
struct Held {
    conn: String,
    old: String,
    hold: Hold,
    streaming_since_ns: Option<i64>,
}

impl Held {
    /// Whether the live client's catch-up timeout had passed by `ts_ns`.
    fn timed_out(&self, ts_ns: i64) -> bool {
        let limit = i64::try_from(CATCH_UP_TIMEOUT.as_nanos()).unwrap_or(i64::MAX);
        self.streaming_since_ns
            .is_some_and(|t| ts_ns.saturating_sub(t) >= limit)
    }
}

fn apply(session: &mut Session, stats: &mut ReplayStats, frame: &Frame, out: &mut Vec<Output>) {
    stats.frames += 1;
    if let Err(e) = session.on_frame(&frame.text, frame.receive_ts_ns, out) {
        stats.reject(e.reason(), &e);
    }
}

pub async fn replay(
    rec: &Recording,
    exchange: VenueId,
    venue: &BinanceVenue,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    let futures = venue.market == parse::Market::Futures;
    let snapshot_wires: BTreeSet<String> = (rec.events.iter())
        .filter_map(|e| match e {
            Recorded::Http { url, .. } if url.contains("/depth") => wire_of(url),
            _ => None,
        })
        .collect();
    let info = rec.events.iter().find_map(|e| match e {
        Recorded::Http { url, body, .. } if url.contains("exchangeInfo") => Some(body.clone()),
        _ => None,
    });
    let info = info.unwrap_or_else(|| parse::synthesize_exchange_info(snapshot_wires.iter(), futures));
    let parse_error = |e: parse::ParseError| ReplayError::Parse {
        exchange,
        source: Box::new(e),
    };
    let instruments = parse::parse_instruments(exchange, venue.market, &info).map_err(parse_error)?;
    let books: Vec<Arc<str>> = (snapshot_wires.iter())
        .filter_map(|w| instruments.normalized(w).cloned())
        .collect();
    let mut session = Session::new(venue.market, instruments, &books);
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    let mut resubscriptions = Resubscriptions::default();
    let mut held: Option<Held> = None;
    for ev in &rec.events {
        if held.as_ref().is_some_and(|h| h.timed_out(ev.ts_ns())) {
            take_over(&mut held, &mut session, &mut stats, &mut out);
        }
        match ev {
            Recorded::Connect {
                conn,
                url,
                ts_ns,
                replaces,
            } => {
                resubscriptions.connected(&mut session, conn, *ts_ns, replaces.is_some(), &mut out);
                let streams = url.split("streams=").nth(1).unwrap_or_default().split('/');
                resubscriptions.subscribed(&mut session, conn, streams, &mut out);
                if let Some(old) = replaces {
                    held = Some(Held {
                        conn: conn.clone(),
                        old: old.clone(),
                        hold: Hold::default(),
                        streaming_since_ns: None,
                    });
                }
            }
            Recorded::Send { conn, data, .. } => {
                if let Ok(req) = serde_json::from_str::<SubscribeRequest>(data) {
                    if req.method == "SUBSCRIBE" {
                        resubscriptions.subscribed(&mut session, conn, req.params.iter().copied(), &mut out);
                        // As live: the replacement counts from the answer to its last one.
                        match (&mut held, req.id) {
                            (Some(h), Some(id)) if h.conn == *conn => h.hold.subscribed_up_to(id),
                            _ => {}
                        }
                    }
                }
            }
            Recorded::Http { url, body, ts_ns } if url.contains("/depth") => {
                let symbol = wire_of(url).and_then(|w| session.instruments().normalized(&w).cloned());
                if let Some(symbol) = symbol {
                    if let Err(e) = session.on_snapshot(&symbol, body, *ts_ns, &mut out) {
                        // As the live client: counted, and another snapshot asked for.
                        stats.reject("bad_snapshot", &e);
                        out.push(Output::FetchSnapshot(symbol));
                    }
                }
            }
            Recorded::Recv { conn, data, ts_ns } => {
                let frame = Frame {
                    text: data.as_str().into(),
                    receive_ts_ns: *ts_ns,
                };
                let step = match &mut held {
                    Some(h) if h.conn == *conn => {
                        let step = h.hold.on_new(frame);
                        if h.streaming_since_ns.is_none() && h.hold.streaming() {
                            h.streaming_since_ns = Some(*ts_ns);
                        }
                        step
                    }
                    Some(h) if h.old == *conn => {
                        apply(&mut session, &mut stats, &frame, &mut out);
                        h.hold.on_old(&frame)
                    }
                    _ => {
                        apply(&mut session, &mut stats, &frame, &mut out);
                        Step::Waiting
                    }
                };
                if matches!(step, Step::TakeOver(_)) {
                    take_over(&mut held, &mut session, &mut stats, &mut out);
                }
            }
            Recorded::Disconnect { conn, ts_ns } => {
                let carried = resubscriptions.carried(conn);
                session.disconnected_symbols(&carried, *ts_ns, &mut out);
            }
            Recorded::Http { .. } => {}
        }
        if !stats.publish(&mut out, &events, split).await {
            return Ok(stats);
        }
    }
    take_over(&mut held, &mut session, &mut stats, &mut out);
    stats.publish(&mut out, &events, split).await;
    Ok(stats)
}

/// An event, or the one snapshot request the live client would have made.
fn split(o: Output) -> Result<Event, u64> {
    match o {
        Output::Event(e) => Ok(e),
        Output::FetchSnapshot(_) => Err(1),
    }
}

/// The held replacement takes over: its frames are processed as the live client did.
fn take_over(held: &mut Option<Held>, session: &mut Session, stats: &mut ReplayStats, out: &mut Vec<Output>) {
    if let Some(h) = held.take() {
        for frame in h.hold.release() {
            apply(session, stats, &frame, out);
        }
    }
}
