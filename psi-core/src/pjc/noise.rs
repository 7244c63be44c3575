//! Optional differential-privacy noise on a released count or sum, and the
//! threshold decided on the noisy count.
//!
//! # The mechanism
//! The discrete Laplace (two-sided geometric) mechanism of Ghosh, Roughgarden
//! and Sundararajan ("Universally Utility-Maximizing Privacy Mechanisms", STOC
//! 2009): `P(Z = z) = (1 − α)/(1 + α) · α^|z|` with `α = exp(−ε/Δ)`, which gives
//! ε-differential privacy for a query of sensitivity Δ (1 for a count; for a
//! sum, a declared public bound on what one item may carry, every value being
//! clamped to it before the protocol — never a bound read from the data).
//!
//! # The sampler is exact
//! [`DiscreteLaplace::vartime_sample`] is Algorithm 2 of Canonne, Kamath and
//! Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
//! with the `Bernoulli(exp(−γ))` sampler of their Algorithm 1 (only for
//! `γ ∈ [0, 1]`, the case Algorithm 2 needs). ε is a fraction ([`Epsilon`]),
//! so the scale `Δ/ε = t/s` is a fraction of integers, and every step draws
//! uniform integers by rejection and compares them: no floating point, no
//! logarithm, no truncated support (the f64 geometric draws this replaces
//! bounded the support and, for a tiny ε/Δ, saturated both draws and released
//! the exact value). A magnitude beyond `2^128 − 1` saturates (only when the
//! geometric part exceeds `2^64`, probability `e^(−2^64)`), and the noisy value
//! is then clamped to `i64`: both are post-processing of the exact draw.
//!
//! # Running time, and why it is variable
//! Each draw uses an expected number of random words bounded by a constant
//! whatever ε and Δ: Algorithm 2's loop accepts with probability at least
//! `(1 − e^−1)/2`, each `Bernoulli(exp(−γ))` with `γ ≤ 1` runs at most `e`
//! rounds in expectation, and each uniform integer takes fewer than 2 tries
//! (`expected_draws_are_bounded` measures 31 to 46 32-bit words per draw from
//! ε = 10^-6 to ε = 2^32 − 1).
//! The running time does depend on the draw, so it reveals something about
//! the noise (Jin, McMurtry, Rubinstein and Ohrimenko, "Are We There Yet?
//! Timing and Floating-Point Attacks on Differential Privacy Systems", IEEE
//! S&P 2022, time exactly these samplers). Hence the `vartime_` names: draw
//! where nobody who sees the release can time the draw — after the protocol's
//! last message, on the releasing party's own machine.
//!
//! # The floor on ε
//! ε below [`Epsilon::MIN`] = 10^-6 is refused. The sampler's expected cost
//! does not grow as ε shrinks, but the noise does: at ε = 10^-6 and the
//! largest sensitivity, [`MAX_VALUE`], the scale `Δ/ε` is about 2^52, so
//! `|Z| ≥ 2^62` has probability below `e^(−2^10)` and the released value is,
//! in practice, never clamped to `i64` — it is always the true value plus an
//! exact draw. Below the floor the noise would swamp any count or sum the
//! protocol carries (sums stay below 2^40) by many orders of magnitude: such an
//! ε is a mistake (a misplaced decimal point), not a privacy setting.
//!
//! # Threshold and noise
//! A threshold decided on the exact count would say the exact truth ("not
//! met" at threshold 1 says the intersection is empty) whatever the noise.
//! [`vartime_release_count`] and [`vartime_release_sum`] draw the count's
//! noise once and use it for both the threshold and the release, so "not met"
//! is post-processing of the noisy count and costs no extra ε.
//!
//! `psi-core` reads no OS state: pass a CSPRNG, e.g.
//! `rand_chacha::ChaCha20Rng::from_os_rng()`. Noise applies once per release:
//! releasing count and sum with `ε_count` and `ε_sum` costs `ε_count + ε_sum`.

use rand_core::{CryptoRng, RngCore};

use super::{Outcome, SumOutput, MAX_VALUE};
use crate::Error;

/// The privacy parameter ε, an exact fraction `numerator / denominator` in
/// lowest terms, both at most `u32::MAX`, and at least [`Epsilon::MIN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epsilon {
    numerator: u64,
    denominator: u64,
}

/// The largest numerator or denominator of an [`Epsilon`] (in lowest terms):
/// it keeps every integer of the sampler within `u128`.
const MAX_TERM: u64 = u32::MAX as u64;

