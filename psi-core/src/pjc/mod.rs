//! PSI-cardinality and PSI-sum ("Private Join and Compute") as sans-IO state
//! machines.
//!
//! # The protocol
//! Ion, Kreuter, Nergiz, Patel, Saxena, Seth, Raykova, Shanahan and Yung, "On
//! Deploying Secure Computing: Private Intersection-Sum-with-Cardinality"
//! (IEEE EuroS&P 2020), §3.1, Figure 2 (the DDH-based protocol), with
//! exponential ElGamal on ristretto255 in place of Paillier (see
//! [Limits and cost](#limits-and-cost)). The group, hashing, secret scalars and tag
//! truncation are those of [`crate::ecdh`] (`H` hashes to ristretto255 under a
//! tag naming the protocol and the session). `a` is the counter's secret,
//! `b` the responder's:
//!
//! ```text
//! counter C (keys X)                             responder R (keys Y, values t_y)
//!   PjcHello{role: counter, |X|, K_C}     ─────▶
//!                                        ◀─────   PjcHello{role: responder, |Y|, K_R, pk}
//!   threshold K = max(K_C, K_R); session id = SHA-256(nonce_C ‖ nonce_R)
//!   a·H(x), x ∈ X                         ─────▶   (R stores truncate(b·a·H(x)))
//!                                        ◀─────   truncate(b·a·H(x)) in a secret random order
//!                                        ◀─────   (b·H(y), Enc_pk(t_y)) in another random order
//!   c = #{y : truncate(a·b·H(y)) among R's answers};  E = Σ_matches Enc(t_y)
//! Cardinality:        C outputs c (or "threshold not met" if c < K). No more messages.
//! Sum to R (dir. 1):  c < K: C sends ThresholdNotMet.  Else C sends (c, E + Enc(0)) ─▶
//!                     R decrypts Σ t_y·G and solves the bounded discrete log.
//! Sum to C (dir. 2):  C sends E + Enc(r), r uniform in Z_ℓ  ─────▶
//!                                        ◀─────   D = (Σ t_y + r)·G   (R decrypts)
//!                     C computes D − r·G = (Σ t_y)·G and solves the bounded discrete log.
//! ```
//!
//! # Security and what each party learns
//! Semi-honest security under DDH in ristretto255 with `H` a random oracle
//! (Ion et al., §3.2), exactly as for [`crate::ecdh`]. Both parties learn both
//! set sizes and the threshold `K` (the larger of both hellos'). Beyond that:
//!
//! | mode | counter (keys only) learns | responder learns |
//! |------|----------------------------|------------------|
//! | [`Protocol::Cardinality`] | `c = \|X ∩ Y\|` if `c ≥ K`, else only "not met" | nothing |
//! | [`Protocol::SumToValueHolder`] | `c` (inherent: it counts, as P1 in PJC) | `c` and `Σ t` if `c ≥ K`, else only "not met" |
//! | [`Protocol::SumToKeyHolder`] | `c` and `Σ t` if `c ≥ K`, else only "not met" | nothing (it decrypts a uniformly masked sum) |
//!
//! A semi-honest counter never learns *which* items match: the responder's
//! answers to its items come back in a secret random permutation, so it can
//! only count, and the responder's own set is shuffled independently.
//!
//! **The threshold** is enforced by the party that computes the count, the
//! counter. In cardinality and direction 2 the counter is also the output
//! party, so the guard is the output party's own code: a semi-honest counter
//! runs it, a malicious one could ignore it (it learns `c` in any case). In
//! direction 2 the counter completes the protocol even below the threshold, so
//! the responder cannot tell whether it was met. In direction 1 the counter
//! refuses to send the encrypted sum, so the value holder learns nothing but
//! "not met"; the value holder also checks the announced count itself.
//!
//! **Against a peer that deviates** the table above does not hold. Besides
//! making the result wrong (another secret for some items, a count it does not
//! hold, a shifted decryption), a deviating party learns:
//!
//! | mode | a deviating counter learns | a deviating responder learns |
//! |------|----------------------------|------------------------------|
//! | [`Protocol::Cardinality`] | *which* of its items match: with its own secret `a_i` per item, the answer `b·a_i·H(x_i)` is recognisable among the shuffled tags by testing `a_i·b·H(y)` against them (and `c` below `K`) | nothing more |
//! | [`Protocol::SumToValueHolder`] | which of its items match, as above | which of *its* items match, by its choice of values (1 on one item, 0 on the others): the functionality allows it |
//! | [`Protocol::SumToKeyHolder`] | which of its items match, and the value `t_y` of any single item (or any subset's sum, below `K`): [`ExpectMaskedSum`] decrypts whatever ciphertext it is sent, and a single `Enc(t_y)` plus a mask cannot be told from a masked sum | nothing more |
//!
//! So cardinality and direction 2 belong only with partners trusted to follow
//! the protocol (to others they give the intersection, and in direction 2
//! single values); direction 1 only with a value holder trusted to give
//! genuine values. Every point, ciphertext and count a peer sends is checked,
//! so malformed input is an [`Error`], never a panic. Items must be distinct
//! (the table layer deduplicates).
//!
//! **Differential privacy** ([`noise`]) is the output party's business, after
//! the protocol: a party that adds noise asks the protocol for threshold 0 and
//! decides its own threshold on the noisy count
//! ([`noise::vartime_release_count`]); a peer's threshold is still decided on
//! the exact count here, so an ε-DP release needs the peer's threshold to be 0.
//!
//! **Timing.** The counter processes every item of the responder's set alike
//! (each ciphertext is decoded, selected without a branch and added, match or
//! not), so its pace on that stream, which the responder can observe, does not
//! depend on the count. The discrete logarithms (`elgamal::vartime_dlog`) run
//! only at the output party and must come after its last message: in
//! direction 2 the counter has sent everything before
//! [`ExpectDecryptedSum::receive`]; in direction 1 the value holder answers the
//! counter between [`ExpectSumResult::check`] and
//! [`CheckedSum::vartime_decrypt`].
//!
//! # Limits and cost
//! - A value is at most [`MAX_VALUE`] = 2^32 − 1; a larger one is
//!   [`Error::ValueOutOfRange`] at [`Responder::start`].
//! - Sums are below `2^sum_bits`, an agreed public parameter (both hellos carry
//!   it and must agree), at most [`MAX_SUM_BITS`] = 40, default
//!   [`DEFAULT_SUM_BITS`]. The value holder refuses to start
//!   ([`Error::SumOutOfRange`]) unless the total of *all* its values is below
//!   `2^sum_bits`; so the sum over any subset fits, and a sum never wraps modulo
//!   the group order. A decryption outside the range is [`Error::SumNotFound`]
//!   (only a deviating peer causes it).
//! - Direction 2's mask `r` is a uniform scalar *in the exponent*: the value
//!   holder decrypts to the point `(S + r)·G`, uniform in the group, and never a
//!   number, so the mask costs no discrete-log range and hides `S` perfectly;
//!   the key holder removes it in the group before the discrete log.
//! - Decryption is baby-step giant-step (`elgamal::vartime_dlog`) over
//!   `0..B`: `2^⌈log2 B / 2⌉` baby steps and at most as many giant steps, all
//!   batched. In direction 1 the value holder uses `B = min(2^sum_bits, total of
//!   its values + 1, c·MAX_VALUE + 1)`, in direction 2 the key holder uses
//!   `B = min(2^sum_bits, c·MAX_VALUE + 1)`; at `sum_bits = 40` that is at most
//!   2·2^20 batched point additions and compressions (≈ 1–2 s on 2 cores), a
//!   constant per run.
//! - Per item, on top of the cardinality cost (four variable-base scalar
//!   multiplications and two hashes to the group for each pair of items), the
//!   value holder encrypts with three fixed-base multiplications and the
//!   counter decompresses two points, selects (constant time) and adds per
//!   item, match or not, so its pace on the responder's stream does not
//!   depend on the count; the responder's stream carries 96 instead of 32
//!   bytes per item.
//!
//! Measured in memory through the real codec with `cargo test --release -p
//! psi-core --test pjc_bench -- --ignored --nocapture --test-threads 1` (both
//! sets of size n, 50 % overlap, values < 2^19, sum_bits 40, threshold 0, the
//! AVX2 backend; a shared, noisy 2-core machine with another engineer's builds
//! running, so read ±20 %):
//!
//! | n | mode | time | ratio | key → value | value → key |
//! |---|------|------|-------|-------------|-------------|
//! | 2^16 | cardinality | 2.8 s | 1 | 2.1 MB | 2.7 MB |
//! | 2^16 | sum to value holder | 4.1 s | 1.45 | 2.1 MB | 6.9 MB |
//! | 2^16 | sum to key holder | 4.3 s | 1.51 | 2.1 MB | 6.9 MB |
//! | 2^20 | cardinality | 42 s | 1 | 33.6 MB | 44.0 MB |
//! | 2^20 | sum to value holder | 62 s | 1.47 | 33.6 MB | 111.2 MB |
//! | 2^20 | sum to key holder | 74 s | 1.75 | 33.6 MB | 111.2 MB |
//!
//! (Direction 2 pays the full `2^20` baby-step table since the key holder
//! cannot bound the sum by the peer's total; the times are one run each.)
//! The table predates the counter's decoding of *every* ciphertext (for
//! timing, above), which at 50 % overlap adds two point decompressions per
//! non-matching item; it is not yet re-measured on a quiet machine (two
//! 2^16 runs on a machine loaded by other builds gave sum/cardinality
//! ratios of 1.2 and 1.9, i.e. noise).
//!
//! # Streaming
//! The counter's items go up in chunks; the responder must hold one 16-byte
//! tag per counter item until that stream ends (it can only shuffle a whole
//! set), then streams them back. The counter consumes its own tags before the
//! responder's set (the types enforce the order: [`ExpectShuffledTags::finish`]
//! makes the [`ExpectResponderSet`]), so it keeps only a sorted tag per own
//! item and a running ciphertext sum, never the responder's set. The
//! responder's set stream ([`ResponderMasker`]) is independent and may be
//! produced at any time after the hellos.
//!
//! For sets larger than memory, [`external`] runs the same protocol with
//! each role's state in the caller's files (memory bounded by a file of
//! about 2^20 records, independent of n), and without bucketing: one
//! session, so the counter still learns only the total.

