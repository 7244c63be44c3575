//! The CLI's error: one line for the user, and an exit code.

/// Everything `psi` reports to the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Reading or writing a table.
    #[error(transparent)]
    Table(#[from] psi_table::Error),
    /// Talking to the peer.
    #[error(transparent)]
    Peer(#[from] psi_server::Error),
    /// Generating data.
    #[error(transparent)]
    Generate(#[from] psi_datasets::Error),
    /// A local I/O failure outside tables (runtime, temporary directory, ...).
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// An argument is unusable (beyond what clap checks).
    #[error("{0}")]
    Usage(String),
    /// The demo's private result differs from the plaintext answer.
    #[error(
        "the protocol's result differs from the plaintext intersection ({got} vs {expected} rows)"
    )]
    DemoMismatch {
        /// Rows the protocol matched.
        got: u64,
        /// Rows the plaintext join matched.
        expected: u64,
    },
}
