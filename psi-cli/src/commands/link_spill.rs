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
//! lost, and the client runs it again) is first undone: its links are
//! cleared, so its offer is what it was.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use psi_core::bucket::{fine_range, Partition, PartitionSeed, FINE_BUCKETS};
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed::{policy, BucketOffer};
use psi_core::linkage::{Duplicates, StepSummary};
use psi_table::linked::{write_linked, write_links, LinkedOutput, LinkedPlan, LINK_BYTES};
use psi_table::spill::{Spill, SpillWriter};
use psi_table::LinkageSpec;

use crate::error::CliError;
use crate::report::InputReport;

/// Bytes of rows the aligned output's sort holds before writing a run.
pub const SORT_MEMORY: usize = 64 << 20;

/// A party's linkage on disk.
pub struct LinkSpill {
    dir: PathBuf,
    keys: Vec<Spill>,
    rows: u64,
    duplicates: Duplicates,
    state: Mutex<State>,
}

/// What changes as buckets finish.
struct State {
    /// One bit per row: linked.
    linked: Vec<u64>,
    linked_rows: u64,
    /// The bucket count, fixed by the first bucket asked for.
    count: Option<u16>,
    /// Per step, per bucket: recorded.
    done: Vec<Vec<bool>>,
    /// Per step, once started: the values it offers in all.
    totals: Vec<Option<u64>>,
    summaries: Vec<StepSummary>,
}

fn usage(message: String) -> CliError {
    CliError::Usage(message)
}

impl State {
    fn is_linked(&self, row: u32) -> bool {
        let r = row as usize;
        self.linked
            .get(r / 64)
            .is_some_and(|w| w >> (r % 64) & 1 == 1)
    }

    fn set(&mut self, row: u32, on: bool) -> Result<(), CliError> {
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
        Ok((
            LinkSpill {
                dir: dir.to_path_buf(),
                keys,
                rows: n,
                duplicates: policy(steps, duplicates),
                state: Mutex::new(State {
                    linked: vec![0; (n as usize).div_ceil(64)],
                    linked_rows: 0,
                    count: None,
                    done: vec![Vec::new(); steps],
                    totals: vec![None; steps],
                    summaries: vec![StepSummary::default(); steps],
                }),
            },
            report,
        ))
    }

    fn state(&self) -> MutexGuard<'_, State> {
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

