//! The client's limits, timeouts and key declaration.

use std::time::Duration;

use std::sync::Arc;

use psi_core::codec::KeyDeclaration;
use psi_core::Limits;

use crate::auth::BearerToken;

/// Limits and timeouts of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits enforced on the server (largest set it may announce).
    pub limits: Limits,
    /// Items per chunk of our masked stream.
    pub chunk_items: usize,
    /// Time allowed to open each connection.
    pub connect_timeout: Duration,
    /// Time allowed without progress on any stream.
    pub idle_timeout: Duration,
    /// What our keys are made of, announced in the hello so that a server
    /// whose keys are made otherwise refuses before any private data moves.
    pub key_spec: Option<KeyDeclaration>,
    /// TLS for `https://` peers ([`crate::tls::client_config`]: a private CA,
    /// a client certificate for mutual TLS); the system's roots when unset.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// A partner token, sent as `Authorization: Bearer` on every request.
    pub token: Option<BearerToken>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            key_spec: None,
            tls: None,
            token: None,
        }
    }
}
