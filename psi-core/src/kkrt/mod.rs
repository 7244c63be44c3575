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
mod tags;
mod wire;

use std::sync::Arc;

use aes::cipher::{generic_array::GenericArray, KeyInit};
use aes::Aes128Enc;
use rand::seq::SliceRandom;
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use crate::ecdh::ClientOutput;
pub use cuckoo::bin_count;
pub use wire::{
    MatrixChunk, OprfChunk, ReceiverHello, SenderHello, MAX_MATRIX_ROWS, MAX_OPRF_ITEMS,
};

use crate::codec::{DecodeError, Protocol, DEFAULT_CHUNK_ITEMS};
use crate::{Error, Item, Limits};
use base_ot::OtSenderSecret;
use bits::{cols_to_rows, prg_words, rows_to_cols};
use cuckoo::CuckooTable;
use prf::{code_input, BinHasher, Code, OutputHash};
use tags::TagTable;

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

// ---------------------------------------------------------------- receiver

/// The receiver role (PSI client): holds `X`, learns `X ∩ Y` and `|Y|`.
pub struct Receiver;

impl Receiver {
    /// Starts a session over `items` (distinct): cuckoo-hashes them (retrying
    /// with fresh seeds) and draws the base-OT secret. Returns the first state
    /// and the [`ReceiverHello`] to send.
    ///
    /// Cuckoo insertion is variable-time in the items' (seeded, pseudorandom)
    /// bin positions; a timing observer learns about the layout what the number
    /// of evictions says, and nothing about which items are shared.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        limits: &Limits,
    ) -> Result<(ExpectSenderHello, ReceiverHello), Error> {
        check_size("our", items.len() as u64, limits)?;
        let bins = bin_count(items.len() as u64);
        let mut retries = 0;
        let (table, cuckoo_seed) = loop {
            let mut seed = [0u8; 16];
            rng.fill_bytes(&mut seed);
            let hasher = BinHasher::new(&seed, bins);
            let positions: Vec<[u32; 3]> = items
                .par_chunks(1024)
                .flat_map_iter(|c| hasher.bins_of(c.iter()))
                .collect();
            if let Some(t) = CuckooTable::vartime_build(&positions, bins as usize, rng.next_u64()) {
                break (t, seed);
            }
            retries += 1;
            if retries == MAX_CUCKOO_RETRIES {
                return Err(Error::Misuse(
                    "cuckoo hashing failed with every fresh seed: are the items distinct?",
                ));
            }
        };
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let (ot, ot_point) = OtSenderSecret::new(rng);
        let hello = ReceiverHello {
            protocol: Protocol::Kkrt,
            nonce,
            set_size: items.len() as u64,
            cuckoo_seed,
            ot_point,
        };
        Ok((
            ExpectSenderHello {
                hello: hello.clone(),
                items,
                table,
                ot,
                cuckoo_retries: retries,
                limits: limits.clone(),
            },
            hello,
        ))
    }
}

/// Receiver, waiting for the [`SenderHello`].
pub struct ExpectSenderHello {
    hello: ReceiverHello,
    items: Vec<Item>,
    table: CuckooTable,
    ot: OtSenderSecret,
    cuckoo_retries: u32,
    limits: Limits,
}

impl ExpectSenderHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &ReceiverHello {
        &self.hello
    }

    /// How many cuckoo seeds were rejected before one fit (for reports).
    pub fn cuckoo_retries(&self) -> u32 {
        self.cuckoo_retries
    }

    /// Takes the sender's hello, finishes the base OTs and is ready to stream `U`.
    pub fn receive(self, sender: SenderHello) -> Result<SendMatrix, Error> {
        if sender.protocol != Protocol::Kkrt {
            return Err(Error::ProtocolMismatch {
                ours: Protocol::Kkrt,
                theirs: sender.protocol,
            });
        }
        check_size("peer's", sender.set_size, &self.limits)?;
        if sender.ot_points.len() != CODE_BITS {
            return Err(Error::Decode(DecodeError::InvalidField {
                field: "base-OT point count",
                value: sender.ot_points.len() as u64,
            }));
        }
        let sid = session_id(&self.hello, &sender.nonce);
        let pairs = Zeroizing::new(self.ot.messages(&sid, &sender.ot_points)?);
        let seeds = pairs
            .iter()
            .map(|(k0, k1)| (cipher(k0), cipher(k1)))
            .collect();
        let tag_len = crate::ecdh::tag_len(self.hello.set_size, sender.set_size);
        let n = self.items.len();
        Ok(SendMatrix {
            items: self.items,
            table: self.table,
            seeds,
            code: Code::new(&sid),
            hash: OutputHash::new(&sid),
            tag_len,
            next_row: 0,
            chunk_rows: DEFAULT_MATRIX_ROWS,
            outputs: TagTable::with_items(n),
            sender_set_size: sender.set_size,
        })
    }
}

