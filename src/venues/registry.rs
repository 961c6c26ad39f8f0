//! The one place that knows every venue: its name and its kind with the kind's data.
//! Config loading, `check`, `run`, `replay` and `simulate` ask this module; outside
//! `src/venues/` no code names a venue. A native venue of an existing kind is added by one
//! line in [`VENUES`] (and, for the Binance family, a constant in `binance::venue`); a
//! REST venue by a definition file (`exchanges/<venue>.yaml`, see `rest::catalog`).

use super::binance::client::BinanceAdapter;
use super::binance::settings::BinanceSettings;
use super::binance::venue::{self as binance_venue, BinanceVenue};
use super::coinbase::client::CoinbaseAdapter;
use super::coinbase::settings::CoinbaseSettings;
use super::rest::catalog::Catalog;
use super::rest::client::RestAdapter;
use super::rest::definition::Definition;
use super::rest::settings::RestSettings;
use super::{VenueError, binance, coinbase, rest, runtime};
use crate::config::{Channel, ExchangeConfig, Section, fields};
use crate::model::{Event, VenueId};
use crate::net::{ConnKind, ConnectionFactory};
use crate::record::reader::Recording;
use crate::replay::{ReplayError, ReplayStats};
use crate::sim;
use crate::sim::faults::Faults;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The kinds of venue adapter, each with what distinguishes one venue of it.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A Binance combined-stream venue with REST snapshots.
    Binance(&'static BinanceVenue),
    /// Coinbase Advanced Trade.
    Coinbase,
    /// A venue polled over REST as its definition file describes; with the file's origin.
    Rest(Arc<Definition>, String),
}

/// Every venue, by the name used in config, events, topics and recordings.
const VENUES: &[(&str, Kind)] = &[
    ("binance", Kind::Binance(&binance_venue::SPOT)),
    ("binance_futures", Kind::Binance(&binance_venue::FUTURES)),
    ("binance_us", Kind::Binance(&binance_venue::US)),
    ("coinbase", Kind::Coinbase),
];

/// The native venues' names: REST definitions may not take them.
pub fn native() -> Vec<&'static str> {
    VENUES.iter().map(|(name, _)| *name).collect()
}

/// The names of all venues: native ones in the order listed, then the definitions'.
pub fn known(catalog: &Catalog) -> impl Iterator<Item = &'static str> + '_ {
    VENUES.iter().map(|(name, _)| *name).chain(catalog.names())
}

pub fn lookup(id: VenueId, catalog: &Catalog) -> Option<Kind> {
    let native = VENUES.iter().find(|(name, _)| *name == id.as_str());
    match native {
        Some((_, k)) => Some(k.clone()),
        None => catalog
            .get(id)
            .map(|e| Kind::Rest(e.definition.clone(), e.origin.clone())),
    }
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
    Rest(Arc<Definition>, String, RestSettings),
}

/// Extracts and validates venue `id`'s section; problems are kept in `section`.
pub fn load_section(id: VenueId, catalog: &Catalog, section: &mut Section<'_>) -> Option<VenueConfig> {
    let common_keys = fields::<ExchangeConfig>();
    let common = section.extract::<ExchangeConfig>();
    let settings = match lookup(id, catalog)? {
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
        Kind::Rest(def, origin) => {
            let polled = format!("{id} is polled over REST: it has no WebSocket");
            let idle = format!("{id} is polled: set trades_interval_ms / book_interval_ms");
            let depth = format!("{id} takes book_depth");
            section.reject_unknown_keys(
                &[common_keys, fields::<RestSettings>()],
                &[("depth_limit", depth.as_str())],
            );
            let settings = section.extract::<RestSettings>()?;
            if let Some(c) = &common {
                if c.ws_url.is_some() {
                    section.problem("ws_url", polled);
                }
                if c.idle_timeout_ms.is_some() {
                    section.problem("idle_timeout_ms", idle);
                }
                settings.validate(&def, &c.channels, section);
                for s in &c.symbols {
                    if let Err(reason) = rest::symbols::check(&def, s) {
                        section.problem("symbols", reason);
                    }
                }
            }
            Settings::Rest(def, origin, settings)
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
            Settings::Rest(def, origin, settings) => {
                lines.extend(rest_lines(&self.common, def, origin, settings))
            }
            _ => {}
        }
        lines
    }

    /// The kinds of connection the venue opens (a REST venue only requests).
    pub fn conn_kinds(&self) -> &'static [ConnKind] {
        match self.settings {
            Settings::Rest(..) => &[ConnKind::Http],
            _ => &[ConnKind::Http, ConnKind::Websocket],
        }
    }

    /// What a recording's header keeps so `replay` can rebuild the run's requests.
    pub fn recording_setup(&self) -> Option<Box<serde_json::value::RawValue>> {
        let Settings::Rest(_, _, settings) = &self.settings else {
            return None;
        };
        let setup = rest::Setup {
            symbols: self.common.symbols.clone(),
            channels: self.common.channels.clone(),
            trades_limit: settings.trades_limit,
            book_depth: settings.book_depth,
            rest_url: self.common.rest_url.as_ref().map(url::Url::to_string),
        };
        serde_json::value::to_raw_value(&setup).ok()
    }
}

