//! Finding every pair of encodings whose similarity reaches the threshold.
//!
//! - [`exhaustive`]: all pairs, pruned only by what popcounts prove (a pair
//!   whose popcounts are too far apart cannot reach the threshold, see
//!   [`popcount_range`]): the other side is sorted by popcount, so each
//!   encoding is compared with one contiguous run of it. Exact.
//! - [`lsh`]: Hamming locality-sensitive hashing by bit sampling (Indyk &
//!   Motwani 1998; for Bloom filters Karapiperis & Verykios 2015): `tables`
//!   times, `bits` sampled bit positions form a key, and only encodings with
//!   the same key in some table are compared. A pair that differs in a
//!   fraction `d` of its bits collides in one table with probability
//!   `(1 - d)^bits`, so similar pairs are found with high probability and
//!   dissimilar ones rarely compared. Approximate: the report gives its
//!   reduction ratio, and `psi-bench fuzzy` its pair completeness.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::dice::{at_least, popcount_range, Kernel, Threshold};
use crate::file::Encodings;

/// A pair at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Row in the first input.
    pub a: u32,
    /// Row in the second input.
    pub b: u32,
    /// `|a ∧ b|`.
    pub inter: u32,
    /// `|a| + |b|`.
    pub sum: u32,
}

impl Candidate {
    /// The Dice similarity as a float (for output; decisions use integers).
    pub fn similarity(&self) -> f64 {
        2.0 * f64::from(self.inter) / f64::from(self.sum)
    }

    /// Highest similarity first (compared exactly), then by rows.
    pub fn best_first(x: &Candidate, y: &Candidate) -> std::cmp::Ordering {
        (u64::from(y.inter) * u64::from(x.sum))
            .cmp(&(u64::from(x.inter) * u64::from(y.sum)))
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    }
}

/// How candidate pairs are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Compare every pair the popcounts allow.
    None,
    /// Bit-sampling LSH with these parameters.
    Lsh {
        /// Number of tables.
        tables: u32,
        /// Bits sampled per table (at most 32).
        bits: u32,
    },
}

/// What a search did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Similarities computed.
    pub comparisons: u64,
    /// All pairs (`|A| × |B|`).
    pub pairs: u64,
}

impl SearchStats {
    /// `1 - comparisons / pairs`: the share of pairs never compared.
    pub fn reduction_ratio(&self) -> f64 {
        if self.pairs == 0 {
            return 0.0;
        }
        1.0 - self.comparisons as f64 / self.pairs as f64
    }
}

/// Rows of the other side per tile of the exhaustive search (128 KiB of
/// 1,024-bit encodings: half of a typical L2 cache).
const TILE: usize = 1024;
/// Queries per task of the exhaustive search: each tile is loaded once per
/// task.
const QUERIES_PER_TASK: usize = 64;

/// Every pair reaching `t`, in no particular order. An empty encoding (a
/// row none of whose fields could be encoded) matches nothing.
pub fn search(
    a: &Encodings,
    b: &Encodings,
    t: Threshold,
    blocking: Blocking,
    kernel: Kernel,
) -> (Vec<Candidate>, SearchStats) {
    match blocking {
        Blocking::None => exhaustive(a, b, t, kernel),
        Blocking::Lsh { tables, bits } => lsh(a, b, t, tables, bits, kernel),
    }
}