impl Epsilon {
    /// The smallest ε accepted, 10^-6 (see the [module docs](self) for why).
    pub const MIN: Epsilon = Epsilon {
        numerator: 1,
        denominator: 1_000_000,
    };

    /// `numerator / denominator`, reduced. Refused: a zero term, ε below
    /// [`Epsilon::MIN`], or terms above `u32::MAX` once reduced.
    pub fn new(numerator: u64, denominator: u64) -> Result<Self, Error> {
        if numerator == 0 || denominator == 0 {
            return Err(Error::Misuse("epsilon must be a positive fraction"));
        }
        let g = gcd(numerator, denominator);
        let (numerator, denominator) = (numerator / g, denominator / g);
        // ε < MIN  ⇔  numerator · 10^6 < denominator (in u128, no overflow).
        if u128::from(numerator) * u128::from(Self::MIN.denominator)
            < u128::from(denominator) * u128::from(Self::MIN.numerator)
        {
            return Err(Error::Misuse(
                "epsilon is below the floor of 10^-6 (Epsilon::MIN)",
            ));
        }
        if numerator > MAX_TERM || denominator > MAX_TERM {
            return Err(Error::Misuse(
                "epsilon needs a numerator and denominator of at most 2^32 - 1",
            ));
        }
        Ok(Epsilon {
            numerator,
            denominator,
        })
    }

    /// `ε / parts` (an even split of a budget), checked like [`Epsilon::new`].
    pub fn divided_by(self, parts: u64) -> Result<Self, Error> {
        let denominator = self
            .denominator
            .checked_mul(parts)
            .ok_or(Error::Misuse("epsilon split into too many parts"))?;
        Self::new(self.numerator, denominator)
    }

    /// The numerator, in lowest terms.
    pub fn numerator(&self) -> u64 {
        self.numerator
    }

    /// The denominator, in lowest terms.
    pub fn denominator(&self) -> u64 {
        self.denominator
    }

    /// ε as a float, for reports only: no draw uses it.
    pub fn to_f64(self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The discrete Laplace mechanism with privacy parameter ε and sensitivity Δ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteLaplace {
    epsilon: Epsilon,
    sensitivity: u64,
    /// The scale `Δ/ε = t/s`: `t = Δ · denominator(ε)` (below 2^64).
    t: u128,
    /// `s = numerator(ε)` (below 2^32).
    s: u128,
}

/// A noisy value with everything a report needs to describe how it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoisyRelease {
    /// The true value plus one exact draw of the noise, clamped to `i64` (may
    /// be negative: clamping at 0 would be post-processing, left to readers).
    pub value: i64,
    /// The mechanism's name, for reports.
    pub mechanism: &'static str,
    /// ε spent on this value.
    pub epsilon: Epsilon,
    /// Δ.
    pub sensitivity: u64,
}

impl NoisyRelease {
    /// The scale `Δ/ε` (noise standard deviation ≈ `√2·scale`), for reports.
    pub fn scale(&self) -> f64 {
        self.sensitivity as f64 / self.epsilon.to_f64()
    }
}

impl DiscreteLaplace {
    /// The mechanism's name in reports.
    pub const NAME: &'static str =
        "discrete Laplace (two-sided geometric), exact sampler of Canonne, Kamath and Steinke 2020";

    /// A mechanism for ε and `1 ≤ Δ ≤ MAX_VALUE`.
    pub fn new(epsilon: Epsilon, sensitivity: u64) -> Result<Self, Error> {
        if !(1..=MAX_VALUE).contains(&sensitivity) {
            return Err(Error::Misuse(
                "the sensitivity must be between 1 and MAX_VALUE",
            ));
        }
        Ok(DiscreteLaplace {
            epsilon,
            sensitivity,
            t: u128::from(sensitivity) * u128::from(epsilon.denominator),
            s: u128::from(epsilon.numerator),
        })
    }

    /// ε.
    pub fn epsilon(&self) -> Epsilon {
        self.epsilon
    }

    /// Δ.
    pub fn sensitivity(&self) -> u64 {
        self.sensitivity
    }

