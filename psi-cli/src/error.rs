//! The CLI's error: one line for the user, and an exit code.

use psi_table::LinkageSpec;

/// Everything `psi` reports to the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Reading or writing a table.
    #[error(transparent)]
    Table(#[from] psi_table::Error),
    /// Talking to the peer.
    #[error(transparent)]
    Peer(psi_server::Error),
    /// The server refused our keys before any data moved: its keys are made
    /// otherwise (profiles, versions, options or key order differ).
    #[error(
        "the peer refused (key_spec_mismatch): the two sides make their keys differently: \
         {differences} (the server uses `{server}`, this side sent `{client}`)"
    )]
    KeySpecMismatch {
        /// The server's canonical key text.
        server: String,
        /// Ours.
        client: String,
        /// What differs, in words (ours vs the server's).
        differences: String,
    },
    /// Fuzzy linkage: a spec, secret, encodings or labels file.
    #[error(transparent)]
    Fuzzy(#[from] psi_fuzzy::Error),
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
    /// An argument is unusable (beyond what clap checks), or the input does
    /// not suit what the arguments ask for.
    #[error("{0}")]
    Usage(String),
    /// Ctrl-C or SIGTERM stopped a bucketed run; its progress is kept.
    #[error("interrupted; the progress is kept in {0}: run the same command to resume")]
    Interrupted(std::path::PathBuf),
    /// Ctrl-C or SIGTERM stopped an external-memory cardinality or sum run;
    /// its progress is kept.
    #[error("interrupted; the progress is kept in {0}: run the same command to resume (within the server's idle timeout, else it starts over)")]
    Stopped(std::path::PathBuf),
    /// A sharded linkage's other workers of this party did not write a
    /// step's links in time.
    #[error(
        "{}: shard workers {missing} of {workers} wrote no links of step {step} within {seconds} s (--shard-timeout): are they running, with the same --shard-dir, input, options and run nonce?",
        dir.display()
    )]
    ShardTimeout {
        /// The step's directory.
        dir: std::path::PathBuf,
        /// The workers whose file is missing, comma-separated.
        missing: String,
        /// The workers of the party.
        workers: u16,
        /// The step (from 0).
        step: u16,
        /// The timeout.
        seconds: u64,
    },
    /// A file in a sharded linkage's shard directory is not what this
    /// worker expects.
    #[error("{}: {reason}", path.display())]
    ShardFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
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

impl From<psi_server::Error> for CliError {
    /// A key-spec refusal says what differs (psi-table compares the two
    /// declared texts); every other peer error is shown as it is.
    fn from(e: psi_server::Error) -> Self {
        match e {
            psi_server::Error::KeySpecMismatch { server, client } => {
                match LinkageSpec::difference_from_texts(&client, &server) {
                    Some(differences) => CliError::KeySpecMismatch {
                        server,
                        client,
                        differences,
                    },
                    None => CliError::Peer(psi_server::Error::KeySpecMismatch { server, client }),
                }
            }
            e => CliError::Peer(e),
        }
    }
}

impl CliError {
    /// A background task that could not finish (it panicked or was cancelled).
    pub fn task(what: &'static str, e: tokio::task::JoinError) -> Self {
        CliError::Io {
            what,
            source: std::io::Error::other(e),
        }
    }
}
