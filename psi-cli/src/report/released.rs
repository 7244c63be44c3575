//! What a party released in `--mode cardinality|sum`.

use serde::Serialize;

/// What the report says a party learned.
#[derive(Debug, Clone, Serialize)]
pub struct Released {
    /// False when the threshold was not met (see `threshold_on`): then
    /// nothing else is known.
    pub threshold_met: bool,
    /// This party's threshold.
    pub min_intersection: u64,
    /// What the threshold was decided on.
    pub threshold_on: ThresholdOn,
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

/// What a threshold was decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ThresholdOn {
    /// No noise: the protocol decided the larger of both parties'
    /// thresholds on the exact count.
    #[serde(rename = "exact_count")]
    Exact,
    /// Noise: ours was decided on the noisy count that is released (the
    /// peer's threshold, if it has one, was met on the exact count).
    #[serde(rename = "noisy_count")]
    Noisy,
    /// Noise, but the protocol said "not met": that is the peer's threshold,
    /// decided on the exact count (ours goes to the noisy count), so this
    /// answer is not differentially private.
    #[serde(rename = "peers_exact_count")]
    PeersExact,
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

impl Released {
    /// One line for the terminal.
    pub fn describe(&self) -> String {
        if !self.threshold_met {
            return match self.threshold_on {
                ThresholdOn::Exact => format!(
                    "threshold not met: fewer than {} keys are shared (nothing else is revealed)",
                    self.min_intersection
                ),
                ThresholdOn::Noisy => format!(
                    "threshold not met: the noisy count is below {} (nothing else is revealed)",
                    self.min_intersection
                ),
                ThresholdOn::PeersExact => "threshold not met: the peer's --min-intersection,                      decided on the exact count (not differentially private: ask the peer for                      --min-intersection 0)"
                    .to_string(),
            };
        }
        let noisy = if self.noise.is_empty() {
            ""
        } else {
            " (with DP noise)"
        };
        match (self.count, self.sum) {
            (Some(c), Some(s)) => format!("shared keys: {c}; sum over them: {s}{noisy}"),
            (Some(c), None) => format!("shared keys: {c}{noisy}"),
            _ => "nothing released".to_string(),
        }
    }
}
