//! Where a bucketed run's buckets come from: a [`BucketSource`] partitions the
//! served set under a run's seed into a [`PreparedSet`], which loads the items
//! of a range of fine buckets. The server reads no files: `psi serve` gives it
//! a source that spills its table to disk; [`MemorySource`] partitions a set
//! already in memory.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use psi_core::bucket::{Partition, PartitionSeed};
use psi_core::Item;

/// Partitions the served set for a run.
pub trait BucketSource: Send + Sync + 'static {
    /// Puts every item in its fine bucket under `seed` (in a blocking task:
    /// this may read the whole table), counting rows read in `progress`.
    /// The error is one line for the client and the log.
    fn prepare(
        &self,
        seed: &PartitionSeed,
        progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedSet>, String>;
}

/// A served set partitioned under one seed.
pub trait PreparedSet: Send + Sync + 'static {
    /// Distinct items in all fine buckets.
    fn distinct(&self) -> u64;
    /// The distinct items of fine buckets `fine`.
    fn load(&self, fine: Range<u16>) -> Result<Vec<Item>, String>;

    /// A bucketed linkage's state, if this run is one.
    fn linkage(&self) -> Option<Arc<dyn super::link_source::PreparedLinkage>> {
        None
    }
}

/// The source of a server whose set is in memory.
pub(crate) struct MemorySource(pub(crate) Arc<[Item]>);

struct MemoryPrepared {
    items: Arc<[Item]>,
    fine: Vec<u16>,
}

impl BucketSource for MemorySource {
    fn prepare(
        &self,
        seed: &PartitionSeed,
        progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedSet>, String> {
        let partition = Partition::new(seed);
        let fine = self.0.iter().map(|x| partition.fine(x)).collect();
        progress.store(self.0.len() as u64, Ordering::Relaxed);
        Ok(Arc::new(MemoryPrepared {
            items: self.0.clone(),
            fine,
        }))
    }
}

impl PreparedSet for MemoryPrepared {
    fn distinct(&self) -> u64 {
        self.items.len() as u64
    }

    fn load(&self, fine: Range<u16>) -> Result<Vec<Item>, String> {
        Ok(self
            .items
            .iter()
            .zip(&self.fine)
            .filter(|(_, f)| fine.contains(f))
            .map(|(x, _)| *x)
            .collect())
    }
}

/// A prepared linkage as the run registry holds it: [`PreparedSet::distinct`]
/// is its row count (what a linkage run's `RunReady` announces), and its
/// buckets are loaded only as linkage offers.
pub(crate) struct LinkagePrepared(pub(crate) Arc<dyn super::link_source::PreparedLinkage>);

impl PreparedSet for LinkagePrepared {
    fn distinct(&self) -> u64 {
        self.0.rows()
    }

    fn load(&self, _fine: Range<u16>) -> Result<Vec<Item>, String> {
        Err("this run is a linkage: its buckets are steps (x-psi-step)".into())
    }

    fn linkage(&self) -> Option<Arc<dyn super::link_source::PreparedLinkage>> {
        Some(self.0.clone())
    }
}
