//! `psi demo`: both parties on this machine, on generated data, checked
//! against the plaintext answer.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use psi_table::{KeySpec, KeyedTable};

use crate::error::CliError;
use crate::run::{ProtocolArg, RunArgs};
use crate::serve::ServeArgs;
use crate::TableArgs;

/// Arguments of `psi demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Rows of party A.
    #[arg(long, default_value_t = 3000)]
    pub rows_a: u64,
    /// Rows of party B.
    #[arg(long, default_value_t = 4000)]
    pub rows_b: u64,
    /// People in both tables.
    #[arg(long, default_value_t = 1200)]
    pub overlap: u64,
    /// Random seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Key column(s) to match on.
    #[arg(long, default_value = "email")]
    pub key: String,
    /// The protocol to run.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Ecdh)]
    pub protocol: ProtocolArg,
    /// Keep the files in this directory (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs the demo.
pub async fn demo(args: DemoArgs) -> Result<(), CliError> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|source| CliError::Io {
                what: "creating the demo directory",
                source,
            })?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().map_err(|source| CliError::Io {
                what: "creating a temporary directory",
                source,
            })?;
            tmp.path().to_path_buf()
        }
    };
    let file_a = dir.join("customers_a.csv");
    let file_b = dir.join("customers_b.csv");
    let config = psi_datasets::GenConfig {
        rows_a: args.rows_a,
        rows_b: args.rows_b,
        overlap: args.overlap,
        seed: args.seed,
        noise: 0.0,
        with_value: false,
    };
    psi_datasets::generate_files(&config, &file_a, &file_b)?;
    println!(
        "psi demo — two parties on this machine, matching on `{}`",
        args.key
    );
    println!("  party A: {} rows in {}", args.rows_a, file_a.display());
    println!(
        "  party B: {} rows in {} ({} people are in both, unknown to the parties)",
        args.rows_b,
        file_b.display(),
        args.overlap
    );

    // Party B: the same code path as `psi serve --once`, on a free loopback port.
    let serve_args = ServeArgs {
        table: TableArgs::intersection(file_b.clone(), args.key.clone()),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        once: true,
        max_sessions: 1,
        idle_timeout: 60,
        report: None,
        value: None,
        output: None,
        output_options: crate::output::OutputArgs::default(),
    };
    let started = crate::serve::start(&serve_args).await?;
    let addr = started.server.local_addr();
    let mut events = started.server.events();
    let server = tokio::spawn(started.server.run_until(std::future::pending()));
    println!("  party B serves on http://{addr}");

    // Party A: the same code path as `psi run`.
    let output = dir.join("matched_a.csv");
    let report_path = dir.join("report_a.json");
    let run_args = RunArgs {
        peer: format!("http://{addr}"),
        table: TableArgs::intersection(file_a.clone(), args.key.clone()),
        output: Some(output.clone()),
        dp_sum_sensitivity: None,
        report: Some(report_path.clone()),
        connect_timeout: 10,
        idle_timeout: 60,
        protocol: args.protocol,
        join: crate::linkage::JoinArg::Inner,
        share_result: false,
        align: false,
        output_options: crate::output::OutputArgs::default(),
    };
    let (report, matched) = crate::run::run_matched(run_args).await?;
    let event = events.recv().await.ok();
    match server.await {
        Ok(result) => result?,
        Err(e) => {
            return Err(CliError::Io {
                what: "running the server",
                source: std::io::Error::other(e),
            })
        }
    }

    println!();
    println!(
        "What A learned: {} of its {} rows ({} distinct keys) are also in B's table, \
         and B holds {} distinct keys.",
        report.matched_rows, report.input.rows, report.matched_keys, report.peer_set_size
    );
    match &event {
        Some(e) => println!(
            "What B learned: A holds {} distinct keys. Nothing else.",
            e.client_set_size
        ),
        None => println!("What B learned: (no session event received)"),
    }

    // The plaintext answer, computed here because the demo holds both tables.
    let key = KeySpec::parse(&args.key)?;
    let table_a = KeyedTable::read(&file_a, &key)?;
    let table_b = KeyedTable::read(&file_b, &key)?;
    let b_items: HashSet<_> = table_b.items().iter().collect();
    let expected: Vec<usize> = table_a
        .items()
        .iter()
        .enumerate()
        .filter(|(_, item)| b_items.contains(item))
        .map(|(i, _)| i)
        .collect();
    let expected_rows = table_a
        .matched_rows(&expected)
        .iter()
        .filter(|&&m| m)
        .count() as u64;
    let equal = expected == matched && expected_rows == report.matched_rows;
    println!(
        "Plaintext check: the true intersection has {} rows — the private result {}.",
        expected_rows,
        if equal { "is EQUAL to it" } else { "DIFFERS" }
    );
    println!();
    println!("First matched rows of A ({}):", output.display());
    let text = std::fs::read_to_string(&output).map_err(|source| CliError::Io {
        what: "reading the demo output",
        source,
    })?;
    for line in text.lines().take(4) {
        println!("  {line}");
    }
    println!();
    println!(
        "Wire: A sent {:.1} KiB and received {:.1} KiB; {} s in all; protocol {}; crypto backend {}.",
        report.bytes_sent as f64 / 1024.0,
        report.bytes_received as f64 / 1024.0,
        report
            .seconds
            .iter()
            .find(|(n, _)| n == "total")
            .map(|(_, s)| *s)
            .unwrap_or_default(),
        report.protocol,
        report.environment.crypto_backend
    );
    if args.dir.is_some() {
        println!("Report: {}", report_path.display());
    }
    if !equal {
        return Err(CliError::DemoMismatch {
            got: report.matched_rows,
            expected: expected_rows,
        });
    }
    Ok(())
}
