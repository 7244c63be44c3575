//! `psi run`: party A.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use psi_core::codec::Protocol;
use psi_table::{KeySpec, KeyedTable};

use crate::aggregate::{self, ModeArg};
use crate::error::CliError;
use crate::report::{self, secs, Environment, InputReport, RunReport};
use crate::TableArgs;

/// Arguments of `psi run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The serving peer, e.g. http://127.0.0.1:7700.
    #[arg(long, value_name = "URL")]
    pub peer: String,
    #[command(flatten)]
    pub table: TableArgs,
    /// Where to write this party's matching rows (CSV, same header, input
    /// order); `--mode intersection` only.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `--mode sum --sum-to client --dp-epsilon`: the most one key can add to
    /// the sum (the noise's sensitivity; the server's values are unknown here).
    #[arg(long, value_name = "N")]
    pub dp_sum_sensitivity: Option<u64>,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The protocol: `ecdh` (ECDH-PSI on ristretto255) or `kkrt` (OT-extension
    /// PSI: faster on large sets, more bytes on the wire).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Ecdh)]
    pub protocol: ProtocolArg,
    /// Seconds to wait for the peer to accept a connection.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds without progress after which the run fails.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout: u64,
}

/// The protocols `psi run` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// ECDH-PSI on ristretto255.
    Ecdh,
    /// KKRT OT-extension PSI with cuckoo hashing.
    Kkrt,
}

impl ProtocolArg {
    /// The protocol's wire identity.
    pub fn protocol(self) -> Protocol {
        match self {
            ProtocolArg::Ecdh => Protocol::EcdhIntersection,
            ProtocolArg::Kkrt => Protocol::Kkrt,
        }
    }
}

/// Fails early, before any work, if `output` cannot be written or is an input.
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "cannot write {}: directory {} does not exist",
            output.display(),
            dir.display()
        )));
    }
    if let Ok(out) = output.canonicalize() {
        for input in inputs {
            if input.canonicalize().ok().as_deref() == Some(out.as_path()) {
                return Err(CliError::Usage(format!(
                    "output {} is the input file; refusing to overwrite it",
                    output.display()
                )));
            }
        }
    }
    Ok(())
}

/// Runs party A.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    if args.table.mode == ModeArg::Intersection {
        let (report, _) = run_matched(args).await?;
        println!(
            "{} of {} rows matched ({} shared distinct keys; the peer holds {}); written to {}",
            report.matched_rows,
            report.input.rows,
            report.matched_keys,
            report.peer_set_size,
            report.output
        );
        return Ok(());
    }
    run_aggregate(args).await
}

/// Reads the input table (off the async threads).
async fn read_table(args: &RunArgs, key: &KeySpec) -> Result<KeyedTable, CliError> {
    let input = args.table.input.clone();
    let spec = key.clone();
    tokio::task::spawn_blocking(move || KeyedTable::read(&input, &spec))
        .await
        .map_err(|e| CliError::Io {
            what: "reading the input",
            source: std::io::Error::other(e),
        })?
        .map_err(Into::into)
}

fn client_config(args: &RunArgs) -> psi_server::ClientConfig {
    psi_server::ClientConfig {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        ..Default::default()
    }
}

