//! The `feedhandler` command line: parses arguments, sets up logging, calls the library
//! and maps failures to exit codes (2 = invalid configuration, 1 = runtime failure).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "feedhandler",
    version,
    about = "Stream normalized crypto market data to Kafka or stdout, through proxies if configured"
)]
struct Cli {
    /// Log filter for stderr, e.g. `info`, `debug`, `feedhandler=trace`. tungstenite stays
    /// at `debug` unless named here: its `trace` logs frame payloads (credentials).
    #[arg(long, global = true, env = "FEEDHANDLER_LOG", default_value = "info")]
    log: String,
    /// Log lines as text for people, or one JSON object per line for log shippers (the
    /// same fields: exchange, kind, proxy as scheme://host:port, reason).
    #[arg(long, global = true, env = "FEEDHANDLER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Stream market data from the configured exchanges to the configured sink until
    /// SIGINT or SIGTERM.
    Run {
        /// Configuration file (YAML); `FEEDHANDLER_…` environment variables override it.
        #[arg(long, short, env = "FEEDHANDLER_CONFIG")]
        config: PathBuf,
        /// Also record all raw traffic (REST bodies, connects, frames sent and received,
        /// with receive times) to this file, in the format `replay` reads. With several
        /// exchanges, one file each: the exchange name goes before the extension.
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Run a recording (cryptofeed JSON lines or hftbacktest capture, plain or gzip)
    /// through the same parse and book code as `run`, with no network; events go to stdout.
    Replay {
        /// The recording file.
        file: PathBuf,
        /// Take the sink (stdout when absent) and `metrics` from this configuration.
        #[arg(long, short, env = "FEEDHANDLER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Serve a recording as a local venue (REST + WebSocket) on loopback, for the
    /// offline demo and tests. Prints the URLs for `ws_url` / `rest_url`.
    Simulate {
        /// The recording to play (its header names the venue).
        #[arg(long)]
        recording: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9443")]
        listen: std::net::SocketAddr,
        /// Serve TLS (wss/https) with a generated test CA written to this directory
        /// (point `tls.ca_file` at its ca.pem). Plain ws/http when absent.
        #[arg(long)]
        tls_dir: Option<PathBuf>,
        #[command(flatten)]
        faults: Box<feedhandler::sim::faults::Faults>,
    },
    /// Validate the configuration and print the resolved plan (exchanges, channels,
    /// symbols, and the proxy or `direct` route of each connection kind).
    Check {
        /// Configuration file (YAML); `FEEDHANDLER_…` environment variables override it.
        #[arg(long, short, env = "FEEDHANDLER_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    match cli.command {
        Command::Check { config } => {
            let cfg = match load(&config) {
                Ok(cfg) => cfg,
                Err(code) => return code,
            };
            println!("configuration OK: {}", config.display());
            print!("{}", feedhandler::plan::describe(&cfg));
            ExitCode::SUCCESS
        }
        Command::Replay { file, config } => {
            let (sink, catalog, metrics) = match config.as_deref().map(load).transpose() {
                Ok(Some(c)) => (c.sink, c.catalog, c.metrics),
                Ok(None) => (
                    Default::default(),
                    feedhandler::venues::rest::catalog::Catalog::shipped(),
                    None,
                ),
                Err(code) => return code,
            };
            exit(runtime().and_then(|rt| rt.block_on(replay(file, sink, catalog, metrics))))
        }
        Command::Simulate {
            recording,
            listen,
            tls_dir,
            faults,
        } => exit(runtime().and_then(|rt| rt.block_on(simulate(recording, listen, tls_dir, *faults)))),
        Command::Run { config, record } => {
            let cfg = match load(&config) {
                Ok(cfg) => cfg,
                Err(code) => return code,
            };
            exit(runtime().and_then(|rt| rt.block_on(run(cfg, record))))
        }
    }
}

/// Logs to stderr with the user's filter, as text or JSON lines; tungstenite's `trace` events are dropped unless
/// the filter names tungstenite: they print whole frame payloads, which can carry
/// credentials (Coinbase JWTs).
fn init_logging(filter: &str, format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let allow_frames = filter.contains("tungstenite");
    let no_frame_dumps = tracing_subscriber::filter::filter_fn(move |meta| {
        allow_frames || *meta.level() != tracing::Level::TRACE || !meta.target().starts_with("tungstenite")
    });
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Text => layer
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => {
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            layer.json().flatten_event(true).with_current_span(false).boxed()
        }
    };
    let layer = layer
        .with_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_filter(no_frame_dumps);
    tracing_subscriber::registry().with(layer).init();
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&e);
            ExitCode::FAILURE
        }
    }
}

