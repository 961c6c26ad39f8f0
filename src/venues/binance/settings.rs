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
/// Share of the venue's request weight that snapshots may use; the rest is left to
/// other clients on the same IP and to retries.
pub const DEFAULT_SNAPSHOT_WEIGHT_SHARE_PERCENT: u8 = 50;
const MAX_SNAPSHOT_WEIGHT_SHARE_PERCENT: u8 = 90;

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
    /// Percent of the venue's REST request weight per minute that book snapshots use.
    #[serde(default)]
    pub snapshot_weight_share_percent: Option<u8>,
}

impl BinanceSettings {
    pub fn depth_limit(&self) -> u16 {
        self.depth_limit.unwrap_or(DEFAULT_DEPTH_LIMIT)
    }

    pub fn snapshot_weight_share_percent(&self) -> u8 {
        self.snapshot_weight_share_percent
            .unwrap_or(DEFAULT_SNAPSHOT_WEIGHT_SHARE_PERCENT)
    }

    /// What the first sync of `symbols` books costs: (weight per snapshot, total weight,
    /// budget per minute, seconds at that budget).
    pub fn sync_cost(&self, venue: &BinanceVenue, symbols: usize) -> (u32, u64, u32, u64) {
        let each = venue.depth_weight(self.depth_limit());
        let total = u64::from(each) * symbols as u64;
        let budget = venue.snapshot_budget(self.snapshot_weight_share_percent());
        // The budget starts full: one minute's worth goes out at once.
        let seconds = total.saturating_sub(u64::from(budget)) * 60 / u64::from(budget.max(1));
        (each, total, budget, seconds)
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
        if let Some(p) = self.snapshot_weight_share_percent {
            if !(1..=MAX_SNAPSHOT_WEIGHT_SHARE_PERCENT).contains(&p) {
                section.problem(
                    "snapshot_weight_share_percent",
                    format!("must be 1-{MAX_SNAPSHOT_WEIGHT_SHARE_PERCENT}"),
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
