//! The Coinbase adapter's state without I/O: products, one book per product, the
//! connection-wide `sequence_num` check and trade de-duplication. The live client and
//! `replay` both feed it messages, so a recording replays through the live code.

use super::parse::{self, ParseError, Parsed, Products};
use crate::book::L2Book;
use crate::model::VenueId;
use crate::model::{BookState, BookStatus, BookUpdateKind, Event, TradeId};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;

/// A `level2` subscription not answered by a snapshot within this long is made again.
pub const SNAPSHOT_TIMEOUT_NS: i64 = 10_000_000_000;
/// Text trade ids (not increasing numbers) remembered per product for de-duplication.
const RECENT_TEXT_IDS: usize = 4096;

/// What the session asks of its driver.
#[derive(Debug, PartialEq)]
pub enum Output {
    Event(Event),
    /// Unsubscribe and subscribe `level2` again for these products: Coinbase answers a
    /// subscription with a fresh snapshot.
    Resubscribe(Vec<Arc<str>>),
}

#[derive(Debug, Default, Clone)]
struct ProductBook {
    book: L2Book,
    synced: bool,
    /// Since when a snapshot has been awaited (after a (re)subscription).
    awaiting_since_ns: Option<i64>,
}

impl ProductBook {
    /// A snapshot is awaited from `since_ns` on; true if it was not awaited before.
    fn await_snapshot(&mut self, since_ns: i64) -> bool {
        self.awaiting_since_ns.replace(since_ns).is_none()
    }
}

/// Trade ids already published for one product: the highest numeric id, and the most
/// recent text ids (venues whose ids are not numbers).
#[derive(Debug, Default, Clone)]
struct SeenTrades {
    last_number: Option<u64>,
    text: FxHashSet<Box<str>>,
    text_order: VecDeque<Box<str>>,
}

impl SeenTrades {
    /// Whether `id` is new (and remembers it).
    fn first_time(&mut self, id: &TradeId) -> bool {
        match id {
            TradeId::Number(n) if self.last_number.is_none_or(|last| *n > last) => {
                self.last_number = Some(*n);
                true
            }
            TradeId::Number(_) => false,
            TradeId::Absent => true,
            TradeId::Text(t) => {
                if !self.text.insert(t.clone()) {
                    return false;
                }
                self.text_order.push_back(t.clone());
                if self.text_order.len() > RECENT_TEXT_IDS {
                    if let Some(old) = self.text_order.pop_front() {
                        self.text.remove(&old);
                    }
                }
                true
            }
        }
    }
}

#[derive(Clone)]
pub struct Session {
    products: Products,
    books: FxHashMap<Arc<str>, ProductBook>,
    last_sequence: Option<u64>,
    trades: FxHashMap<Arc<str>, SeenTrades>,
    /// Books awaiting a snapshot (so messages cost nothing extra once all are synced).
    awaiting: usize,
}

impl Session {
    /// `book_products`: the products whose L2 books this session keeps.
    pub fn new(products: Products, book_products: &[Arc<str>]) -> Self {
        let books = book_products
            .iter()
            .map(|p| (p.clone(), ProductBook::default()))
            .collect();
        Self {
            products,
            books,
            last_sequence: None,
            trades: FxHashMap::default(),
            awaiting: 0,
        }
    }

    pub fn products(&self) -> &Products {
        &self.products
    }

    pub fn book(&self, product: &str) -> Option<&L2Book> {
        self.books.get(product).filter(|b| b.synced).map(|b| &b.book)
    }

    /// A new connection: sequence numbers start over and every book waits for the
    /// snapshot its subscription brings.
    pub fn on_connect(&mut self, receive_ts_ns: i64, out: &mut Vec<Output>) {
        self.last_sequence = None;
        self.unsync_all("reconnected", receive_ts_ns, out);
    }

    /// The connection was lost: every synced book is announced `resyncing` now.
    pub fn disconnected(&mut self, receive_ts_ns: i64, out: &mut Vec<Output>) {
        self.unsync_all("disconnected", receive_ts_ns, out);
    }

    /// Every book waits for a new snapshot (announced where one was synced); returns
    /// the products, sorted.
    fn unsync_all(&mut self, reason: &str, receive_ts_ns: i64, out: &mut Vec<Output>) -> Vec<Arc<str>> {
        let exchange = self.products.exchange();
        let mut products: Vec<Arc<str>> = Vec::new();
        for (product, b) in &mut self.books {
            if b.synced {
                b.synced = false;
                out.push(status(
                    exchange,
                    product,
                    BookState::Resyncing,
                    reason,
                    receive_ts_ns,
                ));
            }
            if b.await_snapshot(receive_ts_ns) {
                self.awaiting += 1;
            }
            products.push(product.clone());
        }
        products.sort();
        products
    }

    /// Every book resyncs through a new `level2` subscription.
    fn resubscribe_all(&mut self, reason: &str, receive_ts_ns: i64, out: &mut Vec<Output>) {
        tracing::warn!(exchange = %self.products.exchange(), "{reason}; resubscribing level2");
        let products = self.unsync_all(reason, receive_ts_ns, out);
        if !products.is_empty() {
            out.push(Output::Resubscribe(products));
        }
    }

