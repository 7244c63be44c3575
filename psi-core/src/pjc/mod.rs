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

mod elgamal;
pub mod noise;
mod wire;

use std::sync::Arc;

use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::scalar::Scalar;
use rand::seq::SliceRandom;
use rand_core::CryptoRng;
use rayon::prelude::*;
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

pub use elgamal::CIPHERTEXT_LEN;
pub use wire::{
    DecryptedSum, MaskedSum, PjcHello, ResponderSetChunk, Role, ShuffledTags, SumResult,
    MAX_RESPONDER_CHUNK_ITEMS, MAX_SUM_BITS,
};

use crate::codec::{PointChunk, PointStream, Protocol, TagChunk, DEFAULT_CHUNK_ITEMS};
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

// ---------------------------------------------------------------- counter

/// The counting role (keys only; P1 in Ion et al.).
pub struct Counter;

impl Counter {
    /// Starts a session over `items` (distinct). Returns the first state and
    /// the [`PjcHello`] to send.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        params: &Params,
        limits: &Limits,
    ) -> Result<(ExpectResponderHello, PjcHello), Error> {
        params.check()?;
        check_size("our", items.len() as u64, limits)?;
        let hello = hello(rng, params, Role::Counter, items.len() as u64);
        Ok((
            ExpectResponderHello {
                hello: hello.clone(),
                items,
                secret: Arc::new(Secret::random(rng)),
                rng: SessionRng::new(rng),
                limits: limits.clone(),
            },
            hello,
        ))
    }
}

/// Counter, waiting for the responder's [`PjcHello`].
pub struct ExpectResponderHello {
    hello: PjcHello,
    items: Vec<Item>,
    secret: Arc<Secret>,
    rng: SessionRng,
    limits: Limits,
}

/// The counter's two streams after the hellos.
pub struct CounterStreams {
    /// Produces the counter's masked items, to send to the responder.
    pub masker: CounterMasker,
    /// Consumes the responder's shuffled answers; when finished, becomes the
    /// consumer of the responder's set.
    pub tags: ExpectShuffledTags,
}

impl ExpectResponderHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &PjcHello {
        &self.hello
    }

    /// Takes the responder's hello and splits into the two streams.
    pub fn receive(self, peer: PjcHello) -> Result<CounterStreams, Error> {
        let (session, threshold) = agree(&self.hello, &peer, &self.limits)?;
        let public_key = match (is_sum(self.hello.protocol), &peer.public_key) {
            (true, Some(pk)) => Some(PublicKey::from_bytes(pk)?),
            (false, None) => None,
            (expected, _) => {
                return Err(Error::ParameterMismatch {
                    what: "public key present",
                    ours: expected.into(),
                    theirs: peer.public_key.is_some().into(),
                })
            }
        };
        let n = self.items.len() as u64;
        Ok(CounterStreams {
            tags: ExpectShuffledTags {
                tags: TagCollector::new("shuffled tags", session.tag_len, n, self.items.len()),
                ctx: CounterContext {
                    protocol: self.hello.protocol,
                    secret: self.secret.clone(),
                    public_key,
                    threshold,
                    sum_bits: self.hello.sum_bits,
                    tag_len: session.tag_len,
                    responder_size: peer.set_size,
                    rng: self.rng,
                },
            },
            masker: CounterMasker {
                session,
                secret: self.secret,
                items: self.items,
                next: 0,
                chunk: DEFAULT_CHUNK_ITEMS,
            },
        })
    }
}

/// Counter stream 1: masks its items chunk by chunk.
pub struct CounterMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Vec<Item>,
    next: usize,
    chunk: usize,
}

impl CounterMasker {
    /// Sets the number of items per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The next chunk of `a·H(x)`, or `None` when every item was sent.
    pub fn next_chunk(&mut self) -> Option<PointChunk> {
        if self.next >= self.items.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.items.len());
        let slice = &self.items[self.next..end];
        self.next = end;
        Some(PointChunk {
            stream: PointStream::CounterMasked,
            points: mask_items(&self.session, &self.secret, slice.len(), |i| &slice[i]),
        })
    }
}

