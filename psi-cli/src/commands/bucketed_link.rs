//! `psi run --state-dir` for a linkage: the waterfall bucket by bucket in
//! bounded memory ([`psi_core::linkage::bucketed`]), resumed after a crash.
//!
//! The input is hashed (SHA-256, to recognise it on resume), the run opened
//! as a linkage run with our nonce (kept in the state directory, so the
//! server derives the same seed again: [`super::retry`]), our keys spilled
//! by fine bucket into the state directory ([`LinkSpill`]), and then each
//! step runs its buckets one after the other, each an ECDH (or, with
//! `--protocol kkrt`, a KKRT) session with its result shared; each bucket's
//! links go to disk as it finishes, and a
//! bucket is done exactly when its link file exists. After the finish
//! message, our side is written from those files ([`psi_table::linked`]):
//! in input order, or for an aligned join in id order through an external
//! sort.
//!
//! Resume: the same command again (after a crash, SIGKILL, Ctrl-C or a
//! failure) checks the input's digest and the configuration ([`StateDir`]:
//! keys, profiles, duplicates, join, alignment, sharing, bucket items,
//! protocol),
//! reopens the spill and its link files ([`LinkSpill::open_sharded`]: the bitmap of
//! linked rows and each step's counts made again, step by step), and runs
//! only the (step, bucket) pairs not done. Which rows are still free at
//! step `k` comes from the link files of the steps before it. Link ids are
//! a function of the run's seed, the step and the item
//! ([`psi_core::linkage::bucketed::link_id`]), so a redone bucket gives the
//! same ids and the result is byte for byte an uninterrupted run's. A
//! restarted server resumes its side from its own directory
//! (`serve_link.rs`); one that lost its progress but kept its run key
//! answers "behind", and we start the buckets over (the seed, and so every
//! id, is the same); one that lost its key gives another seed, and the
//! buckets start over with it. The state directory is removed on success
//! and kept on failure and Ctrl-C (unless nothing was spilled yet).
//!
//! Sharded (`--shard I/W --shard-dir DIR`, [`psi_core::linkage::shard`]):
//! only the buckets `b mod W = I` run, and before each step (and before the
//! finish) this worker meets its party's other workers
//! ([`LinkSpill::settle`], [`super::link_shard`]); the finish then carries
//! the whole linkage's unlinked count, and the output only this worker's
//! rows (worker 0's also the unlinked ones).
//!
//! Memory: one bit per input row, one bucket of one key and its offer, the
//! output's sort budget ([`super::link_spill::SORT_MEMORY`]).

use std::sync::Arc;
use std::time::Instant;

use psi_core::bucket;
use psi_core::codec::Protocol;
use psi_core::linkage::bucketed::padded_offer;
use psi_core::linkage::{LinkageFinish, Shard, Side};
use psi_server::{Phases, Traffic};
use psi_table::linked::LinkedPlan;

use super::link_shard::{run_tag, Barrier};
use super::link_spill::LinkSpill;
use super::progress::Progress;
use super::retry::{behind, RunLink};
use super::serve::shutdown_signal;
use super::state::{digest_file, hex, unhex32, Buckets, LinkProgress, StateDir};
use super::table::blocking;
use crate::error::CliError;
use crate::plan::{BucketPlan, ClientPlan, LinkPlan};
use crate::report::{self, BucketsReport, LinkageReport, Linked, Report, StepReport};

/// Times the buckets start over in one invocation (a peer that lost its
/// progress) before the run fails.
const START_OVERS: u32 = 2;

/// Runs the linkage bucketed, with progress, until done or Ctrl-C.
pub async fn run(client: &ClientPlan, task: &LinkPlan, plan: &BucketPlan) -> Result<(), CliError> {
    let progress = Progress::new(client.quiet);
    let made = !plan.state_dir.exists();
    let done = tokio::select! {
        done = link(client, task, plan, &progress) => done,
        () = shutdown_signal() => {
            progress.finish();
            return Err(CliError::Interrupted(plan.state_dir.clone()));
        }
    };
    progress.finish();
    let spilled = plan.state_dir.join("linkage").join("linkage.json").exists();
    if done.is_err() && made && !spilled {
        // Nothing to resume: no litter.
        let _ = std::fs::remove_dir_all(&plan.state_dir);
    }
    let report = done?;
    if let Some(path) = &client.report {
        report::write(path, &report)?;
    }
    let l = &report.body.linkage;
    println!(
        "{} of {} rows linked ({} keys; the peer linked {} of its {} rows); {} rows written to {}",
        l.linked_rows,
        l.linked_rows + l.unlinked_rows,
        l.steps.len(),
        l.peer_rows - l.peer_unlinked_rows,
        l.peer_rows,
        l.rows_written,
        task.output.path.display()
    );
    Ok(())
}

