//! The server's state of one linkage between its steps.

use std::sync::Arc;
use std::time::Instant;

use super::quota::Place;
use psi_core::linkage::{Offer, Waterfall};

use crate::auth::Identity;
use crate::metrics::Traffic;

pub(crate) struct LinkageState {
    /// Who started it; nobody else may run its steps or end it.
    pub(crate) owner: Identity,
    pub(crate) waterfall: Waterfall,
    /// The current step's offer and stream order, until its result arrives.
    pub(crate) pending: Option<(Offer, Arc<[u32]>)>,
    /// Per step, how many values the client offered.
    pub(crate) client_offered: Vec<u64>,
    /// Bytes of the steps that ended, and of the finish.
    pub(crate) traffic: Traffic,
    pub(crate) started: Instant,
    pub(crate) last_activity: Instant,
    /// Its place under the session limit, held between steps too.
    pub(crate) place: Option<Place>,
}

impl LinkageState {
    pub(crate) fn new(owner: Identity, waterfall: Waterfall) -> Self {
        LinkageState {
            owner,
            waterfall,
            pending: None,
            client_offered: Vec::new(),
            traffic: Traffic::default(),
            started: Instant::now(),
            last_activity: Instant::now(),
            place: None,
        }
    }
}