async fn replay(
    file: PathBuf,
    sink: feedhandler::config::SinkConfig,
    catalog: feedhandler::venues::rest::catalog::Catalog,
    metrics: Option<feedhandler::metrics::MetricsConfig>,
) -> anyhow::Result<()> {
    let rec = feedhandler::record::reader::read(&file)?;
    let (tx, rx) = tokio::sync::mpsc::channel(feedhandler::sink::queue_capacity(&sink));
    if let Some(m) = metrics {
        feedhandler::metrics::enable(m.symbol_labels);
        feedhandler::metrics::sink_queue(&tx);
        feedhandler::metrics::server::start(m.listen, on_signal()).await?;
    }
    let sink = tokio::spawn(feedhandler::run::drain(sink, rx, on_signal()));
    let stats = feedhandler::replay::replay(&rec, &catalog, tx).await?;
    sink.await??;
    tracing::info!(
        frames = stats.frames,
        events = stats.events,
        snapshot_requests = stats.snapshot_requests,
        rejected = ?stats.rejected,
        skipped_lines = rec.skipped_lines,
        "replay finished"
    );
    Ok(())
}

async fn simulate(
    recording: PathBuf,
    listen: std::net::SocketAddr,
    tls_dir: Option<PathBuf>,
    faults: feedhandler::sim::faults::Faults,
) -> anyhow::Result<()> {
    use feedhandler::sim;
    let rec = feedhandler::record::reader::read(&recording)?;
    let tls = match &tls_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let ca = sim::cert::TestCa::generate(dir)?;
            println!("test CA: {}", ca.ca_pem.display());
            Some(ca.server_config()?)
        }
        None => None,
    };
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let venue = feedhandler::venues::registry::simulator(&rec, &faults)?;
    let (addr, server) = sim::server::spawn(listen, tls, venue).await?;
    println!(
        "serving {} ({} frames) — ws_url: {ws}://{addr}  rest_url: {http}://{addr}",
        rec.exchange,
        rec.events.len()
    );
    tokio::select! {
        _ = server => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Log lines are JSON (`--log-format json`): fatal errors are JSON lines too.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reports the error that ends the process, as the log format writes lines.
fn fatal(e: &dyn std::fmt::Display) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("{e}");
    } else {
        eprintln!("error: {e}");
    }
}

fn load(path: &std::path::Path) -> Result<feedhandler::config::Config, ExitCode> {
    feedhandler::config::load(path).map_err(|e| {
        fatal(&e);
        ExitCode::from(2)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn run(cfg: feedhandler::config::Config, record: Option<PathBuf>) -> anyhow::Result<()> {
    let (shutdown, _) = tokio::sync::watch::channel(false);
    signal_into(shutdown.clone());
    feedhandler::run::run(cfg, record.as_deref(), shutdown).await?;
    Ok(())
}

/// Sets `shutdown` on SIGINT or SIGTERM.
fn signal_into(shutdown: tokio::sync::watch::Sender<bool>) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        }
        shutdown.send_replace(true);
        Ok::<_, std::io::Error>(())
    });
}

/// A receiver that turns true on SIGINT or SIGTERM.
fn on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    signal_into(tx);
    rx
}
