//! `psi run`: party A.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use psi_core::codec::Protocol;
use psi_table::{KeySpec, KeyedTable};

use crate::aggregate::{self, ModeArg};
use crate::error::CliError;
use crate::linkage::{self, JoinArg, LinkageReport};
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
    /// How the output is written.
    #[command(flatten)]
    pub output_options: crate::output::OutputArgs,
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
    /// Which rows to write: `inner` (linked rows), `left` (all of ours),
    /// `right` (all of the server's, with `--align`), `full`, or `difference`
    /// (rows without a partner). Needs `--protocol ecdh`.
    #[arg(long, value_enum, default_value_t = JoinArg::Inner)]
    pub join: JoinArg,
    /// The serving party also learns which of its rows were linked and writes
    /// its side (where `psi serve --output` says).
    #[arg(long)]
    pub share_result: bool,
    /// Both parties write their rows in the same order, with a shared
    /// pseudonymous id column (`psi_id`), so row i on one side is row i on the
    /// other (vertical federated learning). Implies `--share-result`.
    #[arg(long)]
    pub align: bool,
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
    if args.table.mode == ModeArg::Intersection && is_linkage(&args, &args.table.linkage_spec()?) {
        return run_linkage(args).await.map(|_| ());
    }
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

fn client_config(args: &RunArgs, spec: &psi_table::LinkageSpec) -> psi_server::ClientConfig {
    psi_server::ClientConfig {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        key_spec: Some(spec.declaration()),
        ..Default::default()
    }
}

/// The one key of a single-key run (several keys are a waterfall).
pub fn single_key(
    table: &TableArgs,
    what: &str,
) -> Result<(psi_table::LinkageSpec, KeySpec), CliError> {
    let spec = table.linkage_spec()?;
    match spec.keys() {
        [key] => {
            let key = key.clone();
            Ok((spec, key))
        }
        keys => Err(CliError::Usage(format!(
            "{what} takes one key; {} keys (a waterfall) need --mode intersection and --protocol ecdh",
            keys.len()
        ))),
    }
}

/// Whether a run is a linkage (several keys, a join other than inner, a
/// shared or aligned result) rather than a plain intersection.
fn is_linkage(args: &RunArgs, spec: &psi_table::LinkageSpec) -> bool {
    spec.keys().len() > 1 || args.share_result || args.align || args.join != JoinArg::Inner
}

/// `--mode cardinality|sum`: the count (and sum), never the rows.
async fn run_aggregate(args: RunArgs) -> Result<(), CliError> {
    let start = Instant::now();
    let (spec, key) = single_key(&args.table, "--mode cardinality|sum")?;
    if args.share_result || args.align || args.join != JoinArg::Inner {
        return Err(CliError::Usage(
            "--join, --share-result and --align apply to --mode intersection".into(),
        ));
    }
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
    write_rejects(&args.table, &table)?;
    let mut phases = vec![("read_input".to_string(), secs(t.elapsed()))];
    let params = psi_core::pjc::Params::new(aggregate::protocol(mode), args.table.min_intersection);
    let outcome = psi_server::run_pjc_client(
        &args.peer,
        table.items().to_vec(),
        &params,
        &client_config(&args, &spec),
    )
    .await?;
    phases.extend(outcome.phases.iter().map(|(n, s)| (n.to_string(), s)));
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
        bytes_sent: outcome.traffic.bytes_sent,
        bytes_received: outcome.traffic.bytes_received,
        seconds: phases,
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    Ok(())
}

/// With `--rejects FILE`: writes the rows whose key failed its profile.
fn write_rejects(args: &TableArgs, table: &KeyedTable) -> Result<(), CliError> {
    if let Some(path) = &args.rejects {
        check_output(path, &[&args.input])?;
        let n = table.write_rejects(path)?;
        if n > 0 {
            eprintln!(
                "{n} rows with invalid key values written to {}",
                path.display()
            );
        }
    }
    Ok(())
}

/// The report of a linkage run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkageRunReport {
    /// Always "client".
    pub role: &'static str,
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// Our input.
    pub input: InputReport,
    /// What the linkage did.
    pub linkage: LinkageReport,
    /// Bytes we sent.
    pub bytes_sent: u64,
    /// Bytes we received.
    pub bytes_received: u64,
    /// Seconds per phase, in order, then "total".
    pub seconds: Vec<(String, f64)>,
    /// Build and machine.
    pub environment: Environment,
}

