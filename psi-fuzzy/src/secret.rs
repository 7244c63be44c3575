//! The owners' shared secret and the keys derived from it (HKDF-SHA256,
//! RFC 5869): one HMAC-SHA256 key per spec field and one key for the
//! balancing permutation. The info string binds each key to the spec's
//! fingerprint, so a changed spec never reuses a key.
//!
//! Zeroizing: the secret and every derived key are held in [`Zeroizing`]
//! buffers and overwritten when dropped. The `hkdf` and `hmac` crates (0.12)
//! do not zeroize their own internal state (the pseudorandom key during
//! derivation, and the keyed HMAC state an encoder keeps per field, which
//! is as good as the key): those copies are freed without being overwritten.

use std::path::Path;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

const SALT: &[u8] = b"psi/fuzzy/v1";

/// The linkage secret shared by the data owners (never by the linkage unit).
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Reads a secret file. Trailing white space (a final newline) is not
    /// part of the secret, so `openssl rand -hex 32 > FILE` makes a good one.
    pub fn read(path: &Path) -> Result<Secret, Error> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
            what: "cannot read the secret file",
            path: path.to_path_buf(),
            source,
        })?);
        Secret::from_bytes(&bytes).map_err(|reason| Error::BadSecret {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// A secret from its bytes (trailing white space dropped).
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, &'static str> {
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        if end < MIN_SECRET_BYTES {
            return Err(
                "the secret is shorter than 16 bytes; make one with `openssl rand -hex 32`",
            );
        }
        Ok(Secret(Zeroizing::new(bytes[..end].to_vec())))
    }

    /// Derives the 32-byte key named `label` (with `index`) for the spec
    /// with this `fingerprint`.
    pub fn derive(&self, fingerprint: &[u8; 32], label: &str, index: u32) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(SALT), &self.0);
        let mut info = Vec::with_capacity(64 + label.len());
        info.extend_from_slice(b"psi/fuzzy/v1/");
        info.extend_from_slice(label.as_bytes());
        info.push(0);
        info.extend_from_slice(fingerprint);
        info.extend_from_slice(&index.to_le_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 255 × 32.
        if hk.expand(&info, &mut *key).is_err() {
            unreachable!("HKDF-SHA256 can always expand 32 bytes");
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_newlines_ignored() {
        assert!(Secret::from_bytes(b"short\n").is_err());
        let a = Secret::from_bytes(b"0123456789abcdef\n").unwrap();
        let b = Secret::from_bytes(b"0123456789abcdef").unwrap();
        let fp = [1u8; 32];
        assert_eq!(*a.derive(&fp, "field", 0), *b.derive(&fp, "field", 0));
        assert_ne!(*a.derive(&fp, "field", 0), *a.derive(&fp, "field", 1));
        assert_ne!(
            *a.derive(&fp, "field", 0),
            *a.derive(&[2u8; 32], "field", 0)
        );
        assert_ne!(*a.derive(&fp, "field", 0), *a.derive(&fp, "balance", 0));
    }
}
