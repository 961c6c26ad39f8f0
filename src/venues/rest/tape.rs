//! Polled trades without loss or repetition: each page (oldest first) is compared with
//! what was already emitted; trades seen before are dropped, unseen ones are emitted in
//! order, never twice. Trades are known by id, or, where the venue gives none, by time
//! and content (and their rank among identical ones on the page). A full page of only
//! unseen trades after the first poll means trades between the polls may be missing:
//! the caller announces a gap.

use crate::model::{Side, Trade, TradeId};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Id(TradeId),
    Content {
        ts_ns: i64,
        price: Decimal,
        amount: Decimal,
        side: Side,
        rank: u32,
    },
}

/// What one page gave.
#[derive(Debug, Default, PartialEq)]
pub struct Accepted {
    pub new: Vec<Trade>,
    /// Unseen trades older than the newest one emitted (they would break the order).
    pub late: usize,
    /// The page was full and none of it had been seen: trades may be missing.
    pub gap: bool,
}

#[derive(Debug, Default)]
pub struct Tape {
    /// Keys of emitted trades still within reach of a page, with their times.
    seen: FxHashMap<Key, i64>,
    order: VecDeque<(i64, Key)>,
    newest_ts_ns: Option<i64>,
    polled: bool,
}

impl Tape {
    /// Takes a page sorted oldest first; `full`: it held as many entries as asked for.
    pub fn accept(&mut self, page: Vec<Trade>, full: bool) -> Accepted {
        let mut out = Accepted::default();
        let mut ranks: FxHashMap<(i64, Decimal, Decimal, Side), u32> = FxHashMap::default();
        // An overlap proves continuity; one of trades without ids only at the page's
        // oldest time does not (the page may have cut a group of identical trades there,
        // and an identical one may have come since: the two cannot be told apart).
        let mut overlap = false;
        let oldest_on_page = page.first().map(|t| t.exchange_ts_ns);
        for t in page {
            let key = match &t.id {
                TradeId::Absent => {
                    let rank = ranks
                        .entry((t.exchange_ts_ns, t.price, t.amount, t.side))
                        .or_insert(0);
                    *rank += 1;
                    Key::Content {
                        ts_ns: t.exchange_ts_ns,
                        price: t.price,
                        amount: t.amount,
                        side: t.side,
                        rank: *rank,
                    }
                }
                id => Key::Id(id.clone()),
            };
            if self.seen.contains_key(&key) {
                let at_the_edge =
                    matches!(key, Key::Content { .. }) && Some(t.exchange_ts_ns) == oldest_on_page;
                overlap |= !at_the_edge;
                continue;
            }
            if self.newest_ts_ns.is_some_and(|newest| t.exchange_ts_ns < newest) {
                out.late += 1;
                continue;
            }
            self.newest_ts_ns = Some(t.exchange_ts_ns);
            self.seen.insert(key.clone(), t.exchange_ts_ns);
            self.order.push_back((t.exchange_ts_ns, key));
            out.new.push(t);
        }
        out.gap = self.polled && full && !overlap && !out.new.is_empty();
        self.polled = true;
        // What is older than this page's oldest trade cannot come back on a later page.
        if let Some(oldest) = oldest_on_page {
            while self.order.front().is_some_and(|(ts, _)| *ts < oldest) {
                if let Some((_, k)) = self.order.pop_front() {
                    self.seen.remove(&k);
                }
            }
        }
        out
    }

    /// Trades remembered (bounded by about two pages).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VenueId;

    fn t(id: Option<u64>, ts: i64, price: &str) -> Trade {
        Trade {
            exchange: VenueId::new("test").unwrap(),
            symbol: "BTC-USDT".into(),
            id: id.map_or(TradeId::Absent, TradeId::Number),
            side: Side::Buy,
            price: price.parse().unwrap(),
            amount: "1".parse().unwrap(),
            exchange_ts_ns: ts,
            receive_ts_ns: 0,
        }
    }

    fn ids(a: &Accepted) -> Vec<i64> {
        a.new.iter().map(|t| t.exchange_ts_ns).collect()
    }

    #[test]
    fn overlapping_pages_emit_each_trade_once_in_order() {
        let mut tape = Tape::default();
        let first = tape.accept(
            vec![t(Some(1), 10, "1"), t(Some(2), 20, "1"), t(Some(3), 30, "1")],
            true,
        );
        assert_eq!((ids(&first), first.gap), (vec![10, 20, 30], false));
        let second = tape.accept(
            vec![t(Some(2), 20, "1"), t(Some(3), 30, "1"), t(Some(4), 40, "1")],
            true,
        );
        assert_eq!((ids(&second), second.gap), (vec![40], false));
        let full_of_new = tape.accept(
            vec![t(Some(7), 70, "1"), t(Some(8), 80, "1"), t(Some(9), 90, "1")],
            true,
        );
        assert_eq!((ids(&full_of_new), full_of_new.gap), (vec![70, 80, 90], true));
        let not_full = tape.accept(vec![t(Some(10), 100, "1")], false);
        assert_eq!((ids(&not_full), not_full.gap), (vec![100], false));
        assert!(tape.remembered() <= 4);
    }

    #[test]
    fn trades_without_ids_are_known_by_time_content_and_rank() {
        let mut tape = Tape::default();
        // Two identical trades in one millisecond are two trades.
        let a = tape.accept(vec![t(None, 10, "5"), t(None, 10, "5"), t(None, 11, "6")], false);
        assert_eq!(ids(&a), vec![10, 10, 11]);
        let b = tape.accept(
            vec![
                t(None, 10, "5"),
                t(None, 10, "5"),
                t(None, 11, "6"),
                t(None, 12, "6"),
            ],
            false,
        );
        assert_eq!(ids(&b), vec![12]);
    }

    /// Without ids, a full page whose only overlap is at its oldest time may hide an
    /// identical trade that came since: announced as a possible gap, never silent.
    #[test]
    fn an_overlap_of_id_less_trades_only_at_the_oldest_time_is_a_possible_gap() {
        let mut tape = Tape::default();
        tape.accept(vec![t(None, 10, "5")], false);
        let cut = tape.accept(vec![t(None, 10, "5"), t(None, 11, "6"), t(None, 12, "7")], true);
        assert_eq!((ids(&cut), cut.gap), (vec![11, 12], true));
        let certain = tape.accept(vec![t(None, 11, "6"), t(None, 12, "7"), t(None, 13, "8")], true);
        assert_eq!(
            (ids(&certain), certain.gap),
            (vec![13], false),
            "an overlap past the oldest time is certain"
        );
    }

    #[test]
    fn an_unseen_older_trade_is_not_emitted_out_of_order() {
        let mut tape = Tape::default();
        tape.accept(vec![t(Some(5), 50, "1")], false);
        let late = tape.accept(
            vec![t(Some(4), 40, "1"), t(Some(5), 50, "1"), t(Some(6), 60, "1")],
            false,
        );
        assert_eq!((ids(&late), late.late), (vec![60], 1));
    }
}