/// `check` lines of a REST venue: its definition, symbol mapping, polling and rate.
fn rest_lines(
    common: &ExchangeConfig,
    def: &Definition,
    origin: &str,
    settings: &RestSettings,
) -> Vec<String> {
    let mut lines = vec![format!("definition: {origin}")];
    if common.rest_url.is_none() {
        lines.push(format!("rest_url:  {} (the definition's)", def.rest_url));
    }
    let mut ids = Vec::new();
    for s in &common.symbols {
        let Some((base, quote, kind)) = rest::symbols::split(s) else {
            continue;
        };
        let m = rest::symbols::market(def, kind);
        match (
            m.and_then(|m| m.instruments.as_ref()),
            m.and_then(|m| m.id.as_deref()),
        ) {
            (Some(i), _) => ids.push(format!("{s} -> from {} at start", i.path)),
            (None, Some(rule)) => ids.push(format!(
                "{s} -> {}",
                rest::symbols::by_rule(def, rule, base, quote)
            )),
            _ => {}
        }
    }
    lines.push(format!("venue ids: {}", ids.join(", ")));
    let mut polls = Vec::new();
    if common.channels.contains(&Channel::Trades) {
        polls.push(format!(
            "trades every {} ms ({} per page)",
            settings.trades_interval_ms(),
            settings.trades_limit(def)
        ));
    }
    if common.channels.contains(&Channel::L2Book) {
        polls.push(format!(
            "book every {} ms ({} levels)",
            settings.book_interval_ms(),
            settings.book_depth(def)
        ));
    }
    lines.push(format!("polling:   {}", polls.join(", ")));
    let (want, limit) = settings.load(def, &common.channels, common.symbols.len());
    let unit = if def.rate_limit.weight.is_some() {
        "weight"
    } else {
        "requests"
    };
    let verdict = if want <= limit {
        format!("{:.0}% of the limit", want / limit * 100.0)
    } else {
        format!(
            "over the limit: polls are spaced to the limit, {:.0}% of the configured rate",
            limit / want * 100.0
        )
    };
    lines.push(format!(
        "rate:      {want:.2} {unit}/s against the limit of {} per {} s ({limit:.2}/s): {verdict}",
        def.rate_limit.budget(),
        def.rate_limit.per_seconds
    ));
    lines
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
        Settings::Rest(def, _, settings) => {
            let adapter = RestAdapter::new(id, def, common, settings, &factory);
            runtime::run(adapter, &factory, events, shutdown).await
        }
    }
}

/// The venue a recording's header names (`BINANCE_US` → `binance_us`), if it is one.
fn recorded_venue(rec: &Recording, catalog: &Catalog) -> Result<(VenueId, Kind), ReplayError> {
    VenueId::from_recording_name(&rec.exchange)
        .ok()
        .and_then(|id| Some((id, lookup(id, catalog)?)))
        .ok_or_else(|| ReplayError::Unsupported {
            name: rec.exchange.clone(),
            supported: known(catalog).map(str::to_ascii_uppercase).collect(),
        })
}

/// Runs a recording through its venue's session code.
pub async fn replay(
    rec: &Recording,
    catalog: &Catalog,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    match recorded_venue(rec, catalog)? {
        (id, Kind::Binance(venue)) => binance::replay::replay(rec, id, venue, events).await,
        (id, Kind::Coinbase) => coinbase::replay::replay(rec, id, events).await,
        (id, Kind::Rest(def, _)) => rest::replay::replay(rec, id, def, events).await,
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
    Ok(match recorded_venue(rec, &Catalog::shipped())? {
        (_, Kind::Binance(_)) => {
            let switches = faults.binance().map_err(SimulateError::Faults)?;
            Arc::new(sim::binance::BinanceSim::new(rec, switches))
        }
        (_, Kind::Coinbase) => {
            let switches = faults.coinbase().map_err(SimulateError::Faults)?;
            Arc::new(sim::coinbase::CoinbaseSim::new(rec, switches))
        }
        (id, Kind::Rest(..)) => {
            return Err(SimulateError::Faults(format!(
                "{id} is a REST venue: replay its recording with `feedhandler replay`"
            )));
        }
    })
}
