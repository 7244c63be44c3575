//! `psi run`: party A. Runs the planned task against the peer, writes our
//! rows and the report.

use std::time::Instant;

use psi_core::codec::Protocol;
use psi_core::linkage::{plan_rows, Duplicates, Side, Waterfall};
use psi_server::Phases;
use psi_table::OutRow;

use super::bucketed;
use super::pjc_disk;
use super::progress::Progress;
use super::serve::shutdown_signal;
use super::table::{blocking, key_columns, out_rows, read_keyed, read_linkage};
use crate::error::CliError;
use crate::plan::{AggregatePlan, ClientPlan, IntersectPlan, LinkPlan, RunPlan, RunTask};
use crate::report::{self, InputReport, LinkageReport, Linked, Matched, Report, StepReport};

/// Runs party A.
pub async fn run(plan: RunPlan) -> Result<(), CliError> {
    let client = &plan.client;
    match &plan.task {
        RunTask::Intersect(task) => {
            let report = match &task.buckets {
                Some(buckets) => {
                    let progress = Progress::new(client.quiet);
                    let done = tokio::select! {
                        done = bucketed::intersect(client, task, buckets, &progress) => done?,
                        () = shutdown_signal() => {
                            progress.finish();
                            return Err(CliError::Interrupted(buckets.state_dir.clone()));
                        }
                    };
                    if let Some(path) = &client.report {
                        report::write(path, &done.report)?;
                    }
                    done.report
                }
                None => intersect(client, task).await?.0,
            };
            println!(
                "{} of {} rows matched ({} shared distinct keys; the peer holds {}); written to {}",
                report.body.matched_rows,
                report.input.rows,
                report.body.matched_keys,
                report.body.peer_set_size,
                report.body.output
            );
        }
        RunTask::Link(task) => match &task.buckets {
            Some(buckets) => super::bucketed_link::run(client, task, buckets).await?,
            None => link(client, task).await?,
        },
        RunTask::Aggregate(task) => aggregate(client, task).await?,
    }
    Ok(())
}

/// Our rows whose key the peer holds; returns the report and the matched
/// distinct-key indices.
pub async fn intersect(
    client: &ClientPlan,
    task: &IntersectPlan,
) -> Result<(Report<Matched>, Vec<usize>), CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let table = read_keyed(&client.input, &task.key).await?;
    phases.push("read_input", start.elapsed());

    let items = table.items().to_vec();
    let (peer, config) = (&client.peer, &client.config);
    let outcome = match task.protocol {
        Protocol::Kkrt => psi_server::run_kkrt_client(peer, items, config).await?,
        _ => psi_server::run_ecdh_client(peer, items, config).await?,
    };
    phases.extend(&outcome.phases);

    let t = Instant::now();
    let mut keep = table.matched_rows(&outcome.output.matched);
    if task.duplicates == Duplicates::First {
        // Only the first row carrying each key can match.
        let mut seen = vec![false; table.items().len()];
        for (row, k) in keep.iter_mut().enumerate() {
            if let Some(item) = table.row_item(row) {
                *k = *k && !std::mem::replace(&mut seen[item], true);
            }
        }
    }
    let output = task.output.clone();
    let (table, written) = blocking("writing the output", move || {
        let rows: Vec<OutRow> = keep
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(row, _)| OutRow {
                row: Some(row),
                id: None,
            })
            .collect();
        let written = table.write_output(&rows, None, &output.path, &output.options);
        (table, written)
    })
    .await?;
    let written = written?;
    phases.push("write_output", t.elapsed());
    phases.push("total", start.elapsed());

    let body = Matched {
        protocol: task.protocol.name(),
        peer: client.peer.clone(),
        session: outcome.session.clone(),
        peer_set_size: outcome.output.server_set_size,
        matched_keys: outcome.output.matched.len() as u64,
        matched_rows: written,
        output: task.output.path.display().to_string(),
        cuckoo_retries: (task.protocol == Protocol::Kkrt).then_some(outcome.cuckoo_retries),
        buckets: None,
    };
    let report = Report::client(InputReport::new(&table), body, outcome.traffic, phases);
    if let Some(path) = &client.report {
        report::write(path, &report)?;
    }
    tracing::info!(
        matched_rows = written,
        peer_set_size = report.body.peer_set_size,
        "run finished"
    );
    Ok((report, outcome.output.matched))
}

