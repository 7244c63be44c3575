//! `psi demo`: both parties on this machine, on generated data, checked
//! against the plaintext answer. Each party runs the same code as `psi
//! serve --once` and `psi run`, from the plans the demo plan makes for them.

use std::collections::HashSet;

use psi_table::KeyedTable;

use super::progress::{Progress, ServerProgress};
use super::run::intersect;
use super::serve::start;
use crate::error::CliError;
use crate::plan::DemoPlan;

/// Runs the demo.
pub async fn demo(plan: DemoPlan) -> Result<(), CliError> {
    let tmp;
    let dir = match &plan.dir {
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
    psi_datasets::generate_files(&plan.data, &file_a, &file_b)?;
    println!(
        "psi demo — two parties on this machine, matching on `{}`",
        plan.key_text
    );
    println!(
        "  party A: {} rows in {}",
        plan.data.rows_a,
        file_a.display()
    );
    println!(
        "  party B: {} rows in {} ({} people are in both, unknown to the parties)",
        plan.data.rows_b,
        file_b.display(),
        plan.data.overlap
    );

    // Party B: the same code path as `psi serve --once`, on a free loopback port.
    let quiet = ServerProgress::new(Progress::new(true));
    let started = start(&plan.party_b(file_b.clone())?, &quiet).await?;
    let addr = started.server.local_addr();
    let mut events = started.server.events();
    let server = tokio::spawn(started.server.run_until(std::future::pending()));
    println!("  party B serves on http://{addr}");

    // Party A: the same code path as `psi run`.
    let output = dir.join("matched_a.csv");
    let report_path = dir.join("report_a.json");
    let (client, task) = plan.party_a(
        format!("http://{addr}"),
        file_a.clone(),
        output.clone(),
        report_path.clone(),
    )?;
    let (report, matched) = intersect(&client, &task).await?;
    let event = events.recv().await.ok();
    match server.await {
        Ok(result) => result?,
        Err(e) => return Err(CliError::task("running the server", e)),
    }

    let body = &report.body;
    println!();
    println!(
        "What A learned: {} of its {} rows ({} distinct keys) are also in B's table, \
         and B holds {} distinct keys.",
        body.matched_rows, report.input.rows, body.matched_keys, body.peer_set_size
    );
    match &event {
        Some(e) => println!(
            "What B learned: A holds {} distinct keys. Nothing else.",
            e.client_set_size
        ),
        None => println!("What B learned: (no session event received)"),
    }

    // The plaintext answer, computed here because the demo holds both tables.
    let table_a = KeyedTable::read(&file_a, &plan.key)?;
    let table_b = KeyedTable::read(&file_b, &plan.key)?;
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
    let equal = expected == matched && expected_rows == body.matched_rows;
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
    let traffic = report.cost.as_ref().map(|c| c.traffic).unwrap_or_default();
    let total = report
        .cost
        .as_ref()
        .and_then(|c| c.seconds.seconds_of("total"))
        .unwrap_or_default();
    println!(
        "Wire: A sent {:.1} KiB and received {:.1} KiB; {} s in all; protocol {}; crypto backend {}.",
        traffic.bytes_sent as f64 / 1024.0,
        traffic.bytes_received as f64 / 1024.0,
        total,
        body.protocol,
        report.environment.crypto_backend
    );
    if plan.dir.is_some() {
        println!("Report: {}", report_path.display());
    }
    if !equal {
        return Err(CliError::DemoMismatch {
            got: body.matched_rows,
            expected: expected_rows,
        });
    }
    Ok(())
}
