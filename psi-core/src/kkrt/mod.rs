//! KKRT OT-extension PSI as sans-IO state machines.
//!
//! # The protocol
//! Kolesnikov, Kumaresan, Rosulek and Trieu, "Efficient Batched Oblivious PRF
//! with Applications to Private Set Intersection" (ACM CCS 2016; "KKRT16"):
//! the batched related-key OPRF of **Figure 2** (BaRK-OPRF, an IKNP OT extension
//! whose repetition code is replaced by a `k`-bit pseudorandom code `C`, §4),
//! used for PSI as in §5 / Figure 4 with the receiver's items in a cuckoo table.
//!
//! Roles: the **receiver** (PSI client, holds `X`, learns `X ∩ Y`) is the OPRF
//! receiver and therefore the *base-OT sender*; the **sender** (PSI server, holds
//! `Y`) picks the OPRF key `s ∈ {0,1}^k` and is the *base-OT receiver* with choice
//! bits `s` (the roles are reversed, as in IKNP).
//!
//! ```text
//! receiver (X, learns X ∩ Y)                         sender (Y)
//!  cuckoo-hash X into m bins, 3 hash functions
//!  (fresh seed until every item fits)
//!  a ← Z_ℓ                     ReceiverHello{nonce_r, |X|, seed, A = a·G}  ──▶
//!                          ◀── SenderHello{nonce_s, |Y|, B_i = b_i·G + s_i·A, i < k}
//!  sid = SHA-256(nonce_r ‖ nonce_s ‖ seed); base OTs (Chou–Orlandi) give the
//!  receiver (k_i^0, k_i^1) and the sender k_i^{s_i}.
//!  bin j holds x with index i: r_j = x‖i (empty: the all-zero codeword)
//!  t^i = G(k_i^0), u^i = t^i ⊕ G(k_i^1) ⊕ C(r)^i   MatrixChunk (U, m × k bits) ──▶
//!                                                  q^i = G(k_i^{s_i}) ⊕ s_i·u^i
//!                                                  so q_j = t_j ⊕ (C(r_j) ∧ s)
//!                          ◀── OprfChunk: y in random order, for i = 0, 1, 2:
//!                              H(j, q_j ⊕ (C(y‖i) ∧ s)) with j = h_i(y)
//!  x in bin j (index i) is shared ⇔ H(j, t_j) is among the sender's i-th tags
//! ```
//!
//! - **Code** `C`: pseudorandom, from fixed-key AES keyed by the session
//!   (`prf.rs`); `k` = [`CODE_BITS`] = 512, all four AES blocks the code
//!   computes (KKRT16 Table 2 gives 424–448 bits for λ = 40, which does not
//!   reach `2^-40` for our largest sets: see *Correctness bounds*); distinct
//!   inputs have codewords ≈ 256 bits apart.
//! - **Cuckoo table**: 3 hash functions, no stash, `m` = [`bin_count`]`(|X|)`
//!   bins (`1.27·|X|` for `|X| ≥ 2^12`, PSZ18 §3.2.2; below, the smallest
//!   table for which a union bound gives `2^-40`; see [`bin_count`]). Putting the
//!   hash index `i` into the OPRF input (`x‖i`) keeps an item's three sender
//!   values apart; the sender sends them grouped by `i` and the receiver compares
//!   the `i`-th with its `i`-placed bins only, so the number of comparisons is
//!   `|X|·|Y|` and tags of `λ + log2|X| + log2|Y|` bits (λ = 40, whole bytes, see
//!   [`crate::ecdh::tag_len`]) give a false match with probability `≤ 2^-40`
//!   (see *Correctness bounds*).
//! - **PRG** `G`: AES-128 in counter mode keyed by the base-OT message;
//!   **`H`**: SHA-256 with the session id and bin index (`prf.rs`).
//! - **Base OTs**: Chou–Orlandi on ristretto255 (`base_ot.rs`).
//!
//! # Security and what each party learns
//! Semi-honest security (KKRT16 Theorem 2 and §5), with AES modelled as a
//! PRF/pseudorandom code and SHA-256 as a random oracle, and CDH in ristretto255
//! for the base OTs. The **receiver** learns which of its items are in `Y` and
//! `|Y|`; the sender's values are shuffled per session, so their order carries
//! nothing. The **sender** learns `|X|` (also implied by the table size `m`) and
//! nothing else: `U` is masked by PRG outputs it cannot compute. The cuckoo seed
//! is chosen so the receiver's items fit, which could in principle say something
//! about `X`; a seed is rejected with probability `≤ 2^-40` at every size (see
//! [`bin_count`]) so this is negligible. Items must be distinct; a malicious peer can make the result
//! wrong but every message is checked, so a malformed one is an [`Error`],
//! never a panic.
//!
//! # Correctness bounds
//! The result is exact unless one of these events happens; each is bounded for
//! every set size up to the cap of `2^31` items (`check_size`).
//!
//! - **Code distance** (KKRT16 §4, Table 2). The proof needs every pair of
//!   code inputs the protocol compares to have codewords at least κ = 128 bits
//!   apart: the receiver's `r_j` (or the zero codeword of an empty bin) against
//!   each sender input `y‖i` with `h_i(y) = j`, `3|Y|` pairs in all. For a
//!   random code a pair is closer with probability `P[Bin(k, 1/2) < 128]`:
//!   `2^-102.3` at `k` = 512 (`2^-66.5` at 448), so the union bound is
//!   `3|Y| · 2^-102.3`:
//!
//!   | sender's items | `k` = 448 (before) | `k` = 512 |
//!   | --- | --- | --- |
//!   | `2^20` | `2^-44.9` | `2^-80.7` |
//!   | `2^24` | `2^-40.9` | `2^-76.7` |
//!   | `2^28` (default [`Limits`]) | `2^-36.9` | `2^-72.7` |
//!   | `2^31` (the cap) | `2^-33.9` | `2^-69.7` |
//!
//!   (`code_distance_bounds` in `tests.rs` recomputes this table.) While every
//!   compared pair is ≥ 128 bits apart, the OPRF values of two different inputs
//!   are equal only if `s` is zero on all their differing bits: `≤ 2^-128` per
//!   pair, `≤ 2^-95` over all pairs.
//! - **Tags**: `H` is cut to `len` = [`crate::ecdh::tag_len`] bytes; the
//!   receiver compares `|X|·|Y|` pairs, so a false match anywhere has
//!   probability `≤ |X|·|Y|·2^(-8·len) ≤ 2^-40`.
//! - **Cuckoo hashing**: a seed is rejected only when the items cannot be
//!   placed at all (the insertion falls back to an augmenting-path search), and
//!   a rejected seed is replaced by a fresh one, so it never makes the result
//!   wrong, whichever bound holds; [`bin_count`] says how rarely it happens
//!   (`≤ 2^-40`: a union bound below `2^12` items, PSZ18/PSTY19 above).
//!
//! # Streaming
//! `U` flows in [`MatrixChunk`]s of at most [`MAX_MATRIX_ROWS`] rows; the
//! sender's values in [`OprfChunk`]s of at most [`MAX_OPRF_ITEMS`] items. The
//! sender keeps the rows `q_j` (`m·k` bits, ≈ 81 bytes per receiver item) as
//! state, since every item needs three random rows; the receiver keeps ≈ 32
//! bytes per item for its outputs. No message ever holds a whole set.
//!
//! # Example
//! Both roles in one process (a transport would encode each message with
//! [`Codec`](crate::codec::Codec) and frame it; see [`crate::driver::run_kkrt`]):
//!
//! ```
//! use std::sync::Arc;
//! use psi_core::{kkrt, Item, Limits};
//!
//! let mut rng = rand::rng();
//! let limits = Limits::default();
//! let x: Vec<Item> = ["ann", "bob"].iter().map(|k| Item::from_key(k.as_bytes())).collect();
//! let y: Arc<[Item]> = ["bob", "eve"].iter().map(|k| Item::from_key(k.as_bytes())).collect();
//!
//! let (expect_hello, hello) = kkrt::Receiver::start(&mut rng, x, &limits)?;
//! let (sender_hello, mut expect_matrix) = kkrt::Sender::accept(&mut rng, y, &hello, &limits)?;
//! let mut matrix = expect_hello.receive(sender_hello)?;
//! while let Some(chunk) = matrix.next_chunk() {
//!     expect_matrix.receive(chunk)?;
//! }
//! let mut expect_values = matrix.finish()?;
//! let mut values = expect_matrix.finish()?;
//! while let Some(chunk) = values.next_chunk() {
//!     expect_values.receive(chunk)?;
//! }
//! let output = expect_values.finish()?;
//! assert_eq!(output.matched, vec![1]); // "bob"
//! assert_eq!(output.server_set_size, 2);
//! # Ok::<(), psi_core::Error>(())
//! ```
//!
//! # Secrets
//! The OPRF key `s` (= the base-OT choice bits), the base-OT scalars, their
//! Diffie–Hellman points and seeds, the expanded PRG keys (the `aes` crate's
//! `zeroize` feature), the sender's rows `q_j` and the receiver's OPRF outputs
//! (its tag table) are zeroized on drop. `s` is applied with masks, never
//! branches. The `rng` the roles are given should zeroize too (e.g.
//! [`crate::rng::ZeroizingRng`]): everything secret derives from it.

