//! The runs in progress: each run's owner, protocol, seed and phase
//! (partitioning, ready with its prepared set, failed). Runs are few and
//! small (a prepared set is an index, or two bytes per item in memory); at
//! most [`MAX_RUNS`] live at once, and one untouched for [`RUN_IDLE`] is
//! dropped when the next run opens.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use psi_core::bucket::PartitionSeed;
use psi_core::codec::Protocol;

use super::buckets::PreparedSet;
use crate::auth::Identity;

/// Most runs alive at once.
pub(crate) const MAX_RUNS: usize = 64;
/// A run no request touched for this long is dropped.
pub(crate) const RUN_IDLE: Duration = Duration::from_secs(3600);

pub(crate) enum Phase {
    Partitioning,
    Ready(Arc<dyn PreparedSet>),
    Failed(String),
}

pub(crate) struct Run {
    pub(crate) owner: Identity,
    pub(crate) protocol: Protocol,
    pub(crate) seed: PartitionSeed,
    pub(crate) rows_read: Arc<AtomicU64>,
    pub(crate) phase: Arc<Mutex<Phase>>,
    pub(crate) buckets_served: AtomicU64,
    pub(crate) touched: Mutex<Instant>,
    /// A bucketed linkage run's state between its buckets.
    pub(crate) linkage: Option<super::link_run_state::LinkRun>,
}

/// The runs in progress and the key our nonces derive from.
pub(crate) struct Runs {
    pub(crate) key: [u8; 32],
    pub(crate) runs: Mutex<HashMap<String, Arc<Run>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runs {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Runs {
            key,
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// The caller's run `id`, touched.
    pub(crate) fn get(&self, id: &str, owner: &Identity) -> Option<Arc<Run>> {
        let run = lock(&self.runs).get(id).cloned()?;
        if &run.owner != owner {
            return None;
        }
        *lock(&run.touched) = Instant::now();
        Some(run)
    }
}