/// `--mode cardinality|sum`: the count (and sum), never the rows.
async fn run_aggregate(args: RunArgs) -> Result<(), CliError> {
    let start = Instant::now();
    let key = KeySpec::parse(&args.table.key)?;
    if let Some(out) = &args.output {
        return Err(CliError::Usage(
            format!(
                "--mode {:?} learns no rows, so it writes no --output ({}); drop it",
                args.table.mode,
                out.display()
            )
            .to_lowercase(),
        ));
    }
    if args.protocol != ProtocolArg::Ecdh {
        return Err(CliError::Usage(
            "--protocol applies to --mode intersection; cardinality and sum run on ristretto255 ECDH"
                .into(),
        ));
    }
    let mode = aggregate::serve_mode(args.table.mode, args.table.sum_to);
    let dp = match (args.table.dp_epsilon, mode) {
        (None, _) => None,
        (Some(_), psi_server::ServeMode::SumToServer) => {
            return Err(CliError::Usage(
                "with --sum-to server the server releases the result: give --dp-epsilon to `psi serve`"
                    .into(),
            ))
        }
        (Some(epsilon), psi_server::ServeMode::SumToClient) => Some(aggregate::Dp {
            epsilon,
            sum_sensitivity: args.dp_sum_sensitivity.ok_or_else(|| {
                CliError::Usage(
                    "--dp-epsilon with --sum-to client needs --dp-sum-sensitivity N (the most one key adds to the sum)"
                        .into(),
                )
            })?,
        }),
        (Some(epsilon), _) => Some(aggregate::Dp {
            epsilon,
            sum_sensitivity: 1,
        }),
    };
    if let Some(r) = &args.report {
        check_output(r, &[&args.table.input])?;
    }
    let t = Instant::now();
    let table = read_table(&args, &key).await?;
    let mut phases = vec![("read_input".to_string(), secs(t.elapsed()))];
    let params = psi_core::pjc::Params::new(aggregate::protocol(mode), args.table.min_intersection);
    let outcome = psi_server::run_pjc_client(
        &args.peer,
        table.items().to_vec(),
        &params,
        &client_config(&args),
    )
    .await?;
    phases.extend(aggregate::phase_seconds(&outcome.phases));
    phases.push(("total".to_string(), aggregate::since(start)));
    let threshold = args.table.min_intersection;
    let released = aggregate::client_release(outcome.output, threshold, dp)?;
    println!("{}", aggregate::describe(&released));
    let report = crate::report::AggregateReport {
        role: "client",
        protocol: params.protocol.name(),
        peer: args.peer.clone(),
        session: outcome.session.clone(),
        input: InputReport::new(&table, &key),
        peer_set_size: outcome.server_set_size,
        released,
        bytes_sent: outcome.bytes_sent,
        bytes_received: outcome.bytes_received,
        seconds: phases,
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    Ok(())
}

/// Runs party A; returns the report and the matched distinct-key indices.
pub async fn run_matched(args: RunArgs) -> Result<(RunReport, Vec<usize>), CliError> {
    let start = Instant::now();
    let key = KeySpec::parse(&args.table.key)?;
    let Some(output) = args.output.clone() else {
        return Err(CliError::Usage(
            "--mode intersection needs --output FILE for the matching rows".into(),
        ));
    };
    if args.dp_sum_sensitivity.is_some() || args.table.dp_epsilon.is_some() {
        return Err(CliError::Usage(
            "--dp-epsilon applies to --mode cardinality and --mode sum".into(),
        ));
    }
    check_output(&output, &[&args.table.input])?;
    if let Some(r) = &args.report {
        check_output(r, &[&args.table.input, &output])?;
    }

    let t = Instant::now();
    let table = read_table(&args, &key).await?;
    let mut phases = vec![("read_input".to_string(), secs(t.elapsed()))];

    let config = client_config(&args);
    let items = table.items().to_vec();
    let outcome = match args.protocol {
        ProtocolArg::Ecdh => psi_server::run_ecdh_client(&args.peer, items, &config).await?,
        ProtocolArg::Kkrt => psi_server::run_kkrt_client(&args.peer, items, &config).await?,
    };
    phases.extend(
        outcome
            .phases
            .iter()
            .map(|(name, d)| (name.to_string(), secs(*d))),
    );

    let t = Instant::now();
    let keep = table.matched_rows(&outcome.output.matched);
    let out_path = output.clone();
    let (table, written) = tokio::task::spawn_blocking(move || {
        let written = table.write_rows(&keep, &output);
        (table, written)
    })
    .await
    .map_err(|e| CliError::Io {
        what: "writing the output",
        source: std::io::Error::other(e),
    })?;
    let written = written?;
    phases.push(("write_output".to_string(), secs(t.elapsed())));
    phases.push(("total".to_string(), secs(start.elapsed())));

    let report = RunReport {
        role: "client",
        protocol: args.protocol.protocol().name(),
        peer: args.peer.clone(),
        session: outcome.session.clone(),
        input: InputReport::new(&table, &key),
        peer_set_size: outcome.output.server_set_size,
        matched_keys: outcome.output.matched.len() as u64,
        matched_rows: written,
        output: out_path.display().to_string(),
        bytes_sent: outcome.bytes_sent,
        bytes_received: outcome.bytes_received,
        cuckoo_retries: (args.protocol == ProtocolArg::Kkrt).then_some(outcome.cuckoo_retries),
        seconds: phases,
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    tracing::info!(
        matched_rows = written,
        peer_set_size = report.peer_set_size,
        "run finished"
    );
    Ok((report, outcome.output.matched))
}
