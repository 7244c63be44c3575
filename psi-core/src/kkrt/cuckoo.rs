//! Cuckoo hashing with three hash functions and no stash (the receiver's side),
//! and the table sizes from the literature.
//!
//! Every item goes to one of its three candidate bins `h_0(x), h_1(x), h_2(x)`;
//! a full bin's occupant is evicted to one of its other candidates (random walk,
//! Fotakis–Pagh–Sanders–Spirakis, "Space efficient hash tables with worst case
//! constant access time", STACS 2003). Insertion is variable-time in the items'
//! hashes (only the receiver runs it, on its own items).

/// Marks an empty bin.
const EMPTY: u32 = u32::MAX;

/// Evictions allowed per inserted item before the seed is declared bad. With
/// `m ≥ 1.27 n` the random walk almost always ends within a few dozen steps.
const MAX_EVICTIONS: u32 = 1000;

/// Number of bins for `n` items: `⌈ε·n⌉` rounded up to a multiple of 128 (the
/// OT-extension block), at least 128.
///
/// `ε = 1.27` for `n ≥ 2^12`: Pinkas, Schneider and Zohner, "Scalable Private Set
/// Intersection Based on OT Extension" (ACM TOPS 2018, "PSZ18") §3.2.2, and the
/// empirical analysis of Pinkas, Schneider, Tkachenko and Yanai ("Efficient
/// Circuit-based PSI with Linear Communication", Eurocrypt 2019, §5): 3 hash
/// functions, no stash and `1.27 n` bins fail with probability `≤ 2^-40` for
/// large `n`. Smaller tables need relatively more room for the same failure
/// probability, so below `2^12` items we use `ε = 2` (no retry in 37,000 trials
/// between 1 and 2^16 items: `tests/kkrt_props.rs`, `cuckoo_failure_rate_*`);
/// the rounding to 128 adds more slack for tiny sets.
pub fn bin_count(n: u64) -> u64 {
    let scaled = if n >= 1 << 12 {
        (n.saturating_mul(127)).div_ceil(100)
    } else {
        n * 2
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
    /// walk. `None` when some insertion exceeds [`MAX_EVICTIONS`]: retry with a
    /// fresh hash seed. `walk_seed` only steers the choice of evictions.
    pub(crate) fn vartime_build(
        positions: &[[u32; 3]],
        bins: usize,
        walk_seed: u64,
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
                if evictions == MAX_EVICTIONS {
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
        assert_eq!(bin_count(64), 128);
        assert_eq!(bin_count(65), 256);
        assert_eq!(bin_count(4095), 8192);
        // 1.27 · 4096 = 5201.92 → 5202 → 41 blocks of 128.
        assert_eq!(bin_count(4096), 5248);
        assert_eq!(bin_count(1 << 20), 1_331_712);
        assert_eq!(bin_count(u64::MAX) % 128, 0);
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

    #[test]
    fn overfull_table_fails() {
        let positions = vec![[0u32, 1, 2]; 4];
        assert!(CuckooTable::vartime_build(&positions, 3, 1).is_none());
    }
}