/// What the counter carries from the hellos to the end.
struct CounterContext {
    protocol: Protocol,
    secret: Arc<Secret>,
    public_key: Option<PublicKey>,
    threshold: u64,
    sum_bits: u8,
    tag_len: u8,
    responder_size: u64,
    rng: SessionRng,
}

/// Counter stream 2: the responder's answers to the counter's items, shuffled.
pub struct ExpectShuffledTags {
    tags: TagCollector,
    ctx: CounterContext,
}

impl ExpectShuffledTags {
    /// Takes one chunk of shuffled tags.
    pub fn receive(&mut self, chunk: ShuffledTags) -> Result<(), Error> {
        self.tags.receive(&chunk.0)
    }

    /// Ends the stream (every tag must have arrived) and becomes the consumer
    /// of the responder's set.
    pub fn finish(self) -> Result<ExpectResponderSet, Error> {
        let mut own_tags = self.tags.finish()?;
        own_tags.par_sort_unstable();
        Ok(ExpectResponderSet {
            own_tags,
            seen: 0,
            count: 0,
            sum: Ciphertext::zero(),
            ctx: self.ctx,
        })
    }
}

/// Counter stream 3: the responder's masked, shuffled set (with encrypted
/// values in the sum protocols); counts the matches and sums their ciphertexts.
pub struct ExpectResponderSet {
    own_tags: Vec<u128>,
    seen: u64,
    count: u64,
    sum: Ciphertext,
    ctx: CounterContext,
}

/// What the counter does once the responder's set is in.
pub enum CounterFinish {
    /// Cardinality: the result; no more messages.
    Cardinality(Outcome<u64>),
    /// Sum to the value holder: send `message`, then the counter is done. The
    /// counter itself sees the count (it computed it).
    SendSum {
        /// The message for the responder.
        message: SumResult,
        /// The count as the counter sees it, behind the same threshold.
        count: Outcome<u64>,
    },
    /// Sum to the key holder: send `message` and wait for the decryption.
    SendMaskedSum {
        /// The message for the responder.
        message: MaskedSum,
        /// The state that takes the answer.
        next: ExpectDecryptedSum,
    },
}

impl ExpectResponderSet {
    /// Takes one chunk of the responder's set.
    pub fn receive(&mut self, chunk: ResponderSetChunk) -> Result<(), Error> {
        let n = chunk.points.len() as u64;
        let got = self.seen + n;
        if got > self.ctx.responder_size {
            return Err(Error::UnexpectedCount {
                stream: "responder's set",
                expected: self.ctx.responder_size,
                got,
            });
        }
        let sum = is_sum(self.ctx.protocol);
        let want_cts = if sum { chunk.points.len() } else { 0 };
        if chunk.ciphertexts.len() != want_cts {
            return Err(Error::UnexpectedCount {
                stream: "ciphertexts in a responder chunk",
                expected: want_cts as u64,
                got: chunk.ciphertexts.len() as u64,
            });
        }
        let masked: Vec<CompressedRistretto> = remask(&self.ctx.secret, &chunk.points, self.seen)?;
        let own = &self.own_tags;
        let len = self.ctx.tag_len;
        // Every item is treated alike, match or not, so the time this takes
        // (which the responder can observe as back-pressure on its stream)
        // does not depend on the number of matches: the lookup is a
        // fixed-length binary search, and in the sums every ciphertext is
        // decoded, selected without a branch (itself or the encryption of 0
        // with nonce 0) and added.
        let found: Vec<Choice> = masked
            .par_iter()
            .map(|c| Choice::from(u8::from(own.binary_search(&tag_of(c, len)).is_ok())))
            .collect();
        if sum {
            let offset = self.seen;
            let part = chunk
                .ciphertexts
                .par_iter()
                .zip(&found)
                .enumerate()
                .map(|(i, (ct, &found))| {
                    Ciphertext::from_bytes(ct, offset + i as u64).map(|ct| ct.or_zero(found))
                })
                .try_reduce(Ciphertext::zero, |a, b| Ok(a.add(&b)))?;
            self.sum = self.sum.add(&part);
        }
        self.count += found.iter().map(|f| u64::from(f.unwrap_u8())).sum::<u64>();
        self.seen = got;
        Ok(())
    }

