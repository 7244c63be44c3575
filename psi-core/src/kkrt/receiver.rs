//! The receiver role of KKRT PSI (the PSI client): the cuckoo table, the
//! base-OT sender, the matrix `U`, and the comparison of the sender's OPRF
//! values with its own (see the module doc of [`super`]).

use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::{Zeroize, Zeroizing};

use aes::Aes128Enc;

use super::base_ot::OtSenderSecret;
use super::bits::{cols_to_rows, prg_words, rows_to_cols};
use super::cuckoo::{bin_count, CuckooTable};
use super::prf::{code_input, BinHasher, Code, OutputHash};
use super::tags::TagTable;
use super::wire::{MatrixChunk, OprfChunk, ReceiverHello, SenderHello, MAX_MATRIX_ROWS};
use super::{
    check_size, cipher, session_id, ClientOutput, CODE_BITS, CODE_WORDS, DEFAULT_MATRIX_ROWS,
    MAX_CUCKOO_RETRIES,
};
use crate::codec::{DecodeError, Protocol};
use crate::{Error, Item, Limits};
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
    pub(super) items: Vec<Item>,
    pub(super) table: CuckooTable,
    /// `(G(k_i^0), G(k_i^1))` for each column `i`.
    pub(super) seeds: Vec<(Aes128Enc, Aes128Enc)>,
    pub(super) code: Code,
    pub(super) hash: OutputHash,
    pub(super) tag_len: u8,
    next_row: usize,
    chunk_rows: usize,
    /// Our OPRF outputs `H(j, t_j)`.
    pub(super) outputs: TagTable,
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
