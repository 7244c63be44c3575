//! PSI-cardinality and PSI-sum in external memory: the protocol of
//! [`crate::pjc`] (Ion et al. 2020, §3.1, Figure 2), message for message,
//! with each role's state kept by the caller in files instead of in memory.
//!
//! # Why not buckets
//! A bucketed run (as [`crate::bucket`] does for the intersections) would be
//! one PJC session per bucket, and the counter would learn one count per
//! bucket: more than the total the functionality allows. Here there is one
//! session over the whole sets; only the *storage* of each role is split.
//!
//! # What changes, and why it reveals nothing more
//! The messages, their order, their contents and their distribution are
//! exactly those of the in-memory protocol; every record this module hands
//! to the caller is already known to the party that stores it.
//!
//! - **The counter's items** go up as `a·H(x)` in chunks the caller reads from
//!   its own (deduplicated) spill: [`StreamingCounterMasker::mask`]. The
//!   order of the counter's items is irrelevant to the responder (they are
//!   blinded by `a`).
//! - **The responder's answers** `truncate(b·a·H(x))` must go back in a
//!   uniformly random order. [`StreamingAnswerer::receive`] returns each
//!   chunk's tags; the caller writes each tag to one of `F` files chosen
//!   uniformly at random (with [`StreamingAnswerer::shuffle_rng`]), then
//!   reads each file whole, shuffles it (Fisher–Yates, the same generator)
//!   and sends its tags ([`TagChunker`]), file after file. **This is a uniform
//!   permutation:** for a target order σ of the `n` tags, cut σ into
//!   consecutive blocks of sizes `c_0 … c_{F−1}` (`Σ c_i = n`); the output is
//!   σ exactly when, for some such cut, file `i` receives exactly the tags
//!   of block `i` (probability `F^−n`, each tag's file being uniform and
//!   independent) and its shuffle puts them in σ's order (probability
//!   `1/c_i!`, independently per file). Summing over the cuts,
//!   `P[σ] = F^−n · Σ_c Π_i 1/c_i! = F^−n · F^n / n! = 1/n!` by the
//!   multinomial theorem: every order is equally likely, as for the
//!   in-memory shuffle.
//! - **The responder's own set** `(b·H(y), Enc(t_y))` must also go out in a
//!   uniformly random order, independent of the first: the caller shuffles
//!   its `(y, t_y)` records the same way with
//!   [`StreamingResponderMasker::order_rng`] before masking them in that
//!   order ([`StreamingResponderMasker::mask`]). Masking and encrypting are
//!   applied per item with fresh nonces, so shuffling before or after them
//!   gives the same distribution of messages.
//! - **The counter's tags** (received, in the responder's random order) are
//!   stored in `2^k` files by a fixed `k` bits of the tag
//!   ([`TagRouter::prefix`]); the responder's items, re-masked by the counter
//!   to `truncate(a·b·H(y))` ([`QueryRouter::receive`]), go to the file of the
//!   same prefix with their ciphertext. Equal tags share a prefix, so a match
//!   is found exactly when it would be in memory. The tags are outputs of a
//!   hash on pseudorandom points, so which file holds how many reveals
//!   nothing (and nothing leaves the counter's machine anyway). Then
//!   [`Tally::add_prefix`], prefix by prefix, counts and adds ciphertexts
//!   with the same constant-time code as the in-memory counter (every
//!   ciphertext decoded, selected without a branch and added, match or not),
//!   and [`Tally::finish`] makes the same last message
//!   ([`super::CounterFinish`]). Group addition is commutative, so the
//!   encrypted sum and the count are identical to the in-memory run's, and
//!   with the same randomness so is every byte the counter sends.
//!
//! So each party learns exactly what it learns in [`crate::pjc`] (the table
//! there, per mode). A network attacker sees the same message sizes. What
//! is on disk, only on the machine of the party that wrote it and removed
//! when the run ends: the responder's masked answers `truncate(b·a·H(x))`
//! before the shuffle and its own keys and values (as in its table); the
//! counter's received tags and the responder's re-masked tags with their
//! ciphertexts: all of it data the party holds during the in-memory run.
//!
//! # Resuming
//! A session of 10^8 items runs for hours, so each stream can be resumed
//! after either end lost its connection (or the counter its process): the
//! receiver says how many items of the stream it holds (whole chunks,
//! stored), the sender continues from there. Nothing a party receives on a
//! resumed stream differs from what it received in one run:
//!
//! - The counter keeps the seed its [`StreamingCounter::start`] drew from
//!   and the responder's hello; the same generator gives the same hello,
//!   secret `a` and session seed, so [`StreamingCounterMasker::skip`] and
//!   masking the items after them send `a·H(x)` for the *same* items
//!   (its items come from its spill in a fixed order) under the *same* `a`:
//!   the responder receives again a prefix of the messages it already
//!   has. A changed input under the same `a` would send `a·H(x')` for new
//!   items, which one run never does: the caller refuses to resume a
//!   session over another input (it keeps the input's digest).
//! - The responder keeps its session (keys, generator and files) while it
//!   waits; its answers to chunks it already processed are kept, and the
//!   counter resumes after them, so no answer is scattered twice. Across a
//!   restart of the responder's process, [`StreamingResponder::accept`] is
//!   deterministic given the generator it is handed: the caller keeps the
//!   seed of that generator and the counter's hello, and gets the same
//!   hello, `b`, keys and session seed back; a stored upload's tags are
//!   counted with [`StreamingAnswerer::resume_at`], an unfinished one is
//!   sent again from the start (the same chunks under the same `a`, answered
//!   under the same `b`, scattered by the same generator).
//! - The responder's two downloads are deterministic given the position:
//!   the external shuffle's files are kept and re-read with a copy of the
//!   generator at the start of the reading, so the same order comes back;
//!   the set stream is [`StreamingResponderMasker::rewind`]ed and the
//!   chunks before the resume point counted with
//!   [`StreamingResponderMasker::skip`], so the chunk after them is masked
//!   under the same `b` with the same ElGamal nonces (drawn from the chunk's
//!   position): byte for byte the chunk of one run. The counter stores
//!   from the resume point on ([`TagRouter::skip`], [`QueryRouter::skip`]).
//!
//! So a resumed run reveals exactly what one run reveals, to each party and
//! to a network attacker (who sees some chunks twice: the same ciphertexts,
//! and the fact and point of the interruption).
//!
//! # Timing
//! The counter now reads the responder's set stream without any per-match
//! work (it only re-masks and routes), and does the counting after the
//! stream ends, in time that does not depend on the count: the responder
//! observes even less than in memory.
//!
//! # Memory
//! Each state here is a few counters and the session's keys; the caller
//! holds one chunk in flight and one file (`n / F` records) at a time.