/// Everything besides the input that decides the result.
fn config(client: &ClientPlan, task: &LinkPlan, plan: &BucketPlan) -> String {
    let keys: Vec<String> = client
        .input
        .spec
        .keys()
        .iter()
        .map(|k| k.canonical())
        .collect();
    let f = &task.finish;
    let shard = match plan.shard {
        (_, 1) => String::new(),
        (i, w) => format!("; shard {i}/{w}"),
    };
    format!(
        "linkage; keys {}; duplicates {:?}; join {}; align {}; share result {}; bucket items {}; protocol {}{shard}",
        keys.join(" | "),
        task.duplicates,
        f.join.name(),
        f.align,
        f.share_result,
        plan.bucket_items,
        task.protocol.name()
    )
}

/// Opens (or resumes) the state directory; our run nonce.
fn open_state(
    client: &ClientPlan,
    task: &LinkPlan,
    plan: &BucketPlan,
    digest: (u64, String),
) -> Result<(StateDir, [u8; 32]), CliError> {
    let fresh = match plan.nonce {
        Some(nonce) => nonce,
        None => bucket::client_nonce(&mut super::bucketed::rng()?),
    };
    let state = StateDir::open(&plan.state_dir, digest, config(client, task, plan), fresh)?;
    if plan
        .nonce
        .is_some_and(|n| hex(&n) != state.state.client_nonce)
    {
        return Err(CliError::Usage(format!(
            "{} holds a run of another --run-nonce-file; remove it to start over",
            plan.state_dir.display()
        )));
    }
    let nonce = unhex32(&state.state.client_nonce).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: damaged run state (client nonce); remove the directory to start over",
            plan.state_dir.display()
        ))
    })?;
    Ok((state, nonce))
}

