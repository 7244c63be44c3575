//! A shard worker's side of a sharded bucketed linkage
//! ([`psi_core::linkage::shard`]): as each of its buckets is recorded it
//! hands the bucket's linked rows to its party's other workers
//! ([`Barrier::publish`](super::link_shard::Barrier::publish)), and before
//! the next step (or the output) it takes theirs into its bitmap, so that
//! the next step's offers, counted over every bucket, are a single
//! machine's. Their buckets are then marked done (they have no link files
//! here: each worker writes only its own buckets' rows).
//!
//! An unsharded spill (no barrier) meets nobody: every method is a no-op.

use std::collections::HashSet;

use psi_table::linked::LINK_BYTES;

use super::link_spill::{usage, LinkSpill, State};
use crate::error::CliError;

impl LinkSpill {
    /// Whether every bucket of ours of `step` is recorded.
    fn own_done(&self, st: &State, step: u16) -> bool {
        st.done[usize::from(step)]
            .iter()
            .enumerate()
            .all(|(b, &d)| d || !self.owns(b as u16))
    }

    /// Hands our recorded bucket `bucket` of `step` to the other workers:
    /// its linked rows (its link file is sorted by row) and its distinct
    /// values. One bucket in memory.
    pub(super) fn publish_bucket(
        &self,
        st: &State,
        step: u16,
        bucket: u16,
    ) -> Result<(), CliError> {
        let (Some(barrier), Some(count)) = (&self.shard, st.count) else {
            return Ok(());
        };
        let path = self.links_path(step, bucket);
        let bytes = std::fs::read(&path).map_err(|source| psi_table::Error::Open {
            path: path.clone(),
            source,
        })?;
        let mut ids = HashSet::new();
        let mut rows = Vec::with_capacity(bytes.len() / LINK_BYTES);
        for r in bytes.chunks_exact(LINK_BYTES) {
            rows.push(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
            ids.insert(<[u8; 16]>::try_from(&r[4..]).unwrap_or_default());
        }
        barrier.publish(step, (bucket, count), ids.len() as u64, rows)
    }

    /// The buckets of the other workers.
    fn theirs(&self, count: u16) -> impl Iterator<Item = u16> + '_ {
        (0..count).filter(move |&b| !self.owns(b))
    }

    /// Meets the other workers after every step before `step` not met yet:
    /// our buckets of it must be recorded (and are published again, in case
    /// we stopped between recording and publishing one); theirs are waited
    /// for, checked, then merged one bucket at a time. Stops at the first
    /// step whose buckets of ours are not all recorded (the caller refuses to
    /// go on from there).
    pub(super) fn meet_before(&self, st: &mut State, step: u16) -> Result<(), CliError> {
        let (Some(barrier), Some(count)) = (&self.shard, st.count) else {
            return Ok(());
        };
        for e in 0..step {
            let s = usize::from(e);
            if st.met[s] {
                continue;
            }
            if !self.own_done(st, e) {
                return Ok(());
            }
            for b in (0..count).filter(|&b| self.owns(b)) {
                self.publish_bucket(st, e, b)?;
            }
            barrier.wait(e, count)?;
            // Every file is read and checked before any is merged, so a bad
            // one leaves the bitmap as it was.
            for b in self.theirs(count) {
                let links = barrier.read(e, (b, count))?;
                if let Some(row) = links.rows.iter().find(|&&r| st.is_linked(r)) {
                    return Err(usage(format!(
                        "row {row} is linked by bucket {b} of step {e} (shard worker {}) and also elsewhere: the workers' links disagree (another input or run?)",
                        b % barrier.shard.workers
                    )));
                }
            }
            for b in self.theirs(count) {
                let links = barrier.read(e, (b, count))?;
                for &row in &links.rows {
                    st.set(row, true)?;
                }
                let summary = &mut st.summaries[s];
                summary.linked_rows += links.rows.len() as u64;
                summary.matched += links.matched;
                st.done[s][usize::from(b)] = true;
            }
            st.met[s] = true;
        }
        Ok(())
    }

    /// Takes the other workers' links of `step` out of the bitmap again
    /// (our buckets of an earlier step are being undone, so this step runs
    /// again and will be met again).
    pub(super) fn unmeet(&self, st: &mut State, step: u16, count: u16) -> Result<(), CliError> {
        let s = usize::from(step);
        let Some(barrier) = &self.shard else {
            return Ok(());
        };
        if !st.met[s] {
            return Ok(());
        }
        // The files are there: they were read when the step was met.
        for b in self.theirs(count) {
            for row in barrier.read(step, (b, count))?.rows {
                st.set(row, false)?;
            }
            st.done[s][usize::from(b)] = false;
        }
        st.met[s] = false;
        Ok(())
    }
    /// Meets the other workers after every step before `upto` (all steps:
    /// the spill's step count), waiting for them as long as the barrier's
    /// timeout allows. The bucket count is fixed here if no bucket fixed it.
    pub fn settle(&self, upto: u16, count: u16) -> Result<(), CliError> {
        let mut st = self.state();
        self.fix_count(&mut st, count)?;
        self.meet_before(&mut st, upto)
    }

    /// [`LinkSpill::settle`] for every step, if the bucket count is known.
    pub fn settle_all(&self) -> Result<(), CliError> {
        let mut st = self.state();
        if st.count.is_none() {
            return Ok(());
        }
        self.meet_before(&mut st, self.keys.len() as u16)
    }
}
