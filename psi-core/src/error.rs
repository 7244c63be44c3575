//! The one error type of `psi-core`.

use crate::codec::{DecodeError, Protocol};

/// Everything that can go wrong inside a protocol state machine.
///
/// Variants separate a malformed message ([`Error::Decode`]), a peer that sent
/// well-formed but wrong data ([`Error::InvalidPoint`], [`Error::UnexpectedCount`],
/// [`Error::ProtocolMismatch`], ...) and misuse of this API by the caller
/// ([`Error::Misuse`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A message from the peer could not be decoded.
    #[error("malformed message from peer: {0}")]
    Decode(#[from] DecodeError),
    /// The peer sent bytes that are not the canonical encoding of a ristretto255 point.
    #[error("peer sent an invalid group element at position {index}")]
    InvalidPoint {
        /// Position of the bad element in the peer's stream (0-based).
        index: u64,
    },
    /// The peer sent more or fewer elements than it announced.
    #[error("peer announced {expected} elements in {stream} but sent {got}")]
    UnexpectedCount {
        /// Which stream was short or long.
        stream: &'static str,
        /// What the peer announced.
        expected: u64,
        /// What actually arrived (so far).
        got: u64,
    },
    /// The peer asked for another protocol than ours.
    #[error("peer runs protocol {theirs}, we run {ours}")]
    ProtocolMismatch {
        /// Our protocol.
        ours: Protocol,
        /// Theirs.
        theirs: Protocol,
    },
    /// The peer's tag length differs from the one both sides must derive.
    #[error("peer sent tags of {got} bytes, expected {expected}")]
    WrongTagLength {
        /// The derived tag length.
        expected: u8,
        /// What arrived.
        got: u8,
    },
    /// A set is larger than the configured limit.
    #[error("{who} set has {size} items, above the limit of {limit}")]
    SetTooLarge {
        /// "our" or "peer's".
        who: &'static str,
        /// The size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The caller used the API out of order (a bug in the caller, not the peer).
    #[error("API misuse: {0}")]
    Misuse(&'static str),
    /// One of our values is above the limit the sum protocol can carry.
    #[error("value {value} of item {index} is above the limit of {limit}")]
    ValueOutOfRange {
        /// Position of the value in our list.
        index: u64,
        /// The value.
        value: u64,
        /// The largest value accepted.
        limit: u64,
    },
    /// Our values could add up to a sum the protocol cannot decrypt: their total
    /// is not below `2^sum_bits`. Refused up front, so a sum never wraps.
    #[error(
        "the total of our values ({total}) is not below 2^{sum_bits}, the agreed bound on sums"
    )]
    SumOutOfRange {
        /// The total of all our values (saturating).
        total: u64,
        /// The agreed bound, in bits.
        sum_bits: u8,
    },
    /// The decrypted sum is not in the agreed range: the peer deviated.
    #[error("the decrypted sum is not below 2^{sum_bits}: the peer deviated from the protocol")]
    SumNotFound {
        /// The bound searched, in bits.
        sum_bits: u8,
    },
    /// The allocator refused room for a buffer whose size the peer drives (it
    /// grows as the peer's data arrives): this process has too little memory
    /// for the session, and the session ends instead of the process.
    #[error("could not allocate {bytes} bytes for {what}")]
    AllocationFailed {
        /// What the buffer holds.
        what: &'static str,
        /// The size asked for (saturating).
        bytes: u64,
    },
    /// The peer's hello disagrees with ours on a parameter both sides must share.
    #[error("peer's {what} is {theirs}, ours is {ours}")]
    ParameterMismatch {
        /// Which parameter.
        what: &'static str,
        /// Our value.
        ours: u64,
        /// Theirs.
        theirs: u64,
    },
    /// The peer's result names a link id that is none of the items we
    /// offered (a KKRT bucket of a linkage: [`crate::linkage::LinkIds`]).
    #[error(
        "peer sent link id number {index} of its result, which names none of the items we offered"
    )]
    UnknownLinkId {
        /// Position of the id in the peer's list (0-based).
        index: u64,
    },
    /// A bucket holds more real items than the padded size of its run: the
    /// partition is far from uniform (probability below 2^-45 per bucket for a
    /// seed neither party chose alone).
    #[error("bucket {bucket} holds {items} items, above its padded size of {bound}")]
    BucketOverflow {
        /// The coarse bucket.
        bucket: u16,
        /// Its real items.
        items: u64,
        /// The padded size.
        bound: u64,
    },
}
