//! Optional differential-privacy noise on a released count or sum.
//!
//! The mechanism is the discrete Laplace (two-sided geometric) mechanism of
//! Ghosh, Roughgarden and Sundararajan ("Universally Utility-Maximizing
//! Privacy Mechanisms", STOC 2009): `P(Z = z) ∝ exp(−ε·|z| / Δ)`, which gives
//! ε-differential privacy for a query of sensitivity Δ (1 for a count; the
//! largest value a single item may carry for a sum). Integer noise avoids the
//! floating-point attacks on the textbook continuous Laplace mechanism
//! (Mironov, CCS 2012); the geometric draws still use `f64` logarithms, so the
//! tails are approximate at the level of 2^-53.
//!
//! `psi-core` reads no OS state: pass a CSPRNG, e.g.
//! `rand_chacha::ChaCha20Rng::from_os_rng()`. Noise applies once per release:
//! releasing count and sum with `ε_count` and `ε_sum` costs `ε_count + ε_sum`.

use rand_core::CryptoRng;

use super::{SumOutput, MAX_VALUE};
use crate::Error;

/// The discrete Laplace mechanism with privacy parameter ε and sensitivity Δ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscreteLaplace {
    epsilon: f64,
    sensitivity: u64,
}

/// A noisy value with everything a report needs to describe how it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyRelease {
    /// The true value plus noise (may be negative; clamping is post-processing).
    pub value: i64,
    /// The mechanism's name, for reports.
    pub mechanism: &'static str,
    /// ε.
    pub epsilon: f64,
    /// Δ.
    pub sensitivity: u64,
    /// The scale `Δ/ε` (noise standard deviation ≈ `√2·scale`).
    pub scale: f64,
}

impl DiscreteLaplace {
    /// The mechanism's name in reports.
    pub const NAME: &'static str = "discrete Laplace (two-sided geometric)";

    /// A mechanism for ε > 0 (finite) and Δ ≥ 1.
    pub fn new(epsilon: f64, sensitivity: u64) -> Result<Self, Error> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::Misuse("epsilon must be finite and positive"));
        }
        if sensitivity == 0 {
            return Err(Error::Misuse("sensitivity must be at least 1"));
        }
        Ok(DiscreteLaplace {
            epsilon,
            sensitivity,
        })
    }

    /// `Δ/ε`.
    pub fn scale(&self) -> f64 {
        self.sensitivity as f64 / self.epsilon
    }

    /// One draw of the noise.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        // ln α with α = exp(−ε/Δ).
        let ln_alpha = -self.epsilon / self.sensitivity as f64;
        let mut geometric = || {
            // U uniform in (0, 1]; failures before the first success of a
            // Bernoulli(1 − α): ⌊ln U / ln α⌋.
            let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let g = (u.ln() / ln_alpha).floor();
            if g >= i64::MAX as f64 {
                i64::MAX
            } else {
                g as i64
            }
        };
        let a = geometric();
        let b = geometric();
        a.saturating_sub(b)
    }

    /// `value` plus one draw of the noise.
    pub fn release<R: CryptoRng + ?Sized>(&self, rng: &mut R, value: u64) -> NoisyRelease {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        NoisyRelease {
            value: value.saturating_add(self.sample(rng)),
            mechanism: Self::NAME,
            epsilon: self.epsilon,
            sensitivity: self.sensitivity,
            scale: self.scale(),
        }
    }
}

/// Noisy count (sensitivity 1, `epsilon_count`) and noisy sum (sensitivity
/// `max_value`, at most [`MAX_VALUE`], `epsilon_sum`) of a sum result.
pub fn noisy_sum<R: CryptoRng + ?Sized>(
    rng: &mut R,
    output: &SumOutput,
    epsilon_count: f64,
    epsilon_sum: f64,
    max_value: u64,
) -> Result<(NoisyRelease, NoisyRelease), Error> {
    let count = DiscreteLaplace::new(epsilon_count, 1)?;
    let sum = DiscreteLaplace::new(epsilon_sum, max_value.clamp(1, MAX_VALUE))?;
    Ok((
        count.release(rng, output.count),
        sum.release(rng, output.sum),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn noise_is_centred_with_the_right_spread() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let m = DiscreteLaplace::new(0.5, 1).unwrap();
        let n = 200_000;
        let draws: Vec<i64> = (0..n).map(|_| m.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        let var = draws
            .iter()
            .map(|&d| (d as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        // Var = 2α/(1−α)^2 with α = e^{-1/2}.
        let a = (-0.5f64).exp();
        let expected = 2.0 * a / (1.0 - a).powi(2);
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!(
            (var / expected - 1.0).abs() < 0.05,
            "var {var} vs {expected}"
        );
        let zeros = draws.iter().filter(|&&d| d == 0).count() as f64 / n as f64;
        assert!((zeros - (1.0 - a) / (1.0 + a)).abs() < 0.01);
    }

    #[test]
    fn parameters_are_checked_and_reported() {
        assert!(DiscreteLaplace::new(0.0, 1).is_err());
        assert!(DiscreteLaplace::new(f64::NAN, 1).is_err());
        assert!(DiscreteLaplace::new(1.0, 0).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let out = SumOutput {
            count: 10,
            sum: 1000,
        };
        let (c, s) = noisy_sum(&mut rng, &out, 1.0, 0.5, 100).unwrap();
        assert_eq!((c.sensitivity, s.sensitivity), (1, 100));
        assert_eq!(s.scale, 200.0);
        assert_eq!(c.mechanism, DiscreteLaplace::NAME);
    }
}