/// Receiver, streaming the OT-extension matrix `U` to the sender.
pub struct SendMatrix {
    items: Vec<Item>,
    table: CuckooTable,
    /// `(G(k_i^0), G(k_i^1))` for each column `i`.
    seeds: Vec<(Aes128Enc, Aes128Enc)>,
    code: Code,
    hash: OutputHash,
    tag_len: u8,
    next_row: usize,
    chunk_rows: usize,
    /// Our OPRF outputs `H(j, t_j)`.
    outputs: TagTable,
    sender_set_size: u64,
}

impl SendMatrix {
    /// Sets the rows per chunk (rounded down to a multiple of 128 and clamped to
    /// `128 ..= MAX_MATRIX_ROWS`).
    pub fn set_chunk_rows(&mut self, rows: usize) {
        self.chunk_rows = (rows / 128 * 128).clamp(128, MAX_MATRIX_ROWS as usize);
    }

    /// Number of rows `m` (bins) of the whole matrix.
    pub fn total_rows(&self) -> usize {
        self.table.len()
    }

    /// The next chunk of `U`, or `None` when every row was sent.
    pub fn next_chunk(&mut self) -> Option<MatrixChunk> {
        let bins = self.table.len();
        if self.next_row >= bins {
            return None;
        }
        let start = self.next_row;
        let rows = self.chunk_rows.min(bins - start);
        self.next_row += rows;
        let tiles = rows / 64;
        let (items, table, code) = (&self.items, &self.table, &self.code);

        // Rows of D: C(x‖i) for the item x in bin j, zero for an empty bin.
        let mut d = vec![[0u64; CODE_WORDS]; rows];
        d.par_chunks_mut(256).enumerate().for_each(|(ci, out)| {
            let base = start + ci * 256;
            let mut inputs = Vec::with_capacity(out.len());
            let mut at = Vec::with_capacity(out.len());
            for r in 0..out.len() {
                if let Some((item, h)) = table.slot(base + r) {
                    inputs.push(code_input(&items[item as usize], h));
                    at.push(r);
                }
            }
            let mut codes = vec![[0u64; CODE_WORDS]; inputs.len()];
            code.encode_many(&inputs, &mut codes);
            for (r, c) in at.into_iter().zip(codes) {
                out[r] = c;
            }
        });
        let mut d_cols = vec![0u64; CODE_BITS * tiles];
        rows_to_cols(&d, &mut d_cols);
        d.zeroize();

        // Columns: t^i = G(k_i^0), u^i = t^i ⊕ G(k_i^1) ⊕ d^i.
        let first_block = (start / 128) as u64;
        let mut t_cols = vec![0u64; CODE_BITS * tiles];
        let mut columns = vec![0u8; CODE_BITS * tiles * 8];
        t_cols
            .par_chunks_mut(tiles)
            .zip(columns.par_chunks_mut(tiles * 8))
            .zip(d_cols.par_chunks(tiles))
            .zip(self.seeds.par_iter())
            .for_each(|(((t, u_bytes), d), (k0, k1))| {
                prg_words(k0, first_block, t);
                let mut g1 = vec![0u64; tiles];
                prg_words(k1, first_block, &mut g1);
                for (((out, t), g), d) in u_bytes.chunks_exact_mut(8).zip(t.iter()).zip(&g1).zip(d)
                {
                    out.copy_from_slice(&(t ^ g ^ d).to_le_bytes());
                }
                g1.zeroize();
            });

        // Our outputs H(j, t_j) for occupied bins.
        let mut t_rows = vec![[0u64; CODE_WORDS]; rows];
        cols_to_rows(&t_cols, &mut t_rows);
        let (hash, tag_len) = (&self.hash, usize::from(self.tag_len));
        let tags: Vec<(u8, u128, u32)> = t_rows
            .par_iter()
            .enumerate()
            .filter_map(|(r, t)| {
                let bin = start + r;
                table
                    .slot(bin)
                    .map(|(item, h)| (h, hash.tag(bin as u64, t, tag_len), item))
            })
            .collect();
        t_rows.zeroize();
        t_cols.zeroize();
        d_cols.zeroize();
        let mut tags = tags;
        for &(h, tag, item) in &tags {
            self.outputs.vartime_insert(tag, h, item);
        }
        tags.zeroize();
        Some(MatrixChunk {
            rows: rows as u32,
            columns,
        })
    }

