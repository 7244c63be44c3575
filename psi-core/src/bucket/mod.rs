//! Hash bucketing: a run too large for memory becomes many small, independent
//! sessions of an intersection protocol, one per bucket, run one after the
//! other (or spread over machines).
//!
//! Both parties put each item in one of [`FINE_BUCKETS`] fine buckets by a keyed
//! pseudorandom function (AES-128 under a per-run [`PartitionSeed`] to which both
//! contribute: [`seed`] of the client's nonce and the server's answer), then group
//! consecutive fine buckets into [`bucket_count`] coarse buckets, a power of two
//! chosen from both set sizes. Two equal items land in the same bucket on both
//! sides, so the union of the per-bucket intersections is the intersection.
//!
//! What the bucket sizes reveal: nothing beyond the set sizes. Every bucket a
//! party feeds to the protocol is padded with random dummy items to
//! [`padded_size`], a public function of that party's set size and the bucket
//! count (mean plus eight standard deviations of a binomial bucket); a bucket that
//! would overflow it (probability far below 2^-40 for a seed neither party could
//! choose alone) is an error, [`crate::Error::BucketOverflow`], not a larger
//! session. Dummy items are 32 fresh random bytes: they match a real item (a
//! SHA-256 digest) or the peer's dummies with probability 2^-256 per pair.
//!
//! Bucketing suits the protocols whose output already names the matched items
//! (ECDH-PSI and KKRT): the per-bucket intersections a client sees are subsets
//! of the intersection it learns anyway. It does not suit PSI-cardinality and
//! PSI-sum, whose client must learn only totals: per-bucket counts would be
//! more (see the README's "Bounded memory").
//!
//! The server's nonce is a pseudorandom function of a key the server keeps and
//! the client's nonce ([`server_nonce`]), so a client that resumes a run with the
//! same nonce gets the same partition, even from a restarted server that kept its
//! key, while neither party alone picks the seed.

pub mod wire;

use std::ops::Range;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::{Error, Item};

/// Fine buckets per run: every coarse bucket is a run of consecutive fine ones.
pub const FINE_BUCKETS: u16 = 256;
/// Items per bucket that [`bucket_count`] aims at unless told otherwise
/// (SecretFlow's default, 2^20).
pub const DEFAULT_BUCKET_ITEMS: u64 = 1 << 20;

/// The per-run key of the partition function; both parties know it.
#[derive(Clone, PartialEq, Eq)]
pub struct PartitionSeed([u8; 32]);

impl PartitionSeed {
    /// The seed's bytes (written to a run's state, to check a resume).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A seed from stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PartitionSeed(bytes)
    }
}

impl std::fmt::Debug for PartitionSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartitionSeed({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// A fresh client nonce.
pub fn client_nonce<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    nonce
}

/// The server's nonce for a client's: SHA-256 over a domain tag, the server's
/// key and the client's nonce (fixed lengths, so a PRF of the key).
pub fn server_nonce(server_key: &[u8; 32], client_nonce: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"psi/bucket/server-nonce/v1\0");
    h.update(server_key);
    h.update(client_nonce);
    h.finalize().into()
}

/// The run's seed from both nonces.
pub fn seed(client_nonce: &[u8; 32], server_nonce: &[u8; 32]) -> PartitionSeed {
    let mut h = Sha256::new();
    h.update(b"psi/bucket/seed/v1\0");
    h.update(client_nonce);
    h.update(server_nonce);
    PartitionSeed(h.finalize().into())
}

/// The partition function of one run.
pub struct Partition {
    aes: Aes128Enc,
}

impl Partition {
    /// The partition under `seed`.
    pub fn new(seed: &PartitionSeed) -> Self {
        let mut key = [0u8; 16];
        key.copy_from_slice(&seed.0[..16]);
        Partition {
            aes: Aes128Enc::new(&GenericArray::from(key)),
        }
    }

    /// The fine bucket of `item`, below [`FINE_BUCKETS`]: ten bits of AES
    /// under the seed of the item's first half (items are digests, so their
    /// halves are as distinct as they are).
    pub fn fine(&self, item: &Item) -> u16 {
        let mut block = GenericArray::clone_from_slice(&item.as_bytes()[..16]);
        self.aes.encrypt_block(&mut block);
        u16::from_le_bytes([block[0], block[1]]) % FINE_BUCKETS
    }
}

/// The number of coarse buckets for sets of `a` and `b` items: the least power
/// of two that keeps the larger set at or below `target` items per bucket, at
/// most [`FINE_BUCKETS`] (beyond that, buckets grow).
pub fn bucket_count(a: u64, b: u64, target: u64) -> u16 {
    let largest = a.max(b);
    let target = target.max(1);
    let mut count: u16 = 1;
    while count < FINE_BUCKETS && largest.div_ceil(u64::from(count)) > target {
        count *= 2;
    }
    count
}

/// Whether `count` is a valid coarse bucket count.
pub fn valid_count(count: u16) -> bool {
    count.is_power_of_two() && count <= FINE_BUCKETS
}

/// The fine buckets that make coarse bucket `bucket` of `count`.
pub fn fine_range(bucket: u16, count: u16) -> Range<u16> {
    let width = FINE_BUCKETS / count.max(1);
    bucket * width..(bucket + 1) * width
}

/// The size every bucket of a set of `n` items is padded to when it is split
/// into `count` buckets: `n` itself for one bucket; else, with `m` the mean
/// rounded up, `m + 8·(⌊√m⌋ + 1) + 8`. A bucket's size is binomial with mean
/// `n / count` and standard deviation below `√m`, so it exceeds this bound with
/// probability below 2^-45 (a Chernoff bound; Gaussian tail at eight standard
/// deviations is about 6·10^-16).
pub fn padded_size(n: u64, count: u16) -> u64 {
    if count <= 1 {
        return n;
    }
    let m = n.div_ceil(u64::from(count));
    m + 8 * (m.isqrt() + 1) + 8
}

/// Pads bucket `bucket`'s `items` to `size` with random dummy items. More
/// real items than `size` is [`Error::BucketOverflow`].
pub fn pad<R: RngCore + CryptoRng>(
    items: &mut Vec<Item>,
    size: u64,
    bucket: u16,
    rng: &mut R,
) -> Result<(), Error> {
    let real = items.len() as u64;
    if real > size {
        return Err(Error::BucketOverflow {
            bucket,
            items: real,
            bound: size,
        });
    }
    let failed = || Error::AllocationFailed {
        what: "a padded bucket",
        bytes: size.saturating_mul(32),
    };
    let missing = usize::try_from(size - real).map_err(|_| failed())?;
    items.try_reserve_exact(missing).map_err(|_| failed())?;
    for _ in 0..missing {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        items.push(Item::from_digest(bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
