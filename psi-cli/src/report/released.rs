//! What a party released in `--mode cardinality|sum`.

use serde::Serialize;

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

impl Released {
    /// One line for the terminal.
    pub fn describe(&self) -> String {
        if !self.threshold_met {
            return format!(
                "threshold not met: fewer than {} keys are shared (nothing else is revealed)",
                self.min_intersection
            );
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