    /// Ends the stream (every item must have arrived) and says what to do next.
    pub fn finish(self) -> Result<CounterFinish, Error> {
        if self.seen != self.ctx.responder_size {
            return Err(Error::UnexpectedCount {
                stream: "responder's set",
                expected: self.ctx.responder_size,
                got: self.seen,
            });
        }
        let ctx = self.ctx;
        let count = self.count;
        let released = outcome(count, ctx.threshold, count);
        let pk = match (&ctx.public_key, ctx.protocol) {
            (_, Protocol::Cardinality) => return Ok(CounterFinish::Cardinality(released)),
            (Some(pk), _) => pk,
            (None, _) => return Err(Error::Misuse("sum protocol without a public key")),
        };
        let mut rng = ctx.rng.stream(STREAM_FINALE);
        let k = Zeroizing::new(random_scalar(&mut rng));
        if ctx.protocol == Protocol::SumToValueHolder {
            let message = if count < ctx.threshold {
                SumResult::ThresholdNotMet
            } else {
                SumResult::Sum {
                    count,
                    ciphertext: pk.add_encrypted(&self.sum, &Scalar::ZERO, &k).to_bytes(),
                }
            };
            return Ok(CounterFinish::SendSum {
                message,
                count: released,
            });
        }
        let mask = Zeroizing::new(random_scalar(&mut rng));
        let ciphertext = pk.add_encrypted(&self.sum, &mask, &k).to_bytes();
        Ok(CounterFinish::SendMaskedSum {
            message: MaskedSum { ciphertext },
            next: ExpectDecryptedSum {
                mask,
                count,
                threshold: ctx.threshold,
                sum_bits: ctx.sum_bits,
            },
        })
    }
}

/// Counter, direction 2: waits for the value holder's decryption of the masked sum.
pub struct ExpectDecryptedSum {
    mask: Zeroizing<Scalar>,
    count: u64,
    threshold: u64,
    sum_bits: u8,
}

impl ExpectDecryptedSum {
    /// Removes the mask and solves the bounded discrete log.
    pub fn receive(self, answer: DecryptedSum) -> Result<Outcome<SumOutput>, Error> {
        let point = CompressedRistretto(answer.point)
            .decompress()
            .ok_or(Error::InvalidPoint { index: 0 })?;
        if self.count < self.threshold {
            return Ok(Outcome::ThresholdNotMet);
        }
        let unmasked = point - curve25519_dalek::RistrettoPoint::mul_base(&self.mask);
        let sum = vartime_dlog(&unmasked, bound_for_count(self.count, self.sum_bits)).ok_or(
            Error::SumNotFound {
                sum_bits: self.sum_bits,
            },
        )?;
        Ok(Outcome::Released(SumOutput {
            count: self.count,
            sum,
        }))
    }
}

// ---------------------------------------------------------------- responder

/// The responding role (keys, and one value per key in the sum protocols; P2
/// in Ion et al.).
pub struct Responder;

/// The responder's key pair and values in the sum protocols.
struct ValueKeys {
    values: Arc<[u64]>,
    total: u64,
    secret: SecretKey,
    public: Arc<PublicKey>,
}

