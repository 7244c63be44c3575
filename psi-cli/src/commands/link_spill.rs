//! One party's side of a bucketed linkage ([`psi_core::linkage::bucketed`])
//! on disk, for both `psi run` and `psi serve`: every key of the table
//! spilled by fine bucket in one pass, one bit per row for the rows linked
//! so far, and each finished bucket's links in a file of its own
//! (`links/s{step}-b{bucket}.bin`, [`psi_table::linked::write_links`]),
//! from which the output is written at the end
//! ([`psi_table::linked::write_linked`]).
//!
//! Memory: the bitmap (n/8 bytes), one loaded bucket of one key and its
//! offer, and the per-step counts; never a whole key or the table.
//!
//! A step starts only once every bucket of the steps before it is recorded
//! (its offers depend on the rows they linked). When a step starts, every
//! bucket's offer is counted once: the step's total decides the padded size
//! of all its buckets ([`psi_core::linkage::bucketed::padded_offer`]). A
//! bucket asked for again after it was recorded (its result's answer was
//! lost, or a party resumed after a crash) is first undone, with every
//! bucket of the later steps: its links are cleared, so its offer is what
//! it was, and so are the later steps' (which depended on it).
//!
//! The directory is enough to resume ([`super::link_resume`], [`super::link_meta`]):
//! `linkage.json`, written once the spill is complete, holds the counts and
//! the bucket count; a bucket is recorded exactly when its link file exists
//! (written atomically); the bitmap, the step totals and the summaries are
//! made again from the link files, step by step, as they were made.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use psi_core::bucket::{fine_range, Partition, PartitionSeed, FINE_BUCKETS};
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed::{policy, BucketOffer};
use psi_core::linkage::{Duplicates, StepSummary};
use psi_table::linked::{write_linked, write_links, LinkedOutput, LinkedPlan, LINK_BYTES};
use psi_table::spill::{Spill, SpillWriter};
use psi_table::LinkageSpec;

use super::link_meta::LinkMeta;
use super::link_shard::Barrier;
use crate::error::CliError;
use crate::report::InputReport;

/// Bytes of rows the aligned output's sort holds before writing a run.
pub const SORT_MEMORY: usize = 64 << 20;

/// A party's linkage on disk.
pub struct LinkSpill {
    pub(super) dir: PathBuf,
    pub(super) keys: Vec<Spill>,
    pub(super) rows: u64,
    pub(super) duplicates: Duplicates,
    pub(super) meta: LinkMeta,
    pub(super) state: Mutex<State>,
    /// A sharded linkage: this worker and its party's meeting place
    /// ([`super::link_meet`]).
    pub(super) shard: Option<Barrier>,
}

/// What changes as buckets finish.
pub(super) struct State {
    /// One bit per row: linked.
    pub(super) linked: Vec<u64>,
    pub(super) linked_rows: u64,
    /// The bucket count, fixed by the first bucket asked for.
    pub(super) count: Option<u16>,
    /// Per step, per bucket: recorded.
    pub(super) done: Vec<Vec<bool>>,
    /// Per step, once started: the values it offers in all.
    pub(super) totals: Vec<Option<u64>>,
    pub(super) summaries: Vec<StepSummary>,
    /// Per step: the other shard workers' links merged into the bitmap
    /// (and their buckets marked done).
    pub(super) met: Vec<bool>,
}

pub(super) fn usage(message: String) -> CliError {
    CliError::Usage(message)
}

impl State {
    /// A state with nothing linked, for `rows` rows and `steps` keys.
    pub(super) fn new(rows: u64, steps: usize) -> Self {
        State {
            linked: vec![0; (rows as usize).div_ceil(64)],
            linked_rows: 0,
            count: None,
            done: vec![Vec::new(); steps],
            totals: vec![None; steps],
            summaries: vec![StepSummary::default(); steps],
            met: vec![false; steps],
        }
    }

    pub(super) fn is_linked(&self, row: u32) -> bool {
        let r = row as usize;
        self.linked
            .get(r / 64)
            .is_some_and(|w| w >> (r % 64) & 1 == 1)
    }

