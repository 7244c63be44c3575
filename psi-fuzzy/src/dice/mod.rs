//! Sørensen–Dice similarity of packed bit vectors: `2 |a ∧ b| / (|a| + |b|)`.
//!
//! The work is counting the bits of `a AND b`. [`Kernel`] picks, once, the
//! fastest way this CPU has: AVX-512 `VPOPCNTQ` (eight words per
//! instruction), the scalar `POPCNT` instruction, or portable code; the
//! kernels compute the same integers, which the tests check against
//! [`intersection_portable`]. Similarities are compared exactly, as
//! fractions of integers, never as rounded floats (see [`at_least`]).

mod dispatch;

/// Which popcount code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust (`count_ones` without CPU features: bit tricks).
    Portable,
    /// x86-64 `POPCNT`.
    Popcnt,
    /// x86-64 AVX-512F with `VPOPCNTDQ`.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        dispatch::detect()
    }

    /// Every kernel this CPU runs (for tests and benchmarks).
    pub fn available() -> Vec<Kernel> {
        [Kernel::Portable, Kernel::Popcnt, Kernel::Avx512]
            .into_iter()
            .filter(|k| dispatch::runs_here(*k))
            .collect()
    }

    /// The name printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Popcnt => "popcnt",
            Kernel::Avx512 => "avx512-vpopcntdq",
        }
    }

    /// `out[i] = |query ∧ row_i|` for the rows of `rows` (each `query.len()`
    /// words, one after another). Falls back to portable code if this CPU
    /// lacks the kernel's instructions.
    pub fn intersections(self, query: &[u64], rows: &[u64], out: &mut [u32]) {
        dispatch::intersections(self, query, rows, out);
    }
}

/// `|a ∧ b|` in plain Rust.
pub fn intersection_portable(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x & y).count_ones()).sum()
}

/// Dice similarity in plain Rust (0 when both are empty), as a float for
/// display and tests.
pub fn dice_portable(a: &[u64], b: &[u64]) -> f64 {
    let pa: u32 = a.iter().map(|w| w.count_ones()).sum();
    let pb: u32 = b.iter().map(|w| w.count_ones()).sum();
    if pa + pb == 0 {
        return 0.0;
    }
    2.0 * f64::from(intersection_portable(a, b)) / f64::from(pa + pb)
}

/// Denominator of [`Threshold`]: thresholds are millionths.
const MILLION: u64 = 1_000_000;

/// A threshold as an exact fraction `num / 10^6`, so that "similarity ≥
/// threshold" is decided on integers, `2·i·10^6 ≥ num·(pa + pb)`, and a
/// threshold written in decimals (0.8) means exactly what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

impl Threshold {
    /// The threshold nearest `t` (clamped to `0..=1`) in millionths.
    pub fn new(t: f64) -> Threshold {
        Threshold((t.clamp(0.0, 1.0) * MILLION as f64).round() as u64)
    }

    /// As a float.
    pub fn value(self) -> f64 {
        self.0 as f64 / MILLION as f64
    }
}

/// Whether `2·inter / sum ≥ t`, exactly.
#[inline]
pub fn at_least(inter: u32, sum: u32, t: Threshold) -> bool {
    2 * u64::from(inter) * MILLION >= t.0 * u64::from(sum)
}

/// The popcounts `pb` a partner of an encoding with `pa` bits set can have
/// and still reach `t`: `|a ∧ b| ≤ min(pa, pb)` bounds the similarity by
/// `2 min / (pa + pb)`.
pub fn popcount_range(pa: u32, t: Threshold) -> (u32, u32) {
    let t = t.value();
    if t <= 0.0 {
        return (0, u32::MAX);
    }
    let low = (f64::from(pa) * t / (2.0 - t)).floor() as u32;
    let high = (f64::from(pa) * (2.0 - t) / t)
        .ceil()
        .min(f64::from(u32::MAX)) as u32;
    (low.saturating_sub(1), high.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn random(rng: &mut ChaCha8Rng, words: usize, rows: usize) -> Vec<u64> {
        (0..words * rows)
            .map(|_| rng.next_u64() & rng.next_u64())
            .collect()
    }

    /// Every kernel this CPU has agrees with the portable count, for the
    /// usual 16 words and odd lengths.
    #[test]
    fn kernels_agree_with_portable_code() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for words in [1usize, 7, 8, 16, 17, 32, 33] {
            let q = random(&mut rng, words, 1);
            let rows = random(&mut rng, words, 50);
            let want: Vec<u32> = rows
                .chunks_exact(words)
                .map(|r| intersection_portable(&q, r))
                .collect();
            for k in Kernel::available() {
                let mut out = vec![0; 50];
                k.intersections(&q, &rows, &mut out);
                assert_eq!(out, want, "{} words={words}", k.name());
            }
        }
        println!(
            "kernels run here: {:?}",
            Kernel::available()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn threshold_is_exact() {
        let t = Threshold::new(0.8);
        assert!(at_least(4, 10, t));
        assert!(!at_least(3, 8, t)); // 0.75
        assert!(at_least(5, 10, Threshold::new(1.0)));
        assert!(!at_least(4, 10, Threshold::new(0.9)));
    }

    #[test]
    fn popcount_range_keeps_every_possible_partner() {
        for pa in [1u32, 10, 400, 512, 700] {
            for t in [0.5, 0.75, 0.8, 0.95, 1.0] {
                let th = Threshold::new(t);
                let (lo, hi) = popcount_range(pa, th);
                for pb in 1..2000u32 {
                    if at_least(pa.min(pb), pa + pb, th) {
                        assert!(lo <= pb && pb <= hi, "pa={pa} pb={pb} t={t}");
                    }
                }
            }
        }
    }
}
