//! `psi`: private set intersection between two organisations' tables.
//!
//! The binary is glue: tables come from `psi-table`, the protocol from
//! `psi-core`, the network from `psi-server`, test data from `psi-datasets`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod aggregate;
mod demo;
mod error;
mod gen;
mod linkage;
mod output;
mod report;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use error::CliError;

/// Private set intersection: find the rows two organisations share without
/// showing each other anything else.
#[derive(Debug, Parser)]
#[command(name = "psi", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve this party's table to peers (party B). B learns only the size of each peer's set.
    Serve(serve::ServeArgs),
    /// Run the protocol against a serving peer (party A) and write A's matching rows.
    Run(run::RunArgs),
    /// Run both parties on this machine on generated data and check the result.
    Demo(demo::DemoArgs),
    /// Generate two realistic test tables with a known overlap.
    Gen(gen::GenArgs),
}

/// Options shared by `serve` and `run`: the input table and its key.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The CSV file (with a header row).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The key: a column, or comma-separated columns for a composite key, each
    /// with an optional normalisation profile and option
    /// (`email:email:gmail`, `tel:phone:GB`, `given_name:name,dob:date`;
    /// profiles: raw, text, email, phone, name, date, postcode, zip, digits).
    /// Repeat `--key` for a waterfall: keys tried in priority order, each row
    /// linked at most once. Both parties must give the same profiles.
    #[arg(
        long = "key",
        value_name = "COL[:PROFILE[:OPTION]][,...]",
        required_unless_present = "spec"
    )]
    pub keys: Vec<String>,
    /// A JSON linkage spec instead of `--key`: `{"keys": ["email:email:gmail",
    /// "tel:phone:GB"]}` (keys in priority order).
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    pub spec: Option<PathBuf>,
    /// Rows that share a key value (single key): `reject` (default: an error
    /// naming the first repeated keys' lines), `first` (only the first such
    /// row can match) or `all` (every such row matches). With several keys a
    /// value repeated among the rows still unlinked is withheld at that step.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub duplicates: Option<linkage::DuplicatesArg>,
    /// Write the rows whose key value failed its profile (line, key, column,
    /// reason; never the value) to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// What the run computes: the shared rows, only their number, or only the
    /// count and total of a value over them. Both parties must give the same.
    #[arg(long, value_enum, default_value_t = aggregate::ModeArg::Intersection)]
    pub mode: aggregate::ModeArg,
    /// `--mode sum`: who learns the sum (the server holds the values).
    #[arg(long, value_enum, default_value_t = aggregate::SumTo::Server)]
    pub sum_to: aggregate::SumTo,
    /// `--mode cardinality|sum`: below this many shared keys the output party
    /// learns only that the threshold was not met (the larger of both
    /// parties' thresholds applies). At least 10 is recommended: a count or sum
    /// over a handful of rows reveals individuals.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub min_intersection: u64,
    /// `--mode cardinality|sum`: add discrete-Laplace noise with this total ε to
    /// what this party releases (split evenly between count and sum).
    #[arg(long, value_name = "EPSILON")]
    pub dp_epsilon: Option<f64>,
}

impl TableArgs {
    /// An intersection run over `key` of `input`, with the default options.
    pub fn intersection(input: PathBuf, key: String) -> Self {
        TableArgs {
            input,
            keys: vec![key],
            spec: None,
            duplicates: Some(linkage::DuplicatesArg::All),
            rejects: None,
            mode: aggregate::ModeArg::Intersection,
            sum_to: aggregate::SumTo::Server,
            min_intersection: 1,
            dp_epsilon: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, matches!(cli.command, Command::Serve(_)));
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "starting the async runtime",
            source,
        })
        .and_then(|rt| {
            rt.block_on(async {
                match cli.command {
                    Command::Serve(args) => serve::serve(args).await,
                    Command::Run(args) => run::run(args).await,
                    Command::Demo(args) => demo::demo(args).await,
                    Command::Gen(args) => gen::gen(args),
                }
            })
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
