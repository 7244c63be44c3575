//! The client side: runs the client role of each protocol against a server.
//!
//! [`transport`] opens sessions and carries streams (paths from
//! [`crate::api`], one stream per connection, produced and consumed off the
//! async threads); one small module per protocol follows its
//! [`psi_core::schedule`].

mod ecdh;
mod kkrt;
mod linkage;
mod pjc;
mod transport;

use std::time::Duration;

use psi_core::codec::KeyDeclaration;
use psi_core::Limits;

pub use self::ecdh::{run_ecdh_client, ClientRun};
pub use self::kkrt::run_kkrt_client;
pub use self::linkage::{run_linkage_client, LinkageRun};
pub use self::pjc::{run_pjc_client, PjcOutput, PjcRun};

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
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            key_spec: None,
        }
    }
}