mod counter;
mod responder;

pub use counter::*;
pub use responder::*;

use super::*;

/// Items aimed at per scratch file: one file is loaded at a time.
pub const ITEMS_PER_FILE: u64 = 1 << 20;

/// Most scratch files per set (file handles and their buffers).
pub const MAX_FILES: usize = 1024;

/// Bytes of a tag record on disk (a `u128`, little-endian).
pub const TAG_RECORD_LEN: usize = 16;

/// How many scratch files a set of `n` records is split into: a power of
/// two (so a tag prefix picks one), about [`ITEMS_PER_FILE`] records each,
/// at most [`MAX_FILES`].
pub fn files_for(n: u64) -> usize {
    let want = n.div_ceil(ITEMS_PER_FILE).max(1);
    usize::try_from(want.next_power_of_two())
        .unwrap_or(MAX_FILES)
        .min(MAX_FILES)
}

/// The stream of the session's generator that orders the responder's set.
const STREAM_ORDER: u64 = u64::MAX;

/// One of the responder's items as the counter stores it until its prefix
/// is counted: the re-masked tag `truncate(a·b·H(y))`, its position in the
/// responder's stream (for errors) and, in the sums, `Enc(t_y)` as received
/// (not yet decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// `truncate(a·b·H(y))`.
    pub tag: u128,
    /// Position in the responder's set stream.
    pub index: u64,
    /// The ciphertext bytes (all zero in cardinality).
    pub ciphertext: [u8; CIPHERTEXT_LEN],
}

impl Query {
    /// Bytes of a record: tag and index, plus the ciphertext in the sums.
    pub fn record_len(sum: bool) -> usize {
        if sum {
            24 + CIPHERTEXT_LEN
        } else {
            24
        }
    }

    /// Appends the record (`record_len(sum)` bytes).
    pub fn write(&self, sum: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tag.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        if sum {
            out.extend_from_slice(&self.ciphertext);
        }
    }

    /// Reads a record of `record_len(sum)` bytes; `None` for another length.
    pub fn read(record: &[u8], sum: bool) -> Option<Query> {
        if record.len() != Self::record_len(sum) {
            return None;
        }
        let tag = u128::from_le_bytes(record[..16].try_into().ok()?);
        let index = u64::from_le_bytes(record[16..24].try_into().ok()?);
        let mut ciphertext = [0u8; CIPHERTEXT_LEN];
        if sum {
            ciphertext.copy_from_slice(&record[24..]);
        }
        Some(Query {
            tag,
            index,
            ciphertext,
        })
    }
}

/// Reads tag records ([`TAG_RECORD_LEN`] bytes each); `None` if the length
/// is not a multiple.
pub fn read_tags(bytes: &[u8]) -> Option<Vec<u128>> {
    if !bytes.len().is_multiple_of(TAG_RECORD_LEN) {
        return None;
    }
    bytes
        .chunks_exact(TAG_RECORD_LEN)
        .map(|c| c.try_into().ok().map(u128::from_le_bytes))
        .collect()
}

/// Bytes of one of the responder's own records on disk: the item, then its
/// value (little-endian `u64`; 0 in cardinality).
pub const SET_RECORD_LEN: usize = 40;

/// Appends `(item, value)` as a [`SET_RECORD_LEN`]-byte record.
pub fn write_set_record(item: &Item, value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(item.as_bytes());
    out.extend_from_slice(&value.to_le_bytes());
}

/// Reads `(item, value)` records; `None` if the length is not a multiple.
pub fn read_set_records(bytes: &[u8]) -> Option<(Vec<Item>, Vec<u64>)> {
    if !bytes.len().is_multiple_of(SET_RECORD_LEN) {
        return None;
    }
    let mut items = Vec::with_capacity(bytes.len() / SET_RECORD_LEN);
    let mut values = Vec::with_capacity(bytes.len() / SET_RECORD_LEN);
    for r in bytes.chunks_exact(SET_RECORD_LEN) {
        items.push(Item::from_digest(r[..32].try_into().ok()?));
        values.push(u64::from_le_bytes(r[32..].try_into().ok()?));
    }
    Some((items, values))
}

#[cfg(test)]
mod tests;
