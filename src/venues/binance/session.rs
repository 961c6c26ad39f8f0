//! The Binance adapter's state without I/O: instruments, one [`BookSync`] per symbol and
//! trade de-duplication. The live client and `replay` both feed it frames and snapshots
//! and act on its outputs, so a recording replays through exactly the live code.

use super::parse::{self, Frame, Instruments, Market, ParseError};
use super::sync::{BookSync, SnapshotStep, Step};
use crate::model::{BookState, BookStatus, Event, VenueId};
use std::collections::HashMap;
use std::sync::Arc;

/// What the session asks of its driver.
#[derive(Debug, PartialEq)]
pub enum Output {
    Event(Event),
    /// Fetch a depth snapshot for this symbol and hand it to [`Session::on_snapshot`].
    FetchSnapshot(Arc<str>),
}

pub struct Session {
    instruments: Instruments,
    books: HashMap<Arc<str>, BookSync>,
    last_trade_id: HashMap<Arc<str>, u64>,
}

impl Session {
    /// `book_symbols`: the symbols whose L2 books this session keeps.
    pub fn new(market: Market, instruments: Instruments, book_symbols: &[Arc<str>]) -> Self {
        let exchange = instruments.exchange();
        let books = book_symbols
            .iter()
            .map(|s| (s.clone(), BookSync::new(exchange, market, s.clone())))
            .collect();
        Self {
            instruments,
            books,
            last_trade_id: HashMap::new(),
        }
    }

    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    pub fn book(&self, symbol: &str) -> Option<&BookSync> {
        self.books.get(symbol)
    }

    /// The live client queued a snapshot request for `symbol` (behind the budget).
    pub fn snapshot_queued(&mut self, symbol: &str) {
        if let Some(b) = self.books.get_mut(symbol) {
            b.snapshot_queued();
        }
    }

    /// The live client is sending `symbol`'s snapshot request.
    pub fn snapshot_sent(&mut self, symbol: &str) {
        if let Some(b) = self.books.get_mut(symbol) {
            b.snapshot_sent();
        }
    }

    /// How busy `symbol`'s book has been while it waits for a snapshot.
    pub fn activity(&self, symbol: &str) -> u64 {
        self.books.get(symbol).map_or(0, BookSync::activity)
    }

    /// All books start over (a new connection): asks for every snapshot.
    pub fn restart(&mut self, reason: &str, receive_ts_ns: i64, out: &mut Vec<Output>) {
        self.restart_where(|_| true, reason, receive_ts_ns, out);
    }

    /// Only these symbols' books start over (in a replay, the reconnect of the connection
    /// that carried them).
    pub fn restart_symbols(
        &mut self,
        symbols: &[Arc<str>],
        reason: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) {
        self.restart_where(|s| symbols.contains(s), reason, receive_ts_ns, out);
    }

    fn restart_where(
        &mut self,
        chosen: impl Fn(&Arc<str>) -> bool,
        reason: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) {
        for (symbol, sync) in self.books.iter_mut().filter(|(s, _)| chosen(s)) {
            let had_book = !sync.is_buffering();
            sync.restart();
            if had_book {
                out.push(status(
                    self.instruments.exchange(),
                    symbol,
                    BookState::Resyncing,
                    reason,
                    receive_ts_ns,
                ));
            }
            out.push(Output::FetchSnapshot(symbol.clone()));
        }
    }

    /// The connection carrying these books was lost: each book that was synced is
    /// announced `resyncing` now, not when a new connection succeeds.
    pub fn disconnected(&mut self, receive_ts_ns: i64, out: &mut Vec<Output>) {
        self.disconnected_where(|_| true, receive_ts_ns, out);
    }

    /// Only these symbols' connection was lost (in a replay).
    pub fn disconnected_symbols(&mut self, symbols: &[Arc<str>], receive_ts_ns: i64, out: &mut Vec<Output>) {
        self.disconnected_where(|s| symbols.contains(s), receive_ts_ns, out);
    }

    fn disconnected_where(
        &mut self,
        chosen: impl Fn(&Arc<str>) -> bool,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) {
        let exchange = self.instruments.exchange();
        for (symbol, sync) in self.books.iter_mut().filter(|(s, _)| chosen(s)) {
            if !sync.is_buffering() {
                sync.restart();
                out.push(status(
                    exchange,
                    symbol,
                    BookState::Resyncing,
                    "disconnected",
                    receive_ts_ns,
                ));
            }
        }
    }

