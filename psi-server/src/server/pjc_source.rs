//! Where a server whose table stays on disk gets its set for
//! PSI-cardinality and PSI-sum sessions in external memory
//! ([`psi_core::pjc::external`]): the server reads no table itself; `psi
//! serve --state-dir` gives it a source that reads the caller's spill.

use std::path::Path;

use psi_core::Item;

/// What [`PjcSource::for_each`] calls with each batch of items and values.
pub type EachBatch<'a> = dyn FnMut(&[Item], &[u64]) -> Result<(), String> + 'a;

/// The served set of an external-memory PJC server.
pub trait PjcSource: Send + Sync + 'static {
    /// How many distinct items (announced in every hello).
    fn distinct(&self) -> u64;
    /// In the sums, the total of all values (checked against the bound on
    /// sums at every session); `None` in cardinality.
    fn total(&self) -> Option<u64>;
    /// Calls `each` with every distinct item once, in batches, with its
    /// value (empty in cardinality). An error (one line, for the log) from
    /// either side stops the pass.
    fn for_each(&self, each: &mut EachBatch<'_>) -> Result<(), String>;
    /// Where sessions keep their temporary files (one fresh directory each,
    /// removed when the session ends).
    fn scratch(&self) -> &Path;
    /// Where sessions are kept so that they survive a restart of the
    /// server (one directory each, holding the session's secrets; see
    /// [`crate::pjc_state`]), and the digest of the served table (of the
    /// input and of everything that makes its items and values): a
    /// restarted server takes up only the sessions of the same table.
    /// `None` (the default): sessions end with the process.
    fn sessions(&self) -> Option<(&Path, [u8; 32])> {
        None
    }
}
