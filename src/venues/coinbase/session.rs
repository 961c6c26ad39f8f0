//! The Coinbase adapter's state without I/O: products, one book per product, the
//! connection-wide `sequence_num` check and trade de-duplication. The live client and
//! `replay` both feed it messages, so a recording replays through the live code.

use super::parse::{self, ParseError, Parsed, Products, trade_order};
use crate::book::L2Book;
use crate::model::VenueId;
use crate::model::{BookState, BookStatus, BookUpdateKind, Event};
use rustc_hash::FxHashMap;
use std::sync::Arc;

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
}

#[derive(Clone)]
pub struct Session {
    products: Products,
    books: FxHashMap<Arc<str>, ProductBook>,
    last_sequence: Option<u64>,
    last_trade: FxHashMap<Arc<str>, u64>,
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
            last_trade: FxHashMap::default(),
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

    fn unsync_all(&mut self, reason: &str, receive_ts_ns: i64, out: &mut Vec<Output>) -> Vec<Arc<str>> {
        let mut products: Vec<Arc<str>> = Vec::new();
        for (product, b) in &mut self.books {
            if b.synced {
                b.synced = false;
                out.push(status(
                    self.products.exchange(),
                    product,
                    BookState::Resyncing,
                    reason,
                    receive_ts_ns,
                ));
            }
            products.push(product.clone());
        }
        products.sort();
        products
    }

    pub fn on_frame(
        &mut self,
        text: &str,
        receive_ts_ns: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), ParseError> {
        let frame = parse::parse_frame(&self.products, text, receive_ts_ns)?;
        if let Some(prev) = self.last_sequence {
            if frame.sequence_num != prev + 1 {
                let reason = format!(
                    "sequence gap: expected sequence_num {}, got {}",
                    prev + 1,
                    frame.sequence_num
                );
                tracing::warn!(exchange = %self.products.exchange(), "{reason}; resubscribing level2");
                let products = self.unsync_all(&reason, receive_ts_ns, out);
                if !products.is_empty() {
                    out.push(Output::Resubscribe(products));
                }
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
                            b.synced = true;
                            out.push(status(
                                self.products.exchange(),
                                &u.symbol,
                                BookState::Synced,
                                "snapshot applied",
                                receive_ts_ns,
                            ));
                        }
                        BookUpdateKind::Delta if b.synced => b.book.apply(&u.bids, &u.asks),
                        BookUpdateKind::Delta => continue,
                    }
                    out.push(Output::Event(Event::Book(u)));
                }
            }
            Parsed::Trades { trades, .. } => {
                for t in trades {
                    let id = trade_order(&t.id);
                    let last = self.last_trade.entry(t.symbol.clone()).or_insert(0);
                    if id > *last {
                        *last = id;
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
