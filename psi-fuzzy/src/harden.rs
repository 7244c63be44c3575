//! Hardening a Bloom-filter encoding against frequency and pattern attacks,
//! in this order:
//!
//! 1. **Bit flips** (BLIP; Schnell & Borgs, "Randomized response and balanced
//!    Bloom filters for privacy preserving record linkage", ICDMW 2016): each
//!    bit flips independently with probability `f`, drawn fresh per encoding.
//! 2. **Balancing** (same paper): the filter is followed by its complement and
//!    the `2l` bits are permuted by a permutation derived from the secret;
//!    every encoding then has exactly `l` bits set, so the number of set bits
//!    no longer tells how long the values are.
//! 3. **XOR-folding** (Schnell, Borgs & Encarnação, "Hardening encrypted
//!    patient names against cryptographic attacks using cryptographic
//!    long-term keys", 2016): the two halves are XORed; a set bit no longer
//!    corresponds to one feature's position.
//!
//! What each costs in precision and recall is measured by
//! `psi-bench fuzzy-quality` (README, "Fuzzy linkage").

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::secret::Secret;
use crate::spec::Spec;

/// The hardening steps of one spec, ready to apply.
pub(crate) struct Hardener {
    /// `2^32 · f`, if bits flip.
    flip_below: Option<u32>,
    /// Where bit `i` of `filter ‖ ¬filter` goes, if balancing.
    permutation: Option<Vec<u32>>,
    fold: bool,
}

impl Hardener {
    pub(crate) fn new(spec: &Spec, secret: &Secret, fingerprint: &[u8; 32]) -> Hardener {
        let h = spec.hardening;
        let flip_below =
            (h.flip_probability > 0.0).then_some((h.flip_probability * 4_294_967_296.0) as u32);
        let permutation = h.balance.then(|| {
            let key = secret.derive(fingerprint, "balance", 0);
            let mut rng = ChaCha20Rng::from_seed(*key);
            let n = 2 * spec.filter_bits as usize;
            let mut p: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
                p.swap(i, j);
            }
            p
        });
        Hardener {
            flip_below,
            permutation,
            fold: h.xor_fold,
        }
    }

    /// Hardens `filter` (the plain Bloom filter) into `out` (the output length).
    pub(crate) fn apply(&self, filter: &mut Vec<u64>, out: &mut [u64], flips: &mut dyn RngCore) {
        if let Some(below) = self.flip_below {
            for word in filter.iter_mut() {
                let mut mask = 0u64;
                for bit in 0..64 {
                    mask |= u64::from(flips.next_u32() < below) << bit;
                }
                *word ^= mask;
            }
        }
        if let Some(p) = &self.permutation {
            let l = filter.len() * 64;
            let mut balanced = vec![0u64; filter.len() * 2];
            for (i, &to) in p.iter().enumerate() {
                let bit = if i < l {
                    (filter[i / 64] >> (i % 64)) & 1
                } else {
                    !(filter[(i - l) / 64] >> ((i - l) % 64)) & 1
                };
                balanced[to as usize / 64] |= bit << (to % 64);
            }
            *filter = balanced;
        }
        if self.fold {
            let half = filter.len() / 2;
            let (low, high) = filter.split_at(half);
            let folded: Vec<u64> = low.iter().zip(high).map(|(a, b)| a ^ b).collect();
            *filter = folded;
        }
        out.copy_from_slice(filter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{OsRng, TryRngCore};

    fn hardener(hardening: &str) -> Hardener {
        let spec = Spec::parse(&format!(
            r#"{{"fields": [{{"column": "a"}}], "filter_bits": 256, "hardening": {hardening}}}"#
        ))
        .unwrap();
        let secret = Secret::from_bytes(b"a test secret, not a real one").unwrap();
        Hardener::new(&spec, &secret, &spec.fingerprint())
    }

    #[test]
    fn balancing_sets_exactly_half_the_bits() {
        let h = hardener(r#"{"balance": true}"#);
        for seed in [0u64, 0xffff, 0x1234_5678_9abc_def0] {
            let mut f = vec![seed, !seed, seed ^ 0xf0f0, 0];
            let mut out = vec![0u64; 8];
            h.apply(&mut f, &mut out, &mut OsRng.unwrap_err());
            assert_eq!(out.iter().map(|w| w.count_ones()).sum::<u32>(), 256);
        }
    }

    #[test]
    fn folding_xors_the_halves() {
        let h = hardener(r#"{"xor_fold": true}"#);
        let mut f = vec![1, 2, 4, 8];
        let mut out = vec![0u64; 2];
        h.apply(&mut f, &mut out, &mut OsRng.unwrap_err());
        assert_eq!(out, vec![1 ^ 4, 2 ^ 8]);
    }

    #[test]
    fn flips_follow_their_probability() {
        let h = hardener(r#"{"flip_probability": 0.1}"#);
        let mut flipped = 0u32;
        let runs = 200;
        for _ in 0..runs {
            let mut f = vec![0u64; 4];
            let mut out = vec![0u64; 4];
            h.apply(&mut f, &mut out, &mut OsRng.unwrap_err());
            flipped += out.iter().map(|w| w.count_ones()).sum::<u32>();
        }
        let rate = f64::from(flipped) / f64::from(256 * runs);
        // 51,200 draws: the standard deviation of the rate is 0.0013.
        assert!((rate - 0.1).abs() < 0.01, "{rate}");
    }
}