    /// One exact draw of the noise, as a sign (`true`: negative) and a
    /// magnitude (CKS20, Algorithm 2, scale `t/s`). **Variable time.**
    fn vartime_draw<R: RngCore + CryptoRng + ?Sized>(&self, rng: &mut R) -> (bool, u128) {
        let (t, s) = (self.t, self.s);
        loop {
            let u = uniform_below(rng, t);
            if !vartime_bernoulli_exp_minus(rng, u, t) {
                continue;
            }
            let mut v: u128 = 0;
            while vartime_bernoulli_exp_minus(rng, 1, 1) {
                v += 1;
            }
            // X = U + t·V is geometric with parameter 1 − exp(−1/t).
            let x = t.saturating_mul(v).saturating_add(u);
            let y = x / s;
            let negative = rng.next_u32() & 1 == 1;
            if negative && y == 0 {
                continue;
            }
            return (negative, y);
        }
    }

    /// One draw of the noise, clamped to `i64`. **Variable time** (see the
    /// [module docs](self)).
    pub fn vartime_sample<R: RngCore + CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let (negative, magnitude) = self.vartime_draw(rng);
        signed(0, negative, magnitude)
    }

    /// `value` plus one draw of the noise. **Variable time.**
    pub fn vartime_release<R: RngCore + CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        value: u64,
    ) -> NoisyRelease {
        let (negative, magnitude) = self.vartime_draw(rng);
        NoisyRelease {
            value: signed(value, negative, magnitude),
            mechanism: Self::NAME,
            epsilon: self.epsilon,
            sensitivity: self.sensitivity,
        }
    }
}

/// `value ± magnitude`, clamped to `i64` (exactly: both fit in `i128` after
/// capping the magnitude far beyond the `i64` range).
fn signed(value: u64, negative: bool, magnitude: u128) -> i64 {
    let m = i128::try_from(magnitude.min(1 << 100)).unwrap_or(1 << 100);
    let v = i128::from(value) + if negative { -m } else { m };
    i64::try_from(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(0)
}

/// A uniform integer in `0..n` (`n ≥ 1`), by rejection on the smallest
/// power of two above `n − 1`: fewer than 2 tries in expectation.
fn uniform_below<R: RngCore + ?Sized>(rng: &mut R, n: u128) -> u128 {
    let bits = 128 - (n - 1).leading_zeros();
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    loop {
        let x = if bits > 64 {
            (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & mask
        } else {
            u128::from(rng.next_u64()) & mask
        };
        if x < n {
            return x;
        }
    }
}

/// `Bernoulli(num / den)`, `num ≤ den`, `den ≥ 1`. **Variable time.**
fn vartime_bernoulli<R: RngCore + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    uniform_below(rng, den) < num
}

/// `Bernoulli(exp(−γ))` for `γ = num / den ∈ [0, 1]` (CKS20, Algorithm 1,
/// the case `γ ≤ 1`): draw `A_k ~ Bernoulli(γ / k)` for `k = 1, 2, …` until
/// one is 0; the answer is whether that `k` is odd. `Bernoulli(γ / k)` is
/// drawn as `Bernoulli(γ) ∧ Bernoulli(1 / k)`, so no product can overflow.
/// **Variable time.**
fn vartime_bernoulli_exp_minus<R: RngCore + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    let mut k: u128 = 1;
    while vartime_bernoulli(rng, num, den) && vartime_bernoulli(rng, 1, k) {
        k += 1;
    }
    k % 2 == 1
}

/// The noisy count behind a threshold decided on that same noisy count: one
/// draw, used for both. A `threshold` of 0 means none (even a negative noisy
/// count is released). **Variable time.**
pub fn vartime_release_count<R: RngCore + CryptoRng + ?Sized>(
    rng: &mut R,
    mechanism: &DiscreteLaplace,
    count: u64,
    threshold: u64,
) -> Outcome<NoisyRelease> {
    let noisy = mechanism.vartime_release(rng, count);
    if threshold == 0 || i128::from(noisy.value) >= i128::from(threshold) {
        Outcome::Released(noisy)
    } else {
        Outcome::ThresholdNotMet
    }
}

