//! The sender role of KKRT PSI (the PSI server): the base-OT receiver with
//! the OPRF key as its choice bits, the rows `q_j`, and its items' OPRF
//! values in a random order (see the module doc of [`super`]).

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroize;

use aes::Aes128Enc;

use super::base_ot;
use super::bits::{cols_to_rows, prg_words};
use super::cuckoo::bin_count;
use super::prf::{code_input, BinHasher, Code, OutputHash};
use super::wire::{
    MatrixChunk, OprfChunk, ReceiverHello, SenderHello, MAX_MATRIX_ROWS, MAX_OPRF_ITEMS,
};
use super::{check_size, cipher, session_id, ChoiceBits, QRows, CODE_BITS, CODE_WORDS};
use crate::codec::{DecodeError, Protocol, DEFAULT_CHUNK_ITEMS};
use crate::{Error, Item, Limits};
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
    pub(super) s: ChoiceBits,
    /// `G(k_i^{s_i})` for each column `i`.
    seeds: Vec<Aes128Enc>,
    code: Code,
    hash: OutputHash,
    bin_hasher: BinHasher,
    bins: usize,
    tag_len: u8,
    pub(super) q: QRows,
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
    pub(super) state: ExpectMatrix,
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
