//! What a party of `--mode cardinality|sum` releases: the count and maybe
//! the sum it computed, or only that the threshold was not met, with
//! discrete-Laplace noise when the plan asks for it (`psi_core::pjc::noise`).

use psi_core::pjc::noise::{DiscreteLaplace, NoisyRelease};
use psi_core::pjc::{self, Outcome, SumOutput};
use psi_server::PjcOutput;
use rand::SeedableRng;

use crate::error::CliError;
use crate::plan::Dp;
use crate::report::{NoiseReport, Released};

/// A count and maybe a sum, with noise when `dp` says so.
pub fn release(
    count: Outcome<u64>,
    sum: Option<Outcome<SumOutput>>,
    min_intersection: u64,
    dp: Option<Dp>,
) -> Result<Released, CliError> {
    let mut r = Released {
        threshold_met: false,
        min_intersection,
        count: None,
        sum: None,
        noise: Vec::new(),
    };
    let (count, sum) = match (count, sum) {
        (Outcome::Released(c), None) => (c, None),
        (_, Some(Outcome::Released(s))) => (s.count, Some(s.sum)),
        _ => return Ok(r),
    };
    r.threshold_met = true;
    let exact = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    match dp {
        None => {
            r.count = Some(exact(count));
            r.sum = sum.map(exact);
        }
        Some(dp) => {
            let share = if sum.is_some() { 2.0 } else { 1.0 };
            let eps = dp.epsilon / share;
            r.count = Some(noisy("count", count, eps, 1, &mut r.noise)?);
            if let Some(s) = sum {
                let sens = dp.sum_sensitivity.unwrap_or(1).clamp(1, pjc::MAX_VALUE);
                r.sum = Some(noisy("sum", s, eps, sens, &mut r.noise)?);
            }
        }
    }
    Ok(r)
}

/// What the client learned, as a release.
pub fn client_release(
    output: PjcOutput,
    min_intersection: u64,
    dp: Option<Dp>,
) -> Result<Released, CliError> {
    match output {
        PjcOutput::Cardinality(c) | PjcOutput::SumToServer(c) => {
            release(c, None, min_intersection, dp)
        }
        PjcOutput::SumToClient(s) => release(count_of(s), Some(s), min_intersection, dp),
    }
}

/// The count part of a sum's outcome.
pub fn count_of(sum: Outcome<SumOutput>) -> Outcome<u64> {
    match sum {
        Outcome::Released(s) => Outcome::Released(s.count),
        Outcome::ThresholdNotMet => Outcome::ThresholdNotMet,
    }
}

fn noisy(
    what: &'static str,
    value: u64,
    epsilon: f64,
    sensitivity: u64,
    noise: &mut Vec<NoiseReport>,
) -> Result<i64, CliError> {
    let mechanism = DiscreteLaplace::new(epsilon, sensitivity)
        .map_err(|e| CliError::Usage(format!("--dp-epsilon: {e}")))?;
    let mut rng = rand_chacha::ChaCha20Rng::from_os_rng();
    let NoisyRelease {
        value,
        mechanism,
        epsilon,
        sensitivity,
        scale,
    } = mechanism.release(&mut rng, value);
    noise.push(NoiseReport {
        what,
        mechanism,
        epsilon,
        sensitivity,
        scale,
    });
    Ok(value)
}