mod base_ot;
mod bits;
mod cuckoo;
mod prf;
mod receiver;
mod sender;
mod tags;
mod wire;

use aes::cipher::{generic_array::GenericArray, KeyInit};
use aes::Aes128Enc;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use crate::ecdh::ClientOutput;
pub use cuckoo::bin_count;
pub use receiver::{ExpectOprfValues, ExpectSenderHello, Receiver, SendMatrix};
pub use sender::{ExpectMatrix, SendOprfValues, Sender};
pub use wire::{
    MatrixChunk, OprfChunk, ReceiverHello, SenderHello, MAX_MATRIX_ROWS, MAX_OPRF_ITEMS,
};

use crate::{Error, Limits};

/// `k`: the width of the pseudorandom code and the number of base OTs.
pub const CODE_BITS: usize = 512;

/// `k / 64`.
const CODE_WORDS: usize = CODE_BITS / 64;

/// One row of the OT-extension matrices (`k` bits).
type Row = [u64; CODE_WORDS];

/// Fresh cuckoo seeds tried before giving up (for distinct items, each fails with
/// probability `≤ 2^-40`, so running out means the items were not distinct).
pub const MAX_CUCKOO_RETRIES: u32 = 16;

/// Rows per [`MatrixChunk`] this implementation sends by default.
pub const DEFAULT_MATRIX_ROWS: usize = 8192;

