//! Bit matrices: 64×64 tile transposition and the AES-CTR pseudorandom generator
//! that expands one base-OT seed into one column of the OT-extension matrix.
//!
//! Layouts (all little-endian, bit `b` of word `w` is bit `64·w + b`):
//! - a **row** ([`Row`]) holds the `k` = [`CODE_BITS`] bits of one bin;
//! - a **column block** of `R` rows (`R` a multiple of 128) is `k` columns of
//!   `R / 64` words each, column `i` at words `i·R/64 .. (i+1)·R/64`.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt};
use aes::Aes128Enc;
use rayon::prelude::*;

use super::{Row, CODE_BITS, CODE_WORDS};

/// Transposes a 64×64 bit matrix in place: bit `c` of word `r` moves to bit `r`
/// of word `c`. Six rounds of block swaps (each round swaps the off-diagonal
/// quadrants of every `2w × 2w` block, `w` = 32, 16, .., 1), branch-free.
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    let mut width = 32usize;
    let mut mask: u64 = 0x0000_0000_FFFF_FFFF;
    while width != 0 {
        let mut k = 0usize;
        while k < 64 {
            let t = ((a[k] >> width) ^ a[k + width]) & mask;
            a[k] ^= t << width;
            a[k + width] ^= t;
            k = (k + width + 1) & !width;
        }
        width >>= 1;
        mask ^= mask << width;
    }
}

/// Rows to column block. `rows.len()` must be a multiple of 64 and
/// `cols.len() == CODE_BITS * rows.len() / 64`.
pub(crate) fn rows_to_cols(rows: &[Row], cols: &mut [u64]) {
    let tiles = rows.len() / 64;
    debug_assert_eq!(rows.len() % 64, 0);
    debug_assert_eq!(cols.len(), CODE_BITS * tiles);
    // One task per 64-column word: its 64 columns are contiguous in `cols`.
    cols.par_chunks_mut(64 * tiles)
        .enumerate()
        .for_each(|(w, out)| {
            let mut tile = [0u64; 64];
            for rt in 0..tiles {
                for (r, t) in tile.iter_mut().enumerate() {
                    *t = rows[rt * 64 + r][w];
                }
                transpose64(&mut tile);
                for (c, t) in tile.iter().enumerate() {
                    out[c * tiles + rt] = *t;
                }
            }
        });
}

/// Column block to rows: the inverse of [`rows_to_cols`].
pub(crate) fn cols_to_rows(cols: &[u64], rows: &mut [Row]) {
    let tiles = rows.len() / 64;
    debug_assert_eq!(rows.len() % 64, 0);
    debug_assert_eq!(cols.len(), CODE_BITS * tiles);
    rows.par_chunks_mut(64).enumerate().for_each(|(rt, out)| {
        let mut tile = [0u64; 64];
        for w in 0..CODE_WORDS {
            for (c, t) in tile.iter_mut().enumerate() {
                *t = cols[(w * 64 + c) * tiles + rt];
            }
            transpose64(&mut tile);
            for (r, t) in tile.iter().enumerate() {
                out[r][w] = *t;
            }
        }
    });
}

/// AES blocks encrypted per call to the cipher (lets AES-NI pipeline).
const PRG_BATCH: usize = 32;

/// The PRG `G(seed)` of IKNP/KKRT in counter mode: fills `out` (an even number of
/// words) with `AES_seed(first_block), AES_seed(first_block + 1), ...`, each block
/// as two little-endian words. A column's bits for rows `j0 .. j0 + R` are blocks
/// `j0/128 .. (j0+R)/128`, so chunks of a column can be made in any order.
pub(crate) fn prg_words(cipher: &Aes128Enc, first_block: u64, out: &mut [u64]) {
    debug_assert_eq!(out.len() % 2, 0);
    let mut buf = [GenericArray::from([0u8; 16]); PRG_BATCH];
    for (ci, chunk) in out.chunks_mut(2 * PRG_BATCH).enumerate() {
        let blocks = chunk.len() / 2;
        let base = u128::from(first_block) + (ci * PRG_BATCH) as u128;
        for (t, b) in buf[..blocks].iter_mut().enumerate() {
            *b = GenericArray::from((base + t as u128).to_le_bytes());
        }
        cipher.encrypt_blocks(&mut buf[..blocks]);
        for (t, b) in buf[..blocks].iter().enumerate() {
            let (lo, hi) = split_block(b.as_slice());
            chunk[2 * t] = lo;
            chunk[2 * t + 1] = hi;
        }
    }
    for b in buf.iter_mut() {
        *b = GenericArray::from([0u8; 16]);
    }
}

/// A 16-byte block as two little-endian words.
pub(crate) fn split_block(b: &[u8]) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..16]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyInit;
    use rand_core::{RngCore, SeedableRng};

    fn bit(w: &[u64], i: usize) -> u64 {
        (w[i / 64] >> (i % 64)) & 1
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // r and c are matrix coordinates
    fn transpose64_matches_naive() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut a = [0u64; 64];
        for w in a.iter_mut() {
            *w = rng.next_u64();
        }
        let orig = a;
        transpose64(&mut a);
        for r in 0..64 {
            for c in 0..64 {
                assert_eq!((a[c] >> r) & 1, (orig[r] >> c) & 1);
            }
        }
        transpose64(&mut a);
        assert_eq!(a, orig);
    }

    #[test]
    fn block_transposes_match_naive_and_invert() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let n = 256;
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                let mut r = [0u64; CODE_WORDS];
                for w in r.iter_mut() {
                    *w = rng.next_u64();
                }
                r
            })
            .collect();
        let tiles = n / 64;
        let mut cols = vec![0u64; CODE_BITS * tiles];
        rows_to_cols(&rows, &mut cols);
        for (j, row) in rows.iter().enumerate() {
            for i in 0..CODE_BITS {
                assert_eq!(bit(row, i), bit(&cols[i * tiles..(i + 1) * tiles], j));
            }
        }
        let mut back = vec![[0u64; CODE_WORDS]; n];
        cols_to_rows(&cols, &mut back);
        assert_eq!(back, rows);
    }

    #[test]
    fn prg_is_aes_ctr_and_seekable() {
        let cipher = Aes128Enc::new(&GenericArray::from([7u8; 16]));
        let mut whole = vec![0u64; 200];
        prg_words(&cipher, 5, &mut whole);
        let mut tail = vec![0u64; 100];
        prg_words(&cipher, 55, &mut tail);
        assert_eq!(&whole[100..], &tail[..]);
        let mut b = GenericArray::from(5u128.to_le_bytes());
        cipher.encrypt_block(&mut b);
        assert_eq!((whole[0], whole[1]), split_block(&b));
    }
}