/// `--mode intersection` with several keys, a join, or a shared or aligned
/// result: the waterfall over ECDH-PSI steps ([`psi_core::linkage`]).
pub async fn run_linkage(args: RunArgs) -> Result<LinkageRunReport, CliError> {
    let start = Instant::now();
    let spec = args.table.linkage_spec()?;
    if args.protocol != ProtocolArg::Ecdh {
        return Err(CliError::Usage(
            "several keys, --join, --share-result and --align run on --protocol ecdh (KKRT gives no shared result)"
                .into(),
        ));
    }
    if args.dp_sum_sensitivity.is_some() || args.table.dp_epsilon.is_some() {
        return Err(CliError::Usage(
            "--dp-epsilon applies to --mode cardinality and --mode sum".into(),
        ));
    }
    if args.align && args.join == JoinArg::Difference {
        return Err(CliError::Usage(
            "--align pairs rows; --join difference has no pairs to align".into(),
        ));
    }
    let Some(output) = args.output.clone() else {
        return Err(CliError::Usage(
            "--mode intersection needs --output FILE for the result rows".into(),
        ));
    };
    check_output(&output, &[&args.table.input])?;
    if let Some(r) = &args.report {
        check_output(r, &[&args.table.input, &output])?;
    }
    let t = Instant::now();
    let (table, duplicates) = linkage::read_linkage_table(&args.table, &spec, &[&output]).await?;
    let mut phases = vec![("read_input".to_string(), secs(t.elapsed()))];
    let waterfall = psi_core::linkage::Waterfall::new(linkage::key_columns(&table), duplicates)
        .map_err(|e| CliError::Usage(format!("cannot link this table: {e}")))?;
    let share = args.share_result || args.align;
    let finish = psi_core::linkage::LinkageFinish {
        join: args.join.into(),
        align: args.align,
        share_result: share,
        client_rows: 0,
        client_unlinked_rows: 0,
    };
    let run =
        psi_server::run_linkage_client(&args.peer, waterfall, finish, &client_config(&args, &spec))
            .await?;
    phases.extend(run.phases.iter().map(|(n, s)| (n.to_string(), s)));
    let w = &run.waterfall;
    let unlinked = w.rows() as u64 - w.linked_rows();
    let rows = linkage::out_rows(psi_core::linkage::plan_rows(
        psi_core::linkage::Side::Client,
        finish.join,
        finish.align,
        w.links(),
        unlinked,
        run.totals.server_unlinked_rows,
    ));
    let t = Instant::now();
    let first = table.keys()[0].clone();
    let out = output.clone();
    let options = args.output_options.options()?;
    let written = tokio::task::spawn_blocking(move || {
        first.write_output(&rows, Some("psi_id"), &out, &options)
    })
    .await
    .map_err(|e| CliError::Io {
        what: "writing the output",
        source: std::io::Error::other(e),
    })??;
    phases.push(("write_output".to_string(), secs(t.elapsed())));
    phases.push(("total".to_string(), secs(start.elapsed())));
    let report = LinkageRunReport {
        role: "client",
        protocol: "ecdh-ristretto255-linkage",
        peer: args.peer.clone(),
        input: InputReport::linkage(&table),
        linkage: LinkageReport {
            linkage: run.linkage.clone(),
            join: finish.join.name(),
            align: args.align,
            share_result: share,
            steps: linkage::step_reports(&spec, w.summaries(), &run.server_offered),
            linked_rows: w.linked_rows(),
            unlinked_rows: unlinked,
            peer_rows: run.totals.server_rows,
            peer_unlinked_rows: run.totals.server_unlinked_rows,
            rows_written: written,
            output: Some(output.display().to_string()),
        },
        bytes_sent: run.traffic.bytes_sent,
        bytes_received: run.traffic.bytes_received,
        seconds: phases,
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    println!(
        "{} of {} rows linked ({} keys; the peer linked {} of its {} rows); {} rows written to {}",
        report.linkage.linked_rows,
        w.rows(),
        spec.keys().len(),
        run.totals.server_rows - run.totals.server_unlinked_rows,
        run.totals.server_rows,
        written,
        output.display()
    );
    Ok(report)
}

/// Runs party A; returns the report and the matched distinct-key indices.
pub async fn run_matched(args: RunArgs) -> Result<(RunReport, Vec<usize>), CliError> {
    let start = Instant::now();
    let (spec, key) = single_key(&args.table, "this run")?;
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
    write_rejects(&args.table, &table)?;
    let duplicates = args.table.duplicates();
    if duplicates == linkage::DuplicatesArg::Reject {
        linkage::check_duplicates(&table, "key")?;
    }
    let mut phases = vec![("read_input".to_string(), secs(t.elapsed()))];

    let config = client_config(&args, &spec);
    let items = table.items().to_vec();
    let outcome = match args.protocol {
        ProtocolArg::Ecdh => psi_server::run_ecdh_client(&args.peer, items, &config).await?,
        ProtocolArg::Kkrt => psi_server::run_kkrt_client(&args.peer, items, &config).await?,
    };
    phases.extend(outcome.phases.iter().map(|(name, s)| (name.to_string(), s)));

    let t = Instant::now();
    let mut keep = table.matched_rows(&outcome.output.matched);
    if duplicates == linkage::DuplicatesArg::First {
        // Only the first row carrying each key can match.
        let mut seen = vec![false; table.items().len()];
        for (row, k) in keep.iter_mut().enumerate() {
            if let Some(item) = table.row_item(row) {
                *k = *k && !std::mem::replace(&mut seen[item], true);
            }
        }
    }
    let out_path = output.clone();
    let options = args.output_options.options();
    let (table, written) = tokio::task::spawn_blocking(move || {
        let rows: Vec<psi_table::OutRow> = keep
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(row, _)| psi_table::OutRow {
                row: Some(row),
                id: None,
            })
            .collect();
        let written = options.and_then(|o| Ok(table.write_output(&rows, None, &output, &o)?));
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
        bytes_sent: outcome.traffic.bytes_sent,
        bytes_received: outcome.traffic.bytes_received,
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
