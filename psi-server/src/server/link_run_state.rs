//! A bucketed linkage run's state between its bucket sessions
//! ([`super::link_runs`]), kept with the run ([`super::run_registry::Run`]).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use psi_core::linkage::bucketed::BucketOffer;

/// A linkage run's state between its bucket sessions.
pub(crate) struct LinkRun {
    pub(crate) pending: Mutex<Option<Pending>>,
    pub(crate) serial: AtomicU64,
    /// Per step, the client's padded offer (what we learn of it).
    pub(crate) client_offered: Mutex<Vec<u64>>,
    pub(crate) started: Instant,
}

impl LinkRun {
    pub(crate) fn new() -> Self {
        LinkRun {
            pending: Mutex::new(None),
            serial: AtomicU64::new(0),
            client_offered: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }
}

/// A bucket whose session runs, until its result arrives.
pub(crate) struct Pending {
    pub(crate) serial: u64,
    pub(crate) step: u16,
    pub(crate) bucket: u16,
    pub(crate) count: u16,
    pub(crate) offer: BucketOffer,
    pub(crate) resolve: Resolve,
    /// Padded items the session served.
    pub(crate) items: usize,
}

/// How a bucket's result finds our items.
pub(crate) enum Resolve {
    /// ECDH ([`psi_core::linkage::LinkResult`]): positions in our shuffled
    /// stream, this order.
    Positions(Arc<[u32]>),
    /// KKRT ([`psi_core::linkage::LinkIds`]): the ids of the shared items.
    Ids,
}
