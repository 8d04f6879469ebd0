//! The `tracelite` command: search and show traces in a TraceLite database,
//! the service map and RED metrics, maintenance, and the demo.

mod commands;
mod demo;
mod serve;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Distributed tracing for Rust services: explore a TraceLite database.
#[derive(Parser, Debug)]
#[command(name = "tracelite", version, about, propagate_version = true)]
struct Cli {
    /// The database file.
    #[arg(
        long,
        global = true,
        env = "TRACELITE_DB",
        default_value = "tracelite.db"
    )]
    db: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run three traced services, send them traffic, and show what TraceLite saw.
    Demo {
        /// Requests to send.
        #[arg(long, default_value_t = 400)]
        requests: u32,
        /// Exit after the report instead of serving the dashboard.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the dashboard (web UI and JSON API) for the database.
    Dashboard {
        /// Where to listen (127.0.0.1 unless you say otherwise).
        #[arg(long, default_value = "127.0.0.1:7318")]
        addr: std::net::SocketAddr,
        /// Require `Authorization: Bearer TOKEN` (the page asks for it once).
        #[arg(long, env = "TRACELITE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Collector and viewer in one: an OTLP/HTTP receiver, the store, the dashboard.
    Serve {
        /// Where the OTLP/HTTP receiver listens (POST /v1/traces).
        #[arg(long, default_value = "127.0.0.1:4318")]
        otlp_addr: std::net::SocketAddr,
        /// Where the dashboard and its JSON API listen.
        #[arg(long, default_value = "127.0.0.1:7318")]
        addr: std::net::SocketAddr,
        /// Delete traces older than this (7d, 12h), checked every minute.
        #[arg(long, value_parser = units::parse_duration)]
        retention: Option<std::time::Duration>,
        /// Keep the data under this size (500MB, 1GB), oldest traces first.
        #[arg(long, value_parser = units::parse_size)]
        max_size: Option<u64>,
        /// Require `Authorization: Bearer TOKEN` on the dashboard.
        #[arg(long, env = "TRACELITE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Find traces, newest first.
    Traces {
        /// Traces in which this service took part.
        #[arg(long)]
        service: Option<String>,
        /// Traces with a span of this name (needs --service).
        #[arg(long)]
        operation: Option<String>,
        /// An attribute condition `key=value` (repeatable; all must hold).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        /// At least this long (250ms, 1.5s, ...).
        #[arg(long, value_parser = units::parse_duration)]
        min_duration: Option<std::time::Duration>,
        /// At most this long.
        #[arg(long, value_parser = units::parse_duration)]
        max_duration: Option<std::time::Duration>,
        /// Started within this much time before now (15m, 1h, 7d).
        #[arg(long, value_parser = units::parse_duration)]
        since: Option<std::time::Duration>,
        /// Only traces with an error span.
        #[arg(long)]
        errors: bool,
        /// At most this many traces.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a trace as a waterfall (a unique prefix of the id will do).
    Show {
        /// The trace id, or a unique prefix of it.
        trace_id: String,
        /// Draw the critical path and list the time on it per span.
        #[arg(long)]
        critical_path: bool,
        /// List each span's attributes.
        #[arg(long)]
        attributes: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the services.
    Services {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a service's operations (span names and kinds).
    Operations {
        /// The service.
        service: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The service dependency map.
    Map {
        /// Over traces that started within this much time before now.
        #[arg(long, default_value = "1h", value_parser = units::parse_duration)]
        since: std::time::Duration,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// RED metrics (rate, errors, duration percentiles) per service and operation.
    Metrics {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Over traces that started within this much time before now.
        #[arg(long, default_value = "1h", value_parser = units::parse_duration)]
        since: std::time::Duration,
        /// Count all span kinds, not only SERVER and CONSUMER.
        #[arg(long)]
        all_kinds: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete old traces.
    Prune {
        /// Delete traces that started longer ago than this (7d, 12h).
        #[arg(long, value_parser = units::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Delete the oldest traces until the data fits (500MB, 2GB).
        #[arg(long, value_parser = units::parse_size)]
        max_size: Option<u64>,
    },
    /// Give free space back to the file system.
    Compact,
    /// Counts, size, oldest and newest trace.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { requests, no_serve } => demo::run(&cli.db, requests, no_serve),
        Command::Dashboard { addr, token } => {
            commands::open_existing(&cli.db).and_then(|store| serve::dashboard(store, addr, token))
        }
        Command::Serve {
            otlp_addr,
            addr,
            retention,
            max_size,
            token,
        } => serve::collector(&cli.db, otlp_addr, addr, retention, max_size, token),
        command => commands::run(&cli.db, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tracelite: {message}");
            ExitCode::FAILURE
        }
    }
}
