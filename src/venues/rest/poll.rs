//! One polled stream (a symbol's trades or its book) without I/O, shared by the live
//! client and `replay`: the next request's URL, and what an answer becomes — events, the
//! entries refused with their reasons, and whether to poll again at once (a cursor with
//! more pages behind it).

use super::definition::Definition;
use super::parse::{self, PageError};
use super::request::{self, Vars};
use super::settings::{RestSettings, request_value};
use super::symbols::Mapped;
use super::tape::Tape;
use crate::model::{Event, TradeState, TradeStatus, VenueId};
use std::sync::Arc;
use url::Url;

#[derive(Debug)]
pub enum Stream {
    Trades {
        limit: u32,
        tape: Tape,
        cursor: Option<String>,
    },
    Book {
        /// Levels kept per side, and the value asked for (the venue's next allowed one).
        depth: u32,
        asked: u32,
        snapshots: u64,
    },
}

#[derive(Debug)]
pub struct Job {
    pub exchange: VenueId,
    pub def: Arc<Definition>,
    pub mapped: Mapped,
    pub stream: Stream,
}

/// What one answer gave.
#[derive(Debug, Default)]
pub struct Applied {
    pub events: Vec<Event>,
    pub rejected: Vec<(&'static str, String)>,
    /// More pages wait behind a cursor: poll again without waiting the interval.
    pub again: bool,
}

impl Job {
    pub fn trades(exchange: VenueId, def: Arc<Definition>, mapped: Mapped, settings: &RestSettings) -> Self {
        let limit = settings.trades_limit(&def);
        let stream = Stream::Trades {
            limit,
            tape: Tape::default(),
            cursor: None,
        };
        Self {
            exchange,
            def,
            mapped,
            stream,
        }
    }

    pub fn book(exchange: VenueId, def: Arc<Definition>, mapped: Mapped, settings: &RestSettings) -> Self {
        let depth = settings.book_depth(&def);
        let asked = def
            .book
            .as_ref()
            .map_or(depth, |b| request_value(&b.depth, depth));
        let stream = Stream::Book {
            depth,
            asked,
            snapshots: 0,
        };
        Self {
            exchange,
            def,
            mapped,
            stream,
        }
    }

    /// `channel` as events and logs name it.
    pub fn channel(&self) -> &'static str {
        match self.stream {
            Stream::Trades { .. } => "trades",
            Stream::Book { .. } => "l2_book",
        }
    }

    /// The request's cost against the venue's rate limit.
    pub fn cost(&self) -> u32 {
        let c = &self.def.rate_limit.costs;
        match self.stream {
            Stream::Trades { .. } => c.trades,
            Stream::Book { .. } => c.book,
        }
    }

    /// The next request, on `base`; `with_cursor: false` gives it as first sent.
    pub fn url(&self, base: &Url, with_cursor: bool) -> Result<Url, String> {
        let mut vars = Vars {
            symbol: &self.mapped.venue_id,
            market: &self.mapped.market,
            ..Vars::default()
        };
        match (&self.stream, &self.def.trades, &self.def.book) {
            (Stream::Trades { limit, cursor, .. }, Some(t), _) => {
                vars.limit = Some(*limit);
                vars.cursor = cursor.as_deref().filter(|_| with_cursor);
                request::url(base, &t.path, &t.params, &vars)
            }
            (Stream::Book { asked, .. }, _, Some(b)) => {
                vars.depth = Some(*asked);
                request::url(base, &b.path, &b.params, &vars)
            }
            _ => Err(format!("{} defines no {} request", self.def.name, self.channel())),
        }
    }

    /// Applies one answer received at `receive_ts_ns`.
    pub fn apply(&mut self, body: &str, receive_ts_ns: i64) -> Result<Applied, PageError> {
        let (def, exchange, m) = (&*self.def, self.exchange, &self.mapped);
        let mut out = Applied::default();
        match (&mut self.stream, &def.trades, &def.book) {
            (Stream::Trades { limit, tape, cursor }, Some(req), _) => {
                let page = parse::trades(def, req, exchange, m, body, receive_ts_ns)?;
                let full = page.entries >= *limit as usize;
                out.rejected = page.rejected;
                let accepted = tape.accept(page.trades, full);
                let with_cursor = req.cursor.is_some();
                if let Some(c) = req.cursor.as_ref() {
                    let next = if c.next_id {
                        accepted
                            .new
                            .iter()
                            .filter_map(|t| t.id.number())
                            .max()
                            .and_then(|n| n.checked_add(1))
                            .map(|n| n.to_string())
                    } else {
                        page.cursor
                    };
                    if next.is_some() {
                        *cursor = next;
                    }
                }
                if accepted.gap && !with_cursor {
                    out.events.push(Event::TradeStatus(TradeStatus {
                        exchange,
                        symbol: m.symbol.clone(),
                        status: TradeState::Gap,
                        reason: format!(
                            "a full page of {} trades held none seen before: trades between two polls may be missing (poll more often or ask for more)",
                            page.entries
                        ),
                        receive_ts_ns,
                    }));
                }
                out.again = with_cursor && full && !accepted.new.is_empty();
                for _ in 0..accepted.late {
                    out.rejected
                        .push(("older than emitted trades", m.symbol.to_string()));
                }
                out.events.extend(accepted.new.into_iter().map(Event::Trade));
            }
            (Stream::Book { depth, snapshots, .. }, _, Some(req)) => {
                *snapshots += 1;
                let cut = parse::Cut {
                    depth: *depth as usize,
                    number: *snapshots,
                };
                let book = parse::book(def, req, exchange, m, cut, body, receive_ts_ns)?;
                out.events.push(Event::Book(book));
            }
            _ => {}
        }
        Ok(out)
    }
}
