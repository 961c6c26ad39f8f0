//! The one place that knows every venue: its name and its kind with the kind's data.
//! Config loading, `check`, `run`, `replay` and `simulate` ask this module; outside
//! `src/venues/` no code names a venue. A venue of an existing kind is added by one line
//! in [`VENUES`] (and, for the Binance family, a constant in `binance::venue`).

use super::binance::client::BinanceAdapter;
use super::binance::settings::BinanceSettings;
use super::binance::venue::{self as binance_venue, BinanceVenue};
use super::coinbase::client::CoinbaseAdapter;
use super::coinbase::settings::CoinbaseSettings;
use super::{VenueError, binance, coinbase, runtime};
use crate::config::{Channel, ExchangeConfig, Section, fields};
use crate::model::{Event, VenueId};
use crate::net::ConnectionFactory;
use crate::record::reader::Recording;
use crate::replay::{ReplayError, ReplayStats};
use crate::sim;
use crate::sim::faults::Faults;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The kinds of venue adapter, each with what distinguishes one venue of it.
#[derive(Debug)]
pub enum Kind {
    /// A Binance combined-stream venue with REST snapshots.
    Binance(&'static BinanceVenue),
    /// Coinbase Advanced Trade.
    Coinbase,
}

/// Every venue, by the name used in config, events, topics and recordings.
const VENUES: &[(&str, Kind)] = &[
    ("binance", Kind::Binance(&binance_venue::SPOT)),
    ("binance_futures", Kind::Binance(&binance_venue::FUTURES)),
    ("binance_us", Kind::Binance(&binance_venue::US)),
    ("coinbase", Kind::Coinbase),
];

/// The names of all venues, in the order listed.
pub fn known() -> impl Iterator<Item = &'static str> {
    VENUES.iter().map(|(name, _)| *name)
}

pub fn lookup(id: VenueId) -> Option<&'static Kind> {
    VENUES
        .iter()
        .find(|(name, _)| *name == id.as_str())
        .map(|(_, k)| k)
}

/// One venue's validated section: the common keys and its kind's own.
#[derive(Debug, Clone)]
pub struct VenueConfig {
    pub common: ExchangeConfig,
    settings: Settings,
}

#[derive(Debug, Clone)]
enum Settings {
    Binance(&'static BinanceVenue, BinanceSettings),
    Coinbase(CoinbaseSettings),
}

/// Extracts and validates venue `id`'s section; problems are kept in `section`.
pub fn load_section(id: VenueId, section: &mut Section<'_>) -> Option<VenueConfig> {
    let common_keys = fields::<ExchangeConfig>();
    let common = section.extract::<ExchangeConfig>();
    let settings = match lookup(id)? {
        Kind::Binance(venue) => {
            let no_credentials = format!("{id} public market data takes no credentials");
            section.reject_unknown_keys(
                &[common_keys, fields::<BinanceSettings>()],
                &[("credentials", no_credentials.as_str())],
            );
            let settings = section.extract::<BinanceSettings>()?;
            settings.validate(venue, section);
            Settings::Binance(venue, settings)
        }
        Kind::Coinbase => {
            let no_age = format!("{id} has no connection age limit");
            let no_depth = format!("{id} has no depth limit (snapshots are the whole book)");
            let no_trade_stream = format!("{id} has one trade channel (market_trades)");
            section.reject_unknown_keys(
                &[common_keys, fields::<CoinbaseSettings>()],
                &[
                    ("max_connection_age_s", no_age.as_str()),
                    ("depth_limit", no_depth.as_str()),
                    ("trade_stream", no_trade_stream.as_str()),
                ],
            );
            let settings = section.extract::<CoinbaseSettings>()?;
            settings.validate(section);
            Settings::Coinbase(settings)
        }
    };
    Some(VenueConfig {
        common: common?,
        settings,
    })
}

impl VenueConfig {
    /// What `check` prints about the venue besides channels, symbols and routes.
    pub fn check_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(u) = &self.common.ws_url {
            lines.push(format!("ws_url:    {u}"));
        }
        if let Some(u) = &self.common.rest_url {
            lines.push(format!("rest_url:  {u}"));
        }
        match &self.settings {
            Settings::Coinbase(CoinbaseSettings { credentials: Some(_) }) => {
                lines.push("credentials: configured (JWT-signed subscriptions; key not shown)".into())
            }
            Settings::Binance(venue, settings) if self.common.channels.contains(&Channel::L2Book) => {
                let symbols = self.common.symbols.len();
                let (each, total, budget, seconds) = settings.sync_cost(venue, symbols);
                lines.push(format!(
                    "snapshots: {} levels, weight {each} each, {total} for {symbols} book{}; budget {budget} weight/min ({}% of {}) -> first sync {}",
                    settings.depth_limit(),
                    if symbols == 1 { "" } else { "s" },
                    settings.snapshot_weight_share_percent(),
                    venue.request_weight_per_minute,
                    if seconds == 0 { "at once".to_owned() } else { format!("in about {}", duration(seconds)) }
                ));
            }
            _ => {}
        }
        lines
    }
}

/// `42 s`, `17 min`, `2 h 5 min`.
fn duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600).div_ceil(60)),
    }
}

/// Streams venue `id` until shutdown; fails only on start-up errors.
pub async fn run(
    id: VenueId,
    venue: VenueConfig,
    factory: Arc<ConnectionFactory>,
    events: mpsc::Sender<Event>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), VenueError> {
    let common = venue.common;
    match venue.settings {
        Settings::Binance(v, settings) => {
            let adapter = BinanceAdapter::new(id, v, common, settings, factory.clone());
            runtime::run(adapter, &factory, events, shutdown).await
        }
        Settings::Coinbase(settings) => {
            let adapter = CoinbaseAdapter::new(id, common, settings, factory.clone());
            runtime::run(adapter, &factory, events, shutdown).await
        }
    }
}

/// The venue a recording's header names (`BINANCE_US` → `binance_us`), if it is one.
fn recorded_venue(rec: &Recording) -> Result<(VenueId, &'static Kind), ReplayError> {
    VenueId::from_recording_name(&rec.exchange)
        .ok()
        .and_then(|id| Some((id, lookup(id)?)))
        .ok_or_else(|| ReplayError::Unsupported {
            name: rec.exchange.clone(),
            supported: known().map(str::to_ascii_uppercase).collect(),
        })
}

/// Runs a recording through its venue's session code.
pub async fn replay(rec: &Recording, events: mpsc::Sender<Event>) -> Result<ReplayStats, ReplayError> {
    match recorded_venue(rec)? {
        (id, Kind::Binance(venue)) => binance::replay::replay(rec, id, venue, events).await,
        (id, Kind::Coinbase) => coinbase::replay::replay(rec, id, events).await,
    }
}

/// Why `simulate` cannot serve a recording.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Venue(#[from] ReplayError),
    #[error("{0}")]
    Faults(String),
}

/// A local venue that plays a recording (REST and WebSocket) with `faults`, for
/// `simulate`.
pub fn simulator(rec: &Recording, faults: &Faults) -> Result<Arc<dyn sim::server::Venue>, SimulateError> {
    Ok(match recorded_venue(rec)? {
        (_, Kind::Binance(_)) => {
            let switches = faults.binance().map_err(SimulateError::Faults)?;
            Arc::new(sim::binance::BinanceSim::new(rec, switches))
        }
        (_, Kind::Coinbase) => {
            let switches = faults.coinbase().map_err(SimulateError::Faults)?;
            Arc::new(sim::coinbase::CoinbaseSim::new(rec, switches))
        }
    })
}