    /// Books whose snapshot has not come within [`SNAPSHOT_TIMEOUT_NS`] are subscribed
    /// again, announced.
    fn check_snapshots(&mut self, receive_ts_ns: i64, out: &mut Vec<Output>) {
        if self.awaiting == 0 {
            return;
        }
        let exchange = self.products.exchange();
        let mut late: Vec<Arc<str>> = Vec::new();
        for (product, b) in &mut self.books {
            if b.awaiting_since_ns
                .is_some_and(|t| receive_ts_ns.saturating_sub(t) > SNAPSHOT_TIMEOUT_NS)
            {
                b.awaiting_since_ns = Some(receive_ts_ns);
                late.push(product.clone());
            }
        }
        if late.is_empty() {
            return;
        }
        late.sort();
        let reason = "no level2 snapshot within 10 s";
        tracing::warn!(%exchange, products = ?late, "{reason}; resubscribing");
        for product in &late {
            out.push(status(
                exchange,
                product,
                BookState::Resyncing,
                reason,
                receive_ts_ns,
            ));
        }
        out.push(Output::Resubscribe(late));
    }

    /// Applies a message, or rejects it with the reason. A `level2` message that cannot
    /// be read resyncs every book at once; any other unread message is a sequence gap
    /// at the next one.
    pub fn on_frame(
        &mut self,
        text: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), ParseError> {
        self.check_snapshots(receive_ts_ns, out);
        let frame = match parse::parse_frame(&self.products, text, receive_ts_ns) {
            Ok(frame) => frame,
            Err(e @ ParseError::InvalidBook(_)) => {
                self.resubscribe_all(&e.to_string(), receive_ts_ns, out);
                self.last_sequence = None;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if let Some(prev) = self.last_sequence {
            if frame.sequence_num != prev.saturating_add(1) {
                let reason = format!(
                    "sequence gap: expected sequence_num {}, got {}",
                    prev.saturating_add(1),
                    frame.sequence_num
                );
                self.resubscribe_all(&reason, receive_ts_ns, out);
            }
        }
        self.last_sequence = Some(frame.sequence_num);
        match frame.parsed {
            Parsed::Book(updates) => {
                for u in updates {
                    let Some(b) = self.books.get_mut(&u.symbol) else {
                        continue;
                    };
                    match u.update {
                        BookUpdateKind::Snapshot => {
                            b.book.reset(&u.bids, &u.asks);
                            if b.book.is_crossed() {
                                // Not a book: asked for again, still awaited.
                                let reason = "level2 snapshot is crossed";
                                let exchange = self.products.exchange();
                                tracing::warn!(%exchange, product = %u.symbol, "{reason}; resubscribing level2");
                                if std::mem::take(&mut b.synced) {
                                    out.push(status(
                                        exchange,
                                        &u.symbol,
                                        BookState::Resyncing,
                                        reason,
                                        receive_ts_ns,
                                    ));
                                }
                                if b.await_snapshot(receive_ts_ns) {
                                    self.awaiting += 1;
                                }
                                out.push(Output::Resubscribe(vec![u.symbol.clone()]));
                                continue;
                            }
                            b.synced = true;
                            if b.awaiting_since_ns.take().is_some() {
                                self.awaiting -= 1;
                            }
                            out.push(status(
                                self.products.exchange(),
                                &u.symbol,
                                BookState::Synced,
                                "snapshot applied",
                                receive_ts_ns,
                            ));
                        }
                        BookUpdateKind::Delta if b.synced => {
                            b.book.apply(&u.bids, &u.asks);
                            if b.book.is_crossed() {
                                // Cannot be right: this book alone starts over.
                                b.synced = false;
                                if b.await_snapshot(receive_ts_ns) {
                                    self.awaiting += 1;
                                }
                                let reason = format!("book crossed after sequence_num {}", u.sequence);
                                tracing::warn!(exchange = %self.products.exchange(), product = %u.symbol, "{reason}; resubscribing level2");
                                out.push(status(
                                    self.products.exchange(),
                                    &u.symbol,
                                    BookState::Resyncing,
                                    &reason,
                                    receive_ts_ns,
                                ));
                                out.push(Output::Resubscribe(vec![u.symbol.clone()]));
                                continue;
                            }
                        }
                        BookUpdateKind::Delta => continue,
                    }
                    out.push(Output::Event(Event::Book(u)));
                }
            }
            Parsed::Trades { trades, .. } => {
                for t in trades {
                    if self.trades.entry(t.symbol.clone()).or_default().first_time(&t.id) {
                        out.push(Output::Event(Event::Trade(t)));
                    }
                }
            }
            Parsed::Other => {}
        }
        Ok(())
    }
}

fn status(
    exchange: VenueId,
    product: &Arc<str>,
    state: BookState,
    reason: &str,
    receive_ts_ns: i64,
) -> Output {
    Output::Event(Event::BookStatus(BookStatus {
        exchange,
        symbol: product.clone(),
        status: state,
        reason: reason.to_owned(),
        receive_ts_ns,
    }))
}
