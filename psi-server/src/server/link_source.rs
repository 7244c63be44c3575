//! Where a bucketed linkage's buckets come from ([`psi_core::linkage::bucketed`]):
//! a [`LinkageSource`] partitions every key of the served table under a run's
//! seed into a [`PreparedLinkage`], which makes each bucket's offer from the
//! rows still free, records each bucket's links, and writes our side at the
//! end. The server reads no files: `psi serve --state-dir` gives it a source
//! that spills its table to disk and keeps the links there.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use psi_core::bucket::PartitionSeed;
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed::BucketOffer;
use psi_core::linkage::{LinkageFinish, StepSummary};

/// Partitions the served table's linkage keys for a run.
pub trait LinkageSource: Send + Sync + 'static {
    /// Puts every key value in its fine bucket under `seed` (in a blocking
    /// task: this reads the whole table), counting rows read in `progress`,
    /// for the run `partner` opened. A source that keeps its progress may
    /// resume the linkage of the same seed and partner it prepared before
    /// (a restarted server). The error is one line for the client and the log.
    fn prepare(
        &self,
        seed: &PartitionSeed,
        partner: &str,
        progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedLinkage>, String>;
}

/// A served table's keys partitioned under one seed, and its links so far.
/// Every method may read or write the disk (they run off the async threads);
/// errors are one line for the client and the log.
pub trait PreparedLinkage: Send + Sync + 'static {
    /// The table's data rows.
    fn rows(&self) -> u64;

    /// The keys (steps) of the waterfall.
    fn steps(&self) -> usize;

    /// The offer of bucket `bucket` of `count` at `step`, and how many values
    /// the whole step offers (the padded size's basis). A step may start only
    /// when every bucket of the steps before it is recorded, and `count` stays
    /// the same for the whole linkage. A bucket recorded before is undone
    /// first, with every bucket of the later steps.
    fn offer(&self, step: u16, bucket: u16, count: u16) -> Result<(BucketOffer, u64), String>;

    /// The first step before `step` with a bucket not recorded, if any: a
    /// bucket of `step` cannot run yet.
    fn unfinished_before(&self, step: u16) -> Option<u16>;

    /// Records the result of a bucket whose offer was `offer`: `matched`
    /// lists (index into the padded items, id). Returns the rows linked.
    fn record(
        &self,
        step: u16,
        bucket: u16,
        count: u16,
        offer: &BucketOffer,
        matched: &[(u32, LinkId)],
    ) -> Result<u64, String>;

    /// Whether every bucket of every step is recorded. A source that is one
    /// shard worker of a sharded linkage first waits for its party's other
    /// workers' links of the last step (the error says which did not come).
    fn complete(&self) -> Result<bool, String>;

    /// Rows linked so far.
    fn linked_rows(&self) -> u64;

    /// What each step did on our side.
    fn summaries(&self) -> Vec<StepSummary>;

    /// The linkage `linkage` ended with `finish` (our totals were answered):
    /// writes our side of the result if the client shared it and we keep an
    /// output. Returns the rows written and where, if written.
    fn finished(
        &self,
        linkage: &str,
        finish: &LinkageFinish,
    ) -> Result<Option<(u64, String)>, String>;
}
