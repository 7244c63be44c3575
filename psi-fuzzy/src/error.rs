//! The crate's one error type. Every message names what is wrong: the spec
//! key, the file, the row, the column.

use std::path::PathBuf;

/// Everything encoding and matching can refuse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec is not valid JSON, or has an unknown key or a value of the
    /// wrong type (serde's message names the line and column).
    #[error("{path}: not a valid encoding spec: {message}")]
    SpecJson {
        /// The spec file.
        path: PathBuf,
        /// What the JSON parser said.
        message: String,
    },
    /// A spec value is out of range or inconsistent.
    #[error("encoding spec, {at}: {reason}")]
    BadSpec {
        /// Where in the spec (`fields[2].comparator`, `filter_bits`).
        at: String,
        /// Why it is refused.
        reason: String,
    },
    /// The secret is unusable.
    #[error("{path}: {reason}")]
    BadSecret {
        /// The secret file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// Reading the input table.
    #[cfg(feature = "encode")]
    #[error(transparent)]
    Table(#[from] psi_table::Error),
    /// An encodings file is malformed (or not an encodings file at all).
    #[error("{path}: {reason}")]
    BadEncodings {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two encodings files cannot be compared.
    #[error("{first} and {second} cannot be compared: {reason}")]
    Incompatible {
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What we were doing (`cannot write`, `cannot read`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A labels file (true pairs of a labelled sample) is malformed.
    #[error("{path}, line {line}: {reason}")]
    BadLabels {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}