impl Responder {
    /// Starts a session over `items` (distinct; shared between sessions) with
    /// `values[i]` the value of `items[i]` in the sum protocols (`None` for
    /// cardinality). Checks every value and the total up front.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        values: Option<Arc<[u64]>>,
        params: &Params,
        limits: &Limits,
    ) -> Result<(ExpectCounterHello, PjcHello), Error> {
        params.check()?;
        check_size("our", items.len() as u64, limits)?;
        if items.len() > u32::MAX as usize {
            return Err(Error::SetTooLarge {
                who: "our",
                size: items.len() as u64,
                limit: u32::MAX.into(),
            });
        }
        let keys = match (params.is_sum(), values) {
            (false, None) => None,
            (true, Some(values)) => {
                if values.len() != items.len() {
                    return Err(Error::Misuse("one value per item is required"));
                }
                let mut total: u128 = 0;
                for (i, &v) in values.iter().enumerate() {
                    if v > MAX_VALUE {
                        return Err(Error::ValueOutOfRange {
                            index: i as u64,
                            value: v,
                            limit: MAX_VALUE,
                        });
                    }
                    total += u128::from(v);
                }
                if total >= 1u128 << params.sum_bits {
                    return Err(Error::SumOutOfRange {
                        total: u64::try_from(total).unwrap_or(u64::MAX),
                        sum_bits: params.sum_bits,
                    });
                }
                let (secret, public) = SecretKey::generate(rng);
                Some(ValueKeys {
                    values,
                    // total < 2^40 here.
                    total: u64::try_from(total).unwrap_or(u64::MAX),
                    secret,
                    public: Arc::new(public),
                })
            }
            (true, None) => return Err(Error::Misuse("the sum protocols need values")),
            (false, Some(_)) => return Err(Error::Misuse("cardinality takes no values")),
        };
        let mut hello = hello(rng, params, Role::Responder, items.len() as u64);
        hello.public_key = keys.as_ref().map(|k| k.public.to_bytes());
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        order.shuffle(rng);
        Ok((
            ExpectCounterHello {
                hello: hello.clone(),
                items,
                order,
                keys,
                secret: Arc::new(Secret::random(rng)),
                rng: SessionRng::new(rng),
                limits: limits.clone(),
            },
            hello,
        ))
    }

    /// [`Responder::start`] and [`ExpectCounterHello::receive`] in one step, for
    /// a server that answers a counter's hello: returns the hello to send back.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        values: Option<Arc<[u64]>>,
        params: &Params,
        counter: PjcHello,
        limits: &Limits,
    ) -> Result<(PjcHello, ResponderStreams), Error> {
        let (state, hello) = Self::start(rng, items, values, params, limits)?;
        Ok((hello, state.receive(counter)?))
    }
}

/// Responder, waiting for the counter's [`PjcHello`].
pub struct ExpectCounterHello {
    hello: PjcHello,
    items: Arc<[Item]>,
    order: Vec<u32>,
    keys: Option<ValueKeys>,
    secret: Arc<Secret>,
    rng: SessionRng,
    limits: Limits,
}

/// The responder's streams after the hellos, and its last step.
pub struct ResponderStreams {
    /// Takes the counter's masked items; when finished, becomes the sender of
    /// the shuffled answers.
    pub answerer: ExpectCounterMasked,
    /// Produces the responder's masked, shuffled set (independent stream).
    pub masker: ResponderMasker,
    /// The last message the responder waits for, by protocol.
    pub finale: ResponderFinale,
}

/// The responder's last step.
pub enum ResponderFinale {
    /// Cardinality: the responder is done after its streams.
    Nothing,
    /// Sum to the value holder: wait for the encrypted sum.
    ExpectSum(ExpectSumResult),
    /// Sum to the key holder: decrypt the masked sum for the counter.
    Decrypt(ExpectMaskedSum),
}

