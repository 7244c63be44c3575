//! `psi`: private set intersection between two organisations' tables.
//!
//! The binary is glue: tables come from `psi-table`, the protocol from
//! `psi-core`, the network from `psi-server`, test data from `psi-datasets`.
//!
//! Its modules form a one-way chain, as in ripgrep: `args` (what clap
//! parses; the only module that knows clap) → `plan` (validated plans;
//! every usage error) → `commands` (execute plans) → `report` (the JSON
//! reports); `error` is the one error type of all of them. The binary
//! (`main.rs`) calls [`cli`]; other programs (the Python package
//! `psi_link`) run the same plans and commands through [`embed`].
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod commands;
pub mod embed;
mod error;
mod hex;
mod plan;
mod report;

use std::process::ExitCode;

pub use error::CliError;
use plan::Invocation;

/// The `psi` command: parses the process's arguments, runs the command and
/// prints one `error: …` line on failure.
pub fn cli() -> ExitCode {
    let result = Invocation::from_args(args::parse()).and_then(|invocation| {
        init_logging(invocation.log_filter);
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|source| CliError::Io {
                what: "starting the async runtime",
                source,
            })?
            .block_on(commands::execute(invocation.plan))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr with `RUST_LOG`, or else `default`, as the filter.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