    /// A depth frame that cannot be applied: its book starts over.
    fn invalid_depth(&mut self, symbol: &Arc<str>, reason: &str, receive_ts_ns: i64, out: &mut Vec<Output>) {
        let exchange = self.instruments.exchange();
        let Some(sync) = self.books.get_mut(symbol) else {
            return;
        };
        if !sync.is_buffering() {
            out.push(status(
                exchange,
                symbol,
                BookState::Resyncing,
                reason,
                receive_ts_ns,
            ));
        }
        sync.restart();
        out.push(Output::FetchSnapshot(symbol.clone()));
    }

    /// Applies a frame, or rejects it with the reason (an invalid depth frame also
    /// restarts its book, announced).
    pub fn on_frame(
        &mut self,
        text: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), ParseError> {
        let frame = match parse::parse_frame(&self.instruments, text, receive_ts_ns) {
            Ok(frame) => frame,
            Err(ParseError::InvalidDepth { symbol, reason }) => {
                let why = format!("invalid depth frame: {reason}");
                self.invalid_depth(&symbol, &why, receive_ts_ns, out);
                return Err(ParseError::InvalidDepth { symbol, reason });
            }
            Err(e) => return Err(e),
        };
        match frame {
            Frame::Trade(t) => {
                // Binance trade ids are numbers increasing per symbol, from 0.
                let id = t.id.number().unwrap_or(0);
                let last = self.last_trade_id.get(&t.symbol).copied();
                if last.is_none_or(|last| id > last) {
                    self.last_trade_id.insert(t.symbol.clone(), id);
                    out.push(Output::Event(Event::Trade(t)));
                }
            }
            Frame::Depth(d) => {
                let Some(sync) = self.books.get_mut(&d.symbol) else {
                    return Ok(());
                };
                let symbol = d.symbol.clone();
                match sync.on_diff(d) {
                    Step::Applied(u) => out.push(Output::Event(Event::Book(u))),
                    step @ (Step::Gap { .. } | Step::Invalid { .. }) => {
                        let reason = match step {
                            Step::Gap { expected } => format!("sequence gap: expected {expected}"),
                            Step::Invalid { reason } => reason,
                            _ => unreachable!("matched above"),
                        };
                        tracing::warn!(exchange = %self.instruments.exchange(), %symbol, "{reason}; resyncing this symbol");
                        out.push(status(
                            self.instruments.exchange(),
                            &symbol,
                            BookState::Resyncing,
                            &reason,
                            receive_ts_ns,
                        ));
                        out.push(Output::FetchSnapshot(symbol));
                    }
                    Step::Buffered | Step::Stale => {}
                }
            }
            Frame::Other => {}
        }
        Ok(())
    }

    pub fn on_snapshot(
        &mut self,
        symbol: &Arc<str>,
        body: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), ParseError> {
        let snap = parse::parse_snapshot(body)?;
        let Some(sync) = self.books.get_mut(symbol) else {
            return Ok(());
        };
        match sync.on_snapshot(snap, receive_ts_ns) {
            SnapshotStep::Synced(updates) if updates.is_empty() => {}
            SnapshotStep::Synced(updates) => {
                out.push(status(
                    self.instruments.exchange(),
                    symbol,
                    BookState::Synced,
                    "snapshot applied",
                    receive_ts_ns,
                ));
                out.extend(updates.into_iter().map(|u| Output::Event(Event::Book(u))));
            }
            SnapshotStep::TooOld { reason } => {
                tracing::info!(exchange = %self.instruments.exchange(), %symbol, "{reason}; fetching another snapshot");
                out.push(Output::FetchSnapshot(symbol.clone()));
            }
        }
        Ok(())
    }
}

fn status(
    exchange: VenueId,
    symbol: &Arc<str>,
    state: BookState,
    reason: &str,
    receive_ts_ns: i64,
) -> Output {
    Output::Event(Event::BookStatus(BookStatus {
        exchange,
        symbol: symbol.clone(),
        status: state,
        reason: reason.to_owned(),
        receive_ts_ns,
    }))
}
