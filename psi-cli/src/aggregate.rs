//! `--mode cardinality` and `--mode sum`: learn only how many keys are shared,
//! or only the count and the total of a value over them (PSI-cardinality and
//! PSI-sum, `psi_core::pjc`).

use std::time::Instant;

use clap::ValueEnum;
use psi_core::codec::Protocol;
use psi_core::pjc::noise::{DiscreteLaplace, NoisyRelease};
use psi_core::pjc::{self, Outcome, SumOutput};
use psi_server::{PjcOutput, ServeMode};
use rand::SeedableRng;
use serde::Serialize;

use crate::error::CliError;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The rows both parties hold (written to `--output`).
    Intersection,
    /// Only how many distinct keys both parties hold.
    Cardinality,
    /// Only the count and the total of the server's `--value` column over the shared keys.
    Sum,
}

/// Who learns the sum in `--mode sum` (the server always holds the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SumTo {
    /// The value holder (`psi serve`) learns count and sum, as in Private Join
    /// and Compute; the client learns the count.
    Server,
    /// The key holder (`psi run`) learns count and sum; the server learns nothing.
    Client,
}

/// The server's mode for `--mode` / `--sum-to`.
pub fn serve_mode(mode: ModeArg, sum_to: SumTo) -> ServeMode {
    match (mode, sum_to) {
        (ModeArg::Intersection, _) => ServeMode::Intersection,
        (ModeArg::Cardinality, _) => ServeMode::Cardinality,
        (ModeArg::Sum, SumTo::Server) => ServeMode::SumToServer,
        (ModeArg::Sum, SumTo::Client) => ServeMode::SumToClient,
    }
}

/// The protocol a client runs for a non-intersection mode.
pub fn protocol(mode: ServeMode) -> Protocol {
    match mode {
        ServeMode::Cardinality | ServeMode::Intersection => Protocol::Cardinality,
        ServeMode::SumToServer => Protocol::SumToValueHolder,
        ServeMode::SumToClient => Protocol::SumToKeyHolder,
    }
}

/// What the report says a party learned.
#[derive(Debug, Clone, Serialize)]
pub struct Released {
    /// False when fewer than `min_intersection` keys matched: then nothing else
    /// is known.
    pub threshold_met: bool,
    /// The threshold that applied (the larger of both parties').
    pub min_intersection: u64,
    /// Matching distinct keys (noisy if `noise` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Total of the values over them (noisy if `noise` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
    /// The differential-privacy noise added before release, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<NoiseReport>,
}

/// One noisy release in a report.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseReport {
    /// "count" or "sum".
    pub what: &'static str,
    /// The mechanism.
    pub mechanism: &'static str,
    /// ε spent on this value.
    pub epsilon: f64,
    /// Sensitivity Δ.
    pub sensitivity: u64,
    /// Scale Δ/ε.
    pub scale: f64,
}

/// Differential-privacy options: ε in total (split evenly between count and
/// sum when both are released) and the sum's sensitivity.
#[derive(Debug, Clone, Copy)]
pub struct Dp {
    /// Total ε.
    pub epsilon: f64,
    /// The most one key can add to the sum.
    pub sum_sensitivity: u64,
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
                let sens = dp.sum_sensitivity.clamp(1, pjc::MAX_VALUE);
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
        PjcOutput::SumToClient(s) => {
            let count = match s {
                Outcome::Released(o) => Outcome::Released(o.count),
                Outcome::ThresholdNotMet => Outcome::ThresholdNotMet,
            };
            release(count, Some(s), min_intersection, dp)
        }
    }
}

/// One line for the terminal.
pub fn describe(r: &Released) -> String {
    if !r.threshold_met {
        return format!(
            "threshold not met: fewer than {} keys are shared (nothing else is revealed)",
            r.min_intersection
        );
    }
    let noisy = if r.noise.is_empty() {
        ""
    } else {
        " (with DP noise)"
    };
    match (r.count, r.sum) {
        (Some(c), Some(s)) => format!("shared keys: {c}; sum over them: {s}{noisy}"),
        (Some(c), None) => format!("shared keys: {c}{noisy}"),
        _ => "nothing released".to_string(),
    }
}

/// For the report's total.
pub fn since(t: Instant) -> f64 {
    crate::report::secs(t.elapsed())
}