impl ExpectCounterHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &PjcHello {
        &self.hello
    }

    /// Takes the counter's hello.
    pub fn receive(self, peer: PjcHello) -> Result<ResponderStreams, Error> {
        let (session, threshold) = agree(&self.hello, &peer, &self.limits)?;
        if peer.public_key.is_some() {
            return Err(Error::ParameterMismatch {
                what: "public key present",
                ours: 0,
                theirs: 1,
            });
        }
        let own_size = self.items.len() as u64;
        let (values, public, finale) = match self.keys {
            None => (None, None, ResponderFinale::Nothing),
            Some(k) => {
                let finale = if self.hello.protocol == Protocol::SumToValueHolder {
                    ResponderFinale::ExpectSum(ExpectSumResult {
                        secret: k.secret,
                        threshold,
                        max_count: own_size.min(peer.set_size),
                        total: k.total,
                        sum_bits: self.hello.sum_bits,
                    })
                } else {
                    ResponderFinale::Decrypt(ExpectMaskedSum { secret: k.secret })
                };
                (Some(k.values), Some(k.public), finale)
            }
        };
        let rng = Arc::new(self.rng);
        Ok(ResponderStreams {
            answerer: ExpectCounterMasked {
                tag_len: session.tag_len,
                secret: self.secret.clone(),
                expected: peer.set_size,
                tags: Vec::with_capacity(up_front_capacity(peer.set_size)),
                rng: rng.clone(),
            },
            masker: ResponderMasker {
                session,
                secret: self.secret,
                items: self.items,
                values,
                public,
                order: self.order,
                next: 0,
                chunk: DEFAULT_CHUNK_ITEMS,
                chunks_sent: 0,
                rng,
            },
            finale,
        })
    }
}

/// Responder stream 1: takes the counter's masked items and keeps their
/// doubly-masked tags until the stream ends.
pub struct ExpectCounterMasked {
    tag_len: u8,
    secret: Arc<Secret>,
    expected: u64,
    tags: Vec<u128>,
    rng: Arc<SessionRng>,
}

impl ExpectCounterMasked {
    /// Checks and re-masks one chunk.
    pub fn receive(&mut self, chunk: PointChunk) -> Result<(), Error> {
        if chunk.stream != PointStream::CounterMasked {
            return Err(Error::Misuse(
                "only counter-masked chunks go to the responder",
            ));
        }
        let seen = self.tags.len() as u64;
        let got = seen + chunk.points.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got,
            });
        }
        let len = self.tag_len;
        let masked = remask(&self.secret, &chunk.points, seen)?;
        self.tags.extend(masked.iter().map(|c| tag_of(c, len)));
        Ok(())
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.tags.len() as u64
    }

    /// Ends the stream (the counter must have sent every item it announced)
    /// and shuffles the answers.
    pub fn finish(self) -> Result<ShuffledTagSender, Error> {
        if self.tags.len() as u64 != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got: self.tags.len() as u64,
            });
        }
        let mut tags = self.tags;
        tags.shuffle(&mut self.rng.stream(STREAM_SHUFFLE));
        Ok(ShuffledTagSender {
            tag_len: self.tag_len,
            tags,
            next: 0,
            chunk: DEFAULT_CHUNK_ITEMS,
        })
    }
}

/// Responder stream 2: sends the shuffled answers.
pub struct ShuffledTagSender {
    tag_len: u8,
    tags: Vec<u128>,
    next: usize,
    chunk: usize,
}

impl ShuffledTagSender {
    /// Sets the number of tags per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The next chunk, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<ShuffledTags> {
        if self.next >= self.tags.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.tags.len());
        let len = usize::from(self.tag_len);
        let tags = self.tags[self.next..end]
            .iter()
            .flat_map(|t| t.to_le_bytes().into_iter().take(len))
            .collect();
        self.next = end;
        Some(ShuffledTags(TagChunk {
            tag_len: self.tag_len,
            tags,
        }))
    }
}

/// Responder stream 3: its own set, masked, in a fresh random order, with the
/// encryption of each value in the sum protocols.
pub struct ResponderMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Arc<[Item]>,
    values: Option<Arc<[u64]>>,
    public: Option<Arc<PublicKey>>,
    order: Vec<u32>,
    next: usize,
    chunk: usize,
    chunks_sent: u64,
    rng: Arc<SessionRng>,
}

