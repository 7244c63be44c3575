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
//! - [`Backend::avx2`]: our own code (`src/avx2/`), the same formulas on four
//!   independent points in the 64-bit lanes of `__m256i`, field elements in
//!   radix 2^25.5 (ten limbs of 26 and 25 bits) multiplied with
//!   `vpmuludq`; for CPUs with AVX2 but without IFMA. Constant time in the
//!   same way (blends of every table entry, per-lane choices as lane masks).
//!
//! [`Backend::best`] picks ifma8, else avx2, else portable.
//! `PSI_GROUP_BACKEND=portable|avx2|ifma8` forces one for measurements
//! ([`Backend::from_env`], [`Backend::for_process`]); a value that names no
//! backend or one this CPU cannot run is an error, never a silent fallback.
//!
//! The results of all backends are identical (the tests compare them with
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

#[cfg(target_arch = "x86_64")]
mod avx2;
mod digits;
mod dispatch;
#[cfg(target_arch = "x86_64")]
mod formulas;
#[cfg(target_arch = "x86_64")]
mod ifma;
mod portable;
#[doc(hidden)]
pub mod testing;

pub use curve25519_dalek::ristretto::RistrettoPoint;
pub use curve25519_dalek::scalar::Scalar;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The environment variable that forces a backend (for measurements):
/// `portable`, `avx2` or `ifma8`; unset or empty means [`Backend::best`].
pub const BACKEND_VARIABLE: &str = "PSI_GROUP_BACKEND";

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The encoding at this position of the batch is not a ristretto255 point.
    #[error("point {index} of the batch is not a valid ristretto255 encoding")]
    InvalidEncoding {
        /// Position in the batch.
        index: usize,
    },
    /// [`BACKEND_VARIABLE`] names no backend, or one this CPU cannot run.
    #[error("{BACKEND_VARIABLE}={value:?}: {reason}")]
    BackendChoice {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Portable,
    Avx2,
    Ifma8,
}

/// Which implementation computes a batch. An AVX2 or IFMA backend value
/// exists only on a CPU that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend(Kind);

impl Backend {
    /// curve25519-dalek, on any CPU.
    pub fn portable() -> Backend {
        Backend(Kind::Portable)
    }

    /// Four points at a time with AVX2, if this CPU has it.
    pub fn avx2() -> Option<Backend> {
        dispatch::avx2_detected().then_some(Backend(Kind::Avx2))
    }

    /// Eight points at a time with AVX-512 IFMA, if this CPU has it.
    pub fn ifma8() -> Option<Backend> {
        dispatch::ifma_detected().then_some(Backend(Kind::Ifma8))
    }

    /// The fastest backend this CPU runs: ifma8, else avx2, else portable.
    pub fn best() -> Backend {
        Backend::ifma8()
            .or_else(Backend::avx2)
            .unwrap_or_else(Backend::portable)
    }

    /// The backend a name asks for (`portable`, `avx2`, `ifma8`), or why
    /// there is none: the name is unknown or this CPU lacks the instructions.
    fn from_name(value: &str) -> Result<Backend, Error> {
        let refuse = |reason| Error::BackendChoice {
            value: value.to_string(),
            reason,
        };
        match value {
            "portable" => Ok(Backend::portable()),
            "avx2" => Backend::avx2().ok_or_else(|| refuse("this CPU lacks AVX2")),
            "ifma8" => Backend::ifma8().ok_or_else(|| refuse("this CPU lacks AVX-512 F and IFMA")),
            _ => Err(refuse(
                "not a psi-group backend (expected portable, avx2 or ifma8)",
            )),
        }
    }

    /// The backend [`BACKEND_VARIABLE`] asks for, or [`Backend::best`] where
    /// it is unset or empty. An unknown value, or a backend this CPU cannot
    /// run, is an error: never a different backend than asked.
    pub fn from_env() -> Result<Backend, Error> {
        match std::env::var(BACKEND_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Backend::best()),
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::BackendChoice {
                value: v.to_string_lossy().into_owned(),
                reason: "not a psi-group backend (expected portable, avx2 or ifma8)",
            }),
            Ok(v) if v.is_empty() => Ok(Backend::best()),
            Ok(v) => Backend::from_name(&v),
        }
    }

    /// The backend of this process: [`Backend::from_env`], read once. The
    /// programs check `from_env` first and refuse a bad value with a usage
    /// error; a library caller that skips that check and runs with a bad
    /// value stops here, naming the variable and the value, rather than
    /// run a backend that was not asked for.
    #[allow(clippy::panic)]
    pub fn for_process() -> Backend {
        static CHOSEN: OnceLock<Result<Backend, Error>> = OnceLock::new();
        match CHOSEN.get_or_init(Backend::from_env) {
            Ok(b) => *b,
            Err(e) => panic!("{e}"),
        }
    }

    /// A short name for reports: `"ifma8"`, `"avx2"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Kind::Portable => "portable",
            Kind::Avx2 => "avx2",
            Kind::Ifma8 => "ifma8",
        }
    }
}

/// Message of the `expect`s below: a `Repr::Ifma` or `Repr::Avx2` exists
/// only after detection.
#[cfg(target_arch = "x86_64")]
const DETECTED: &str = "AVX2 or IFMA points exist only on a CPU that runs them";

enum Repr {
    Dalek(Vec<RistrettoPoint>),
    #[cfg(target_arch = "x86_64")]
    Avx2(Vec<avx2::Ep4>),
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
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => Points {
                len: inputs.len(),
                repr: Repr::Avx2(dispatch::avx2_from_uniform(inputs).expect(DETECTED)),
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
            #[cfg(target_arch = "x86_64")]
            Kind::Avx2 => Points {
                len: encodings.len(),
                repr: Repr::Avx2(
                    dispatch::avx2_decompress(encodings)
                        .expect(DETECTED)
                        .map_err(bad)?,
                ),
            },
            _ => Points::dalek(portable::decompress(encodings).map_err(bad)?),
        })
    }

    /// A batch from dalek points (for the AVX2 and IFMA backends through their
    /// encodings: for tests and interoperation, not a fast path).
    pub fn from_dalek(backend: Backend, points: &[RistrettoPoint]) -> Points {
        match backend.0 {
            Kind::Portable => Points::dalek(points.to_vec()),
            Kind::Avx2 | Kind::Ifma8 => {
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
            Repr::Avx2(_) => Backend(Kind::Avx2),
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
            #[cfg(target_arch = "x86_64")]
            Repr::Avx2(p) => {
                let bytes = Zeroizing::new(s.to_bytes());
                Points {
                    len: self.len,
                    repr: Repr::Avx2(dispatch::avx2_mul(p, &bytes).expect(DETECTED)),
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
            #[cfg(target_arch = "x86_64")]
            Repr::Avx2(p) => dispatch::avx2_compress(p, self.len).expect(DETECTED),
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
            #[cfg(target_arch = "x86_64")]
            Repr::Avx2(_) => self.mul(s).compress(),
        }
    }

    /// The points as curve25519-dalek values (through their encodings for
    /// the AVX2 and IFMA backends).
    pub fn to_dalek(&self) -> Vec<RistrettoPoint> {
        match &self.repr {
            Repr::Dalek(p) => p.clone(),
            #[cfg(target_arch = "x86_64")]
            Repr::Ifma(_) | Repr::Avx2(_) => self
                .compress()
                .iter()
                .filter_map(|e| curve25519_dalek::ristretto::CompressedRistretto(*e).decompress())
                .collect(),
        }
    }
}
