//! An L2 order book per symbol: price levels by side with absolute sizes, as venues that
//! send snapshots plus deltas describe it. Size zero removes a level.

use crate::model::Level;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct L2Book {
    bids: BTreeMap<Price, Decimal>,
    asks: BTreeMap<Price, Decimal>,
}

/// A price as a book key. Venues write every price of a symbol with the same number of
/// decimals, so two prices usually compare as plain integers; `Decimal`'s general
/// comparison, which aligns scales first, is only needed when the scales differ.
#[derive(Debug, Clone, Copy)]
struct Price(Decimal);

impl Ord for Price {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0.scale() == other.0.scale() {
            self.0.mantissa().cmp(&other.0.mantissa())
        } else {
            self.0.cmp(&other.0)
        }
    }
}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Price {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Price {}

impl L2Book {
    /// Replaces the whole book. The sides are built in one pass from the sorted levels,
    /// which packs the tree's nodes full: a 1,000-level snapshot takes about half the
    /// memory that inserting its levels one by one leaves behind.
    pub fn reset(&mut self, bids: &[Level], asks: &[Level]) {
        self.bids = packed(bids);
        self.asks = packed(asks);
    }

    /// Applies absolute sizes; zero deletes.
    pub fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        apply_side(&mut self.bids, bids);
        apply_side(&mut self.asks, asks);
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.iter().next_back().map(|(p, s)| (p.0, *s))
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.iter().next().map(|(p, s)| (p.0, *s))
    }

    /// Best bid at or above best ask: a book that cannot be right.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }

    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Bids best first.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().rev().map(|(p, s)| (p.0, *s))
    }

    /// Asks best first.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(p, s)| (p.0, *s))
    }
}

/// A side from levels as `apply_side` on an empty side would leave it: of equal prices
/// the first one's digits and the last one's size, zero sizes left out.
fn packed(levels: &[Level]) -> BTreeMap<Price, Decimal> {
    let mut sorted: Vec<(Price, Decimal)> = levels.iter().map(|&(p, s)| (Price(p), s)).collect();
    sorted.sort_by_key(|(p, _)| *p);
    let mut merged: Vec<(Price, Decimal)> = Vec::with_capacity(sorted.len());
    for (price, size) in sorted {
        match merged.last_mut() {
            Some((last, kept)) if *last == price => {
                if kept.is_zero() {
                    // It was removed: the level comes back with this one's digits.
                    *last = price;
                }
                *kept = size;
            }
            _ => merged.push((price, size)),
        }
    }
    merged.retain(|(_, size)| !size.is_zero());
    merged.into_iter().collect()
}

fn apply_side(side: &mut BTreeMap<Price, Decimal>, levels: &[Level]) {
    for &(price, size) in levels {
        if size.is_zero() {
            side.remove(&Price(price));
        } else {
            side.insert(Price(price), size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn lv(p: &str, s: &str) -> Level {
        (Decimal::from_str(p).unwrap(), Decimal::from_str(s).unwrap())
    }

    #[test]
    fn zero_size_removes_and_numerically_equal_prices_are_one_level() {
        let mut book = L2Book::default();
        book.reset(&[lv("10.0", "1"), lv("9.5", "2")], &[lv("11", "3")]);
        book.apply(&[lv("10.00", "0"), lv("9.50", "4")], &[]);
        assert_eq!(book.best_bid(), Some(lv("9.5", "4")));
        assert_eq!(book.depth(), (1, 1));
        assert!(!book.is_crossed());
        book.apply(&[lv("11", "1")], &[]);
        assert!(book.is_crossed());
    }

    #[test]
    fn a_reset_keeps_what_inserting_one_by_one_would() {
        let levels = [
            lv("10.5", "1"),
            lv("9", "2"),
            lv("10.50", "3"),
            lv("8", "0"),
            lv("7", "1"),
            lv("7.0", "0"),
            lv("7.00", "5"),
            lv("12", "4"),
        ];
        let mut packed = L2Book::default();
        packed.reset(&levels, &levels);
        let mut one_by_one = L2Book::default();
        one_by_one.apply(&levels, &levels);
        let text = |b: &L2Book| format!("{:?}", b.bids().chain(b.asks()).collect::<Vec<_>>());
        assert_eq!(text(&packed), text(&one_by_one));
        assert_eq!(packed, one_by_one);
    }

    #[test]
    fn prices_order_by_value_whatever_their_scale() {
        let mut book = L2Book::default();
        let bids = [
            lv("9.999", "1"),
            lv("10.5", "1"),
            lv("10.25", "1"),
            lv("-1", "1"),
            lv("10.50000", "2"),
        ];
        book.reset(&bids, &[lv("10.6", "1"), lv("10.51", "1"), lv("11.00", "1")]);
        let bid_prices: Vec<String> = book.bids().map(|(p, _)| p.to_string()).collect();
        assert_eq!(bid_prices, ["10.5", "10.25", "9.999", "-1"]);
        assert_eq!(book.best_bid(), Some(lv("10.5", "2")));
        let ask_prices: Vec<String> = book.asks().map(|(p, _)| p.to_string()).collect();
        assert_eq!(ask_prices, ["10.51", "10.6", "11.00"]);
    }
}
