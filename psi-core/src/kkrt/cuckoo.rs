//! Cuckoo hashing with three hash functions and no stash (the receiver's side),
//! and the table sizes.
//!
//! Every item goes to one of its three candidate bins `h_0(x), h_1(x), h_2(x)`;
//! a full bin's occupant is evicted to one of its other candidates (random walk,
//! Fotakis–Pagh–Sanders–Spirakis, "Space efficient hash tables with worst case
//! constant access time", STACS 2003). A walk that runs too long hands over to a
//! breadth-first search for an augmenting path, which finds a place whenever
//! the items can be placed at all, so a seed is rejected exactly when no
//! placement exists. Insertion is variable-time in the items' hashes (only the
//! receiver runs it, on its own items).

use std::collections::VecDeque;

/// Marks an empty bin.
const EMPTY: u32 = u32::MAX;

/// Evictions of the random walk per inserted item before the augmenting-path
/// search takes over. With `m ≥ 1.27 n` the walk almost always ends within a
/// few dozen steps.
const MAX_EVICTIONS: u32 = 1000;

/// Tables for fewer than `2^12` items: `(largest n, bins)`, each the smallest
/// multiple of 128 whose [`bin_count`] bound is `≤ 2^-40` at that `n`.
const SMALL_TABLES: [(u64, u64); 12] = [
    (1, 128),
    (4, 384),
    (8, 512),
    (16, 768),
    (32, 896),
    (64, 1280),
    (128, 1664),
    (256, 2176),
    (512, 2816),
    (1024, 3584),
    (2048, 4736),
    (4095, 6528),
];

/// Number of bins for `n` items, a multiple of 128 (the OT-extension block).
///
/// A seed is rejected only when the items cannot be placed at all (see the
/// module doc); the receiver then draws a fresh one, so a rejection never makes
/// the result wrong, whatever its probability. What the bound below limits is
/// what the accepted seed says about `X` (a seed is accepted because `X` fits)
/// and the cost of retries.
///
/// - `n < 2^12`: the items cannot be placed exactly when Hall's condition fails,
///   that is when some `k` items have all `3k` candidates among `k − 1` bins.
///   For independent uniform hashes the union bound over those events,
///   `Σ_{k=2..n} C(n, k)·C(m, k−1)·((k−1)/m)^(3k)`, is at most `2^-40` with
///   the bins of `SMALL_TABLES` (the smallest multiple of 128 that achieves it
///   at the top of each range; the hashes' multiply-shift bias changes it by a
///   factor below `1 + 2^-16`). The test `small_tables_meet_the_bound`
///   recomputes it for every `n < 2^12`. Small sets need many bins relative to
///   `n` (two items fail with probability `m^-5`), but few in absolute terms:
///   at most 6,528 bins, 408 KiB of matrix.
/// - `n ≥ 2^12`: `1.27·n`: Pinkas, Schneider and Zohner, "Scalable Private Set
///   Intersection Based on OT Extension" (ACM TOPS 2018, "PSZ18") §3.2.2, and
///   the empirical analysis of Pinkas, Schneider, Tkachenko and Yanai
///   ("Efficient Circuit-based PSI with Linear Communication", Eurocrypt 2019,
///   §5): 3 hash functions, no stash and `1.27 n` bins fail with probability
///   `≤ 2^-40` for large `n` (extrapolated from experiments; the union bound
///   above is too loose near the load threshold to help there). Our insertion
///   fails only when no placement exists, so no more often than theirs.
pub fn bin_count(n: u64) -> u64 {
    let scaled = match SMALL_TABLES.iter().find(|&&(top, _)| n <= top) {
        Some(&(_, bins)) => bins,
        None => n.saturating_mul(127).div_ceil(100),
    };
    scaled.div_ceil(128).max(1) * 128
}

/// A filled cuckoo table: for every bin, the item (index) in it and which hash
/// function put it there.
pub(crate) struct CuckooTable {
    bins: Vec<u32>,
    which: Vec<u8>,
}

impl CuckooTable {
    /// Inserts every item (`positions[i]` = its three candidate bins) by random
    /// walk, and by augmenting path when a walk exceeds [`MAX_EVICTIONS`].
    /// `None` exactly when no placement of all the items exists: retry with a
    /// fresh hash seed. `walk_seed` only steers the choice of evictions.
    pub(crate) fn vartime_build(
        positions: &[[u32; 3]],
        bins: usize,
        walk_seed: u64,
    ) -> Option<Self> {
        Self::vartime_build_with(positions, bins, walk_seed, MAX_EVICTIONS)
    }

