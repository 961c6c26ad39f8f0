//! Wiring for `feedhandler run`: configuration → connection factory → one adapter task
//! per exchange → bounded event queue → sink; stops cleanly when shutdown is signalled.

use crate::config::{Config, SinkConfig};
use crate::model::{Event, VenueId};
use crate::net::{ConnectionFactory, TlsSetupError};
use crate::record::writer::{RecordError, Recorder};
use crate::sink;
use crate::venues::{VenueError, registry};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Venue(#[from] VenueError),
    #[error("sink: {0}")]
    Sink(#[from] std::io::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Kafka(#[from] sink::kafka::KafkaSinkError),
    #[error("{0} events were not delivered (see the sink summary above)")]
    Lost(u64),
    #[error("metrics.listen {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// `--record FILE`: one exchange records to FILE; several to `FILE` with the exchange
/// name before the extension (`rec.binance.jsonl`).
pub fn recording_path(base: &Path, exchange: VenueId, exchanges: usize) -> PathBuf {
    if exchanges == 1 {
        return base.to_owned();
    }
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("recording");
    let name = match base.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}.{exchange}.{ext}"),
        None => format!("{stem}.{exchange}"),
    };
    base.with_file_name(name)
}

/// Runs until `shutdown` is set (or an adapter cannot start), then drains the sink.
pub async fn run(
    config: Config,
    record: Option<&Path>,
    shutdown: watch::Sender<bool>,
) -> Result<(), RunError> {
    let mut recorders = HashMap::new();
    if let Some(base) = record {
        for (id, venue) in &config.exchanges {
            let path = recording_path(base, *id, config.exchanges.len());
            let setup = venue.recording_setup();
            let recorder = Recorder::create(&path, *id, crate::model::now_ns(), setup.as_deref()).await?;
            tracing::info!(exchange = %id, path = %path.display(), "recording raw traffic");
            recorders.insert(*id, recorder);
        }
    }
    if let Some(m) = &config.metrics {
        crate::metrics::enable(m.symbol_labels);
        for (id, venue) in &config.exchanges {
            let books = venue.common.channels.contains(&crate::config::Channel::L2Book);
            let polled = !venue.conn_kinds().contains(&crate::net::ConnKind::Websocket);
            let books_expected = if books { venue.common.symbols.len() } else { 0 };
            crate::metrics::health::register(*id, books_expected, polled);
        }
        crate::metrics::server::start(m.listen, shutdown.subscribe())
            .await
            .map_err(|source| RunError::Metrics {
                addr: m.listen,
                source,
            })?;
    }
    let factory = ConnectionFactory::recording(&config, recorders.clone())?;
    factory.start_background(shutdown.subscribe());
    let (tx, rx) = mpsc::channel(sink::queue_capacity(&config.sink));
    crate::metrics::sink_queue(&tx);
    let sink_task = tokio::spawn(drain(config.sink.clone(), rx, shutdown.subscribe()));
    let mut adapters = tokio::task::JoinSet::new();
    for (id, venue) in config.exchanges {
        let (events, stop) = (tx.clone(), shutdown.subscribe());
        adapters.spawn(registry::run(id, venue, factory.clone(), events, stop));
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
    for recorder in recorders.values() {
        recorder.flush().await?;
    }
    sink_task.await.map_err(std::io::Error::other)??;
    tracing::info!("stopped");
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// Runs the configured sink until the queue closes; fails if events were lost.
pub async fn drain(
    sink: SinkConfig,
    events: mpsc::Receiver<Event>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    match sink {
        SinkConfig::Stdout(_) => {
            let written = sink::stdout::run(events, tokio::io::stdout()).await?;
            tracing::info!(events = written, "stdout sink done");
            Ok(())
        }
        SinkConfig::Kafka(cfg) => {
            let report = sink::kafka::run(cfg, events, shutdown).await?;
            match report.failed + report.dropped + report.undelivered {
                0 => Ok(()),
                lost => Err(RunError::Lost(lost)),
            }
        }
    }
}
