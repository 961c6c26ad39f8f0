//! A REST venue's keys in the main config (`exchanges.<name>:` besides the common ones):
//! poll intervals, book depth and trades page size, checked against its definition; and
//! the request rate they add up to against the venue's limit (shown by `check`).

use super::definition::{Definition, Limit};
use crate::config::{Channel, Section};
use serde::Deserialize;

/// Shortest and longest poll interval accepted.
const INTERVAL_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;
const DEFAULT_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RestSettings {
    /// Time between two trades polls of one symbol.
    #[serde(default)]
    pub trades_interval_ms: Option<u64>,
    /// Time between two book snapshots of one symbol.
    #[serde(default)]
    pub book_interval_ms: Option<u64>,
    /// Levels per side in each snapshot.
    #[serde(default)]
    pub book_depth: Option<u32>,
    /// Trades asked for per poll.
    #[serde(default)]
    pub trades_limit: Option<u32>,
}

impl RestSettings {
    pub fn trades_interval_ms(&self) -> u64 {
        self.trades_interval_ms.unwrap_or(DEFAULT_INTERVAL_MS)
    }

    pub fn book_interval_ms(&self) -> u64 {
        self.book_interval_ms.unwrap_or(DEFAULT_INTERVAL_MS)
    }

    /// Levels kept per side.
    pub fn book_depth(&self, def: &Definition) -> u32 {
        (self.book_depth).unwrap_or_else(|| def.book.as_ref().map_or(0, |b| b.depth.default))
    }

    pub fn trades_limit(&self, def: &Definition) -> u32 {
        (self.trades_limit).unwrap_or_else(|| def.trades.as_ref().map_or(0, |t| t.limit.default))
    }

    pub fn validate(&self, def: &Definition, channels: &[Channel], section: &mut Section<'_>) {
        for (key, v) in [
            ("trades_interval_ms", self.trades_interval_ms),
            ("book_interval_ms", self.book_interval_ms),
        ] {
            if v.is_some_and(|ms| !INTERVAL_MS.contains(&ms)) {
                let (lo, hi) = (INTERVAL_MS.start(), INTERVAL_MS.end());
                section.problem(key, format!("must be {lo}-{hi}"));
            }
        }
        let mut within = |key: &str, v: Option<u32>, limit: Option<&Limit>| match (v, limit) {
            (Some(v), Some(l)) if v == 0 || v > l.max => {
                section.problem(key, format!("must be 1-{} ({} takes no more)", l.max, def.name));
            }
            (Some(_), None) => section.problem(key, format!("{} defines no such request", def.name)),
            _ => {}
        };
        within("book_depth", self.book_depth, def.book.as_ref().map(|b| &b.depth));
        within(
            "trades_limit",
            self.trades_limit,
            def.trades.as_ref().map(|t| &t.limit),
        );
        for c in channels {
            let missing = match c {
                Channel::Trades => def.trades.is_none(),
                Channel::L2Book => def.book.is_none(),
            };
            if missing {
                section.problem(
                    "channels",
                    format!(
                        "{} defines no {} request (see its definition file)",
                        def.name,
                        c.as_str()
                    ),
                );
            }
        }
    }

    /// Budget units per second that polling `symbols` asks for, and the venue's limit.
    pub fn load(&self, def: &Definition, channels: &[Channel], symbols: usize) -> (f64, f64) {
        let costs = &def.rate_limit.costs;
        let per_s = |cost: u32, interval_ms: u64| f64::from(cost) * 1000.0 / interval_ms as f64;
        let mut want = 0.0;
        if channels.contains(&Channel::Trades) {
            want += per_s(costs.trades, self.trades_interval_ms());
        }
        if channels.contains(&Channel::L2Book) {
            want += per_s(costs.book, self.book_interval_ms());
        }
        let limit = f64::from(def.rate_limit.budget()) / f64::from(def.rate_limit.per_seconds);
        (want * symbols as f64, limit)
    }
}

/// The value sent for a configured `want`: the venue's next allowed value at or above it.
pub fn request_value(limit: &Limit, want: u32) -> u32 {
    limit.values.iter().copied().find(|v| *v >= want).unwrap_or(want)
}
