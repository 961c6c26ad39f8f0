//! The REST venue adapter's I/O: loads the instrument lists the definition names (where
//! a market maps symbols by list), then polls each symbol's trades and book through the
//! factory's HTTP client for the venue, every request taking a slot of the venue's
//! shared [`Pacer`]. A 429/418 pauses the whole venue (`Retry-After` when given); other
//! failures end the attempt and the runtime backs off.

use super::definition::Definition;
use super::pacer::Pacer;
use super::poll::Job;
use super::request::{self, Vars};
use super::settings::RestSettings;
use super::symbols::{self, Kind};
use crate::config::{Channel, ExchangeConfig};
use crate::model::VenueId;
use crate::net::{ConnectionFactory, HttpClient};
use crate::venues::runtime::{Adapter, Connection, Ended, Link};
use crate::venues::{RATE_LIMIT_PAUSE, VenueError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Longest pause a venue's `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

pub struct RestAdapter {
    exchange: VenueId,
    def: Arc<Definition>,
    config: ExchangeConfig,
    settings: RestSettings,
    http: HttpClient,
    pacer: Arc<Pacer>,
}

impl RestAdapter {
    pub fn new(
        exchange: VenueId,
        def: Arc<Definition>,
        config: ExchangeConfig,
        settings: RestSettings,
        factory: &Arc<ConnectionFactory>,
    ) -> Self {
        let headers: Arc<[(String, String)]> = def.headers.clone().into_iter().collect();
        let pacer = Arc::new(Pacer::new(def.rate_limit.budget(), def.rate_limit.per_seconds));
        Self {
            exchange,
            http: factory.http(exchange).with_headers(headers),
            def,
            config,
            settings,
            pacer,
        }
    }

    fn base(&self) -> &Url {
        self.config.rest_url.as_ref().unwrap_or(&self.def.rest_url)
    }

    /// The markets of configured symbols that map by instrument list, in a fixed order.
    fn listed_markets(&self) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = (self.config.symbols.iter())
            .filter_map(|s| symbols::split(s).map(|(_, _, k)| k))
            .filter(|k| symbols::market(&self.def, *k).is_some_and(|m| m.instruments.is_some()))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

impl Adapter for RestAdapter {
    type Conn = Poller;

    fn exchange(&self) -> VenueId {
        self.exchange
    }

    fn reconnect_max_delay(&self) -> Duration {
        Duration::from_millis(self.config.reconnect_max_delay_ms)
    }

    fn http(&self, _: &Arc<ConnectionFactory>) -> HttpClient {
        self.http.clone()
    }

    fn instruments_urls(&self) -> Result<Vec<Url>, VenueError> {
        let mut urls = Vec::new();
        for kind in self.listed_markets() {
            let m = symbols::market(&self.def, kind).and_then(|m| m.instruments.as_ref());
            if let Some(i) = m {
                let url = request::url(self.base(), &i.path, &i.params, &Vars::default());
                urls.push(url.map_err(|reason| VenueError::Url {
                    exchange: self.exchange,
                    url: i.path.clone(),
                    reason,
                })?);
                self.pacer.reserve(self.def.rate_limit.costs.instruments);
            }
        }
        Ok(urls)
    }

    fn connections(self, bodies: Vec<String>) -> Result<Vec<Poller>, VenueError> {
        let exchange = self.exchange;
        let mut lists = BTreeMap::new();
        for (kind, body) in self.listed_markets().into_iter().zip(bodies) {
            let Some(inst) = symbols::market(&self.def, kind).and_then(|m| m.instruments.as_ref()) else {
                continue;
            };
            let list = symbols::instrument_list(&self.def, inst, &body).map_err(|e| VenueError::Parse {
                exchange,
                source: format!("{} instrument list: {e}", kind.as_str()).into(),
            })?;
            lists.insert(kind, list);
        }
        let mapped = symbols::resolve(&self.def, &self.config.symbols, &lists)
            .map_err(|symbols| VenueError::UnknownSymbols { exchange, symbols })?;
        let base = self.base().clone();
        let mut pollers = Vec::new();
        for m in mapped {
            for channel in &self.config.channels {
                let (job, interval_ms) = match channel {
                    Channel::Trades => (
                        Job::trades(exchange, self.def.clone(), m.clone(), &self.settings),
                        self.settings.trades_interval_ms(),
                    ),
                    Channel::L2Book => (
                        Job::book(exchange, self.def.clone(), m.clone(), &self.settings),
                        self.settings.book_interval_ms(),
                    ),
                };
                tracing::info!(%exchange, symbol = %m.symbol, venue_id = %m.venue_id, channel = job.channel(), "polling every {interval_ms} ms");
                pollers.push(Poller {
                    job,
                    base: base.clone(),
                    http: self.http.clone(),
                    pacer: self.pacer.clone(),
                    interval: Duration::from_millis(interval_ms),
                });
            }
        }
        Ok(pollers)
    }
}

/// Polls one symbol's trades or book.
pub struct Poller {
    job: Job,
    base: Url,
    http: HttpClient,
    pacer: Arc<Pacer>,
    interval: Duration,
}

impl Connection for Poller {
    async fn stream_once(&mut self, link: &mut Link) -> Result<Ended, VenueError> {
        let exchange = self.job.exchange;
        loop {
            tokio::select! {
                _ = self.pacer.wait(self.job.cost()) => {}
                _ = link.stopped() => return Ok(Ended::Shutdown),
            }
            let started = Instant::now();
            let url = self.job.url(&self.base, true).map_err(|reason| VenueError::Url {
                exchange,
                url: self.base.to_string(),
                reason,
            })?;
            if self.job.channel() == "l2_book" {
                crate::metrics::snapshot_request(exchange);
            }
            let fetched = tokio::select! {
                r = self.http.get(&url) => r,
                _ = link.stopped() => return Ok(Ended::Shutdown),
            };
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) if e.is_rate_limit() => {
                    let pause = e
                        .retry_after()
                        .map_or(RATE_LIMIT_PAUSE, |d| d.min(MAX_RETRY_AFTER));
                    if self.pacer.pause(pause) {
                        crate::metrics::rate_limit_pause(exchange);
                        tracing::warn!(%exchange, "rate limited: every request of the venue paused for {} ms: {e}", pause.as_millis());
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let again = match self.job.apply(&fetched.body, fetched.receive_ts_ns) {
                Ok(applied) => {
                    for (reason, detail) in &applied.rejected {
                        link.reject(reason, detail);
                    }
                    for event in applied.events {
                        if !link.publish(event).await {
                            return Ok(Ended::Shutdown);
                        }
                    }
                    link.data_arrived();
                    applied.again
                }
                Err(e @ super::parse::PageError::Venue(_)) => {
                    return Err(VenueError::Answer {
                        exchange,
                        channel: self.job.channel(),
                        symbol: self.job.mapped.symbol.to_string(),
                        reason: e.to_string(),
                    });
                }
                Err(e) => {
                    link.reject(
                        e.reason(),
                        &format_args!("{} {}: {e}", self.job.mapped.symbol, self.job.channel()),
                    );
                    false
                }
            };
            if !again {
                tokio::select! {
                    _ = tokio::time::sleep_until(started + self.interval) => {}
                    _ = link.stopped() => return Ok(Ended::Shutdown),
                }
            }
        }
    }
}
