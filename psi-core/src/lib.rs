#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`codec`]: the versioned wire messages and stream framing.
//! - [`ecdh`]: ECDH-PSI on ristretto255, one typed state per protocol step.
//! - [`kkrt`]: KKRT OT-extension PSI (batched related-key OPRF + cuckoo hashing).
//! - [`pjc`]: PSI-cardinality and PSI-sum (Private Join and Compute, ElGamal sums).
//! - [`linkage`]: multi-key waterfall linkage with a shared result, joins.
//! - [`schedule`]: each protocol's streams, described once for every transport.
//! - [`driver`]: an in-memory two-party driver that runs any protocol by its
//!   [`schedule`] (tests, fuzzing, benchmarks).
//! - [`rng`]: a ChaCha20 generator that overwrites its state on drop, for the
//!   randomness session secrets derive from.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bucket;
pub mod codec;
pub mod driver;
pub mod ecdh;
mod error;
pub mod kkrt;
pub mod linkage;
pub mod pjc;
pub mod rng;
pub mod schedule;

pub use error::Error;

use sha2::{Digest, Sha256};

/// One set element: a 32-byte digest of a key's canonical encoding.
///
/// The table layer encodes a (possibly composite) key unambiguously and calls
/// [`Item::from_key`]; the protocols only ever see these digests. The digest is
/// session-independent; every protocol hashes it again with its own
/// domain-separation tag and session id before use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item([u8; 32]);

impl Item {
    /// The item for an encoded key.
    pub fn from_key(encoded_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"psi/item/v1\0");
        h.update(encoded_key);
        Item(h.finalize().into())
    }

    /// An item from raw digest bytes (tests and benchmarks).
    pub fn from_digest(bytes: [u8; 32]) -> Self {
        Item(bytes)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Item(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// Resource limits a role enforces on its peer (and on itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest set either side may announce.
    pub max_set_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_set_size: 1 << 28,
        }
    }
}

/// Which group backend this process uses for ECDH-PSI, PSI-cardinality/sum
/// and linkage (hashing to the group, scalar multiplication, encoding and
/// decoding; `psi_group`): `psi_group::Backend::for_process`, the fastest the
/// CPU has unless `PSI_GROUP_BACKEND` forces one. `"psi-group ifma8"`,
/// `"psi-group avx2"`, or `"psi-group portable (curve25519-dalek avx2)"` or
/// `"… serial)"`, naming the code curve25519-dalek picks by the CPU's
/// features among the backends compiled in (see `.cargo/config.toml`).
pub fn crypto_backend() -> &'static str {
    let backend = psi_group::Backend::for_process();
    if psi_group::Backend::ifma8() == Some(backend) {
        return "psi-group ifma8";
    }
    if psi_group::Backend::avx2() == Some(backend) {
        return "psi-group avx2";
    }
    #[cfg(all(
        target_arch = "x86_64",
        not(any(curve25519_dalek_backend = "serial", curve25519_dalek_backend = "fiat"))
    ))]
    {
        if std::arch::is_x86_feature_detected!("avx512ifma") {
            return "psi-group portable (curve25519-dalek avx512ifma)";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "psi-group portable (curve25519-dalek avx2)";
        }
    }
    "psi-group portable (curve25519-dalek serial)"
}
