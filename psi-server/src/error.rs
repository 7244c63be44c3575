//! The one error type of `psi-server`.

use std::net::SocketAddr;

/// Everything that can go wrong serving or talking to a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer address cannot be used.
    #[error("invalid peer address {url:?}: {reason}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// Nothing accepted the connection.
    #[error("no PSI server is reachable at {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Something took longer than its limit.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// The HTTP connection failed.
    #[error("HTTP connection to the peer failed: {0}")]
    Http(#[from] hyper::Error),
    /// The connection broke during a request (the cause chain, e.g. a TLS
    /// alert from a server that refused our certificate).
    #[error("the connection to the peer broke: {0}")]
    ConnectionLost(String),
    /// The peer answered with an HTTP error.
    #[error("the peer refused ({status} {code}): {message}")]
    Peer {
        /// HTTP status.
        status: u16,
        /// Machine-readable code from the peer's JSON body.
        code: String,
        /// The peer's explanation.
        message: String,
    },
    /// The server's keys are made otherwise than ours (its
    /// `key_spec_mismatch` refusal, with both canonical texts).
    #[error("the peer refused (key_spec_mismatch): the two sides normalise and combine key columns differently: the server uses `{server}`, this side sent `{client}`")]
    KeySpecMismatch {
        /// The server's canonical key text.
        server: String,
        /// Ours, as the server read it.
        client: String,
    },
    /// The peer broke the protocol, or sent a malformed message.
    #[error(transparent)]
    Protocol(#[from] psi_core::Error),
    /// The peer answered, but not as a PSI server does.
    #[error("the peer does not behave like a psi server: {0}")]
    NotPsi(&'static str),
    /// A stream ended before everything announced had arrived.
    #[error("the peer closed the {0} stream early")]
    StreamCut(&'static str),
    /// A TLS certificate, key or CA is unusable, or the handshake failed.
    #[error("TLS: {what}: {reason}")]
    Tls {
        /// What was wrong (the server certificate, the client CA, ...).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The server was configured inconsistently.
    #[error("invalid server configuration: {0}")]
    Config(&'static str),
    /// A background task failed.
    #[error("internal task failed: {0}")]
    Task(String),
    /// A temporary file of an external-memory run could not be created,
    /// written or read (a full disk is `No space left on device`).
    #[error("{what} the temporary file {path}: {source}")]
    Scratch {
        /// `creating`, `writing` or `reading`.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The set an external-memory run streams could not be read.
    #[error("{0}")]
    Source(String),
    /// A resumable run's state file cannot be used.
    #[error("the run state {path} is damaged ({reason}); remove its directory to start over")]
    DamagedState {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<psi_core::codec::DecodeError> for Error {
    fn from(e: psi_core::codec::DecodeError) -> Self {
        Error::Protocol(psi_core::Error::Decode(e))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Task(e.to_string())
    }
}