/// All pairs the popcounts allow (exact).
pub fn exhaustive(
    a: &Encodings,
    b: &Encodings,
    t: Threshold,
    kernel: Kernel,
) -> (Vec<Candidate>, SearchStats) {
    let words = b.words_per();
    let mut order: Vec<u32> = (0..b.len() as u32).collect();
    order.sort_by_key(|&i| b.popcounts()[i as usize]);
    let sorted_pc: Vec<u32> = order.iter().map(|&i| b.popcounts()[i as usize]).collect();
    let mut sorted = Vec::with_capacity(b.data().len());
    for &i in &order {
        sorted.extend_from_slice(b.row(i as usize));
    }
    // Queries in popcount order, so that the queries of one task compare
    // with nearly the same run of `sorted`; that run is walked in tiles
    // small enough to stay in the L2 cache while every query of the task
    // passes over them (streaming all of `b` once per query would be bound
    // by memory bandwidth, not by popcounts).
    let mut queries: Vec<u32> = (0..a.len() as u32)
        .filter(|&i| a.popcounts()[i as usize] > 0)
        .collect();
    queries.sort_by_key(|&i| a.popcounts()[i as usize]);
    let results: Vec<(Vec<Candidate>, u64)> = queries
        .par_chunks(QUERIES_PER_TASK)
        .map(|task| {
            let ranges: Vec<(usize, usize)> = task
                .iter()
                .map(|&i| {
                    let (lo, hi) = popcount_range(a.popcounts()[i as usize], t);
                    (
                        sorted_pc.partition_point(|&p| p < lo.max(1)),
                        sorted_pc.partition_point(|&p| p <= hi),
                    )
                })
                .collect();
            let first = ranges.iter().map(|r| r.0).min().unwrap_or(0);
            let last = ranges.iter().map(|r| r.1).max().unwrap_or(0);
            let mut found = Vec::new();
            let mut compared = 0u64;
            let mut out = [0u32; TILE];
            let mut tile = first;
            while tile < last {
                let tile_end = (tile + TILE).min(last);
                for (&i, &(start, end)) in task.iter().zip(&ranges) {
                    let (s, e) = (start.max(tile), end.min(tile_end));
                    if s >= e {
                        continue;
                    }
                    let pa = a.popcounts()[i as usize];
                    let n = e - s;
                    kernel.intersections(
                        a.row(i as usize),
                        &sorted[s * words..e * words],
                        &mut out[..n],
                    );
                    compared += n as u64;
                    for (k, &inter) in out[..n].iter().enumerate() {
                        let sum = pa + sorted_pc[s + k];
                        if at_least(inter, sum, t) {
                            found.push(Candidate {
                                a: i,
                                b: order[s + k],
                                inter,
                                sum,
                            });
                        }
                    }
                }
                tile = tile_end;
            }
            (found, compared)
        })
        .collect();
    collect(results, a, b)
}

fn collect(
    results: Vec<(Vec<Candidate>, u64)>,
    a: &Encodings,
    b: &Encodings,
) -> (Vec<Candidate>, SearchStats) {
    let mut stats = SearchStats {
        comparisons: 0,
        pairs: a.len() as u64 * b.len() as u64,
    };
    let mut all = Vec::with_capacity(results.iter().map(|r| r.0.len()).sum());
    for (found, compared) in results {
        all.extend(found);
        stats.comparisons += compared;
    }
    (all, stats)
}

/// The sampled bit positions of table `table`.
fn positions(table: u32, bits: u32, length: u32) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6c73_6800_0000_0000 | u64::from(table));
    (0..bits)
        .map(|_| ((u64::from(rng.next_u32()) * u64::from(length)) >> 32) as u32)
        .collect()
}

fn key(row: &[u64], positions: &[u32]) -> u32 {
    positions.iter().enumerate().fold(0u32, |k, (j, &p)| {
        k | ((((row[p as usize / 64] >> (p % 64)) & 1) as u32) << j)
    })
}

