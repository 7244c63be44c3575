//! What a server is told at start: its limits and the one mode it serves.

use std::sync::Arc;
use std::time::Duration;

use psi_core::codec::{KeyDeclaration, Protocol, MAX_FRAME_LEN};
use psi_core::{pjc, Limits};

use super::quota::Quotas;
use crate::auth::Tokens;

/// Limits and behaviour of a [`super::PsiServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits enforced on every client (largest set it may announce).
    pub limits: Limits,
    /// Sessions served at the same time; more get `503 busy`.
    pub max_sessions: usize,
    /// A session with no progress for this long is dropped.
    pub idle_timeout: Duration,
    /// Items per chunk of the server's own stream.
    pub chunk_items: usize,
    /// Stop after this many sessions ended (`psi serve --once` is `Some(1)`).
    pub max_completed_sessions: Option<u64>,
    /// Largest frame accepted in a streamed body.
    pub max_frame: usize,
    /// Time allowed for a client to send a request's headers (and for the
    /// TLS handshake).
    pub header_timeout: Duration,
    /// Open connections at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Open connections at once from one IP address.
    pub max_connections_per_address: usize,
    /// What this server answers: intersection (ECDH or KKRT, the client's
    /// choice), or one PSI-cardinality / PSI-sum protocol. A client asking for
    /// anything else is refused before any private data moves.
    pub mode: ServeMode,
    /// PSI-cardinality and PSI-sum: below this many matches the output party
    /// learns only that the threshold was not met (the larger of the two
    /// parties' thresholds applies).
    pub min_intersection: u64,
    /// PSI-sum: sums are below `2^sum_bits`.
    pub sum_bits: u8,
    /// What this server's keys are made of; a client declaring keys with
    /// another fingerprint is refused (`key_spec_mismatch`) before any data moves.
    pub key_spec: Option<KeyDeclaration>,
    /// TLS ([`crate::tls::server_config`]); with a client CA in it, every
    /// connection must present a client certificate signed by that CA, whose
    /// subject is the partner's identity.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Partner tokens: every request but the health check must carry
    /// `Authorization: Bearer <token>` of a listed partner, whose name is
    /// its identity.
    pub tokens: Option<Tokens>,
    /// What each partner (identity) may use.
    pub quotas: Quotas,
    /// The key of this server's run nonces ([`psi_core::bucket::server_nonce`]):
    /// keep it (`psi serve --state-dir`) and a client can resume a bucketed
    /// run after this server restarts. `None`: a random one per start.
    pub run_key: Option<[u8; 32]>,
    /// How long a PSI-cardinality or PSI-sum session kept on disk
    /// ([`super::PjcSource::sessions`]) waits for its client after it was
    /// last active or dropped from memory; then it is removed.
    pub session_retention: Duration,
}

/// The output mode a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeMode {
    /// The client learns which of its items are shared (ECDH or KKRT).
    Intersection,
    /// The client learns only how many items are shared.
    Cardinality,
    /// PSI-sum: the server holds values; the server learns count and sum.
    SumToServer,
    /// PSI-sum: the server holds values; the client learns count and sum.
    SumToClient,
}

impl ServeMode {
    /// The protocols a client may choose in this mode.
    pub fn protocols(self) -> &'static [Protocol] {
        match self {
            ServeMode::Intersection => &[Protocol::EcdhIntersection, Protocol::Kkrt],
            ServeMode::Cardinality => &[Protocol::Cardinality],
            ServeMode::SumToServer => &[Protocol::SumToValueHolder],
            ServeMode::SumToClient => &[Protocol::SumToKeyHolder],
        }
    }

    /// Whether the mode needs a value per item.
    pub fn needs_values(self) -> bool {
        matches!(self, ServeMode::SumToServer | ServeMode::SumToClient)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_sessions: 16,
            idle_timeout: Duration::from_secs(120),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            max_completed_sessions: None,
            max_frame: MAX_FRAME_LEN,
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 64,
            mode: ServeMode::Intersection,
            min_intersection: 1,
            sum_bits: pjc::DEFAULT_SUM_BITS,
            key_spec: None,
            tls: None,
            tokens: None,
            quotas: Quotas::default(),
            run_key: None,
            session_retention: Duration::from_secs(24 * 3600),
        }
    }
}