mod counter;
mod elgamal;
pub mod external;
pub mod noise;
mod responder;
mod wire;

use std::sync::Arc;

use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::scalar::Scalar;
use rand::seq::SliceRandom;
use rand_core::CryptoRng;
use rayon::prelude::*;
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

pub use counter::*;
pub use elgamal::CIPHERTEXT_LEN;
pub use responder::*;
pub use wire::{
    DecryptedSum, MaskedSum, PjcHello, ResponderSetChunk, Role, ShuffledTags, SumResult,
    MAX_RESPONDER_CHUNK_ITEMS, MAX_SUM_BITS,
};

use crate::codec::{
    PointChunk, PointStream, Protocol, TagChunk, DEFAULT_CHUNK_ITEMS, MAX_CHUNK_ITEMS,
};
use crate::ecdh::{
    check_size, clamp_chunk, mask_items, remask, tag_of, up_front_capacity, Secret, Session,
    TagCollector,
};
use crate::rng::ZeroizingRng;
use crate::{Error, Item, Limits};
use elgamal::{random_scalar, vartime_dlog, Ciphertext, PublicKey, SecretKey};

/// The largest value one item may carry in the sum protocols.
pub const MAX_VALUE: u64 = u32::MAX as u64;

/// The default bound on sums, in bits: sums below 2^40.
pub const DEFAULT_SUM_BITS: u8 = MAX_SUM_BITS;