async fn link(
    client: &ClientPlan,
    task: &LinkPlan,
    plan: &BucketPlan,
    progress: &Progress,
) -> Result<Report<Linked>, CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let input = client.input.path.clone();

    let t = Instant::now();
    progress.phase(
        "checksum",
        std::fs::metadata(&input).map(|m| m.len()).ok(),
        "bytes",
    );
    let (p, path) = (progress.clone(), input.clone());
    let digest = blocking("hashing the input", move || {
        digest_file(&path, |n| p.set(n))
    })
    .await??;
    phases.push("checksum", t.elapsed());
    let digest_hex = digest.1.clone();
    let (mut state, nonce) = open_state(client, task, plan, digest)?;
    let mut traffic = Traffic::default();
    let (mut link, run) = RunLink::open_linkage(client, task.protocol, nonce).await?;
    traffic.add(run.traffic);
    let dir = plan.state_dir.join("linkage");
    if state.state.seed.as_deref() != Some(hex(run.seed.as_bytes()).as_str()) {
        if state.state.seed.is_some() {
            eprintln!("the peer's partition changed (it restarted without its state): starting the buckets over");
        }
        state.start_over(true)?;
        let _ = std::fs::remove_dir_all(&dir);
        state.state.seed = Some(hex(run.seed.as_bytes()));
        state.save()?;
    }

    let t = Instant::now();
    progress.phase("partition", None, "rows");
    let (path, spec, seed, d, p) = (
        input.clone(),
        client.input.spec.clone(),
        run.seed.clone(),
        dir.clone(),
        progress.clone(),
    );
    let duplicates = task.duplicates;
    let barrier = plan.shard_dir.as_ref().map(|shard_dir| {
        let shard = Shard::new(plan.shard.0, plan.shard.1).unwrap_or(Shard::WHOLE);
        let config = super::link_meta::config(&client.input.spec, duplicates);
        let run = run_tag(Side::Client, &run.seed, &digest_hex, &config, shard.workers);
        Barrier::new(shard_dir, shard, run, plan.shard_timeout)
    });
    let (spill, input_report) = blocking("partitioning the input", move || {
        if let Some(open) = LinkSpill::open_sharded(&d, &spec, duplicates, barrier.clone())? {
            return Ok(open);
        }
        let _ = std::fs::remove_dir_all(&d);
        let (spill, report) = LinkSpill::create(&path, &spec, duplicates, &seed, &d, |n| p.set(n))?;
        Ok::<_, CliError>((spill.sharded(barrier), report))
    })
    .await??;
    let spill = Arc::new(spill);
    if state.state.spilled.is_none() {
        state.state.spilled = Some(input_report.clone());
        state.save()?;
    }
    phases.push("partition", t.elapsed());
    super::bucketed::refuse_repeated_keys(client, &input_report)?;

    let t = Instant::now();
    progress.phase("peer partition", None, "rows");
    let p = progress.clone();
    let peer_rows = link.ready(|n| p.set(n)).await?;
    phases.push("peer_partition", t.elapsed());
    let count = bucket::bucket_count(spill.rows(), peer_rows, plan.bucket_items);
    let steps = spill.steps() as u16;
    let (shard, workers) = plan.shard;
    if workers > count {
        return Err(CliError::Usage(format!(
            "--shard {shard}/{workers}: this linkage has {count} buckets (from both tables' rows and --bucket-items {}), fewer than the workers: run at most {count} workers, or lower --bucket-items",
            plan.bucket_items
        )));
    }
    let ours = (0..count).filter(|&b| spill.owns(b)).count() as u64;
    let cut = Buckets {
        count,
        peer_set_size: peer_rows,
    };
    if state.state.buckets.is_some_and(|b| b != cut) {
        eprintln!("the peer's table changed since the last attempt: starting the buckets over");
        spill.start_over()?;
        state.start_over(false)?;
    }
    state.state.buckets = Some(cut);
    let mut resumed = spill.recorded();
    if resumed > 0 {
        eprintln!(
            "resuming from {} ({resumed} of {} buckets done)",
            plan.state_dir.display(),
            u64::from(steps) * u64::from(count)
        );
    }
    let mut kept = state.state.linkage.take().unwrap_or_default();
    kept.peer_padded.resize(usize::from(steps), 0);
    state.state.linkage = Some(kept);
    state.save()?;

    let mut rng = super::bucketed::rng()?;
    let pairs = u64::from(steps) * ours;
    progress.phase("buckets", Some(pairs), "buckets");
    let (mut ran, mut starts_over) = (0u64, 0);
    let base = LinkageFinish {
        client_rows: spill.rows(),
        ..task.finish
    };
    let totals = 'run: loop {
        for step in 0..steps {
            let t = Instant::now();
            settle(&spill, step, count).await?;
            for index in 0..count {
                progress.set(spill.recorded());
                if !spill.owns(index) || spill.is_recorded(step, index) {
                    continue;
                }
                let s = spill.clone();
                let (offer, total) =
                    blocking("reading a bucket", move || s.offer(step, index, count)).await??;
                let items = offer
                    .padded(padded_offer(total, count), index, &mut rng)
                    .map_err(psi_server::Error::from)?;
                let out = match link
                    .link_bucket(step, (index, count), &items, offer.len())
                    .await
                {
                    Ok(out) => out,
                    Err(e) if behind(&e) && starts_over < START_OVERS => {
                        starts_over += 1;
                        start_over(&spill, &mut state, steps)?;
                        resumed = 0;
                        continue 'run;
                    }
                    Err(e) if behind(&e) && spill.is_sharded() => {
                        return Err(CliError::Usage(format!(
                            "{e} (this is shard worker {shard}/{workers} of a linkage: is its server worker started with --shard {shard}/{workers} and a --shard-dir of its own party's?)"
                        )))
                    }
                    Err(e) => return Err(e),
                };
                traffic.add(out.traffic);
                if let Some(l) = &mut state.state.linkage {
                    l.peer_padded[usize::from(step)] = out.server_offered;
                }
                state.save()?;
                let s = spill.clone();
                blocking("recording a bucket", move || {
                    s.record(step, index, count, &offer, &out.matched)
                })
                .await??;
                ran += 1;
            }
            phases.push(format!("step {}", step + 1), t.elapsed());
        }
        progress.set(spill.recorded());
        settle(&spill, steps, count).await?;
        if let Some(totals) = state.state.linkage.as_ref().and_then(|l| l.totals) {
            break totals;
        }
        let finish = LinkageFinish {
            client_unlinked_rows: spill.rows() - spill.linked_rows(),
            ..base
        };
        match link.finish(&finish).await {
            Ok((totals, more)) => {
                traffic.add(more);
                let totals = (totals.server_rows, totals.server_unlinked_rows);
                if let Some(l) = &mut state.state.linkage {
                    l.totals = Some(totals);
                }
                state.save()?;
                break totals;
            }
            Err(e) if behind(&e) && starts_over < START_OVERS => {
                starts_over += 1;
                start_over(&spill, &mut state, steps)?;
                resumed = 0;
            }
            Err(e) => return Err(e),
        }
    };

    let rows = spill.rows();
    let unlinked = rows - spill.linked_rows();
    let t = Instant::now();
    progress.phase("output", None, "rows");
    let out_plan = LinkedPlan {
        side: Side::Client,
        join: base.join,
        align: base.align,
        client_unlinked: unlinked,
        server_unlinked: totals.1,
        writes_unlinked: true,
    };
    let (s, path, output) = (spill.clone(), input.clone(), task.output.clone());
    let written = blocking("writing the output", move || {
        s.write(&path, &out_plan, &output.path, &output.options)
    })
    .await??;
    phases.push("write_output", t.elapsed());
    let disk = state.disk_bytes();
    let peer_padded = state
        .state
        .linkage
        .as_ref()
        .map(|l| l.peer_padded.clone())
        .unwrap_or_default();
    let summaries = spill.summaries();
    drop(spill);
    state.remove()?;
    phases.push("total", start.elapsed());
    tracing::info!(state_dir_bytes = disk, "bucketed linkage finished");

    let peer_offered: Vec<u64> = peer_padded.iter().map(|&p| p * u64::from(count)).collect();
    let padded = summaries
        .iter()
        .map(|s| padded_offer(s.offered, count))
        .max()
        .unwrap_or(0);
    let body = Linked {
        protocol: match task.protocol {
            Protocol::Kkrt => "kkrt-ot-linkage-bucketed",
            _ => "ecdh-ristretto255-linkage-bucketed",
        },
        peer: client.peer.clone(),
        linkage: LinkageReport {
            linkage: link.id.clone(),
            join: base.join.name(),
            align: base.align,
            share_result: base.share_result,
            steps: StepReport::all(&client.input.spec, &summaries, &peer_offered),
            linked_rows: rows - unlinked,
            unlinked_rows: unlinked,
            peer_rows: totals.0,
            peer_unlinked_rows: totals.1,
            rows_written: written,
            output: Some(task.output.path.display().to_string()),
        },
        buckets: Some(BucketsReport {
            count: pairs,
            shard: (workers > 1).then(|| format!("{shard}/{workers}")),
            run: ran,
            resumed,
            padded_size: padded,
            peer_padded_size: peer_padded.iter().copied().max().unwrap_or(0),
            state_dir_bytes: disk,
        }),
    };
    Ok(Report::client(input_report, body, traffic, phases))
}

/// Meets our party's other shard workers after every step before `upto`
/// (a sharded linkage; nothing otherwise).
async fn settle(spill: &Arc<LinkSpill>, upto: u16, count: u16) -> Result<(), CliError> {
    if !spill.is_sharded() {
        return Ok(());
    }
    let s = spill.clone();
    blocking("waiting for the other shard workers", move || {
        s.settle(upto, count)
    })
    .await?
}

/// The peer lost the linkage's progress (it kept its run key, so the seed
/// and every link id stay the same): every bucket runs again.
fn start_over(spill: &LinkSpill, state: &mut StateDir, steps: u16) -> Result<(), CliError> {
    eprintln!("the peer lost the linkage's progress: starting the buckets over");
    spill.start_over()?;
    let l = state
        .state
        .linkage
        .get_or_insert_with(LinkProgress::default);
    *l = LinkProgress {
        peer_padded: vec![0; usize::from(steps)],
        totals: None,
    };
    state.save()
}
