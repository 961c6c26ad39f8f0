//! Binance venue rules (endpoints, stream and message limits, request weights) and the
//! connection plan they give: symbols split across connections, the streams of each,
//! and the SUBSCRIBE messages that request them.

use super::parse::{Instruments, Market};
use crate::config::{Channel, ExchangeConfig, TradeStream};

/// Streams named in one SUBSCRIBE message.
const STREAMS_PER_SUBSCRIBE: usize = 200;

impl Market {
    pub(super) fn default_ws_url(self) -> &'static str {
        match self {
            Self::Spot => "wss://stream.binance.com:9443",
            Self::Futures => "wss://fstream.binance.com",
        }
    }
    pub(super) fn default_rest_url(self) -> &'static str {
        match self {
            Self::Spot => "https://api.binance.com",
            Self::Futures => "https://fapi.binance.com",
        }
    }
    pub(super) fn api_prefix(self) -> &'static str {
        match self {
            Self::Spot => "/api/v3",
            Self::Futures => "/fapi/v1",
        }
    }
    pub(super) fn max_streams_per_connection(self) -> usize {
        match self {
            Self::Spot => 1024,
            Self::Futures => 200,
        }
    }
    /// SUBSCRIBE messages per second: below the venue's limit on incoming messages (spot
    /// 5/s, futures 10/s), which counts the pongs answering its pings as well.
    pub(super) fn subscribe_messages_per_second(self) -> u64 {
        match self {
            Self::Spot => 4,
            Self::Futures => 8,
        }
    }
    /// Half of the venue's per-minute REST request weight, left for snapshots.
    pub(super) fn snapshot_weight_per_minute(self) -> u32 {
        match self {
            Self::Spot => 3000,
            Self::Futures => 1200,
        }
    }
    pub(super) fn depth_weight(self, limit: u16) -> u32 {
        match (self, limit) {
            (Self::Spot, 0..=100) => 5,
            (Self::Spot, 101..=500) => 25,
            (Self::Spot, 501..=1000) => 50,
            (Self::Spot, _) => 250,
            (Self::Futures, 0..=50) => 2,
            (Self::Futures, 51..=100) => 5,
            (Self::Futures, 101..=500) => 10,
            (Self::Futures, _) => 20,
        }
    }
}

/// Symbols per connection within the venue's streams-per-connection limit, each with
/// the streams it subscribes to.
pub fn connections(
    market: Market,
    config: &ExchangeConfig,
    instruments: &Instruments,
) -> Vec<(Instruments, Vec<String>)> {
    let per_symbol = config.channels.len().max(1);
    let symbols_per_conn = (market.max_streams_per_connection() / per_symbol).max(1);
    config
        .symbols
        .chunks(symbols_per_conn)
        .map(|chunk| {
            let subset = instruments.select(chunk).expect("chunk of selected symbols");
            let streams = streams_for(&subset, config);
            (subset, streams)
        })
        .collect()
}

fn streams_for(instruments: &Instruments, config: &ExchangeConfig) -> Vec<String> {
    let mut streams = Vec::new();
    let mut wires: Vec<&str> = instruments.iter().map(|(_, w)| w).collect();
    wires.sort_unstable();
    for wire in wires {
        let lower = wire.to_ascii_lowercase();
        for channel in &config.channels {
            streams.push(match (channel, config.trade_stream) {
                (Channel::Trades, TradeStream::Trade) => format!("{lower}@trade"),
                (Channel::Trades, TradeStream::AggTrade) => format!("{lower}@aggTrade"),
                (Channel::L2Book, _) => format!("{lower}@depth@100ms"),
            });
        }
    }
    streams
}

/// The SUBSCRIBE messages for `streams`, numbered from 1; the caller paces them at
/// [`Market::subscribe_messages_per_second`].
pub fn subscribe_messages(streams: &[String]) -> Vec<String> {
    streams
        .chunks(STREAMS_PER_SUBSCRIBE)
        .enumerate()
        .map(|(i, batch)| {
            serde_json::json!({"method": "SUBSCRIBE", "params": batch, "id": i + 1}).to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::binance::parse::{parse_instruments, synthesize_exchange_info};

    /// `n` listed symbols `S0000-USDT`… (futures `…-PERP`) and a config streaming them all.
    fn setup(market: Market, n: usize, extra: &str) -> (ExchangeConfig, Instruments) {
        let wires: Vec<String> = (0..n).map(|i| format!("S{i:04}USDT")).collect();
        let futures = market == Market::Futures;
        let instruments =
            parse_instruments(market, &synthesize_exchange_info(wires.iter(), futures)).unwrap();
        let suffix = if futures { "-PERP" } else { "" };
        let symbols: Vec<String> = (0..n).map(|i| format!("\"S{i:04}-USDT{suffix}\"")).collect();
        let json = format!(
            r#"{{"symbols":[{}],"channels":["trades","l2_book"]{extra}}}"#,
            symbols.join(",")
        );
        (serde_json::from_str(&json).unwrap(), instruments)
    }

    #[test]
    fn streams_split_by_the_venue_limit_per_connection() {
        // (market, symbols, expected symbols per connection): 2 streams per symbol, spot
        // 1024 streams per connection, futures 200.
        for (market, n, split) in [
            (Market::Spot, 1100, vec![512, 512, 76]),
            (Market::Spot, 3, vec![3]),
            (Market::Futures, 250, vec![100, 100, 50]),
        ] {
            let (config, instruments) = setup(market, n, "");
            let plan = connections(market, &config, &instruments);
            let sizes: Vec<usize> = plan.iter().map(|(i, _)| i.iter().count()).collect();
            assert_eq!(sizes, split, "{market:?} {n}");
            let mut all = std::collections::HashSet::new();
            for (subset, streams) in &plan {
                assert!(streams.len() <= market.max_streams_per_connection());
                assert_eq!(streams.len(), 2 * subset.iter().count());
                for (_, wire) in subset.iter() {
                    let lower = wire.to_ascii_lowercase();
                    assert!(streams.contains(&format!("{lower}@trade")));
                    assert!(streams.contains(&format!("{lower}@depth@100ms")));
                }
                all.extend(streams.iter().cloned());
            }
            assert_eq!(all.len(), 2 * n, "every stream once");
        }
    }

    #[test]
    fn agg_trades_when_configured() {
        let (config, instruments) = setup(Market::Spot, 2, r#","trade_stream":"agg_trade""#);
        let (_, streams) = &connections(Market::Spot, &config, &instruments)[0];
        assert_eq!(
            streams,
            &[
                "s0000usdt@aggTrade",
                "s0000usdt@depth@100ms",
                "s0001usdt@aggTrade",
                "s0001usdt@depth@100ms"
            ]
        );
    }

    #[test]
    fn subscriptions_carry_at_most_200_streams_numbered_from_1() {
        let (config, instruments) = setup(Market::Spot, 512, "");
        let (_, streams) = &connections(Market::Spot, &config, &instruments)[0];
        let messages = subscribe_messages(streams);
        assert_eq!(messages.len(), 6, "1024 streams: 5 × 200 + 24");
        let mut named = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            assert_eq!(
                (v["method"].as_str(), v["id"].as_u64()),
                (Some("SUBSCRIBE"), Some(i as u64 + 1))
            );
            let params = v["params"].as_array().unwrap();
            assert!(params.len() <= 200);
            named.extend(params.iter().map(|p| p.as_str().unwrap().to_owned()));
        }
        assert_eq!(&named, streams);
    }
}