    pub(super) fn set(&mut self, row: u32, on: bool) -> Result<(), CliError> {
        let r = row as usize;
        let word = self
            .linked
            .get_mut(r / 64)
            .ok_or_else(|| usage(format!("row {row} is beyond the table")))?;
        let bit = 1u64 << (r % 64);
        let was = *word & bit != 0;
        if on {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        match (was, on) {
            (false, true) => self.linked_rows += 1,
            (true, false) => self.linked_rows -= 1,
            _ => {}
        }
        Ok(())
    }
}

impl LinkSpill {
    /// Streams every key of `spec` from `path` into fine-bucket files under
    /// `dir` (made), partitioned by `seed`; `rows` hears the rows read.
    /// Returns the spill and the input's counts (the first key's at the top).
    pub fn create(
        path: &Path,
        spec: &LinkageSpec,
        duplicates: Duplicates,
        seed: &PartitionSeed,
        dir: &Path,
        rows: impl Fn(u64),
    ) -> Result<(Self, InputReport), CliError> {
        let partition = Partition::new(seed);
        let mut writers = (0..spec.keys().len())
            .map(|k| SpillWriter::create(&dir.join(format!("key-{k}")), FINE_BUCKETS))
            .collect::<Result<Vec<_>, _>>()?;
        let streamed = psi_table::stream_linkage_keys(path, spec.keys(), |row, k, item| {
            if k == 0 && row % 65536 == 0 {
                rows(row);
            }
            writers[k].push(partition.fine(&item), &item, row)
        })?;
        let keys = writers
            .into_iter()
            .map(SpillWriter::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let stats = &streamed[0].stats;
        rows(stats.rows);
        let mut report = InputReport::streamed(
            path,
            &spec.keys()[0],
            stats,
            keys[0].records(),
            keys[0].distinct(),
        );
        report.key = spec.keys().iter().map(|k| k.canonical()).collect();
        std::fs::create_dir_all(dir.join("links")).map_err(|source| CliError::Io {
            what: "creating the links directory",
            source,
        })?;
        let steps = keys.len();
        let n = stats.rows;
        let meta = LinkMeta::new(spec, duplicates, report.clone());
        meta.save(dir)?;
        Ok((
            LinkSpill {
                dir: dir.to_path_buf(),
                keys,
                rows: n,
                duplicates: policy(steps, duplicates),
                meta,
                state: Mutex::new(State::new(n, steps)),
                shard: None,
            },
            report,
        ))
    }

    /// The same spill as shard worker `barrier.shard` of a sharded linkage.
    pub fn sharded(mut self, barrier: Option<Barrier>) -> Self {
        self.shard = barrier;
        self
    }

    /// Whether this is one shard worker of a sharded linkage.
    pub fn is_sharded(&self) -> bool {
        self.shard.is_some()
    }

    /// Whether this worker runs bucket `bucket` (every bucket, unsharded).
    pub fn owns(&self, bucket: u16) -> bool {
        self.shard.as_ref().is_none_or(|b| b.shard.owns(bucket))
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Data rows.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Keys (steps).
    pub fn steps(&self) -> usize {
        self.keys.len()
    }

    /// Rows linked so far.
    pub fn linked_rows(&self) -> u64 {
        self.state().linked_rows
    }

    /// What each step did.
    pub fn summaries(&self) -> Vec<StepSummary> {
        self.state().summaries.clone()
    }

    /// Whether every bucket of every step is recorded.
    pub fn complete(&self) -> bool {
        let st = self.state();
        st.count.is_some()
            && st
                .done
                .iter()
                .all(|d| !d.is_empty() && d.iter().all(|&x| x))
    }

    pub(super) fn links_path(&self, step: u16, bucket: u16) -> PathBuf {
        self.dir
            .join("links")
            .join(format!("s{step:03}-b{bucket:03}.bin"))
    }

    /// Every finished bucket's link file.
    pub fn link_files(&self) -> Vec<PathBuf> {
        let st = self.state();
        let mut files = Vec::new();
        for (step, done) in st.done.iter().enumerate() {
            for (bucket, &d) in done.iter().enumerate() {
                if d && self.owns(bucket as u16) {
                    files.push(self.links_path(step as u16, bucket as u16));
                }
            }
        }
        files
    }

    /// The offer of one bucket from the current bitmap.
    pub(super) fn bucket_offer(
        &self,
        st: &State,
        step: u16,
        bucket: u16,
        count: u16,
    ) -> Result<BucketOffer, CliError> {
        let loaded = self.keys[usize::from(step)].load(fine_range(bucket, count))?;
        let values = (0..loaded.items.len()).map(|i| (loaded.items[i], loaded.rows_of(i)));
        Ok(BucketOffer::new(self.duplicates, values, |r| {
            st.is_linked(r)
        }))
    }

    /// Bucket `bucket` of `count` at `step`: its offer and the step's total.
    pub fn offer(
        &self,
        step: u16,
        bucket: u16,
        count: u16,
    ) -> Result<(BucketOffer, u64), CliError> {
        let mut st = self.state();
        let s = usize::from(step);
        if s >= self.keys.len() || bucket >= count {
            return Err(usage(format!(
                "no bucket {bucket} of {count} at step {step} in a linkage of {} keys",
                self.keys.len()
            )));
        }
        if let Some(b) = self.shard.as_ref().filter(|b| !b.shard.owns(bucket)) {
            return Err(usage(format!(
                "bucket {bucket} is shard worker {}'s, and this is worker {}: pair worker I of one party with worker I of the other (the same --shard I/W)",
                bucket % b.shard.workers,
                b.shard
            )));
        }
        self.fix_count(&mut st, count)?;
        self.meet_before(&mut st, step)?;
        if let Some(earlier) = (0..s).find(|&e| st.done[e].iter().any(|&d| !d)) {
            return Err(usage(format!(
                "step {step} cannot start: step {earlier} has buckets to run"
            )));
        }
        if st.done[s][usize::from(bucket)] {
            // The later steps' offers depended on it: they go first.
            for later in (s + 1..self.keys.len()).rev() {
                for b in 0..count {
                    if st.done[later][usize::from(b)] && self.owns(b) {
                        self.undo(&mut st, later as u16, b)?;
                    }
                }
                self.unmeet(&mut st, later as u16, count)?;
                st.totals[later] = None;
                st.summaries[later] = StepSummary::default();
            }
            self.undo(&mut st, step, bucket)?;
        }
        if st.totals[s].is_none() {
            self.start_step(&mut st, step, count)?;
        }
        let offer = self.bucket_offer(&st, step, bucket, count)?;
        Ok((offer, st.totals[s].unwrap_or_default()))
    }

    /// Fixes the bucket count, or checks it.
    pub(super) fn fix_count(&self, st: &mut State, count: u16) -> Result<(), CliError> {
        match st.count {
            Some(c) if c != count => {
                Err(usage(format!("the linkage runs {c} buckets, not {count}")))
            }
            Some(_) => Ok(()),
            None => {
                self.meta.with_count(Some(count)).save(&self.dir)?;
                st.count = Some(count);
                st.done = vec![vec![false; usize::from(count)]; self.keys.len()];
                Ok(())
            }
        }
    }

    /// Counts every bucket's offer of `step` from the bitmap: the step's
    /// total and its summary's offered and ambiguous values.
    pub(super) fn start_step(&self, st: &mut State, step: u16, count: u16) -> Result<(), CliError> {
        let s = usize::from(step);
        let mut total = 0u64;
        let mut ambiguous = 0u64;
        for b in 0..count {
            let o = self.bucket_offer(st, step, b, count)?;
            total += o.len() as u64;
            ambiguous += o.ambiguous;
        }
        st.totals[s] = Some(total);
        st.summaries[s].offered = total;
        st.summaries[s].ambiguous = ambiguous;
        Ok(())
    }

    /// The first step before `step` with a bucket not recorded.
    pub fn unfinished_before(&self, step: u16) -> Option<u16> {
        let st = self.state();
        if step > 0 && st.count.is_none() {
            return Some(0);
        }
        // Other workers' buckets are met when the next step asks for them.
        (0..step).find(|&e| {
            st.done[usize::from(e)]
                .iter()
                .enumerate()
                .any(|(b, &d)| !d && self.owns(b as u16))
        })
    }

    /// (step, bucket) pairs of ours recorded.
    pub fn recorded(&self) -> u64 {
        let st = self.state();
        st.done
            .iter()
            .map(|d| {
                d.iter()
                    .enumerate()
                    .filter(|&(b, &x)| x && self.owns(b as u16))
                    .count() as u64
            })
            .sum()
    }

    /// Whether bucket `bucket` of `step` is recorded.
    pub fn is_recorded(&self, step: u16, bucket: u16) -> bool {
        let st = self.state();
        st.done
            .get(usize::from(step))
            .and_then(|d| d.get(usize::from(bucket)))
            .is_some_and(|&d| d)
    }

    /// Forgets every bucket (and the bucket count): the linkage starts over.
    pub fn start_over(&self) -> Result<(), CliError> {
        let mut st = self.state();
        if let Some(count) = st.count {
            // The last step first: what is left after a crash is then still
            // a prefix of the waterfall.
            for step in (0..self.keys.len() as u16).rev() {
                for b in 0..count {
                    if st.done[usize::from(step)][usize::from(b)] && self.owns(b) {
                        self.undo(&mut st, step, b)?;
                    }
                }
            }
        }
        self.meta.with_count(None).save(&self.dir)?;
        *st = State::new(self.rows, self.keys.len());
        Ok(())
    }

    /// Clears a recorded bucket's links (it runs again).
    fn undo(&self, st: &mut State, step: u16, bucket: u16) -> Result<(), CliError> {
        let path = self.links_path(step, bucket);
        let bytes = std::fs::read(&path).map_err(|source| psi_table::Error::Open {
            path: path.clone(),
            source,
        })?;
        let summary = &mut st.summaries[usize::from(step)];
        let mut ids = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for r in bytes.chunks_exact(LINK_BYTES) {
            rows.push(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
            ids.insert(<[u8; 16]>::try_from(&r[4..]).unwrap_or_default());
        }
        summary.linked_rows = summary.linked_rows.saturating_sub(rows.len() as u64);
        summary.matched = summary.matched.saturating_sub(ids.len() as u64);
        for row in rows {
            st.set(row, false)?;
        }
        st.done[usize::from(step)][usize::from(bucket)] = false;
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    /// Records a bucket's result: `matched` lists (index into the padded
    /// items, id). Writes its links, then marks it done. Returns the rows
    /// linked.
    pub fn record(
        &self,
        step: u16,
        bucket: u16,
        count: u16,
        offer: &BucketOffer,
        matched: &[(u32, LinkId)],
    ) -> Result<u64, CliError> {
        let mut links = offer
            .links(matched)
            .map_err(|e| usage(format!("bucket {bucket} of step {step}: {e}")))?;
        let mut st = self.state();
        let s = usize::from(step);
        if st.count != Some(count)
            || st.done.get(s).and_then(|d| d.get(usize::from(bucket))) != Some(&false)
        {
            return Err(usage(format!(
                "bucket {bucket} of step {step} is not waiting for its result"
            )));
        }
        if let Some(&(row, _)) = links.iter().find(|(r, _)| st.is_linked(*r)) {
            return Err(usage(format!("row {row} would be linked twice")));
        }
        write_links(&self.links_path(step, bucket), &mut links)?;
        for &(row, _) in &links {
            st.set(row, true)?;
        }
        let real = matched
            .iter()
            .filter(|(i, _)| (*i as usize) < offer.len())
            .count() as u64;
        let summary = &mut st.summaries[s];
        summary.matched += real;
        summary.linked_rows += links.len() as u64;
        st.done[s][usize::from(bucket)] = true;
        // Tell the other workers now, so that none waits longer than it must.
        self.publish_bucket(&st, step, bucket)?;
        Ok(links.len() as u64)
    }

    /// Writes this side of the result from the link files.
    pub fn write(
        &self,
        input: &Path,
        plan: &LinkedPlan,
        output: &Path,
        options: &psi_table::OutputOptions,
    ) -> Result<u64, CliError> {
        let files = self.link_files();
        let st = self.state();
        let out = LinkedOutput {
            path: output,
            options,
            id_column: "psi_id",
            scratch: &self.dir,
            sort_memory: SORT_MEMORY,
            linked_anywhere: self.shard.as_ref().map(|_| &st.linked[..]),
        };
        let plan = LinkedPlan {
            writes_unlinked: self
                .shard
                .as_ref()
                .is_none_or(|b| b.shard.writes_unlinked()),
            ..*plan
        };
        Ok(write_linked(
            input,
            self.rows as usize,
            &files,
            &plan,
            &out,
        )?)
    }

    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
