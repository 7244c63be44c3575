//! `psi run --state-dir` for a linkage: the waterfall bucket by bucket in
//! bounded memory ([`psi_core::linkage::bucketed`]).
//!
//! The run is opened as a linkage run (the server partitions every key of
//! its table), our keys are spilled by fine bucket into the state directory
//! ([`LinkSpill`]), and then each step runs its buckets one after the other,
//! each an ECDH session with its result shared; each bucket's links go to
//! disk as it finishes. After the finish message, our side is written from
//! those files ([`psi_table::linked`]): in input order, or for an aligned
//! join in id order through an external sort.
//!
//! Memory: one bit per input row, one bucket of one key and its offer, the
//! output's sort budget ([`super::link_spill::SORT_MEMORY`]).
//!
//! Not built: resume. A bucketed linkage that fails or is interrupted
//! starts over when run again; its state directory (spill and links) is
//! removed on success, failure and Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use psi_core::bucket;
use psi_core::linkage::bucketed::padded_offer;
use psi_core::linkage::{LinkageFinish, Side};
use psi_core::rng::ZeroizingRng;
use psi_server::{Phases, Traffic};
use psi_table::linked::LinkedPlan;

use super::link_spill::LinkSpill;
use super::progress::Progress;
use super::serve::shutdown_signal;
use super::table::blocking;
use crate::error::CliError;
use crate::plan::{BucketPlan, ClientPlan, LinkPlan};
use crate::report::{self, LinkageReport, Linked, Report, StepReport};

/// Tries per bucket before the run fails (a dropped connection); the pause
/// doubles from one second.
const TRIES: u32 = 4;

/// Removes the linkage's temporary files when dropped (success, failure,
/// or an interrupted run's future dropped).
struct Scratch {
    dir: PathBuf,
    /// Whether we made `dir` (then it goes too), or only `dir/linkage`.
    made: bool,
}

