//! `--mode cardinality|sum` with `--state-dir`: PSI-cardinality and PSI-sum
//! in external memory ([`psi_core::pjc::external`]), one session over the
//! whole sets (never per bucket: the counter would learn a count per bucket).
//!
//! Both parties first spill their keys to disk by a keyed hash partition
//! with a seed of their own (only to deduplicate: it never leaves the
//! machine; the server's comes from its run key, so its spill is the same
//! after a restart), the server adding up the values of a key's rows. The client
//! (counter) then streams its distinct keys from the spill into
//! [`psi_server::run_pjc_client_on_disk`]; the server hands its spill to
//! [`psi_server::PsiServer::bind_pjc_on_disk`] as a [`PjcSource`]. Memory:
//! one fine bucket of the spill, a chunk in flight and one temporary file
//! of about 2^20 records.
//!
//! **The client resumes** ([`psi_server::run_pjc_client_on_disk`]): its
//! state directory holds `state.json` (the input's size and SHA-256, the
//! options that decide the result, the spill's seed and counts; checked
//! on resume: a changed input or option is refused, naming it), the spill
//! (`spill/`) and the session (`pjc/`: its secret seed, 0600, and the
//! prefix files). After a dropped connection the run tries again with
//! back-off; after a kill, the same command goes on from there. The
//! directory is removed when the run succeeded. The server keeps each
//! session in `pjc-sessions/` of its state directory (secrets included,
//! owner-only), so that the client also resumes after the server restarts
//! with the same input and options; a session's files go when it
//! completes (a sum: when its client confirms the answer) or expires
//! (`--session-retention`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use psi_core::bucket::{Partition, PartitionSeed, FINE_BUCKETS};
use psi_core::pjc::MAX_VALUE;
use psi_core::Item;
use psi_server::scratch::ScratchDir;
use psi_server::{
    CounterItems, DiskOptions, EachBatch, OnProgress, Phases, PjcSource, PsiServer, ServerConfig,
};
use psi_table::spill::{Bucket, Spill, SpillWriter};
use psi_table::KeySpec;
use sha2::{Digest, Sha256};

use super::partition::spill_keys;
use super::progress::Progress;
use super::release::client_release;
use super::retry::{transient, TRIES};
use super::state::{digest_file, unhex32, StateDir};
use super::table::blocking;
use crate::error::CliError;
use crate::plan::{AggregatePlan, ClientPlan, ServePlan, ServeTask};
use crate::report::{self, seconds, Aggregated, ExternalReport, InputReport, Report};

/// Records handed over at a time.
const BATCH: usize = 4096;

fn random_seed() -> Result<PartitionSeed, CliError> {
    let mut rng = psi_core::rng::ZeroizingRng::from_os_rng().map_err(|_| CliError::Io {
        what: "reading the operating system's randomness",
        source: std::io::Error::other("the random generator failed"),
    })?;
    Ok(PartitionSeed::from_bytes(psi_core::bucket::client_nonce(
        &mut rng,
    )))
}

/// Progress lines for the phases of [`psi_server::run_pjc_client_on_disk`].
fn on_progress(progress: &Progress) -> OnProgress {
    let (progress, phase) = (progress.clone(), Mutex::new(""));
    Arc::new(move |name, done, total| {
        if let Ok(mut current) = phase.lock() {
            if *current != name {
                *current = name;
                let unit = if name == "count" { "files" } else { "items" };
                progress.phase(name, (total > 0).then_some(total), unit);
            }
        }
        progress.set(done);
    })
}

/// Our distinct keys, fine bucket after fine bucket.
struct SpillItems {
    spill: Spill,
    next_fine: u16,
    current: Vec<Item>,
}