    /// Ends the matrix stream (every chunk must have been taken) and waits for
    /// the sender's OPRF values.
    pub fn finish(self) -> Result<ExpectOprfValues, Error> {
        if self.next_row < self.table.len() {
            return Err(Error::Misuse(
                "finish called before every matrix chunk was sent",
            ));
        }
        Ok(ExpectOprfValues {
            outputs: self.outputs,
            tag_len: self.tag_len,
            expected: self.sender_set_size,
            seen: 0,
            matched: Vec::new(),
        })
    }
}

/// Receiver, waiting for the sender's OPRF values.
pub struct ExpectOprfValues {
    outputs: TagTable,
    tag_len: u8,
    expected: u64,
    seen: u64,
    matched: Vec<usize>,
}

impl ExpectOprfValues {
    /// Takes one chunk of the sender's values and looks each up among ours
    /// (variable-time hash-table lookups on public, pseudorandom tags).
    pub fn receive(&mut self, chunk: OprfChunk) -> Result<(), Error> {
        if chunk.tag_len != self.tag_len {
            return Err(Error::WrongTagLength {
                expected: self.tag_len,
                got: chunk.tag_len,
            });
        }
        let got = self.seen + chunk.items() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "KKRT OPRF values",
                expected: self.expected,
                got,
            });
        }
        self.seen = got;
        let len = usize::from(self.tag_len);
        let outputs = &self.outputs;
        let found: Vec<usize> = chunk
            .tags
            .par_chunks(3 * len * 512)
            .flat_map_iter(|part| {
                let mut found = Vec::new();
                outputs.vartime_match(part, len, &mut found);
                found
            })
            .collect();
        self.matched.extend(found);
        Ok(())
    }

    /// Ends the stream (every announced item must have arrived): the result.
    pub fn finish(self) -> Result<ClientOutput, Error> {
        if self.seen != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "KKRT OPRF values",
                expected: self.expected,
                got: self.seen,
            });
        }
        let mut matched = self.matched;
        matched.sort_unstable();
        matched.dedup();
        Ok(ClientOutput {
            matched,
            server_set_size: self.expected,
        })
    }
}

// ---------------------------------------------------------------- sender

/// The sender role (PSI server): holds `Y`, learns `|X|`.
pub struct Sender;

impl Sender {
    /// Answers a [`ReceiverHello`]: draws the OPRF key `s`, runs its half of the
    /// base OTs and shuffles its items afresh. `items` (distinct) may be shared
    /// between sessions.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        receiver: &ReceiverHello,
        limits: &Limits,
    ) -> Result<(SenderHello, ExpectMatrix), Error> {
        if receiver.protocol != Protocol::Kkrt {
            return Err(Error::ProtocolMismatch {
                ours: Protocol::Kkrt,
                theirs: receiver.protocol,
            });
        }
        check_size("peer's", receiver.set_size, limits)?;
        check_size("our", items.len() as u64, limits)?;
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let sid = session_id(receiver, &nonce);
        let s = ChoiceBits::random(rng);
        let (ot_points, chosen) = base_ot::receive(rng, &sid, &receiver.ot_point, &s)?;
        let bins = bin_count(receiver.set_size);
        let tag_len = crate::ecdh::tag_len(receiver.set_size, items.len() as u64);
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        order.shuffle(rng);
        let hello = SenderHello {
            protocol: Protocol::Kkrt,
            nonce,
            set_size: items.len() as u64,
            ot_points,
        };
        Ok((
            hello,
            ExpectMatrix {
                items,
                order,
                s,
                seeds: chosen.iter().map(cipher).collect(),
                code: Code::new(&sid),
                hash: OutputHash::new(&sid),
                bin_hasher: BinHasher::new(&receiver.cuckoo_seed, bins),
                bins: bins as usize,
                tag_len,
                q: QRows::for_rows(bins as usize),
            },
        ))
    }
}

/// Sender, waiting for the receiver's matrix `U`.
pub struct ExpectMatrix {
    items: Arc<[Item]>,
    order: Vec<u32>,
    s: ChoiceBits,
    /// `G(k_i^{s_i})` for each column `i`.
    seeds: Vec<Aes128Enc>,
    code: Code,
    hash: OutputHash,
    bin_hasher: BinHasher,
    bins: usize,
    tag_len: u8,
    q: QRows,
}

