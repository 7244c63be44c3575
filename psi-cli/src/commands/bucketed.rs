//! `psi run --state-dir`: an intersection in bounded memory that survives a
//! crash ([`psi_core::bucket`]).
//!
//! The input is hashed (SHA-256, to recognise it on resume), the run opened
//! with our nonce (kept in the state directory, so the server derives the
//! same seed again), our keys spilled to disk by fine bucket, and then each
//! coarse bucket not yet done is loaded, padded and run as its own session;
//! its matched rows are written to the state directory before it counts as
//! done. The output is written last, in input order, from a bitmap of rows.
//! Memory: one bucket, the protocol's state for it, and one bit per input row.

use std::time::Instant;

use psi_core::bucket::{self, FINE_BUCKETS};
use psi_core::linkage::Duplicates;
use psi_core::rng::ZeroizingRng;
use psi_server::{Phases, Traffic};
use psi_table::spill::Spill;

use super::cut::Cut;
use super::partition::spill_keys;
use super::progress::Progress;
use super::retry::RunLink;
use super::state::{digest_file, hex, unhex32, Buckets, StateDir};
use super::table::blocking;
use crate::error::CliError;
use crate::plan::{BucketPlan, ClientPlan, IntersectPlan};
use crate::report::{BucketsReport, InputReport, Matched, Report};

/// What a bucketed intersection did.
pub struct Bucketed {
    /// The report.
    pub report: Report<Matched>,
}

/// Refuses an input whose rows repeat a key when the run was not told what
/// to do with them (`--duplicates`).
pub(super) fn refuse_repeated_keys(
    client: &ClientPlan,
    report: &InputReport,
) -> Result<(), CliError> {
    if client.input.refuse_duplicates && report.duplicate_key_rows > 0 {
        return Err(CliError::Usage(format!(
            "{}: {} rows repeat another row's key; give --duplicates first or all, or remove them",
            client.input.path.display(),
            report.duplicate_key_rows
        )));
    }
    Ok(())
}

/// The operating system's randomness, as a generator zeroized on drop.
pub(super) fn rng() -> Result<ZeroizingRng, CliError> {
    ZeroizingRng::from_os_rng().map_err(|_| CliError::Io {
        what: "reading the operating system's randomness",
        source: std::io::Error::other("the random generator failed"),
    })
}

