//! What every handler shares: the table served, the configuration and the
//! registry of sessions.

use std::net::SocketAddr;
use std::sync::Arc;

use psi_core::linkage::{Duplicates, KeyColumn};
use psi_core::Item;

use super::buckets::BucketSource;
use super::config::ServerConfig;
use super::registry::Registry;
use super::run_registry::Runs;
use super::unit::Unit;
use crate::auth::Identity;

/// Who is calling: the partner's identity and the address it connects from.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) identity: Identity,
    pub(crate) peer: SocketAddr,
}

/// The table a server serves.
pub(crate) struct Table {
    /// Distinct items (the first key's, for a linkage table).
    pub(crate) items: Arc<[Item]>,
    /// PSI-sum: one value per item.
    pub(crate) values: Option<Arc<[u64]>>,
    /// Every key, for linkages.
    pub(crate) linkage_keys: Option<(Vec<KeyColumn>, Duplicates)>,
    /// Where bucketed runs get their buckets.
    pub(crate) source: Arc<dyn BucketSource>,
    /// Cardinality and sum in external memory: the set on disk.
    pub(crate) pjc_source: Option<Arc<dyn super::pjc_source::PjcSource>>,
    /// Where bucketed linkage runs get their keys, if served.
    pub(crate) linkage_source: Option<Arc<dyn super::link_source::LinkageSource>>,
    /// Whether `items` holds the set (else only runs are served).
    pub(crate) in_memory: bool,
}

pub(crate) struct Shared {
    pub(crate) table: Table,
    /// A linkage unit's state (`psi serve --role linkage-unit`); such a
    /// server has no table and takes no PSI session.
    pub(crate) unit: Option<Arc<Unit>>,
    /// Bucketed runs in progress.
    pub(crate) runs: Runs,
    pub(crate) config: ServerConfig,
    pub(crate) registry: Registry,
}
