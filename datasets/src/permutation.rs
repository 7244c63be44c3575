//! A keyed pseudorandom permutation of `[0, n)` that needs O(1) memory.
//!
//! A balanced 4-round Feistel network over the smallest even number of bits
//! `2h` with `2^(2h) >= n`, turned into a permutation of `[0, n)` by cycle
//! walking (re-encrypting until the value lands below `n`; Black & Rogaway,
//! "Ciphers with Arbitrary Finite Domains", CT-RSA 2002). The domain is at
//! most `4n`, so a walk takes at most 4 steps on average.
//!
//! This shuffles test data; it is *not* a cryptographic cipher.

/// Feistel rounds. Four rounds of a good round function give a pseudorandom
/// permutation (Luby–Rackoff); more would only cost time here.
const ROUNDS: usize = 4;

/// The splitmix64 finaliser: a fast bijective mixer of 64-bit words.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Derives a 64-bit subkey from the user's seed and a purpose tag. For a
/// fixed tag this is a bijection of the seed, so different seeds always give
/// different subkeys.
pub(crate) const fn derive(seed: u64, tag: u64) -> u64 {
    mix64(mix64(seed ^ 0x7073_692d_6461_7461) ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A keyed permutation of `[0, n)`.
#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    round_keys: [u64; ROUNDS],
}

impl Permutation {
    /// A permutation of `[0, n)` keyed by `key`.
    pub(crate) fn new(n: u64, key: u64) -> Self {
        // Bits needed to write n - 1, i.e. 2^bits >= n.
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mask = (1u64 << half_bits) - 1;
        let mut round_keys = [0; ROUNDS];
        for (i, k) in (0u64..).zip(round_keys.iter_mut()) {
            *k = derive(key, i);
        }
        Self {
            n,
            half_bits,
            mask,
            round_keys,
        }
    }

    /// The image of `x`. `x` must be below `n`.
    pub(crate) fn apply(&self, x: u64) -> u64 {
        debug_assert!(x < self.n, "{x} is outside [0, {})", self.n);
        let mut y = x;
        // Terminates: the Feistel network permutes [0, 2^(2h)), and the cycle
        // through x contains x itself, which is below n.
        loop {
            y = self.feistel(y);
            if y < self.n {
                return y;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mut left = x >> self.half_bits;
        let mut right = x & self.mask;
        for &k in &self.round_keys {
            let f = mix64(right ^ k) & self.mask;
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bijection(n: u64, key: u64) {
        let p = Permutation::new(n, key);
        let mut seen = vec![false; usize::try_from(n).expect("test size fits usize")];
        for x in 0..n {
            let y = p.apply(x);
            assert!(y < n, "n = {n}: {x} -> {y} is out of range");
            let slot = &mut seen[usize::try_from(y).expect("fits")];
            assert!(!*slot, "n = {n}: {y} is hit twice");
            *slot = true;
        }
    }

    #[test]
    fn is_a_bijection_on_several_sizes() {
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 1000, 1024, 4097, 65_537] {
            for key in [0, 1, 0xdead_beef] {
                assert_bijection(n, key);
            }
        }
    }

    #[test]
    fn shuffles_and_depends_on_key() {
        let n = 10_000;
        let a = Permutation::new(n, 1);
        let b = Permutation::new(n, 2);
        let fixed_points = (0..n).filter(|&x| a.apply(x) == x).count();
        assert!(fixed_points < 20, "{fixed_points} fixed points");
        let agreeing = (0..n).filter(|&x| a.apply(x) == b.apply(x)).count();
        assert!(agreeing < 20, "{agreeing} agreements between keys");
    }

    #[test]
    fn handles_huge_domains() {
        let p = Permutation::new(u64::MAX, 7);
        for x in [0, 1, u64::MAX - 1] {
            assert!(p.apply(x) < u64::MAX);
        }
        let q = Permutation::new(1 << 40, 7);
        assert!(q.apply(12345) < 1 << 40);
    }
}
