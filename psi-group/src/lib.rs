//! Batched ristretto255 for ECDH-PSI, PSI-cardinality/sum and linkage: hash
//! a batch of items to the group, multiply a batch of points by one secret
//! scalar, encode and decode a batch.
//!
//! # Why ristretto255 stays
//! The protocols' security argument (DDH in a prime-order group, the hash to
//! the group as a random oracle) and their wire format (32-byte ristretto255
//! encodings, checked on decoding) stay exactly as they are: this crate only
//! computes the same values faster, bit for bit, so no wire version changes
//! and no proof is redone. What makes it fast needs no other curve: every
//! multiplication of a batch uses the same scalar, so eight points can go
//! through the same sequence of Edwards operations in the eight lanes of an
//! AVX-512 register, and the ristretto encoding and decoding run eight at a
//! time too.
//!
//! # Backends
//! - [`Backend::portable`]: curve25519-dalek, one point at a time (dalek
//!   itself picks its serial, AVX2 or IFMA code per operation).
//! - [`Backend::ifma8`]: our own code (`src/ifma/`), eight independent points
//!   in the 64-bit lanes of `__m512i`, field elements in radix 2^52 with
//!   `vpmadd52luq/huq`; available where the CPU has AVX-512 F and IFMA,
//!   detected at run time. Constant time in the scalar and in the points:
//!   the scalar's digits choose table entries only through masked blends of
//!   every entry, and per-lane choices are mask blends.
//!
//! The results of both backends are identical (the tests compare them with
//! curve25519-dalek on RFC 9496's vectors and on random and edge inputs).
//!
//! ```
//! use psi_group::{Backend, Points, Scalar};
//! let backend = Backend::best();
//! let points = Points::from_uniform_bytes(backend, &[[7u8; 64], [9u8; 64]]);
//! let s = Scalar::from(5u8);
//! let masked = points.mul_compress(&s);
//! let again = Points::decompress(backend, &masked)?.compress();
//! assert_eq!(masked, again);
//! # Ok::<(), psi_group::Error>(())
//! ```

mod dispatch;
#[cfg(target_arch = "x86_64")]
mod ifma;
mod portable;
#[doc(hidden)]
pub mod testing;

pub use curve25519_dalek::ristretto::RistrettoPoint;
pub use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroizing;

/// Errors of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The encoding at this position of the batch is not a ristretto255 point.
    #[error("point {index} of the batch is not a valid ristretto255 encoding")]
    InvalidEncoding {
        /// Position in the batch.
        index: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Portable,
    Ifma8,
}

/// Which implementation computes a batch. An IFMA backend value exists only
/// on a CPU that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend(Kind);

impl Backend {
    /// curve25519-dalek, on any CPU.
    pub fn portable() -> Backend {
        Backend(Kind::Portable)
    }

    /// Eight points at a time with AVX-512 IFMA, if this CPU has it.
    pub fn ifma8() -> Option<Backend> {
        dispatch::ifma_detected().then_some(Backend(Kind::Ifma8))
    }

    /// The fastest backend this CPU runs.
    pub fn best() -> Backend {
        Backend::ifma8().unwrap_or_else(Backend::portable)
    }

    /// A short name for reports: `"ifma8"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Kind::Portable => "portable",
            Kind::Ifma8 => "ifma8",
        }
    }
}

/// Message of the `expect`s below: a `Repr::Ifma` exists only after detection.
#[cfg(target_arch = "x86_64")]
const DETECTED: &str = "IFMA points exist only on a CPU with IFMA";

enum Repr {
    Dalek(Vec<RistrettoPoint>),
    #[cfg(target_arch = "x86_64")]
    Ifma(Vec<ifma::Ep8>),
}

/// A batch of ristretto255 points in a backend's own representation.
pub struct Points {
    len: usize,
    repr: Repr,
}

impl Points {
    fn dalek(points: Vec<RistrettoPoint>) -> Points {
        Points {
            len: points.len(),
            repr: Repr::Dalek(points),
        }
    }

