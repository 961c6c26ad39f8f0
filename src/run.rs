//! Wiring for `feedhandler run`: configuration → connection factory → one adapter task
//! per exchange → bounded event queue → sink; stops cleanly when shutdown is signalled.

use crate::config::{Config, ExchangeId, SinkConfig};
use crate::net::{ConnectionFactory, TlsSetupError};
use crate::sink;
use crate::venues::binance::client::{BinanceAdapter, VenueError};
use crate::venues::binance::parse::Market;
use tokio::sync::{mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Venue(#[from] VenueError),
    #[error("sink: {0}")]
    Sink(#[from] std::io::Error),
}

/// Runs until `shutdown` is set (or an adapter cannot start), then drains the sink.
pub async fn run(config: Config, shutdown: watch::Sender<bool>) -> Result<(), RunError> {
    let factory = ConnectionFactory::from_config(&config)?;
    let (tx, rx) = mpsc::channel(sink::EVENT_QUEUE_CAPACITY);
    let sink_task = match config.sink {
        SinkConfig::Stdout => tokio::spawn(sink::stdout::run(rx, tokio::io::stdout())),
    };
    let mut adapters = tokio::task::JoinSet::new();
    for (id, ex) in config.exchanges {
        let market = match id {
            ExchangeId::Binance => Market::Spot,
            ExchangeId::BinanceFutures => Market::Futures,
        };
        let adapter = BinanceAdapter::new(market, ex, factory.clone());
        adapters.spawn(adapter.run(tx.clone(), shutdown.subscribe()));
    }
    drop(tx);
    let mut first_error = None;
    while let Some(joined) = adapters.join_next().await {
        if let Ok(Err(e)) = joined {
            tracing::error!("{e}");
            shutdown.send_replace(true);
            first_error.get_or_insert(e);
        }
    }
    let written = sink_task.await.map_err(std::io::Error::other)??;
    tracing::info!(events = written, "stopped");
    first_error.map_or(Ok(()), |e| Err(e.into()))
}
