//! Resuming a party's bucketed linkage from its directory
//! ([`super::link_spill`]): `linkage.json` says the spill is complete and
//! which configuration and bucket count it is for; the link files say which
//! buckets are recorded. [`LinkSpill::open_sharded`] makes the rest again as the
//! uninterrupted run made it: step by step, each started step's total and
//! summary counted from the bitmap of the steps before it, then its recorded
//! buckets' links applied.

use std::path::Path;
use std::sync::Mutex;

use psi_core::bucket::FINE_BUCKETS;
use psi_core::linkage::bucketed::policy;
use psi_core::linkage::Duplicates;
use psi_table::linked::LINK_BYTES;
use psi_table::spill::Spill;
use psi_table::LinkageSpec;

use super::link_meta::{config, sweep, LinkMeta, FORMAT, META};
use super::link_shard::Barrier;
use super::link_spill::{usage, LinkSpill, State};
use crate::error::CliError;
use crate::report::InputReport;

/// The (step, bucket) of a link file's name `s{step}-b{bucket}.bin`.
fn parse_name(name: &str) -> Option<(u16, u16)> {
    let (step, bucket) = name.strip_suffix(".bin")?.split_once("-b")?;
    Some((step.strip_prefix('s')?.parse().ok()?, bucket.parse().ok()?))
}

impl LinkSpill {
    /// Opens the linkage `dir` holds if its spill is complete and was made
    /// for `spec` and `duplicates` (`Ok(None)` otherwise: make it anew), with
    /// its recorded buckets. A directory that contradicts itself is an error
    /// naming the file.
    ///
    /// A shard worker of a sharded linkage (`shard`) reads the other
    /// workers' links of every step it went past again from the shard
    /// directory (waiting for them, if need be).
    pub fn open_sharded(
        dir: &Path,
        spec: &LinkageSpec,
        duplicates: Duplicates,
        shard: Option<Barrier>,
    ) -> Result<Option<(Self, InputReport)>, CliError> {
        let path = dir.join(META);
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let damaged = |why: String| usage(format!("{}: {why}", path.display()));
        let meta: LinkMeta = serde_json::from_slice(&bytes)
            .map_err(|e| damaged(format!("not a linkage state ({e})")))?;
        if meta.format != FORMAT || meta.config != config(spec, duplicates) {
            return Ok(None);
        }
        sweep(dir);
        let keys = (0..spec.keys().len())
            .map(|k| Spill::open(&dir.join(format!("key-{k}")), FINE_BUCKETS))
            .collect::<Result<Vec<_>, _>>()?;
        let (rows, steps) = (meta.report.rows, keys.len());
        let spill = LinkSpill {
            dir: dir.to_path_buf(),
            keys,
            rows,
            duplicates: policy(steps, duplicates),
            meta: meta.clone(),
            state: Mutex::new(State::new(rows, steps)),
            shard,
        };
        // Touched, so that a server's eviction of old linkages spares it.
        meta.save(dir)?;
        spill.replay(meta.count).map_err(|e| match e {
            e @ (CliError::ShardTimeout { .. } | CliError::ShardFile { .. }) => e,
            e => damaged(e.to_string()),
        })?;
        Ok(Some((spill, meta.report)))
    }

    /// Applies the recorded buckets, step by step, as they were recorded.
    fn replay(&self, count: Option<u16>) -> Result<(), CliError> {
        let steps = self.keys.len();
        let mut found: Vec<Vec<u16>> = vec![Vec::new(); steps];
        let links = self.dir.join("links");
        let entries = std::fs::read_dir(&links).map_err(|source| CliError::Io {
            what: "reading the links directory",
            source,
        })?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let at = parse_name(&name)
                .filter(|&(s, b)| {
                    usize::from(s) < steps && count.is_some_and(|c| b < c) && self.owns(b)
                })
                .ok_or_else(|| usage(format!("{name} is no bucket of this linkage")))?;
            found[usize::from(at.0)].push(at.1);
        }
        let mut st = self.state();
        let Some(count) = count else {
            return Ok(());
        };
        st.count = Some(count);
        st.done = vec![vec![false; usize::from(count)]; steps];
        for step in 0..steps {
            if found[step].is_empty() {
                continue;
            }
            let ours = (0..count).filter(|&b| self.owns(b)).count();
            if let Some(earlier) = (0..step).find(|&e| found[e].len() != ours) {
                return Err(usage(format!(
                    "step {step} has recorded buckets, but step {earlier} is not complete"
                )));
            }
            self.meet_before(&mut st, step as u16)?;
            self.start_step(&mut st, step as u16, count)?;
            for &bucket in &found[step] {
                let path = self.links_path(step as u16, bucket);
                let bytes = std::fs::read(&path).map_err(|source| psi_table::Error::Open {
                    path: path.clone(),
                    source,
                })?;
                if bytes.len() % LINK_BYTES != 0 {
                    return Err(usage(format!("{} is cut short", path.display())));
                }
                let mut ids = std::collections::HashSet::new();
                for r in bytes.chunks_exact(LINK_BYTES) {
                    let row = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
                    if st.is_linked(row) {
                        return Err(usage(format!("row {row} is linked twice")));
                    }
                    st.set(row, true)?;
                    ids.insert(r[4..].to_vec());
                }
                let summary = &mut st.summaries[step];
                summary.linked_rows += (bytes.len() / LINK_BYTES) as u64;
                summary.matched += ids.len() as u64;
                st.done[step][usize::from(bucket)] = true;
            }
        }
        Ok(())
    }
}
