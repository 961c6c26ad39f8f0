//! The Binance family as data: each venue's endpoints, stream and message limits,
//! request weights and accepted snapshot depths. Spot, USD-M futures and Binance.US run
//! the same code; a venue of this family is added by a constant here and a line in the
//! registry.

use super::parse::Market;

/// What differs between venues of the Binance family.
#[derive(Debug)]
pub struct BinanceVenue {
    /// The wire dialect: spot (`U`/`u` continuity) or futures (`pu`, perpetuals only).
    pub market: Market,
    pub ws_url: &'static str,
    pub rest_url: &'static str,
    /// REST path prefix of `exchangeInfo` and `depth`.
    pub api_prefix: &'static str,
    pub max_streams_per_connection: usize,
    /// SUBSCRIBE messages per second: below the venue's limit on incoming messages,
    /// which counts the pongs answering its pings as well.
    pub subscribe_messages_per_second: u64,
    /// The venue's REST request weight per minute and IP; snapshots get a share of it
    /// (`snapshot_weight_share_percent`).
    pub request_weight_per_minute: u32,
    /// `(largest limit, weight)` of a depth snapshot, by ascending limit.
    pub depth_weights: &'static [(u16, u32)],
    /// Snapshot depths the venue accepts.
    pub depth_limits: &'static [u16],
}

impl BinanceVenue {
    /// Snapshot weight per minute at `share_percent` of the venue's limit.
    pub fn snapshot_budget(&self, share_percent: u8) -> u32 {
        self.request_weight_per_minute * u32::from(share_percent) / 100
    }

    /// Request weight of a depth snapshot of `limit` levels.
    pub fn depth_weight(&self, limit: u16) -> u32 {
        self.depth_weights
            .iter()
            .find(|(max, _)| limit <= *max)
            .or(self.depth_weights.last())
            .map_or(1, |(_, w)| *w)
    }
}

/// Binance spot (`api.binance.com`): 6,000 weight per minute, 1,024 streams and 5
/// incoming messages per second per connection.
pub const SPOT: BinanceVenue = BinanceVenue {
    market: Market::Spot,
    ws_url: "wss://stream.binance.com:9443",
    rest_url: "https://api.binance.com",
    api_prefix: "/api/v3",
    max_streams_per_connection: 1024,
    subscribe_messages_per_second: 4,
    request_weight_per_minute: 6000,
    depth_weights: &[(100, 5), (500, 25), (1000, 50), (5000, 250)],
    depth_limits: &[5, 10, 20, 50, 100, 500, 1000, 5000],
};

/// Binance USD-M futures (`fapi.binance.com`): 2,400 weight per minute, 200 streams and
/// 10 incoming messages per second per connection.
pub const FUTURES: BinanceVenue = BinanceVenue {
    market: Market::Futures,
    ws_url: "wss://fstream.binance.com",
    rest_url: "https://fapi.binance.com",
    api_prefix: "/fapi/v1",
    max_streams_per_connection: 200,
    subscribe_messages_per_second: 8,
    request_weight_per_minute: 2400,
    depth_weights: &[(50, 2), (100, 5), (500, 10), (1000, 20)],
    depth_limits: &[5, 10, 20, 50, 100, 500, 1000],
};

/// Binance.US (`api.binance.us`), the venue for US residents: spot rules with its own
/// endpoints, 1,200 weight per minute and lighter snapshots.
pub const US: BinanceVenue = BinanceVenue {
    market: Market::Spot,
    ws_url: "wss://stream.binance.us:9443",
    rest_url: "https://api.binance.us",
    api_prefix: "/api/v3",
    max_streams_per_connection: 1024,
    subscribe_messages_per_second: 4,
    request_weight_per_minute: 1200,
    depth_weights: &[(100, 1), (500, 5), (1000, 10), (5000, 50)],
    depth_limits: &[5, 10, 20, 50, 100, 500, 1000, 5000],
};

/// The venue of an hftbacktest capture (Binance spot or USD-M; futures diffs carry
/// `pu`), as recordings name it.
pub fn of_capture(futures: bool) -> (&'static str, &'static BinanceVenue) {
    if futures {
        ("BINANCE_FUTURES", &FUTURES)
    } else {
        ("BINANCE", &SPOT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_weights_follow_the_venues_tables() {
        // (venue, limit, weight): Binance's and Binance.US's documented depth weights.
        for (venue, limit, weight) in [
            (&SPOT, 100, 5),
            (&SPOT, 101, 25),
            (&SPOT, 1000, 50),
            (&SPOT, 5000, 250),
            (&FUTURES, 50, 2),
            (&FUTURES, 100, 5),
            (&FUTURES, 1000, 20),
            (&US, 100, 1),
            (&US, 1000, 10),
            (&US, 5000, 50),
        ] {
            assert_eq!(venue.depth_weight(limit), weight, "{} {limit}", venue.rest_url);
        }
    }
}