impl Scratch {
    fn new(state_dir: &Path) -> Result<Self, CliError> {
        let made = !state_dir.exists();
        std::fs::create_dir_all(state_dir).map_err(|source| CliError::Io {
            what: "creating the state directory",
            source,
        })?;
        let dir = state_dir.join("linkage");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Scratch {
            dir: if made { state_dir.to_path_buf() } else { dir },
            made,
        })
    }

    fn spill_dir(&self) -> PathBuf {
        if self.made {
            self.dir.join("linkage")
        } else {
            self.dir.clone()
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the linkage bucketed, with progress, until done or Ctrl-C.
pub async fn run(client: &ClientPlan, task: &LinkPlan, plan: &BucketPlan) -> Result<(), CliError> {
    let progress = Progress::new(client.quiet);
    let done = tokio::select! {
        done = link(client, task, plan, &progress) => done,
        () = shutdown_signal() => {
            progress.finish();
            return Err(CliError::Io {
                what: "the bucketed linkage",
                source: std::io::Error::other(
                    "interrupted; a bucketed linkage does not resume: its temporary files are removed and the next run starts over",
                ),
            });
        }
    };
    progress.finish();
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

fn rng() -> Result<ZeroizingRng, CliError> {
    ZeroizingRng::from_os_rng().map_err(|_| CliError::Io {
        what: "reading the operating system's randomness",
        source: std::io::Error::other("the random generator failed"),
    })
}

/// Whether a failed bucket is worth another try: what is for an intersection
/// ([`super::retry::transient`]), except a run the server forgot: a linkage
/// run does not survive a server's restart.
fn transient(e: &psi_server::Error) -> bool {
    let forgotten = matches!(e, psi_server::Error::Peer { code, .. }
        if code.as_str() == psi_server::api::code::UNKNOWN_RUN);
    super::retry::transient(e) && !forgotten
}

async fn link(
    client: &ClientPlan,
    task: &LinkPlan,
    plan: &BucketPlan,
    progress: &Progress,
) -> Result<Report<Linked>, CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let (peer, cfg) = (&client.peer, &client.config);
    let input = client.input.path.clone();
    let scratch = Scratch::new(&plan.state_dir)?;
    let nonce = match plan.nonce {
        Some(nonce) => nonce,
        None => bucket::client_nonce(&mut rng()?),
    };
    let mut traffic = Traffic::default();
    let run = psi_server::open_linkage_run(peer, cfg, nonce).await?;
    traffic.add(run.traffic);

    let t = Instant::now();
    progress.phase("partition", None, "rows");
    let (path, spec, seed, dir, p) = (
        input.clone(),
        client.input.spec.clone(),
        run.seed.clone(),
        scratch.spill_dir(),
        progress.clone(),
    );
    let duplicates = task.duplicates;
    let (spill, input_report) = blocking("partitioning the input", move || {
        LinkSpill::create(&path, &spec, duplicates, &seed, &dir, |n| p.set(n))
    })
    .await??;
    let spill = Arc::new(spill);
    phases.push("partition", t.elapsed());
    if client.input.refuse_duplicates && input_report.duplicate_key_rows > 0 {
        return Err(CliError::Usage(format!(
            "{}: {} rows repeat another row's key; give --duplicates first or all, or remove them",
            input.display(),
            input_report.duplicate_key_rows
        )));
    }

    let t = Instant::now();
    progress.phase("peer partition", None, "rows");
    let p = progress.clone();
    let peer_rows = psi_server::wait_run_ready(peer, cfg, &run.id, |n| p.set(n)).await?;
    phases.push("peer_partition", t.elapsed());
    let count = bucket::bucket_count(spill.rows(), peer_rows, plan.bucket_items);
    let steps = spill.steps() as u16;

    let mut rng = rng()?;
    let mut peer_offered = vec![0u64; usize::from(steps)];
    progress.phase(
        "buckets",
        Some(u64::from(steps) * u64::from(count)),
        "buckets",
    );
    for step in 0..steps {
        let t = Instant::now();
        for index in 0..count {
            let s = spill.clone();
            let (offer, total) =
                blocking("reading a bucket", move || s.offer(step, index, count)).await??;
            let items = offer
                .padded(padded_offer(total, count), index, &mut rng)
                .map_err(psi_server::Error::from)?;
            let out = run_one(client, &run.id, step, (index, count), items).await?;
            traffic.add(out.traffic);
            peer_offered[usize::from(step)] += out.server_offered;
            let s = spill.clone();
            blocking("recording a bucket", move || {
                s.record(step, index, count, &offer, &out.matched)
            })
            .await??;
            progress.set(u64::from(step) * u64::from(count) + u64::from(index) + 1);
        }
        phases.push(format!("step {}", step + 1), t.elapsed());
    }

    let rows = spill.rows();
    let unlinked = rows - spill.linked_rows();
    let finish = LinkageFinish {
        client_rows: rows,
        client_unlinked_rows: unlinked,
        ..task.finish
    };
    let (totals, more) = psi_server::finish_linkage_run(peer, cfg, &run.id, &finish).await?;
    traffic.add(more);

    let t = Instant::now();
    progress.phase("output", None, "rows");
    let out_plan = LinkedPlan {
        side: Side::Client,
        join: finish.join,
        align: finish.align,
        client_unlinked: unlinked,
        server_unlinked: totals.server_unlinked_rows,
    };
    let (s, path, output) = (spill.clone(), input.clone(), task.output.clone());
    let written = blocking("writing the output", move || {
        s.write(&path, &out_plan, &output.path, &output.options)
    })
    .await??;
    phases.push("write_output", t.elapsed());
    let disk = dir_bytes(&scratch.dir);
    phases.push("total", start.elapsed());
    tracing::info!(state_dir_bytes = disk, "bucketed linkage finished");

    let body = Linked {
        protocol: "ecdh-ristretto255-linkage-bucketed",
        peer: client.peer.clone(),
        linkage: LinkageReport {
            linkage: run.id.clone(),
            join: finish.join.name(),
            align: finish.align,
            share_result: finish.share_result,
            steps: StepReport::all(&client.input.spec, &spill.summaries(), &peer_offered),
            linked_rows: rows - unlinked,
            unlinked_rows: unlinked,
            peer_rows: totals.server_rows,
            peer_unlinked_rows: totals.server_unlinked_rows,
            rows_written: written,
            output: Some(task.output.path.display().to_string()),
        },
    };
    drop(scratch);
    Ok(Report::client(input_report, body, traffic, phases))
}

/// One bucket, tried again after a lost connection (the server undoes a
/// bucket it recorded but whose answer we did not get).
async fn run_one(
    client: &ClientPlan,
    run: &str,
    step: u16,
    bucket: (u16, u16),
    items: Vec<psi_core::Item>,
) -> Result<psi_server::LinkBucket, CliError> {
    let (peer, cfg) = (&client.peer, &client.config);
    let mut pause = Duration::from_secs(1);
    let mut tries = 0;
    loop {
        tries += 1;
        let result = psi_server::run_link_bucket(peer, cfg, run, step, bucket, items.clone()).await;
        let e = match result {
            Ok(out) => return Ok(out),
            Err(e) if tries < TRIES && transient(&e) => e,
            Err(e) => return Err(e.into()),
        };
        tracing::warn!(
            step,
            bucket = bucket.0,
            "linkage bucket failed ({e}); trying again in {pause:?}"
        );
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// Bytes under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
