//! The `feedhandler` command line: parses arguments, sets up logging, calls the library
//! and maps failures to exit codes (2 = invalid configuration, 1 = runtime failure).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "feedhandler", version, about = "Stream normalized crypto market data to Kafka or stdout, through proxies if configured")]
struct Cli {
    /// Log filter for stderr, e.g. `info`, `debug`, `feedhandler=trace`.
    #[arg(long, global = true, env = "FEEDHANDLER_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check { config } => match feedhandler::config::load(&config) {
            Ok(cfg) => {
                println!("configuration OK: {}", config.display());
                print!("{}", feedhandler::plan::describe(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