/// A linkage: the waterfall over ECDH-PSI steps ([`psi_core::linkage`]),
/// then our side of the join.
async fn link(client: &ClientPlan, task: &LinkPlan) -> Result<(), CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let table = read_linkage(&client.input).await?;
    phases.push("read_input", start.elapsed());
    let waterfall = Waterfall::new(key_columns(&table), task.duplicates)
        .map_err(|e| CliError::Usage(format!("cannot link this table: {e}")))?;
    let run = psi_server::run_linkage_client(&client.peer, waterfall, task.finish, &client.config)
        .await?;
    phases.extend(&run.phases);

    let unlinked = run.waterfall.rows() as u64 - run.waterfall.linked_rows();
    let finish = task.finish;
    let t = Instant::now();
    let output = task.output.clone();
    let (table, run, written) = blocking("writing the output", move || {
        let written = {
            // Rows are made as they are written: the server's unlinked rows,
            // placeholders here, are counted, not stored.
            let rows = out_rows(plan_rows(
                Side::Client,
                finish.join,
                finish.align,
                run.waterfall.links(),
                unlinked,
                run.totals.server_unlinked_rows,
            ));
            // A linkage spec has at least one key, so the table has a first one.
            table.keys()[0].write_output_from(rows, Some("psi_id"), &output.path, &output.options)
        };
        (table, run, written)
    })
    .await?;
    let written = written?;
    let w = &run.waterfall;
    phases.push("write_output", t.elapsed());
    phases.push("total", start.elapsed());

    let spec = &client.input.spec;
    let body = Linked {
        protocol: "ecdh-ristretto255-linkage",
        peer: client.peer.clone(),
        linkage: LinkageReport {
            linkage: run.linkage.clone(),
            join: finish.join.name(),
            align: finish.align,
            share_result: finish.share_result,
            steps: StepReport::all(spec, w.summaries(), &run.server_offered),
            linked_rows: w.linked_rows(),
            unlinked_rows: unlinked,
            peer_rows: run.totals.server_rows,
            peer_unlinked_rows: run.totals.server_unlinked_rows,
            rows_written: written,
            output: Some(task.output.path.display().to_string()),
        },
        buckets: None,
    };
    let report = Report::client(InputReport::linkage(&table), body, run.traffic, phases);
    if let Some(path) = &client.report {
        report::write(path, &report)?;
    }
    println!(
        "{} of {} rows linked ({} keys; the peer linked {} of its {} rows); {} rows written to {}",
        w.linked_rows(),
        w.rows(),
        spec.keys().len(),
        run.totals.server_rows - run.totals.server_unlinked_rows,
        run.totals.server_rows,
        written,
        task.output.path.display()
    );
    Ok(())
}

/// `--mode cardinality|sum`: the count (and sum), never the rows.
async fn aggregate(client: &ClientPlan, task: &AggregatePlan) -> Result<(), CliError> {
    if let Some(dir) = &task.disk {
        let progress = Progress::new(client.quiet);
        return tokio::select! {
            done = pjc_disk::aggregate(client, task, dir, &progress) => done,
            () = shutdown_signal() => {
                progress.finish();
                Err(CliError::Stopped(dir.clone()))
            }
        };
    }
    let start = Instant::now();
    let mut phases = Phases::new();
    let table = read_keyed(&client.input, &task.key).await?;
    phases.push("read_input", start.elapsed());
    let items = table.items().to_vec();
    let outcome =
        psi_server::run_pjc_client(&client.peer, items, &task.params, &client.config).await?;
    phases.extend(&outcome.phases);
    phases.push("total", start.elapsed());
    pjc_disk::aggregated(
        client,
        task,
        outcome,
        InputReport::new(&table),
        phases,
        None,
    )
}