impl ResponderMasker {
    /// Sets the number of items per chunk (clamped to
    /// [`MAX_RESPONDER_CHUNK_ITEMS`]).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = chunk.clamp(1, MAX_RESPONDER_CHUNK_ITEMS as usize);
    }

    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The next chunk in shuffled order, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<ResponderSetChunk> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.order.len());
        let slice = &self.order[self.next..end];
        self.next = end;
        let items = &self.items;
        let points = mask_items(&self.session, &self.secret, slice.len(), |i| {
            &items[slice[i] as usize]
        });
        let ciphertexts = match (&self.values, &self.public) {
            (Some(values), Some(pk)) => {
                let mut rng = self.rng.stream(STREAM_CHUNKS + self.chunks_sent);
                let mut nonces: Vec<Scalar> =
                    slice.iter().map(|_| random_scalar(&mut rng)).collect();
                let vals: Vec<u64> = slice.iter().map(|&i| values[i as usize]).collect();
                let out = pk.encrypt_batch(&vals, &nonces);
                nonces.zeroize();
                out
            }
            _ => Vec::new(),
        };
        self.chunks_sent += 1;
        Some(ResponderSetChunk {
            points,
            ciphertexts,
        })
    }
}

/// Responder, direction 1: waits for the counter's encrypted sum.
pub struct ExpectSumResult {
    secret: SecretKey,
    threshold: u64,
    max_count: u64,
    total: u64,
    sum_bits: u8,
}

impl ExpectSumResult {
    /// Decrypts the sum (bounded discrete log), behind the threshold:
    /// [`ExpectSumResult::check`] then [`CheckedSum::vartime_decrypt`]. A
    /// server that must answer the counter first calls the two apart.
    pub fn receive(self, message: SumResult) -> Result<Outcome<SumOutput>, Error> {
        self.check(message)?.vartime_decrypt()
    }

    /// Checks the counter's message (the count against both sets, the
    /// ciphertext's points, the threshold) and decrypts it to the point
    /// `(Σ t)·G`, all in time that does not depend on the sum: what is left,
    /// the discrete log, is variable time and can wait until the counter has
    /// its answer.
    pub fn check(self, message: SumResult) -> Result<CheckedSum, Error> {
        let (count, ciphertext) = match message {
            SumResult::ThresholdNotMet => return Ok(CheckedSum(None)),
            SumResult::Sum { count, ciphertext } => (count, ciphertext),
        };
        if count > self.max_count {
            return Err(Error::UnexpectedCount {
                stream: "matches",
                expected: self.max_count,
                got: count,
            });
        }
        let ct = Ciphertext::from_bytes(&ciphertext, 0)?;
        if count < self.threshold {
            return Ok(CheckedSum(None));
        }
        Ok(CheckedSum(Some(SumPoint {
            point: self.secret.decrypt_point(&ct),
            count,
            bound: bound_for_count(count, self.sum_bits).min(self.total + 1),
            sum_bits: self.sum_bits,
        })))
    }
}

/// Responder, direction 1: a checked sum, decrypted to a point; `None` when
/// the threshold was not met.
pub struct CheckedSum(Option<SumPoint>);

struct SumPoint {
    point: curve25519_dalek::RistrettoPoint,
    count: u64,
    bound: u64,
    sum_bits: u8,
}

impl CheckedSum {
    /// Solves the bounded discrete log. **Variable time**: its running time
    /// reveals roughly the sum, so run it after the last message to the
    /// counter. [`Error::SumNotFound`] means the counter deviated.
    pub fn vartime_decrypt(self) -> Result<Outcome<SumOutput>, Error> {
        let Some(p) = self.0 else {
            return Ok(Outcome::ThresholdNotMet);
        };
        let sum = vartime_dlog(&p.point, p.bound).ok_or(Error::SumNotFound {
            sum_bits: p.sum_bits,
        })?;
        Ok(Outcome::Released(SumOutput {
            count: p.count,
            sum,
        }))
    }
}

/// Responder, direction 2: decrypts the counter's masked sum.
pub struct ExpectMaskedSum {
    secret: SecretKey,
}

impl ExpectMaskedSum {
    /// Decrypts to the point `(S + r)·G` (uniform to us) for the counter.
    pub fn receive(self, message: MaskedSum) -> Result<DecryptedSum, Error> {
        let ct = Ciphertext::from_bytes(&message.ciphertext, 0)?;
        Ok(DecryptedSum {
            point: self.secret.decrypt_point(&ct).compress().to_bytes(),
        })
    }
}
