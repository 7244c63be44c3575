//! `psi`: private set intersection between two organisations' tables.
//!
//! The binary is glue: tables come from `psi-table`, the protocol from
//! `psi-core`, the network from `psi-server`, test data from `psi-datasets`.
//!
//! Its modules form a one-way chain, as in ripgrep: [`args`] (what clap
//! parses) → [`plan`] (validated plans; every usage error) → [`commands`]
//! (execute plans) → [`report`] (the JSON reports); `error` is the one error
//! type of all of them.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod commands;
mod error;
mod plan;
mod report;

use std::process::ExitCode;

use clap::Parser;

use error::CliError;
use plan::Plan;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let serving = matches!(cli.command, args::Command::Serve(_));
    init_logging(cli.verbose, serving);
    let result = Plan::from_args(cli.command).and_then(|plan| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|source| CliError::Io {
                what: "starting the async runtime",
                source,
            })?
            .block_on(commands::execute(plan))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, serving: bool) {
    let default = match (verbose, serving) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