impl ExpectMatrix {
    /// Takes one chunk of `U`: `q^i = G(k_i^{s_i}) ⊕ (s_i · u^i)`, kept as rows.
    pub fn receive(&mut self, chunk: MatrixChunk) -> Result<(), Error> {
        // The codec guarantees this for decoded chunks; a chunk built in memory
        // is checked too, since the block layout depends on it.
        if chunk.rows == 0 || !chunk.rows.is_multiple_of(128) || chunk.rows > MAX_MATRIX_ROWS {
            return Err(Error::Decode(DecodeError::InvalidField {
                field: "matrix rows in chunk",
                value: chunk.rows.into(),
            }));
        }
        let rows = chunk.rows as usize;
        let start = self.q.0.len();
        let tiles = rows / 64;
        if start + rows > self.bins || chunk.columns.len() != CODE_BITS * tiles * 8 {
            return Err(Error::UnexpectedCount {
                stream: "KKRT matrix rows",
                expected: self.bins as u64,
                got: (start + rows) as u64,
            });
        }
        // Room for the rows first: if the allocator refuses it, nothing
        // secret has been computed yet.
        let out = self.q.extend_zeroed(rows, self.bins)?;
        let first_block = (start / 128) as u64;
        let mut q_cols = vec![0u64; CODE_BITS * tiles];
        let s = &self.s;
        q_cols
            .par_chunks_mut(tiles)
            .zip(chunk.columns.par_chunks(tiles * 8))
            .zip(self.seeds.par_iter())
            .enumerate()
            .for_each(|(i, ((q, u), seed))| {
                prg_words(seed, first_block, q);
                let mask = s.mask(i);
                for (w, u) in q.iter_mut().zip(u.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(u);
                    *w ^= mask & u64::from_le_bytes(b);
                }
            });
        cols_to_rows(&q_cols, out);
        q_cols.zeroize();
        Ok(())
    }

    /// Rows received so far.
    pub fn rows_received(&self) -> usize {
        self.q.0.len()
    }

    /// Ends the matrix stream: every row must have arrived.
    pub fn finish(self) -> Result<SendOprfValues, Error> {
        if self.q.0.len() != self.bins {
            return Err(Error::UnexpectedCount {
                stream: "KKRT matrix rows",
                expected: self.bins as u64,
                got: self.q.0.len() as u64,
            });
        }
        Ok(SendOprfValues {
            state: self,
            next: 0,
            chunk: DEFAULT_CHUNK_ITEMS,
        })
    }
}

/// Sender, streaming its OPRF values in a fresh random order.
pub struct SendOprfValues {
    state: ExpectMatrix,
    next: usize,
    chunk: usize,
}

impl SendOprfValues {
    /// Sets the items per chunk (clamped to `1 ..= MAX_OPRF_ITEMS`).
    pub fn set_chunk_items(&mut self, items: usize) {
        self.chunk = items.clamp(1, MAX_OPRF_ITEMS as usize);
    }

    /// The next chunk, or `None` when every item was sent.
    pub fn next_chunk(&mut self) -> Option<OprfChunk> {
        let st = &self.state;
        if self.next >= st.order.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(st.order.len());
        let slice = &st.order[self.next..end];
        self.next = end;
        let len = usize::from(st.tag_len);
        let tags: Vec<u8> = slice
            .par_chunks(256)
            .flat_map_iter(|batch| {
                let items = batch.iter().map(|&i| &st.items[i as usize]);
                let positions = st.bin_hasher.bins_of(items);
                let inputs: Vec<u128> = batch
                    .iter()
                    .flat_map(|&i| (0..3).map(move |h| code_input(&st.items[i as usize], h)))
                    .collect();
                let mut codes = vec![[0u64; CODE_WORDS]; inputs.len()];
                st.code.encode_many(&inputs, &mut codes);
                // Gather all rows first (independent loads, so the cache misses
                // overlap), then hash.
                let mut values = vec![[0u64; CODE_WORDS]; codes.len()];
                for ((v, &j), c) in values
                    .iter_mut()
                    .zip(positions.iter().flatten())
                    .zip(&codes)
                {
                    let q = &st.q.0[j as usize];
                    for w in 0..CODE_WORDS {
                        v[w] = q[w] ^ (c[w] & st.s.0[w]);
                    }
                }
                let mut out = Vec::with_capacity(batch.len() * 3 * len);
                for (v, &j) in values.iter().zip(positions.iter().flatten()) {
                    let tag = st.hash.tag(u64::from(j), v, len);
                    out.extend_from_slice(&tag.to_le_bytes()[..len]);
                }
                values.zeroize();
                out
            })
            .collect();
        Some(OprfChunk {
            tag_len: st.tag_len,
            tags,
        })
    }
}

#[cfg(test)]
mod tests;