/// The sender's OPRF key `s ∈ {0,1}^k`, also its base-OT choice bits.
#[derive(Zeroize, ZeroizeOnDrop)]
struct ChoiceBits([u64; CODE_WORDS]);

impl ChoiceBits {
    fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = ChoiceBits([0; CODE_WORDS]);
        for w in s.0.iter_mut() {
            *w = rng.next_u64();
        }
        s
    }

    #[cfg(test)]
    fn bit(&self, i: usize) -> u64 {
        (self.0[i / 64] >> (i % 64)) & 1
    }

    /// All-ones if bit `i` is set, else zero (no branch on the secret).
    fn mask(&self, i: usize) -> u64 {
        0u64.wrapping_sub((self.0[i / 64] >> (i % 64)) & 1)
    }
}

/// The sender's rows `q_j`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct QRows(Vec<Row>);

impl QRows {
    /// Reserves address space for all `total` rows (at most `2^24` rows, 1 GiB,
    /// up front) when the allocator agrees: pages are only touched as rows
    /// arrive, and no regrowth copies are needed. Beyond that, or if the
    /// reservation is refused, storage grows on demand.
    fn for_rows(total: usize) -> Self {
        let mut rows = Vec::new();
        let _ = rows.try_reserve_exact(total.min(1 << 24));
        QRows(rows)
    }

    /// Appends `rows` zero rows and returns them. The storage grows as rows
    /// arrive (never beyond `total`, so a peer announcing a large set costs
    /// nothing until it sends), and an outgrown buffer is zeroized before it
    /// is freed. The peer drives the size, so a growth the allocator refuses
    /// (after falling back from doubling to exactly what is needed) is
    /// [`Error::AllocationFailed`], not an abort.
    fn extend_zeroed(&mut self, rows: usize, total: usize) -> Result<&mut [Row], Error> {
        let start = self.0.len();
        let refused = |rows: usize| Error::AllocationFailed {
            what: "the KKRT sender's rows q_j",
            bytes: (rows as u64).saturating_mul(std::mem::size_of::<Row>() as u64),
        };
        let need = start.checked_add(rows).ok_or_else(|| refused(usize::MAX))?;
        if need > self.0.capacity() {
            let cap = self
                .0
                .capacity()
                .saturating_mul(2)
                .clamp(need, total.max(need));
            let mut grown = Vec::new();
            if grown.try_reserve_exact(cap).is_err() {
                grown.try_reserve_exact(need).map_err(|_| refused(need))?;
            }
            grown.extend_from_slice(&self.0);
            self.0.zeroize();
            self.0 = grown;
        }
        self.0.resize(need, [0u64; CODE_WORDS]);
        Ok(&mut self.0[start..])
    }
}

fn cipher(seed: &[u8; 16]) -> Aes128Enc {
    Aes128Enc::new(&GenericArray::from(*seed))
}

fn session_id(receiver: &ReceiverHello, sender_nonce: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"psi/kkrt-ot/v1/session-id\0");
    h.update(receiver.nonce);
    h.update(sender_nonce);
    h.update(receiver.cuckoo_seed);
    h.finalize().into()
}

fn check_size(who: &'static str, size: u64, limits: &Limits) -> Result<(), Error> {
    // Bin and item indices are `u32`: 1.27 · 2^31 bins still fit.
    let limit = limits.max_set_size.min(1 << 31);
    if size > limit {
        return Err(Error::SetTooLarge { who, size, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
