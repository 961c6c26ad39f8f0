//! Replay of a Coinbase recording: the products list, the `level2` subscriptions (which
//! books are kept) and every message, through the session the live client runs.

use super::parse;
use super::session::{Output, Session};
use crate::model::{Event, VenueId};
use crate::record::reader::{Recorded, Recording};
use crate::replay::{ReplayError, ReplayStats};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
struct Subscription {
    #[serde(rename = "type")]
    kind: String,
    channel: String,
    #[serde(default)]
    product_ids: Vec<String>,
}

pub async fn replay(
    rec: &Recording,
    exchange: VenueId,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    let body = (rec.events.iter())
        .find_map(|e| match e {
            Recorded::Http { url, body, .. } if url.contains("market/products") => Some(body),
            _ => None,
        })
        .ok_or(ReplayError::NoInstruments(exchange))?;
    let products = parse::parse_products(exchange, body).map_err(|e| ReplayError::Parse {
        exchange,
        source: Box::new(e),
    })?;
    let mut books = BTreeSet::new();
    for e in &rec.events {
        if let Recorded::Send { data, .. } = e {
            if let Ok(sub) = serde_json::from_str::<Subscription>(data) {
                if sub.kind == "subscribe" && sub.channel == "level2" {
                    books.extend(sub.product_ids);
                }
            }
        }
    }
    let books: Vec<Arc<str>> = books.iter().filter_map(|p| products.get(p).cloned()).collect();
    let mut session = Session::new(products, &books);
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    for ev in &rec.events {
        match ev {
            Recorded::Connect { ts_ns, .. } => session.on_connect(*ts_ns, &mut out),
            Recorded::Disconnect { ts_ns, .. } => session.disconnected(*ts_ns, &mut out),
            Recorded::Recv { data, ts_ns, .. } => {
                stats.frames += 1;
                if let Err(e) = session.on_frame(data, *ts_ns, &mut out) {
                    stats.reject(e.reason(), &e);
                }
            }
            _ => {}
        }
        let split = |o| match o {
            Output::Event(e) => Ok(e),
            Output::Resubscribe(products) => Err(products.len() as u64),
        };
        if !stats.publish(&mut out, &events, split).await {
            return Ok(stats);
        }
    }
    Ok(stats)
}