    /// `RistrettoPoint::from_uniform_bytes` of each input (RFC 9496 §4.3.4).
    pub fn from_uniform_bytes(backend: Backend, inputs: &[[u8; 64]]) -> Points {
        match backend.0 {
            #[cfg(target_arch = "x86_64")]
            Kind::Ifma8 => Points {
                len: inputs.len(),
                repr: Repr::Ifma(dispatch::from_uniform(inputs).expect(DETECTED)),
            },
            _ => Points::dalek(portable::from_uniform(inputs)),
        }
    }

    /// Decodes each encoding (RFC 9496 §4.3.1), refusing the batch at its
    /// first invalid one exactly where curve25519-dalek's `decompress` would.
    pub fn decompress(backend: Backend, encodings: &[[u8; 32]]) -> Result<Points, Error> {
        let bad = |index| Error::InvalidEncoding { index };
        Ok(match backend.0 {
            #[cfg(target_arch = "x86_64")]
            Kind::Ifma8 => Points {
                len: encodings.len(),
                repr: Repr::Ifma(
                    dispatch::decompress(encodings)
                        .expect(DETECTED)
                        .map_err(bad)?,
                ),
            },
            _ => Points::dalek(portable::decompress(encodings).map_err(bad)?),
        })
    }

    /// A batch from dalek points (for the IFMA backend through their
    /// encodings: for tests and interoperation, not a fast path).
    pub fn from_dalek(backend: Backend, points: &[RistrettoPoint]) -> Points {
        match backend.0 {
            Kind::Portable => Points::dalek(points.to_vec()),
            Kind::Ifma8 => {
                let enc: Vec<[u8; 32]> = points.iter().map(|p| p.compress().0).collect();
                match Points::decompress(backend, &enc) {
                    Ok(p) => p,
                    // Encodings of points always decode.
                    Err(_) => Points::dalek(points.to_vec()),
                }
            }
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend holding the points.
    pub fn backend(&self) -> Backend {
        match self.repr {
            Repr::Dalek(_) => Backend::portable(),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(_) => Backend(Kind::Ifma8),
        }
    }

    /// `s·P` for every point, in constant time in `s` and the points.
    pub fn mul(&self, s: &Scalar) -> Points {
        match &self.repr {
            Repr::Dalek(p) => Points::dalek(portable::mul(p, s)),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(p) => {
                let bytes = Zeroizing::new(s.to_bytes());
                Points {
                    len: self.len,
                    repr: Repr::Ifma(dispatch::mul(p, &bytes).expect(DETECTED)),
                }
            }
        }
    }

    /// The encoding of every point (RFC 9496 §4.3.2).
    pub fn compress(&self) -> Vec<[u8; 32]> {
        match &self.repr {
            Repr::Dalek(p) => portable::compress(p),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(p) => dispatch::compress(p, self.len).expect(DETECTED),
        }
    }

    /// `compress(s·P)` for every point: the masking step of ECDH-PSI.
    pub fn mul_compress(&self, s: &Scalar) -> Vec<[u8; 32]> {
        match &self.repr {
            Repr::Dalek(p) => portable::mul_compress(p, s),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(p) => {
                // compress(s·P) = compress(2·((s/2)·P)): doubles encode with
                // one batched inversion (see `ifma::ristretto`).
                let half = Zeroizing::new((s * Scalar::from(2u8).invert()).to_bytes());
                dispatch::mul_double_compress(p, &half, self.len).expect(DETECTED)
            }
        }
    }

    /// The points as curve25519-dalek values (through their encodings for
    /// the IFMA backend).
    pub fn to_dalek(&self) -> Vec<RistrettoPoint> {
        match &self.repr {
            Repr::Dalek(p) => p.clone(),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(_) => self
                .compress()
                .iter()
                .filter_map(|e| curve25519_dalek::ristretto::CompressedRistretto(*e).decompress())
                .collect(),
        }
    }
}
