//! The keys a Binance-family venue's section takes besides the common ones
//! (`exchanges.binance.depth_limit`, …), and their validation against the venue's rules.

use super::venue::BinanceVenue;
use crate::config::Section;
use serde::Deserialize;

/// Binance closes connections at 24 h; the replacement needs a few minutes to be opened,
/// subscribed and caught up before that.
const MAX_CONNECTION_AGE_S: u64 = 86_100;
/// Reconnect before Binance's 24-hour connection limit (`max_connection_age_s`).
pub const DEFAULT_MAX_CONNECTION_AGE_S: u64 = 23 * 3600 + 50 * 60;
/// Levels per snapshot when `depth_limit` is not set.
pub const DEFAULT_DEPTH_LIMIT: u16 = 1000;

/// Which Binance stream carries trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStream {
    #[default]
    Trade,
    AggTrade,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BinanceSettings {
    /// `trade` (default) or `agg_trade`.
    #[serde(default)]
    pub trade_stream: TradeStream,
    /// Levels requested per book snapshot.
    #[serde(default)]
    pub depth_limit: Option<u16>,
    /// Replace each connection after this long, before the venue's 24 h limit.
    #[serde(default)]
    pub max_connection_age_s: Option<u64>,
}

impl BinanceSettings {
    pub fn depth_limit(&self) -> u16 {
        self.depth_limit.unwrap_or(DEFAULT_DEPTH_LIMIT)
    }

    pub fn max_connection_age_s(&self) -> u64 {
        self.max_connection_age_s.unwrap_or(DEFAULT_MAX_CONNECTION_AGE_S)
    }

    /// Records in `section` what breaks `venue`'s rules.
    pub fn validate(&self, venue: &BinanceVenue, section: &mut Section<'_>) {
        if let Some(s) = self.max_connection_age_s {
            if !(1..=MAX_CONNECTION_AGE_S).contains(&s) {
                section.problem(
                    "max_connection_age_s",
                    format!(
                        "must be 1-{MAX_CONNECTION_AGE_S} (Binance closes connections at 24 h; the replacement needs the rest)"
                    ),
                );
            }
        }
        if let Some(d) = self.depth_limit {
            if !venue.depth_limits.contains(&d) {
                section.problem("depth_limit", format!("must be one of {:?}", venue.depth_limits));
            }
        }
    }
}