    fn links_path(&self, step: u16, bucket: u16) -> PathBuf {
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
                if d {
                    files.push(self.links_path(step as u16, bucket as u16));
                }
            }
        }
        files
    }

    /// The offer of one bucket from the current bitmap.
    fn bucket_offer(
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
        match st.count {
            Some(c) if c != count => {
                return Err(usage(format!("the linkage runs {c} buckets, not {count}")))
            }
            Some(_) => {}
            None => {
                st.count = Some(count);
                st.done = vec![vec![false; usize::from(count)]; self.keys.len()];
            }
        }
        if let Some(earlier) = (0..s).find(|&e| st.done[e].iter().any(|&d| !d)) {
            return Err(usage(format!(
                "step {step} cannot start: step {earlier} has buckets to run"
            )));
        }
        if st.done[s][usize::from(bucket)] {
            // Undoing it would change what the later steps offered.
            if st.totals[s + 1..].iter().any(Option::is_some) {
                return Err(usage(format!(
                    "bucket {bucket} of step {step} cannot run again: a later step has started"
                )));
            }
            self.undo(&mut st, step, bucket)?;
        }
        if st.totals[s].is_none() {
            let mut total = 0u64;
            let mut ambiguous = 0u64;
            for b in 0..count {
                let o = self.bucket_offer(&st, step, b, count)?;
                total += o.len() as u64;
                ambiguous += o.ambiguous;
            }
            st.totals[s] = Some(total);
            st.summaries[s].offered = total;
            st.summaries[s].ambiguous = ambiguous;
        }
        let offer = self.bucket_offer(&st, step, bucket, count)?;
        Ok((offer, st.totals[s].unwrap_or_default()))
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
        summary.linked_rows -= rows.len() as u64;
        summary.matched -= ids.len() as u64;
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
        let out = LinkedOutput {
            path: output,
            options,
            id_column: "psi_id",
            scratch: &self.dir,
            sort_memory: SORT_MEMORY,
        };
        Ok(write_linked(input, self.rows as usize, &files, plan, &out)?)
    }

    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psi_core::bucket::PartitionSeed;
    use psi_core::linkage::bucketed::padded_offer;
    use psi_table::{waterfall_match_plain, LinkageTable};
    use rand::{Rng, SeedableRng};

    /// A table of `rows` rows with `keys` key columns `k0..`, values drawn
    /// from a small range (so ambiguous and shared values are common) or empty.
    fn table(dir: &Path, name: &str, keys: usize, rows: usize, rng: &mut impl Rng) -> PathBuf {
        let names: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
        let mut text = format!("row,{}\n", names.join(","));
        let range = 1 + rows / 2;
        for r in 0..rows {
            let values: Vec<String> = (0..keys)
                .map(|_| match rng.random_range(0..6) {
                    0 => String::new(),
                    _ => format!("v{}", rng.random_range(0..range)),
                })
                .collect();
            text.push_str(&format!("{r},{}\n", values.join(",")));
        }
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs both sides bucket by bucket, matching by value: the linked pairs
    /// (a row, b row, key), sorted.
    fn bucketed(a: &LinkSpill, b: &LinkSpill, count: u16) -> Vec<(usize, usize, usize)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut next_id = 0u64;
        for step in 0..a.steps() as u16 {
            for bucket in 0..count {
                let (oa, ta) = a.offer(step, bucket, count).unwrap();
                let (ob, tb) = b.offer(step, bucket, count).unwrap();
                let pa = oa
                    .padded(padded_offer(ta, count), bucket, &mut rng)
                    .unwrap();
                let pb = ob
                    .padded(padded_offer(tb, count), bucket, &mut rng)
                    .unwrap();
                let (mut ma, mut mb) = (Vec::new(), Vec::new());
                for (i, x) in pa.iter().enumerate() {
                    if let Some(j) = pb.iter().position(|y| y == x) {
                        next_id += 1;
                        let mut id = [0u8; 16];
                        id[..8].copy_from_slice(&next_id.to_le_bytes());
                        ma.push((i as u32, id));
                        mb.push((j as u32, id));
                    }
                }
                a.record(step, bucket, count, &oa, &ma).unwrap();
                b.record(step, bucket, count, &ob, &mb).unwrap();
            }
        }
        assert!(a.complete() && b.complete());
        let read = |s: &LinkSpill| {
            let mut by_id = std::collections::HashMap::new();
            for f in s.link_files() {
                let step: usize = f.file_name().unwrap().to_string_lossy()[1..4]
                    .parse()
                    .unwrap();
                for r in std::fs::read(&f).unwrap().chunks_exact(LINK_BYTES) {
                    let row = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
                    by_id.insert(r[4..].to_vec(), (row, step));
                }
            }
            by_id
        };
        let (la, lb) = (read(a), read(b));
        let mut pairs: Vec<(usize, usize, usize)> = la
            .iter()
            .map(|(id, &(ra, step))| (ra, lb[id].0, step))
            .collect();
        pairs.sort();
        assert_eq!(la.len(), lb.len());
        pairs
    }

    #[test]
    fn bucketed_linkage_equals_the_plaintext_waterfall() {
        use psi_core::bucket::valid_count;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut case = 0;
        for keys in 1..=3usize {
            for (na, nb) in [(1, 1), (1, 40), (300, 200), (257, 513)] {
                case += 1;
                let pa = table(dir.path(), &format!("a{case}.csv"), keys, na, &mut rng);
                let pb = table(dir.path(), &format!("b{case}.csv"), keys, nb, &mut rng);
                let text: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
                let spec = LinkageSpec::parse(&text.join(";")).unwrap();
                let (ta, tb) = (
                    LinkageTable::read(&pa, &spec).unwrap(),
                    LinkageTable::read(&pb, &spec).unwrap(),
                );
                let mut want: Vec<(usize, usize, usize)> = waterfall_match_plain(&ta, &tb, &spec)
                    .unwrap()
                    .pairs
                    .iter()
                    .map(|p| (p.a_row, p.b_row, p.key))
                    .collect();
                want.sort();
                // Each case one bucket count (spills are slow to make in a
                // debug build: 256 files per key, each synced).
                {
                    let count = [1u16, 4, 256, 32][case % 4];
                    assert!(valid_count(count));
                    let seed = PartitionSeed::from_bytes([count as u8; 32]);
                    let make = |p: &Path, d: &str| {
                        LinkSpill::create(
                            p,
                            &spec,
                            Duplicates::Unique,
                            &seed,
                            &dir.path().join(format!("{d}{case}-{count}")),
                            |_| {},
                        )
                        .unwrap()
                        .0
                    };
                    let (a, b) = (make(&pa, "sa"), make(&pb, "sb"));
                    assert_eq!(
                        bucketed(&a, &b, count),
                        want,
                        "{keys} keys, {na} x {nb} rows, {count} buckets"
                    );
                }
            }
        }
    }

    #[test]
    fn a_bucket_run_again_is_undone_first_and_steps_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let pa = table(dir.path(), "a.csv", 2, 50, &mut rng);
        let spec = LinkageSpec::parse("k0;k1").unwrap();
        let seed = PartitionSeed::from_bytes([1; 32]);
        let (a, _) = LinkSpill::create(
            &pa,
            &spec,
            Duplicates::Unique,
            &seed,
            &dir.path().join("s"),
            |_| {},
        )
        .unwrap();
        let (o, _) = a.offer(0, 0, 2).unwrap();
        let e = a.offer(1, 0, 2).unwrap_err().to_string();
        assert!(e.contains("step 0 has buckets to run"), "{e}");
        assert!(a.offer(0, 0, 4).is_err(), "the bucket count is fixed");
        let matched: Vec<(u32, LinkId)> = (0..o.len() as u32).map(|i| (i, [i as u8; 16])).collect();
        let linked = a.record(0, 0, 2, &o, &matched).unwrap();
        assert_eq!(a.linked_rows(), linked);
        // The answer was lost: the bucket runs again, from the same offer.
        let (again, _) = a.offer(0, 0, 2).unwrap();
        assert_eq!(again.items, o.items);
        assert_eq!(a.linked_rows(), 0);
        assert_eq!(a.summaries()[0].matched, 0);
        a.record(0, 0, 2, &again, &matched).unwrap();
        assert!(
            a.record(0, 0, 2, &again, &matched).is_err(),
            "recorded once"
        );
        assert_eq!(a.linked_rows(), linked);
    }
}