    /// [`Self::vartime_build`] with `max_evictions` random-walk steps per item.
    fn vartime_build_with(
        positions: &[[u32; 3]],
        bins: usize,
        walk_seed: u64,
        max_evictions: u32,
    ) -> Option<Self> {
        let mut table = CuckooTable {
            bins: vec![EMPTY; bins],
            which: vec![0; bins],
        };
        // xorshift64*: steering only, no security role.
        let mut state = walk_seed | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32
        };
        for item in 0..positions.len() {
            let mut cur = item as u32;
            let mut last_bin = u32::MAX;
            let mut evictions = 0;
            loop {
                let pos = positions[cur as usize];
                if let Some(h) = (0..3).find(|&h| table.bins[pos[h] as usize] == EMPTY) {
                    table.bins[pos[h] as usize] = cur;
                    table.which[pos[h] as usize] = h as u8;
                    break;
                }
                if evictions == max_evictions {
                    if table.vartime_augment(positions, cur) {
                        break;
                    }
                    return None;
                }
                evictions += 1;
                let mut h = (next() % 3) as usize;
                if pos[h] == last_bin {
                    h = (h + 1 + (next() % 2) as usize) % 3;
                }
                let bin = pos[h] as usize;
                let evicted = table.bins[bin];
                table.bins[bin] = cur;
                table.which[bin] = h as u8;
                last_bin = pos[h];
                cur = evicted;
            }
        }
        Some(table)
    }

    /// Places `item` (not in the table) by the shortest augmenting path: a
    /// breadth-first search over bins, where an occupied bin leads to the other
    /// candidates of its occupant, until an empty bin; then every item on the
    /// path moves one step. `false` when no empty bin is reachable, which means
    /// the items placed so far and `item` have no placement (Berge: the table
    /// is a maximum matching of the items before `item`, and only `item` is
    /// unplaced, so a larger matching would need such a path).
    fn vartime_augment(&mut self, positions: &[[u32; 3]], item: u32) -> bool {
        /// Marks the path's start: `item` itself moves.
        const START: u32 = u32::MAX;
        /// For each reached bin: the bin whose occupant would move into it
        /// (or `START`) and that occupant's hash index for it.
        type From = Vec<Option<(u32, u8)>>;
        fn reach(from: &mut From, queue: &mut VecDeque<u32>, bin: u32, prev: u32, h: usize) {
            if from[bin as usize].is_none() {
                from[bin as usize] = Some((prev, h as u8));
                queue.push_back(bin);
            }
        }
        let mut from: From = vec![None; self.bins.len()];
        let mut queue = VecDeque::new();
        for (h, &bin) in positions[item as usize].iter().enumerate() {
            reach(&mut from, &mut queue, bin, START, h);
        }
        while let Some(bin) = queue.pop_front() {
            let occupant = self.bins[bin as usize];
            if occupant == EMPTY {
                // Shift along the path, from its empty end back to `item`.
                let mut at = bin;
                while let Some((prev, h)) = from[at as usize] {
                    let mover = if prev == START {
                        item
                    } else {
                        self.bins[prev as usize]
                    };
                    self.bins[at as usize] = mover;
                    self.which[at as usize] = h;
                    if prev == START {
                        break;
                    }
                    at = prev;
                }
                return true;
            }
            for (h, &next) in positions[occupant as usize].iter().enumerate() {
                reach(&mut from, &mut queue, next, bin, h);
            }
        }
        false
    }

    /// `(item index, hash index)` in `bin`, if occupied.
    pub(crate) fn slot(&self, bin: usize) -> Option<(u32, u8)> {
        match self.bins[bin] {
            EMPTY => None,
            item => Some((item, self.which[bin])),
        }
    }

    /// Number of bins.
    pub(crate) fn len(&self) -> usize {
        self.bins.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_counts() {
        assert_eq!(bin_count(0), 128);
        assert_eq!(bin_count(1), 128);
        assert_eq!(bin_count(2), 384);
        assert_eq!(bin_count(64), 1280);
        assert_eq!(bin_count(65), 1664);
        assert_eq!(bin_count(4095), 6528);
        // 1.27 · 4096 = 5201.92 → 5202 → 41 blocks of 128.
        assert_eq!(bin_count(4096), 5248);
        assert_eq!(bin_count(1 << 20), 1_331_712);
        assert_eq!(bin_count(u64::MAX) % 128, 0);
        for &(_, bins) in &SMALL_TABLES {
            assert_eq!(bins % 128, 0);
        }
    }

    /// `ln k!` for `k ≤ max`.
    fn ln_factorials(max: u64) -> Vec<f64> {
        let mut out = vec![0.0f64; max as usize + 1];
        for k in 1..=max as usize {
            out[k] = out[k - 1] + (k as f64).ln();
        }
        out
    }

    /// `log2 Σ_{k=2..n} C(n, k)·C(m, k−1)·((k−1)/m)^(3k)`: the union bound of
    /// [`bin_count`] over "some `k` items have all candidates among `k − 1` bins".
    fn log2_hall_bound(n: u64, m: u64, ln_fact: &[f64]) -> f64 {
        let ln_choose =
            |a: u64, b: u64| ln_fact[a as usize] - ln_fact[b as usize] - ln_fact[(a - b) as usize];
        let ln_m = (m as f64).ln();
        let terms: Vec<f64> = (2..=n.min(m + 1))
            .map(|k| {
                ln_choose(n, k)
                    + ln_choose(m, k - 1)
                    + 3.0 * k as f64 * (((k - 1) as f64).ln() - ln_m)
            })
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
        (max + sum.ln()) / std::f64::consts::LN_2
    }

    /// The small tables keep a seed's rejection below `2^-40` for every
    /// `n < 2^12`, and each is the smallest multiple of 128 that does at the
    /// top of its range.
    #[test]
    fn small_tables_meet_the_bound() {
        let ln_fact = ln_factorials(8192);
        for n in 2..4096u64 {
            let b = log2_hall_bound(n, bin_count(n), &ln_fact);
            assert!(b <= -40.0, "n = {n}: 2^{b:.3}");
        }
        for &(top, bins) in &SMALL_TABLES[1..] {
            let smaller = log2_hall_bound(top, bins - 128, &ln_fact);
            assert!(smaller > -40.0, "n = {top}: {bins} - 128 bins suffice");
        }
        // The bound is the familiar one where it is easy: two items fail
        // exactly when all six hashes agree, probability m^-5.
        let m = 384.0f64;
        assert!((log2_hall_bound(2, 384, &ln_fact) - (-5.0 * m.log2())).abs() < 1e-9);
    }

    #[test]
    fn every_item_lands_in_a_candidate_bin() {
        let positions: Vec<[u32; 3]> = (0..1000u32)
            .map(|i| {
                let a = i.wrapping_mul(2_654_435_761);
                [a % 1280, (a >> 7) % 1280, (a >> 13) % 1280]
            })
            .collect();
        let t = CuckooTable::vartime_build(&positions, 1280, 5).expect("fits");
        let mut seen = vec![false; 1000];
        for bin in 0..t.len() {
            if let Some((item, h)) = t.slot(bin) {
                assert_eq!(positions[item as usize][usize::from(h)] as usize, bin);
                assert!(!seen[item as usize]);
                seen[item as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    /// Whether `positions` has a placement (brute force over every choice).
    fn placeable(positions: &[[u32; 3]], bins: usize) -> bool {
        let n = positions.len() as u32;
        (0..3u32.pow(n)).any(|mut choice| {
            let mut used = vec![false; bins];
            positions.iter().all(|p| {
                let bin = p[(choice % 3) as usize] as usize;
                choice /= 3;
                !std::mem::replace(&mut used[bin], true)
            })
        })
    }

    /// A seed is rejected exactly when no placement exists, however soon the
    /// random walk gives up (with 0 evictions every collision goes to the
    /// augmenting-path search).
    #[test]
    fn fails_exactly_when_no_placement_exists() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut fits, mut fails) = (0, 0);
        for _ in 0..3000 {
            let bins = 3 + (next() % 6) as usize;
            let n = 1 + (next() % bins as u64) as usize;
            let positions: Vec<[u32; 3]> = (0..n)
                .map(|_| {
                    let mut p = [0u32; 3];
                    for b in p.iter_mut() {
                        *b = (next() % bins as u64) as u32;
                    }
                    p
                })
                .collect();
            let expect = placeable(&positions, bins);
            for max_evictions in [0, 1, 5, MAX_EVICTIONS] {
                let got = CuckooTable::vartime_build_with(&positions, bins, next(), max_evictions);
                assert_eq!(got.is_some(), expect, "{positions:?} in {bins} bins");
                if let Some(t) = got {
                    let mut seen = vec![false; n];
                    for bin in 0..bins {
                        if let Some((item, h)) = t.slot(bin) {
                            assert_eq!(positions[item as usize][usize::from(h)] as usize, bin);
                            assert!(!std::mem::replace(&mut seen[item as usize], true));
                        }
                    }
                    assert!(seen.iter().all(|&s| s));
                }
            }
            if expect {
                fits += 1;
            } else {
                fails += 1;
            }
        }
        // Both outcomes were exercised.
        assert!(fits > 100 && fails > 100, "{fits} fit, {fails} fail");
    }

    #[test]
    fn overfull_table_fails() {
        let positions = vec![[0u32, 1, 2]; 4];
        assert!(CuckooTable::vartime_build(&positions, 3, 1).is_none());
    }
}