impl CounterItems for SpillItems {
    fn distinct(&self) -> u64 {
        self.spill.distinct()
    }

    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Item>>, String> {
        while self.current.is_empty() {
            if self.next_fine >= FINE_BUCKETS {
                return Ok(None);
            }
            let fine = self.next_fine;
            self.next_fine += 1;
            let mut items = self
                .spill
                .load(fine..fine + 1)
                .map_err(|e| e.to_string())?
                .items;
            items.reverse(); // taken from the end below
            self.current = items;
        }
        let keep = self.current.len().saturating_sub(max);
        Ok(Some(self.current.split_off(keep)))
    }
}

/// What decides a cardinality or sum run's result, as `state.json` keeps it.
fn run_config(client: &ClientPlan, task: &AggregatePlan) -> String {
    format!(
        "mode {}; key {}; threshold {}; sum bits {}; peer {}",
        task.params.protocol.name(),
        task.key.canonical(),
        task.params.min_intersection,
        task.params.sum_bits,
        client.peer
    )
}

/// `psi run --mode cardinality|sum --state-dir DIR`: resumes what `dir`
/// holds of the same run.
pub async fn aggregate(
    client: &ClientPlan,
    task: &AggregatePlan,
    dir: &Path,
    progress: &Progress,
) -> Result<(), CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let input_path = client.input.path.clone();
    let size = std::fs::metadata(&input_path).map(|m| m.len()).ok();
    progress.phase("checksum", size, "bytes");
    let (p, path) = (progress.clone(), input_path.clone());
    let digest = blocking("hashing the input", move || {
        digest_file(&path, |n| p.set(n))
    })
    .await??;
    phases.push("checksum", start.elapsed());
    let nonce = random_seed()?;
    let mut state = StateDir::open(dir, digest, run_config(client, task), *nonce.as_bytes())?;
    let seed = unhex32(&state.state.client_nonce)
        .map(PartitionSeed::from_bytes)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{}: damaged run state (spill seed); remove the directory to start over",
                dir.display()
            ))
        })?;

    let t = Instant::now();
    let spill = match &state.state.spilled {
        Some(_) => {
            eprintln!("resuming from {}", dir.display());
            Spill::open(&state.spill_dir(), FINE_BUCKETS)?
        }
        None => {
            progress.phase("partition", None, "rows");
            let (path, key, p, into) = (
                input_path.clone(),
                task.key.clone(),
                progress.clone(),
                state.spill_dir(),
            );
            let _ = std::fs::remove_dir_all(&into);
            let (spill, input) = blocking("partitioning the input", move || {
                spill_keys(&path, &key, &seed, &into, |n| p.set(n))
            })
            .await??;
            state.state.spilled = Some(input);
            state.save()?;
            spill
        }
    };
    phases.push("read_input", t.elapsed());
    let input = state.state.spilled.clone().unwrap_or_default();
    let spill_bytes = dir_bytes(&state.spill_dir());
    let options = DiskOptions {
        dir: dir.join("pjc"),
        checkpoint_every: task.checkpoint_every,
        confirm: true,
    };
    let mut items: Box<dyn CounterItems> = Box::new(SpillItems {
        spill,
        next_fine: 0,
        current: Vec::new(),
    });
    let mut pause = std::time::Duration::from_secs(1);
    let mut tries = 0;
    let run = loop {
        let attempt = psi_server::run_pjc_client_on_disk(
            &client.peer,
            items,
            &options,
            &task.params,
            &client.config,
            on_progress(progress),
        )
        .await;
        tries += 1;
        match attempt {
            Ok(run) => break run,
            Err(e) if tries < TRIES && transient(&e) => {
                tracing::warn!("the session failed ({e}); resuming in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                items = Box::new(SpillItems {
                    spill: Spill::open(&state.spill_dir(), FINE_BUCKETS)?,
                    next_fine: 0,
                    current: Vec::new(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    };
    progress.finish();
    state.remove()?;
    phases.extend(&run.run.phases);
    phases.push("total", start.elapsed());
    let external = ExternalReport {
        spill_bytes,
        scratch_bytes: run.scratch_bytes,
        prefix_files: run.prefix_files as u64,
        resumed: run.resumed,
    };
    aggregated(client, task, run.run, input, phases, Some(external))
}

/// Bytes in the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The served set on disk: the spill, and the values of each key added up.
struct DiskSet {
    spill: Spill,
    /// `--mode sum`: values (in the spill's row slot), and the clamp.
    values: Option<Option<u64>>,
    total: Option<u64>,
    scratch: PathBuf,
    /// Where sessions are kept for a restart, and the table's digest.
    sessions: PathBuf,
    table: [u8; 32],
    _dir: ScratchDir,
    column: String,
}

impl DiskSet {
    /// The value of each item of `bucket`: its rows' values added up (at
    /// most [`MAX_VALUE`]), then clamped to `--dp-sum-sensitivity`.
    fn values(&self, bucket: &Bucket, bound: Option<u64>) -> Result<Vec<u64>, String> {
        (0..bucket.items.len())
            .map(|i| {
                let total: u64 = bucket.rows_of(i).iter().map(|&v| u64::from(v)).sum();
                if total > MAX_VALUE {
                    return Err(format!(
                        "the values in column {} of one key's rows add up to {total}, more than the largest value ({MAX_VALUE})",
                        self.column
                    ));
                }
                Ok(bound.map_or(total, |b| total.min(b)))
            })
            .collect()
    }
}

impl PjcSource for DiskSet {
    fn distinct(&self) -> u64 {
        self.spill.distinct()
    }

    fn total(&self) -> Option<u64> {
        self.total
    }

    fn for_each(&self, each: &mut EachBatch<'_>) -> Result<(), String> {
        for fine in 0..FINE_BUCKETS {
            let bucket = self.spill.load(fine..fine + 1).map_err(|e| e.to_string())?;
            let values = match self.values {
                Some(bound) => self.values(&bucket, bound)?,
                None => Vec::new(),
            };
            for (k, items) in bucket.items.chunks(BATCH).enumerate() {
                let v = values
                    .get(k * BATCH..k * BATCH + items.len())
                    .unwrap_or(&[]);
                each(items, v)?;
            }
        }
        Ok(())
    }

    fn scratch(&self) -> &Path {
        &self.scratch
    }

    fn sessions(&self) -> Option<(&Path, [u8; 32])> {
        Some((&self.sessions, self.table))
    }
}

/// The served table's partition seed, from the server's run key.
fn table_seed(run_key: &[u8; 32]) -> PartitionSeed {
    let digest = Sha256::new()
        .chain_update(b"psi serve: PJC table partition\0")
        .chain_update(run_key)
        .finalize();
    PartitionSeed::from_bytes(digest.into())
}

/// What a kept session checks the table by: the input's SHA-256 and what
/// makes its items and values (key, value column, clamp).
fn table_digest(
    file_sha256: &str,
    key: &KeySpec,
    value: Option<&str>,
    bound: Option<u64>,
) -> [u8; 32] {
    let options = format!("{key:?}\n{value:?}\n{bound:?}");
    Sha256::new()
        .chain_update(b"psi serve: PJC table\0")
        .chain_update(file_sha256.as_bytes())
        .chain_update([0])
        .chain_update(options.as_bytes())
        .finalize()
        .into()
}

/// Spills `path`'s keys (with `column`'s values in the row slot: a value is
/// at most [`MAX_VALUE`] = 2^32 − 1, which the slot holds) into `dir`.
fn spill_values(
    path: &Path,
    key: &KeySpec,
    column: &str,
    seed: &PartitionSeed,
    dir: &Path,
) -> Result<(Spill, InputReport), CliError> {
    let partition = Partition::new(seed);
    let mut writer = SpillWriter::create(dir, FINE_BUCKETS)?;
    let streamed =
        psi_table::stream_keys_values(path, key, column, MAX_VALUE, |_, item, v| match item {
            Some(item) => writer.push(partition.fine(&item), &item, v),
            None => Ok(()),
        })?;
    let spill = writer.finish()?;
    let report = InputReport::streamed(
        path,
        key,
        &streamed.stats,
        spill.records(),
        spill.distinct(),
    );
    Ok((spill, report))
}

/// `psi serve --mode cardinality|sum --state-dir DIR`: spills the table,
/// adds up the values, and binds a server that runs every session in
/// external memory over it.
pub async fn start_server(
    plan: &ServePlan,
    config: ServerConfig,
) -> Result<(PsiServer, InputReport, f64), CliError> {
    let ServeTask::Aggregate {
        key,
        value,
        value_bound,
        state_dir: Some(state_dir),
        ..
    } = &plan.task
    else {
        return Err(CliError::Usage(
            "an external-memory server serves --mode cardinality|sum with --state-dir".into(),
        ));
    };
    let (input, value_bound) = (plan.input.path.as_path(), *value_bound);
    let t = Instant::now();
    let dir = ScratchDir::create(state_dir, "pjc-table")?;
    // The partition seed comes from the run key kept in the state
    // directory: the same input spills in the same order after a restart,
    // so a kept session's set is shuffled into the same order again.
    let run_key = super::state::run_key(state_dir)?;
    let (path, key, into, seed) = (
        input.to_path_buf(),
        key.clone(),
        dir.path().to_path_buf(),
        table_seed(&run_key),
    );
    // The file's SHA-256 (which a kept session is checked against) and the
    // spill read the file side by side, on two blocking threads.
    let digest_path = path.clone();
    let hashing = blocking("hashing the input", move || {
        digest_file(&digest_path, |_| {})
    });
    let column = value.clone();
    let (c, k) = (column.clone(), key.clone());
    let partitioning = blocking("partitioning the input", move || match &c {
        Some(column) => spill_values(&path, &k, column, &seed, &into),
        None => spill_keys(&path, &k, &seed, &into, |_| {}),
    });
    let (hashed, spilled) = tokio::try_join!(hashing, partitioning)?;
    let (_, file_digest) = hashed?;
    let (spill, report) = spilled?;
    let table = table_digest(&file_digest, &key, value.as_deref(), value_bound);
    let mut set = DiskSet {
        spill,
        values: column.as_ref().map(|_| value_bound),
        total: None,
        scratch: state_dir.to_path_buf(),
        sessions: state_dir.join("pjc-sessions"),
        table,
        _dir: dir,
        column: column.unwrap_or_default(),
    };
    if let Some(bound) = set.values {
        // One pass for the total, which every hello is checked against.
        let (set_back, total) = blocking("adding up the values", move || {
            let mut total = 0u64;
            let r = set.for_each(&mut |_, values| {
                total = total.saturating_add(values.iter().sum::<u64>());
                Ok(())
            });
            (set, r.map(|()| total))
        })
        .await?;
        set = set_back;
        let total = total.map_err(|why| CliError::Usage(format!("{}: {why}", input.display())))?;
        tracing::info!(total, clamped_to = bound, "values added up");
        set.total = Some(total);
    }
    tracing::info!(
        distinct_keys = report.distinct_keys,
        "table spilled for external-memory sessions"
    );
    let server = PsiServer::bind_pjc_on_disk(plan.listen, Arc::new(set), config).await?;
    Ok((server, report, seconds(t.elapsed())))
}

/// Releases what an aggregate run learned, prints it and writes the report.
pub(super) fn aggregated(
    client: &ClientPlan,
    task: &AggregatePlan,
    outcome: psi_server::PjcRun,
    input: InputReport,
    phases: Phases,
    external: Option<ExternalReport>,
) -> Result<(), CliError> {
    let released = client_release(outcome.output, &task.release);
    println!("{}", released.describe());
    let body = Aggregated {
        protocol: task.params.protocol.name(),
        peer: client.peer.clone(),
        session: outcome.session.clone(),
        peer_set_size: outcome.server_set_size,
        released,
        external,
    };
    let report = Report::client(input, body, outcome.traffic, phases);
    if let Some(path) = &client.report {
        report::write(path, &report)?;
    }
    Ok(())
}