/// The noisy count and, if that noisy count meets `threshold` (see
/// [`vartime_release_count`]), the noisy sum. Costs ε of `count` plus ε of
/// `sum`. **Variable time.**
pub fn vartime_release_sum<R: RngCore + CryptoRng + ?Sized>(
    rng: &mut R,
    count: &DiscreteLaplace,
    sum: &DiscreteLaplace,
    output: &SumOutput,
    threshold: u64,
) -> Outcome<(NoisyRelease, NoisyRelease)> {
    match vartime_release_count(rng, count, output.count, threshold) {
        Outcome::Released(c) => Outcome::Released((c, sum.vartime_release(rng, output.sum))),
        Outcome::ThresholdNotMet => Outcome::ThresholdNotMet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn eps(n: u64, d: u64) -> Epsilon {
        Epsilon::new(n, d).unwrap()
    }

    /// `α = exp(−ε/Δ)` (floats only to compute the expected pmf).
    fn alpha(m: &DiscreteLaplace) -> f64 {
        (-m.epsilon.to_f64() / m.sensitivity as f64).exp()
    }

    /// The exact pmf `P(Z = z)`.
    fn pmf(m: &DiscreteLaplace, z: i64) -> f64 {
        let a = alpha(m);
        (1.0 - a) / (1.0 + a) * a.powi(z.unsigned_abs() as i32)
    }

    /// `P(|Z| ≥ k)` for `k ≥ 1`.
    fn tail(m: &DiscreteLaplace, k: u32) -> f64 {
        let a = alpha(m);
        2.0 * a.powi(k as i32) / (1.0 + a)
    }

    /// An empirical frequency is within 5 standard deviations of `p` over
    /// `n` samples (a false alarm has probability below 10^-6; the seeds are
    /// fixed, so the test is deterministic).
    fn close(what: &str, hits: usize, n: usize, p: f64) {
        let freq = hits as f64 / n as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (freq - p).abs() <= 5.0 * sd + 1e-12,
            "{what}: {freq} vs exact {p} (5 sd = {})",
            5.0 * sd
        );
    }

    #[test]
    fn draws_follow_the_exact_pmf() {
        // Scales Δ/ε: 2, 1, 30 (s > 1, t/s not an integer), 1/3 (mostly 0),
        // 7/3 (ε = 3/7 with Δ = 1).
        let cases = [
            DiscreteLaplace::new(eps(1, 2), 1).unwrap(),
            DiscreteLaplace::new(eps(1, 1), 1).unwrap(),
            DiscreteLaplace::new(eps(1, 10), 3).unwrap(),
            DiscreteLaplace::new(eps(3, 1), 1).unwrap(),
            DiscreteLaplace::new(eps(3, 7), 1).unwrap(),
        ];
        let n = 200_000;
        for (i, m) in cases.iter().enumerate() {
            let mut rng = ChaCha20Rng::seed_from_u64(10 + i as u64);
            let draws: Vec<i64> = (0..n).map(|_| m.vartime_sample(&mut rng)).collect();
            let what = format!("ε = {:?}, Δ = {}", m.epsilon, m.sensitivity);
            // Mean 0, within 5 standard errors (Var = 2α/(1−α)²).
            let a = alpha(m);
            let sd = (2.0 * a).sqrt() / (1.0 - a);
            let mean = draws.iter().sum::<i64>() as f64 / n as f64;
            assert!(
                mean.abs() <= 5.0 * sd / (n as f64).sqrt(),
                "{what}: mean {mean}"
            );
            let count = |f: &dyn Fn(i64) -> bool| draws.iter().filter(|&&d| f(d)).count();
            for z in [0, 1, -1, 2, -2] {
                close(
                    &format!("{what}: P(Z = {z})"),
                    count(&|d| d == z),
                    n,
                    pmf(m, z),
                );
            }
            for k in [1, 3, 10] {
                let hits = count(&|d| d.unsigned_abs() >= u64::from(k));
                close(&format!("{what}: P(|Z| ≥ {k})"), hits, n, tail(m, k));
            }
            // Symmetry: P(Z > 0) = P(Z < 0) = tail(1)/2.
            let half = tail(m, 1) / 2.0;
            close(&format!("{what}: P(Z > 0)"), count(&|d| d > 0), n, half);
            close(&format!("{what}: P(Z < 0)"), count(&|d| d < 0), n, half);
        }
    }

    /// Counts the 32-bit words drawn.
    struct Counting(ChaCha20Rng, u64);

    impl RngCore for Counting {
        fn next_u32(&mut self) -> u32 {
            self.1 += 1;
            self.0.next_u32()
        }
        fn next_u64(&mut self) -> u64 {
            self.1 += 2;
            self.0.next_u64()
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.1 += dest.len().div_ceil(4) as u64;
            self.0.fill_bytes(dest)
        }
    }

    impl CryptoRng for Counting {}

    #[test]
    fn expected_draws_are_bounded() {
        // From the floor to a huge ε, with the smallest and largest Δ: the
        // average number of 32-bit words per draw stays below a constant.
        for (e, delta) in [
            (Epsilon::MIN, MAX_VALUE),
            (Epsilon::MIN, 1),
            (eps(1, 1), 1),
            (eps(u32::MAX.into(), 1), 1),
            (eps(7, 3), 1000),
        ] {
            let m = DiscreteLaplace::new(e, delta).unwrap();
            let mut rng = Counting(ChaCha20Rng::seed_from_u64(5), 0);
            let n = 20_000;
            for _ in 0..n {
                m.vartime_sample(&mut rng);
            }
            let words = rng.1 as f64 / n as f64;
            assert!(
                words < 120.0,
                "ε = {e:?}, Δ = {delta}: {words} words per draw"
            );
        }
    }

    #[test]
    fn tiny_epsilon_is_refused_and_the_floor_still_hides_the_value() {
        for (n, d) in [(1, 1_000_001), (1, 10_000_000_000), (0, 1), (1, 0)] {
            assert!(Epsilon::new(n, d).is_err(), "{n}/{d}");
        }
        assert_eq!(Epsilon::new(2, 2_000_000), Ok(Epsilon::MIN));
        assert!(Epsilon::MIN.divided_by(2).is_err());
        assert_eq!(eps(1, 2).divided_by(2), Ok(eps(1, 4)));
        // At the floor the value is never released as it is, and never
        // clamped: the old f64 sampler returned the exact value here.
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        for delta in [1, MAX_VALUE] {
            let m = DiscreteLaplace::new(Epsilon::MIN, delta).unwrap();
            for _ in 0..1000 {
                let v = m.vartime_release(&mut rng, 42).value;
                assert!(v != 42 && v != i64::MAX && v != i64::MIN, "{v}");
            }
        }
    }

    #[test]
    fn parameters_are_checked_and_reported() {
        assert_eq!(eps(6, 4), eps(3, 2));
        assert_eq!((eps(6, 4).numerator(), eps(6, 4).denominator()), (3, 2));
        assert!(Epsilon::new(u64::from(u32::MAX) + 1, 1).is_err());
        assert!(DiscreteLaplace::new(eps(1, 1), 0).is_err());
        assert!(DiscreteLaplace::new(eps(1, 1), MAX_VALUE + 1).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let m = DiscreteLaplace::new(eps(1, 2), 100).unwrap();
        let r = m.vartime_release(&mut rng, 1000);
        assert_eq!((r.sensitivity, r.epsilon), (100, eps(1, 2)));
        assert_eq!(r.scale(), 200.0);
        assert_eq!(r.mechanism, DiscreteLaplace::NAME);
    }

    #[test]
    fn clamping_is_exact() {
        assert_eq!(signed(5, true, 7), -2);
        assert_eq!(signed(5, false, u128::MAX), i64::MAX);
        assert_eq!(signed(u64::MAX, true, u128::MAX), i64::MIN);
        assert_eq!(signed(u64::MAX, false, 0), i64::MAX);
    }

    #[test]
    fn the_threshold_is_decided_on_the_noisy_count() {
        // Count 5 at threshold 5 with noise of scale 10: the noisy count
        // falls below the threshold about half the time, and a count of 4
        // meets it about half the time. Decided on the exact count, the
        // first would always be met and the second never.
        let m = DiscreteLaplace::new(eps(1, 10), 1).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let met = |rng: &mut ChaCha20Rng, count| {
            (0..400)
                .filter(|_| {
                    matches!(
                        vartime_release_count(rng, &m, count, 5),
                        Outcome::Released(r) if r.value >= 5
                    )
                })
                .count()
        };
        let (at, below) = (met(&mut rng, 5), met(&mut rng, 4));
        assert!(
            (100..=300).contains(&at),
            "met {at} of 400 at the threshold"
        );
        assert!((100..=300).contains(&below), "met {below} of 400 below it");
        // Threshold 0 is none: every draw is released.
        assert!((0..400).all(|_| matches!(
            vartime_release_count(&mut rng, &m, 0, 0),
            Outcome::Released(_)
        )));
        // The sum is released exactly when the noisy count is.
        let out = SumOutput { count: 5, sum: 50 };
        let s = DiscreteLaplace::new(eps(1, 10), 10).unwrap();
        for _ in 0..100 {
            if let Outcome::Released((c, _)) = vartime_release_sum(&mut rng, &m, &s, &out, 5) {
                assert!(c.value >= 5);
            }
        }
    }
}
