//! The connection plan a Binance venue's rules give: symbols split across connections,
//! the streams of each, and the SUBSCRIBE messages that request them.

use super::parse::Instruments;
use super::settings::TradeStream;
use super::venue::BinanceVenue;
use crate::config::{Channel, ExchangeConfig};

/// Streams named in one SUBSCRIBE message.
const STREAMS_PER_SUBSCRIBE: usize = 200;

/// Symbols per connection within the venue's streams-per-connection limit, each with
/// the streams it subscribes to.
pub fn connections(
    venue: &BinanceVenue,
    config: &ExchangeConfig,
    trade_stream: TradeStream,
    instruments: &Instruments,
) -> Vec<(Instruments, Vec<String>)> {
    let per_symbol = config.channels.len().max(1);
    let symbols_per_conn = (venue.max_streams_per_connection / per_symbol).max(1);
    config
        .symbols
        .chunks(symbols_per_conn)
        .map(|chunk| {
            let subset = instruments.select(chunk).expect("chunk of selected symbols");
            let streams = streams_for(&subset, &config.channels, trade_stream);
            (subset, streams)
        })
        .collect()
}

fn streams_for(instruments: &Instruments, channels: &[Channel], trade_stream: TradeStream) -> Vec<String> {
    let mut streams = Vec::new();
    let mut wires: Vec<&str> = instruments.iter().map(|(_, w)| w).collect();
    wires.sort_unstable();
    for wire in wires {
        let lower = wire.to_ascii_lowercase();
        for channel in channels {
            streams.push(match (channel, trade_stream) {
                (Channel::Trades, TradeStream::Trade) => format!("{lower}@trade"),
                (Channel::Trades, TradeStream::AggTrade) => format!("{lower}@aggTrade"),
                (Channel::L2Book, _) => format!("{lower}@depth@100ms"),
            });
        }
    }
    streams
}

/// The SUBSCRIBE messages for `streams`, numbered from 1; the caller paces them at
/// [`BinanceVenue::subscribe_messages_per_second`].
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
    use crate::model::VenueId;
    use crate::venues::binance::parse::{Market, parse_instruments, synthesize_exchange_info};
    use crate::venues::binance::venue::{FUTURES, SPOT};

    /// `n` listed symbols `S0000-USDT`… (futures `…-PERP`) and a config streaming them all.
    fn setup(venue: &BinanceVenue, n: usize) -> (ExchangeConfig, Instruments) {
        let wires: Vec<String> = (0..n).map(|i| format!("S{i:04}USDT")).collect();
        let futures = venue.market == Market::Futures;
        let info = synthesize_exchange_info(wires.iter(), futures);
        let id = VenueId::new("binance").unwrap();
        let instruments = parse_instruments(id, venue.market, &info).unwrap();
        let suffix = if futures { "-PERP" } else { "" };
        let symbols: Vec<String> = (0..n).map(|i| format!("\"S{i:04}-USDT{suffix}\"")).collect();
        let json = format!(
            r#"{{"symbols":[{}],"channels":["trades","l2_book"]}}"#,
            symbols.join(",")
        );
        (serde_json::from_str(&json).unwrap(), instruments)
    }

    #[test]
    fn streams_split_by_the_venue_limit_per_connection() {
        // (market, symbols, expected symbols per connection): 2 streams per symbol, spot
        // 1024 streams per connection, futures 200.
        for (venue, n, split) in [
            (&SPOT, 1100, vec![512, 512, 76]),
            (&SPOT, 3, vec![3]),
            (&FUTURES, 250, vec![100, 100, 50]),
        ] {
            let (config, instruments) = setup(venue, n);
            let plan = connections(venue, &config, TradeStream::Trade, &instruments);
            let sizes: Vec<usize> = plan.iter().map(|(i, _)| i.iter().count()).collect();
            assert_eq!(sizes, split, "{:?} {n}", venue.market);
            let mut all = std::collections::HashSet::new();
            for (subset, streams) in &plan {
                assert!(streams.len() <= venue.max_streams_per_connection);
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
        let (config, instruments) = setup(&SPOT, 2);
        let (_, streams) = &connections(&SPOT, &config, TradeStream::AggTrade, &instruments)[0];
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
        let (config, instruments) = setup(&SPOT, 512);
        let (_, streams) = &connections(&SPOT, &config, TradeStream::Trade, &instruments)[0];
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