/// What one party asks for: the protocol (mode and direction), its threshold
/// and, for the sums, the bound on sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// [`Protocol::Cardinality`], [`Protocol::SumToValueHolder`] or
    /// [`Protocol::SumToKeyHolder`].
    pub protocol: Protocol,
    /// Below this many matches the output party learns only that the
    /// threshold was not met (the run uses the larger of both parties').
    pub min_intersection: u64,
    /// Sums are below `2^sum_bits` (1..=[`MAX_SUM_BITS`]; ignored for cardinality).
    pub sum_bits: u8,
}

impl Params {
    /// Parameters for `protocol` with threshold `min_intersection` and the
    /// default bound on sums.
    pub fn new(protocol: Protocol, min_intersection: u64) -> Self {
        Params {
            protocol,
            min_intersection,
            sum_bits: DEFAULT_SUM_BITS,
        }
    }

    fn is_sum(&self) -> bool {
        is_sum(self.protocol)
    }

    fn wire_sum_bits(&self) -> u8 {
        if self.is_sum() {
            self.sum_bits
        } else {
            0
        }
    }

    fn check(&self) -> Result<(), Error> {
        match self.protocol {
            Protocol::Cardinality => Ok(()),
            Protocol::SumToValueHolder | Protocol::SumToKeyHolder
                if (1..=MAX_SUM_BITS).contains(&self.sum_bits) =>
            {
                Ok(())
            }
            Protocol::SumToValueHolder | Protocol::SumToKeyHolder => {
                Err(Error::Misuse("sum_bits must be in 1..=MAX_SUM_BITS"))
            }
            _ => Err(Error::Misuse("not a cardinality or sum protocol")),
        }
    }
}