/// LSH-blocked search; pairs found in several tables are reported once.
pub fn lsh(
    a: &Encodings,
    b: &Encodings,
    t: Threshold,
    tables: u32,
    bits: u32,
    kernel: Kernel,
) -> (Vec<Candidate>, SearchStats) {
    let bits = bits.clamp(1, 32);
    let words = b.words_per();
    let mut all: Vec<Candidate> = Vec::new();
    let mut stats = SearchStats {
        comparisons: 0,
        pairs: a.len() as u64 * b.len() as u64,
    };
    // Per table, both sides are sorted by key and joined on it (a
    // sort-merge join); the rows of `b` are copied in key order, so that a
    // bucket is one contiguous block for the kernel instead of a scattered
    // gather from all of `b`.
    let mut b_rows: Vec<u64> = Vec::with_capacity(b.data().len());
    for table in 0..tables {
        let pos = positions(table, bits, b.bits());
        let keyed = |e: &Encodings| -> Vec<(u32, u32)> {
            let mut k: Vec<(u32, u32)> = (0..e.len())
                .into_par_iter()
                .filter(|&j| e.popcounts()[j] > 0)
                .map(|j| (key(e.row(j), &pos), j as u32))
                .collect();
            k.par_sort_unstable();
            k
        };
        let (ka, kb) = (keyed(a), keyed(b));
        b_rows.clear();
        for &(_, j) in &kb {
            b_rows.extend_from_slice(b.row(j as usize));
        }
        // The buckets present on both sides: (A run, B run) in ka / kb.
        let mut buckets: Vec<(usize, usize, usize, usize)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < ka.len() && j < kb.len() {
            match ka[i].0.cmp(&kb[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let k = ka[i].0;
                    let (i0, j0) = (i, j);
                    while i < ka.len() && ka[i].0 == k {
                        i += 1;
                    }
                    while j < kb.len() && kb[j].0 == k {
                        j += 1;
                    }
                    buckets.push((i0, i, j0, j));
                }
            }
        }
        let part: Vec<(Vec<Candidate>, u64)> = buckets
            .par_chunks(64)
            .map(|chunk| {
                let mut found = Vec::new();
                let mut compared = 0u64;
                let mut out = vec![0u32; TILE];
                for &(i0, i1, j0, j1) in chunk {
                    for &(_, ai) in &ka[i0..i1] {
                        let pa = a.popcounts()[ai as usize];
                        let q = a.row(ai as usize);
                        let mut s = j0;
                        while s < j1 {
                            let e = (s + TILE).min(j1);
                            let n = e - s;
                            kernel.intersections(q, &b_rows[s * words..e * words], &mut out[..n]);
                            compared += n as u64;
                            for (k, &inter) in out[..n].iter().enumerate() {
                                let bj = kb[s + k].1;
                                let sum = pa + b.popcounts()[bj as usize];
                                if at_least(inter, sum, t) {
                                    found.push(Candidate {
                                        a: ai,
                                        b: bj,
                                        inter,
                                        sum,
                                    });
                                }
                            }
                            s = e;
                        }
                    }
                }
                (found, compared)
            })
            .collect();
        // A similar pair collides in many tables: merge each table's pairs
        // into the sorted, distinct ones found so far, so that memory holds
        // each pair once (not once per table).
        let (mut found, table_stats) = collect(part, a, b);
        stats.comparisons += table_stats.comparisons;
        found.par_sort_unstable_by_key(|c| (c.a, c.b));
        found.dedup_by_key(|c| (c.a, c.b));
        all = merge_distinct(all, found);
    }
    (all, stats)
}