/// Runs `task` bucket by bucket with the state in `plan.state_dir`.
pub async fn intersect(
    client: &ClientPlan,
    task: &IntersectPlan,
    plan: &BucketPlan,
    progress: &Progress,
) -> Result<Bucketed, CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let input = client.input.path.clone();

    let t = Instant::now();
    let cut = match &plan.partitioned {
        Some(dir) => Some(Cut::open(dir, &input, &task.key)?),
        None => None,
    };
    let digest = match &cut {
        Some(cut) => cut.digest(),
        None => {
            let size = std::fs::metadata(&input).map(|m| m.len()).ok();
            progress.phase("checksum", size, "bytes");
            let p = progress.clone();
            let path = input.clone();
            blocking("hashing the input", move || {
                digest_file(&path, |n| p.set(n))
            })
            .await??
        }
    };
    phases.push("checksum", t.elapsed());
    let given_nonce = match (plan.nonce, &cut) {
        (Some(n), Some(cut)) if n != cut.client_nonce => {
            return Err(CliError::Usage(format!(
                "--run-nonce-file is not the nonce {} was cut with",
                cut.dir.display()
            )))
        }
        (Some(n), _) => Some(n),
        (None, cut) => cut.as_ref().map(|c| c.client_nonce),
    };

    let (shard, workers) = plan.shard;
    let config = format!(
        "protocol {}; key {}; duplicates {}; bucket items {}; shard {shard}/{workers}",
        task.protocol.name(),
        task.key.canonical(),
        match task.duplicates {
            Duplicates::First => "first",
            _ => "all",
        },
        plan.bucket_items
    );
    let fresh = match given_nonce {
        Some(nonce) => nonce,
        None => bucket::client_nonce(&mut rng()?),
    };
    let mut state = StateDir::open(&plan.state_dir, digest, config, fresh)?;
    if given_nonce.is_some_and(|n| hex(&n) != state.state.client_nonce) {
        return Err(CliError::Usage(format!(
            "{} holds a run of another --run-nonce-file; remove it to start over",
            plan.state_dir.display()
        )));
    }
    let resuming = !state.state.done.is_empty() || state.state.spilled.is_some();
    if resuming {
        eprintln!(
            "resuming from {} ({} buckets done)",
            plan.state_dir.display(),
            state.state.done.len()
        );
    }
    let nonce = unhex32(&state.state.client_nonce).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: damaged run state (client nonce); remove the directory to start over",
            plan.state_dir.display()
        ))
    })?;
    let mut traffic = Traffic::default();
    let (mut link, run) = RunLink::open(client, task.protocol, nonce).await?;
    traffic.add(run.traffic);
    if let Some(cut) = &cut {
        if cut.seed() != run.seed {
            return Err(CliError::Usage(format!(
                "{} was cut under another partition seed than the peer's for this run: the serving party's run key is not the one its cut's server nonce came from",
                cut.dir.display()
            )));
        }
    }
    if state.state.seed.as_deref() != Some(hex(run.seed.as_bytes()).as_str()) {
        if state.state.seed.is_some() {
            eprintln!("the peer's partition changed (it restarted without its state): starting the buckets over");
        }
        state.start_over(true)?;
        state.state.seed = Some(hex(run.seed.as_bytes()));
        state.save()?;
    }

    // Our keys, spilled by fine bucket.
    let t = Instant::now();
    let spill = match (&cut, &state.state.spilled) {
        (Some(cut), spilled) => {
            if spilled.is_none() {
                state.state.spilled = Some(cut.manifest.report.clone());
                state.save()?;
            }
            cut.spill()?
        }
        (None, Some(_)) => Spill::open(&state.spill_dir(), FINE_BUCKETS)?,
        (None, None) => {
            progress.phase("partition", None, "rows");
            let (dir, key, seed, p) = (
                state.spill_dir(),
                task.key.clone(),
                run.seed.clone(),
                progress.clone(),
            );
            let path = input.clone();
            let (spill, report) = blocking("partitioning the input", move || {
                spill_keys(&path, &key, &seed, &dir, |n| p.set(n))
            })
            .await??;
            state.state.spilled = Some(report);
            state.save()?;
            spill
        }
    };
    phases.push("partition", t.elapsed());
    let input_report = state.state.spilled.clone().unwrap_or_default();
    refuse_repeated_keys(client, &input_report)?;

    // The peer's set, and the cut.
    let t = Instant::now();
    progress.phase("peer partition", None, "rows");
    let p = progress.clone();
    let peer_size = link.ready(|n| p.set(n)).await?;
    phases.push("peer_partition", t.elapsed());
    let ours = spill.distinct();
    let count = bucket::bucket_count(ours, peer_size, plan.bucket_items);
    let cut = Buckets {
        count,
        peer_set_size: peer_size,
    };
    if state.state.buckets.is_some_and(|b| b != cut) {
        eprintln!("the peer's set changed since the last attempt: starting the buckets over");
        state.start_over(false)?;
    }
    state.state.buckets = Some(cut);
    state.save()?;

    // Each bucket not yet done.
    let t = Instant::now();
    let ours_to_run: Vec<u16> = (0..count).filter(|b| b % workers == shard).collect();
    let resumed = state.state.done.len() as u64;
    progress.phase("buckets", Some(ours_to_run.len() as u64), "buckets");
    progress.set(resumed);
    let mut rng = rng()?;
    let todo: Vec<u16> = ours_to_run
        .iter()
        .copied()
        .filter(|b| state.state.done.binary_search(b).is_err())
        .collect();
    // The next bucket is read from disk while this one runs.
    let load = |index: u16| {
        let spill = spill.clone();
        tokio::task::spawn_blocking(move || spill.load(bucket::fine_range(index, count)))
    };
    let mut next = todo.first().map(|&b| load(b));
    for (k, &index) in todo.iter().enumerate() {
        let Some(reading) = next.take() else { break };
        let loaded = reading
            .await
            .map_err(|e| CliError::task("reading a bucket", e))??;
        next = todo.get(k + 1).map(|&b| load(b));
        let mut items = loaded.items.clone();
        bucket::pad(
            &mut items,
            bucket::padded_size(ours, count),
            index,
            &mut rng,
        )
        .map_err(psi_server::Error::from)?;
        let out = link.bucket((index, count), &items).await?;
        traffic.add(out.traffic);
        let mut rows = Vec::new();
        let mut keys = 0u64;
        for &m in &out.output.matched {
            let carrying = loaded.rows_of(m);
            if carrying.is_empty() {
                continue; // a padding item: cannot match, but never trusted
            }
            keys += 1;
            match task.duplicates {
                Duplicates::First => rows.push(carrying[0]),
                _ => rows.extend_from_slice(carrying),
            }
        }
        state.finish_bucket(index, keys, &rows)?;
        progress.set(state.state.done.len() as u64);
    }
    phases.push("buckets", t.elapsed());
    if let Err(e) = link.close().await {
        // Every bucket is done and kept: the result does not depend on it.
        tracing::warn!("could not close the run at the peer: {e}");
    }

    // The output, in input order.
    let t = Instant::now();
    let total_rows = input_report.rows as usize;
    let mut flags = vec![0u64; total_rows.div_ceil(64)];
    let mut matched_keys = 0;
    for &index in &ours_to_run {
        matched_keys += state.read_bucket(index, &mut flags)?;
    }
    progress.phase("output", None, "rows");
    let (out_path, options) = (task.output.path.clone(), task.output.options.clone());
    let path = input.clone();
    let written = blocking("writing the output", move || {
        psi_table::write_flagged(&path, total_rows, &flags, &out_path, &options)
    })
    .await??;
    phases.push("write_output", t.elapsed());
    progress.finish();
    let disk = state.disk_bytes();
    state.remove()?;
    phases.push("total", start.elapsed());

    let body = Matched {
        protocol: task.protocol.name(),
        peer: client.peer.clone(),
        session: run.id.clone(),
        peer_set_size: peer_size,
        matched_keys,
        matched_rows: written,
        output: task.output.path.display().to_string(),
        cuckoo_retries: None,
        buckets: Some(BucketsReport {
            count: u64::from(count),
            shard: (workers > 1).then(|| format!("{shard}/{workers}")),
            run: ours_to_run.len() as u64 - resumed,
            resumed,
            padded_size: bucket::padded_size(ours, count),
            peer_padded_size: bucket::padded_size(peer_size, count),
            state_dir_bytes: disk,
        }),
    };
    Ok(Bucketed {
        report: Report::client(input_report, body, traffic, phases),
    })
}