fn is_sum(protocol: Protocol) -> bool {
    matches!(
        protocol,
        Protocol::SumToValueHolder | Protocol::SumToKeyHolder
    )
}

/// A released result, or only the news that the threshold was not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<T> {
    /// At least `min_intersection` items matched.
    Released(T),
    /// Fewer than `min_intersection` items matched; nothing else is known.
    ThresholdNotMet,
}

impl<T> Outcome<T> {
    /// The released value passed through `f`; "not met" stays "not met".
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Released(v) => Outcome::Released(f(v)),
            Outcome::ThresholdNotMet => Outcome::ThresholdNotMet,
        }
    }
}

/// What the output party of a sum protocol learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SumOutput {
    /// Number of matching keys.
    pub count: u64,
    /// Sum of the values of the matching keys.
    pub sum: u64,
}

fn outcome<T>(count: u64, threshold: u64, value: T) -> Outcome<T> {
    if count >= threshold {
        Outcome::Released(value)
    } else {
        Outcome::ThresholdNotMet
    }
}

/// A per-session seed for the randomness a state needs after `start` (the
/// shuffle of the answers, encryption nonces, the mask): each use draws its
/// own ChaCha20 stream. The seed and every stream are zeroized on drop.
struct SessionRng {
    seed: Zeroizing<[u8; 32]>,
}

impl SessionRng {
    fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *seed);
        SessionRng { seed }
    }

    /// Stream `id`, overwritten when dropped.
    fn stream(&self, id: u64) -> ZeroizingRng {
        let mut r = ZeroizingRng::from_seed(&self.seed);
        r.set_stream(id);
        r
    }
}

const STREAM_SHUFFLE: u64 = 0;
const STREAM_FINALE: u64 = 1;
/// Nonce streams of the responder's chunks start here (one per chunk).
const STREAM_CHUNKS: u64 = 2;

/// Checks the peer's hello against ours and derives the shared session and
/// threshold.
fn agree(own: &PjcHello, peer: &PjcHello, limits: &Limits) -> Result<(Session, u64), Error> {
    if peer.protocol != own.protocol {
        return Err(Error::ProtocolMismatch {
            ours: own.protocol,
            theirs: peer.protocol,
        });
    }
    if peer.role != own.role.peer() {
        return Err(Error::ParameterMismatch {
            what: "role (1 counter, 2 responder)",
            ours: u64::from(own.role == Role::Responder) + 1,
            theirs: u64::from(peer.role == Role::Responder) + 1,
        });
    }
    if peer.sum_bits != own.sum_bits {
        return Err(Error::ParameterMismatch {
            what: "bound on sums (bits)",
            ours: own.sum_bits.into(),
            theirs: peer.sum_bits.into(),
        });
    }
    check_size("peer's", peer.set_size, limits)?;
    let (counter, responder) = match own.role {
        Role::Counter => (own, peer),
        Role::Responder => (peer, own),
    };
    let session = Session::derive(
        own.protocol,
        (&counter.nonce, counter.set_size),
        (&responder.nonce, responder.set_size),
    );
    Ok((session, own.min_intersection.max(peer.min_intersection)))
}

fn hello<R: CryptoRng + ?Sized>(
    rng: &mut R,
    params: &Params,
    role: Role,
    set_size: u64,
) -> PjcHello {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    PjcHello {
        protocol: params.protocol,
        role,
        nonce,
        set_size,
        min_intersection: params.min_intersection,
        sum_bits: params.wire_sum_bits(),
        public_key: None,
    }
}

/// The largest sum `count` matches can have, plus one (a discrete-log bound).
fn bound_for_count(count: u64, sum_bits: u8) -> u64 {
    count
        .saturating_mul(MAX_VALUE)
        .saturating_add(1)
        .min(1 << sum_bits)
}
