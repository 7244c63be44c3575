//! The `linkage` part of a linkage's report, on either side.

use psi_core::linkage::StepSummary;
use psi_table::LinkageSpec;
use serde::Serialize;

/// One key's step in a linkage report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The key (canonical spec).
    pub key: String,
    /// Values we offered.
    pub offered: u64,
    /// Values the peer offered (what we learn of it).
    pub peer_offered: u64,
    /// Values we withheld because several of our unlinked rows carry them.
    pub ambiguous: u64,
    /// Values shared.
    pub matched: u64,
    /// Our rows linked at this step.
    pub linked_rows: u64,
}

impl StepReport {
    /// Per-step reports from our summaries and the peer's offer sizes.
    pub fn all(
        spec: &LinkageSpec,
        summaries: &[StepSummary],
        peer_offered: &[u64],
    ) -> Vec<StepReport> {
        summaries
            .iter()
            .enumerate()
            .map(|(i, s)| StepReport {
                key: spec
                    .keys()
                    .get(i)
                    .map(|k| k.canonical())
                    .unwrap_or_default(),
                offered: s.offered,
                peer_offered: peer_offered.get(i).copied().unwrap_or(0),
                ambiguous: s.ambiguous,
                matched: s.matched,
                linked_rows: s.linked_rows,
            })
            .collect()
    }
}

/// What a linkage did, from one side.
#[derive(Debug, Clone, Serialize)]
pub struct LinkageReport {
    /// The linkage id.
    pub linkage: String,
    /// The join type.
    pub join: &'static str,
    /// Whether both sides wrote rows in the same order.
    pub align: bool,
    /// Whether the server wrote its side.
    pub share_result: bool,
    /// Per key, in priority order.
    pub steps: Vec<StepReport>,
    /// Our rows linked.
    pub linked_rows: u64,
    /// Our rows not linked.
    pub unlinked_rows: u64,
    /// The peer's rows (told at the end, for joins and alignment).
    pub peer_rows: u64,
    /// The peer's rows not linked.
    pub peer_unlinked_rows: u64,
    /// Rows written to the output (placeholders included).
    pub rows_written: u64,
    /// The output file, if one was written.
    pub output: Option<String>,
}
