//! A shard worker's side of a sharded bucketed linkage
//! ([`psi_core::linkage::shard`]): after its buckets of a step are recorded
//! it hands their linked rows to its party's other workers
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

    /// Our rows linked at `step` (sorted) and the distinct values matched,
    /// from our link files of that step.
    fn own_links(&self, st: &State, step: u16) -> Result<(Vec<u32>, u64), CliError> {
        let (mut rows, mut matched) = (Vec::new(), 0u64);
        for (b, &d) in st.done[usize::from(step)].iter().enumerate() {
            let bucket = b as u16;
            if !d || !self.owns(bucket) {
                continue;
            }
            let path = self.links_path(step, bucket);
            let bytes = std::fs::read(&path).map_err(|source| psi_table::Error::Open {
                path: path.clone(),
                source,
            })?;
            let mut ids = HashSet::new();
            for r in bytes.chunks_exact(LINK_BYTES) {
                rows.push(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
                ids.insert(<[u8; 16]>::try_from(&r[4..]).unwrap_or_default());
            }
            matched += ids.len() as u64;
        }
        rows.sort_unstable();
        Ok((rows, matched))
    }

    /// Hands our links of `step` to the other workers once our buckets of
    /// it are all recorded.
    pub(super) fn publish_if_done(&self, st: &State, step: u16) -> Result<(), CliError> {
        let (Some(barrier), Some(count)) = (&self.shard, st.count) else {
            return Ok(());
        };
        if !self.own_done(st, step) {
            return Ok(());
        }
        let (rows, matched) = self.own_links(st, step)?;
        barrier.publish(step, count, matched, rows)
    }

    /// Meets the other workers after every step before `step` not met yet:
    /// our buckets of it must be recorded; their links are waited for and
    /// merged. Stops at the first step whose buckets of ours are not all
    /// recorded (the caller refuses to go on from there).
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
            self.publish_if_done(st, e)?;
            let theirs = barrier.gather(e, count)?;
            for links in theirs {
                for &row in &links.rows {
                    if st.is_linked(row) {
                        return Err(usage(format!(
                            "row {row} is linked at step {e} by shard worker {} and also elsewhere: the workers' links disagree (another input or run?)",
                            links.shard
                        )));
                    }
                    st.set(row, true)?;
                }
                let summary = &mut st.summaries[s];
                summary.linked_rows += links.rows.len() as u64;
                summary.matched += links.matched;
                for b in (0..count).filter(|&b| links.shard.owns(b)) {
                    st.done[s][usize::from(b)] = true;
                }
            }
            st.met[s] = true;
        }
        Ok(())
    }

    /// Takes the other workers' links of `step` out of the bitmap again
    /// (our buckets of `step` are being undone, so it will be met again).
    pub(super) fn unmeet(&self, st: &mut State, step: u16, count: u16) -> Result<(), CliError> {
        let s = usize::from(step);
        let Some(barrier) = &self.shard else {
            return Ok(());
        };
        if !st.met[s] {
            return Ok(());
        }
        // The files are there: they were read when the step was met.
        for links in barrier.gather(step, count)? {
            for &row in &links.rows {
                st.set(row, false)?;
            }
            for b in (0..count).filter(|&b| links.shard.owns(b)) {
                st.done[s][usize::from(b)] = false;
            }
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
