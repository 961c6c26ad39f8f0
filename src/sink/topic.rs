//! Kafka topic names from a template: `{type}`, `{exchange}` and `{symbol}` are replaced
//! per event (`{type}.{exchange}` gives `trade.binance`). Names are cached per stream.

use crate::model::Event;
use crate::model::VenueId;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Type,
    Exchange,
    Symbol,
}

#[derive(Debug, Clone)]
pub struct TopicTemplate {
    parts: Vec<Part>,
    cache: FxHashMap<(&'static str, VenueId, Arc<str>), Arc<str>>,
}

/// Characters Kafka allows in topic names.
fn valid_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl TopicTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("unclosed `{` in topic template")? + open;
            parts.push(match &rest[open + 1..close] {
                "type" => Part::Type,
                "exchange" => Part::Exchange,
                "symbol" => Part::Symbol,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{other}}}; use {{type}}, {{exchange}}, {{symbol}}"
                    ));
                }
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        for p in &parts {
            if let Part::Text(t) = p {
                if let Some(c) = t.chars().find(|c| !valid_topic_char(*c)) {
                    return Err(format!(
                        "{c:?} is not allowed in Kafka topic names (letters, digits, . _ -)"
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Err("the topic template is empty".to_owned());
        }
        Ok(Self {
            parts,
            cache: FxHashMap::default(),
        })
    }

    /// The topic for an event.
    pub fn topic(&mut self, event: &Event) -> Arc<str> {
        let (kind, exchange, symbol) = (event_type(event), event.exchange(), event.symbol_arc());
        if let Some(t) = self.cache.get(&(kind, exchange, symbol.clone())) {
            return t.clone();
        }
        let mut name = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => name.push_str(t),
                Part::Type => name.push_str(kind),
                Part::Exchange => name.push_str(exchange.as_str()),
                Part::Symbol => name.push_str(symbol),
            }
        }
        let name: Arc<str> = name.into();
        self.cache.insert((kind, exchange, symbol.clone()), name.clone());
        name
    }
}

/// The event type as it appears in topics and headers.
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::Trade(_) => "trade",
        Event::Book(_) => "book",
        Event::BookStatus(_) => "book_status",
        Event::TradeStatus(_) => "trade_status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BookState, BookStatus};

    fn status(symbol: &str) -> Event {
        Event::BookStatus(BookStatus {
            exchange: VenueId::new("binance_futures").unwrap(),
            symbol: symbol.into(),
            status: BookState::Synced,
            reason: String::new(),
            receive_ts_ns: 0,
        })
    }

    #[test]
    fn templates_render_per_event() {
        let mut t = TopicTemplate::parse("{type}.{exchange}").unwrap();
        assert_eq!(&*t.topic(&status("BTC-USDT-PERP")), "book_status.binance_futures");
        let mut t = TopicTemplate::parse("md-{type}-{exchange}-{symbol}").unwrap();
        assert_eq!(
            &*t.topic(&status("BTC-USDT-PERP")),
            "md-book_status-binance_futures-BTC-USDT-PERP"
        );
        assert_eq!(
            &*t.topic(&status("ETH-USDT-PERP")),
            "md-book_status-binance_futures-ETH-USDT-PERP"
        );
    }

    #[test]
    fn bad_templates_are_rejected() {
        for (bad, why) in [
            ("{kind}", "unknown placeholder"),
            ("a/{type}", "not allowed"),
            ("{type", "unclosed"),
            ("", "empty"),
        ] {
            assert!(TopicTemplate::parse(bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
