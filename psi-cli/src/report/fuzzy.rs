//! The reports of `psi encode` and `psi match`.

use psi_fuzzy::{EncodeSummary, Score};
use serde::Serialize;

use super::Environment;

/// `psi encode`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct EncodeReport {
    /// `encode`.
    pub command: &'static str,
    /// The table read.
    pub input: String,
    /// The encodings file written.
    pub output: String,
    /// SHA-256 of the spec's canonical text (also in the file's header).
    pub spec_fingerprint: String,
    /// Rows, bits, and what happened to each field.
    #[serde(flatten)]
    pub summary: EncodeSummary,
    /// Seconds, reading and encoding.
    pub seconds: f64,
    /// Build and machine.
    pub environment: Environment,
}

/// One encodings file `psi match` read.
#[derive(Debug, Clone, Serialize)]
pub struct MatchInput {
    /// The file.
    pub path: String,
    /// Encodings in it.
    pub rows: u64,
}

/// How candidates were found.
#[derive(Debug, Clone, Serialize)]
pub struct BlockingReport {
    /// `none` or `lsh`.
    pub method: &'static str,
    /// LSH tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<u32>,
    /// LSH bits per table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// Similarities computed.
    pub comparisons: u64,
    /// All pairs of rows across inputs.
    pub pairs: u64,
    /// Share of pairs never compared.
    pub reduction_ratio: f64,
}

/// One threshold of a labelled-sample sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdScore {
    /// The threshold.
    pub threshold: f64,
    /// Matches whose first row is in the sample.
    pub matched: u64,
    /// Of those, true pairs.
    pub true_positives: u64,
    /// True pairs in the sample.
    pub true_pairs: u64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
}

impl ThresholdScore {
    /// From a sweep's entry.
    pub fn new(threshold: f64, s: Score) -> Self {
        ThresholdScore {
            threshold,
            matched: s.matched,
            true_positives: s.true_positives,
            true_pairs: s.true_pairs,
            precision: s.precision(),
            recall: s.recall(),
        }
    }
}

/// `psi match`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct MatchReport {
    /// `match`.
    pub command: &'static str,
    /// The inputs, in owner order.
    pub inputs: Vec<MatchInput>,
    /// The threshold.
    pub threshold: f64,
    /// Bits per encoding.
    pub bits: u32,
    /// The popcount kernel that ran.
    pub kernel: &'static str,
    /// Blocking, summed over all pairs of inputs.
    pub blocking: BlockingReport,
    /// Pairs at or above the threshold before one-to-one resolution.
    pub candidates: u64,
    /// Two inputs: links written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<u64>,
    /// More inputs: groups written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u64>,
    /// The links file.
    pub output: String,
    /// `--histogram`: (bin start, rows whose best similarity falls in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_similarity_histogram: Option<Vec<(f64, u64)>>,
    /// `--labels`: precision and recall per threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_scores: Option<Vec<ThresholdScore>>,
    /// Seconds: reading, searching, solving, writing, total.
    pub seconds: psi_server::Phases,
    /// Build and machine.
    pub environment: Environment,
}