/// The union of two lists sorted by `(a, b)` without repeats, sorted, each pair once.
fn merge_distinct(x: Vec<Candidate>, y: Vec<Candidate>) -> Vec<Candidate> {
    if x.is_empty() {
        return y;
    }
    let mut out = Vec::with_capacity(x.len() + y.len());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match (x[i].a, x[i].b).cmp(&(y[j].a, y[j].b)) {
            std::cmp::Ordering::Less => {
                out.push(x[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(y[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(x[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&x[i..]);
    out.extend_from_slice(&y[j..]);
    out
}

/// LSH parameters for `a` against `b` at threshold `t`: enough tables that
/// a pair exactly at the threshold (with the inputs' mean popcount) is missed
/// with probability about 10^-3, and as many sampled bits as make a table's
/// expected bucket small. `None` when an exhaustive search is cheap anyway
/// (at most 2·10^8 pairs).
pub fn auto_blocking(a: &Encodings, b: &Encodings, t: Threshold) -> Blocking {
    let pairs = a.len() as u64 * b.len() as u64;
    if pairs <= 200_000_000 || b.is_empty() {
        return Blocking::None;
    }
    let length = f64::from(b.bits());
    let mean = b.popcounts().iter().map(|&p| f64::from(p)).sum::<f64>() / b.len() as f64;
    let fill = (mean / length).clamp(0.01, 0.99);
    // Share of bits in which a pair at the threshold differs.
    let differ = (2.0 * fill * (1.0 - t.value())).clamp(1e-6, 0.99);
    // Random pairs agree on a bit with probability fill² + (1 - fill)².
    let agree_random = fill * fill + (1.0 - fill) * (1.0 - fill);
    let mut bits = ((b.len() as f64).ln() / (1.0 / agree_random).ln()).ceil() as u32;
    bits = bits.clamp(8, 32);
    let hit = (1.0 - differ).powi(bits as i32);
    let tables = ((1e-3f64).ln() / (1.0 - hit).ln()).ceil();
    Blocking::Lsh {
        tables: tables.clamp(1.0, 1000.0) as u32,
        bits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dice::intersection_portable;

    fn random_set(seed: u64, n: usize, words: usize) -> Encodings {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut e = Encodings::new(words as u32 * 64, [0; 32]);
        for _ in 0..n {
            let row: Vec<u64> = (0..words).map(|_| rng.next_u64()).collect();
            e.push(&row);
        }
        e
    }

    /// Rows of `b` are noisy copies of rows of `a` (some bits flipped).
    fn noisy_copies(a: &Encodings, flip: u32, seed: u64) -> Encodings {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut b = Encodings::new(a.bits(), [0; 32]);
        for i in 0..a.len() {
            let mut row = a.row(i).to_vec();
            for _ in 0..flip {
                let p = (rng.next_u32() % a.bits()) as usize;
                row[p / 64] ^= 1 << (p % 64);
            }
            b.push(&row);
        }
        b
    }

    fn naive(a: &Encodings, b: &Encodings, t: Threshold) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for i in 0..a.len() {
            for j in 0..b.len() {
                let (pa, pb) = (a.popcounts()[i], b.popcounts()[j]);
                let sum = pa + pb;
                if pa > 0 && pb > 0 && at_least(intersection_portable(a.row(i), b.row(j)), sum, t) {
                    out.push((i as u32, j as u32));
                }
            }
        }
        out
    }

    #[test]
    fn exhaustive_finds_exactly_the_naive_pairs() {
        let a = random_set(1, 120, 4);
        let mut b = noisy_copies(&a, 20, 2);
        b.push(&[0; 4]);
        for t in [0.0, 0.55, 0.8, 0.9, 1.0] {
            let th = Threshold::new(t);
            for k in Kernel::available() {
                let (mut got, stats) = exhaustive(&a, &b, th, k);
                got.sort_by_key(|c| (c.a, c.b));
                let got: Vec<(u32, u32)> = got.iter().map(|c| (c.a, c.b)).collect();
                let want = naive(&a, &b, th);
                assert!(
                    got == want,
                    "t={t} {}: {} pairs, want {}",
                    k.name(),
                    got.len(),
                    want.len()
                );
                assert!(stats.comparisons <= stats.pairs);
            }
        }
    }

    #[test]
    fn empty_inputs() {
        let a = random_set(1, 10, 2);
        let empty = Encodings::new(128, [0; 32]);
        assert!(
            exhaustive(&a, &empty, Threshold::new(0.5), Kernel::detect())
                .0
                .is_empty()
        );
        assert!(lsh(&empty, &a, Threshold::new(0.5), 4, 8, Kernel::detect())
            .0
            .is_empty());
    }

    #[test]
    fn lsh_finds_close_pairs_and_reports_each_once() {
        let a = random_set(3, 2000, 16);
        let b = noisy_copies(&a, 60, 4); // about 0.94 similar
        let th = Threshold::new(0.85);
        let (got, stats) = lsh(&a, &b, th, 40, 16, Kernel::detect());
        let want = naive(&a, &b, th);
        let mut pairs: Vec<(u32, u32)> = got.iter().map(|c| (c.a, c.b)).collect();
        pairs.sort();
        let before = pairs.len();
        pairs.dedup();
        assert_eq!(before, pairs.len());
        // Every reported pair is a true one; nearly all true ones are found.
        assert!(pairs.iter().all(|p| want.binary_search(p).is_ok()));
        assert!(pairs.len() as f64 >= 0.99 * want.len() as f64);
        assert!(stats.reduction_ratio() > 0.9, "{}", stats.reduction_ratio());
    }
}
