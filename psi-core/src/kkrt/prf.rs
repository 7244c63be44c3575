//! The public functions both parties evaluate: the pseudorandom code `C`, the
//! cuckoo hash functions `h_0, h_1, h_2`, and the output hash `H`.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use sha2::{Digest, Sha256};

use super::bits::split_block;
use super::{Row, CODE_WORDS};
use crate::Item;

/// Bytes of one row (`k / 8`).
const ROW_BYTES: usize = CODE_WORDS * 8;

/// Inputs per batched AES call.
const AES_BATCH: usize = 64;

/// The 128-bit fingerprint `x̂` of an item: its first 16 digest bytes.
///
/// An [`Item`] is a SHA-256 digest, so two distinct items share a fingerprint
/// with probability `2^-128` per pair: `≤ 2^-72` for sets of `2^28` items.
pub(crate) fn fingerprint(item: &Item) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&item.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

/// The code input for `x ‖ i`: the fingerprint with its top two bits replaced by
/// the hash-function index `i ∈ {0, 1, 2}`. Distinct indices give distinct inputs
/// for one item, so an item's three OPRF values never coincide (KKRT16 §5.1;
/// the 126 remaining bits keep item collisions at `≤ 2^-70` for `2^28` items).
pub(crate) fn code_input(item: &Item, hash_index: u8) -> u128 {
    (fingerprint(item) & !(3u128 << 126)) | (u128::from(hash_index & 3) << 126)
}

fn session_key(label: &[u8], session_id: &[u8; 32], index: u8) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(label);
    h.update(session_id);
    h.update([index]);
    let d: [u8; 32] = h.finalize().into();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// The pseudorandom code `C: {0,1}^128 → {0,1}^k` of KKRT16 §4 ("pseudorandom
/// codes"), instantiated with fixed-key AES (keys derived from the session id, so
/// they are fixed only after both sets are):
/// `C(e) = AES_{K_0}(e) ‖ AES_{K_1}(e) ‖ AES_{K_2}(e) ‖ AES_{K_3}(e)`, all `k` = 512 bits.
pub(crate) struct Code {
    keys: [Aes128Enc; 4],
}

impl Code {
    pub(crate) fn new(session_id: &[u8; 32]) -> Self {
        let key = |b: u8| {
            Aes128Enc::new(&GenericArray::from(session_key(
                b"psi/kkrt-ot/v1/code\0",
                session_id,
                b,
            )))
        };
        Code {
            keys: [key(0), key(1), key(2), key(3)],
        }
    }

    /// `out[t] = C(inputs[t])`.
    pub(crate) fn encode_many(&self, inputs: &[u128], out: &mut [Row]) {
        debug_assert_eq!(inputs.len(), out.len());
        let mut buf = [GenericArray::from([0u8; 16]); AES_BATCH];
        for (ins, outs) in inputs.chunks(AES_BATCH).zip(out.chunks_mut(AES_BATCH)) {
            for (b, key) in self.keys.iter().enumerate() {
                for (slot, x) in buf.iter_mut().zip(ins) {
                    *slot = GenericArray::from(x.to_le_bytes());
                }
                key.encrypt_blocks(&mut buf[..ins.len()]);
                for (row, blk) in outs.iter_mut().zip(&buf[..ins.len()]) {
                    let (lo, hi) = split_block(blk.as_slice());
                    row[2 * b] = lo;
                    row[2 * b + 1] = hi;
                }
            }
        }
    }

    /// `C(input)`, one at a time (tests).
    #[cfg(test)]
    pub(crate) fn encode(&self, input: u128) -> Row {
        let mut out = [[0u64; CODE_WORDS]];
        self.encode_many(&[input], &mut out);
        out[0]
    }
}

/// The three cuckoo hash functions `h_i(x) ∈ [0, m)`, keyed by the receiver's
/// cuckoo seed: `AES_seed(x̂)` cut into three 42-bit values, each mapped to
/// `[0, m)` by multiply-shift (bias `≤ m / 2^42`, below `2^-10` for `m < 2^32`).
pub(crate) struct BinHasher {
    aes: Aes128Enc,
    bins: u64,
}

impl BinHasher {
    pub(crate) fn new(seed: &[u8; 16], bins: u64) -> Self {
        BinHasher {
            aes: Aes128Enc::new(&GenericArray::from(*seed)),
            bins,
        }
    }

    /// The three candidate bins of each item.
    pub(crate) fn bins_of<'a, I>(&self, items: I) -> Vec<[u32; 3]>
    where
        I: ExactSizeIterator<Item = &'a Item>,
    {
        let mut out = Vec::with_capacity(items.len());
        let mut buf = [GenericArray::from([0u8; 16]); AES_BATCH];
        let mut items = items.peekable();
        while items.peek().is_some() {
            let mut n = 0;
            for (slot, item) in buf.iter_mut().zip(items.by_ref()) {
                *slot = GenericArray::from(fingerprint(item).to_le_bytes());
                n += 1;
            }
            self.aes.encrypt_blocks(&mut buf[..n]);
            for blk in &buf[..n] {
                let mut b = [0u8; 16];
                b.copy_from_slice(blk.as_slice());
                let v = u128::from_le_bytes(b);
                let reduce = |shift: u32| {
                    let part = ((v >> shift) as u64) & ((1u64 << 42) - 1);
                    ((u128::from(part) * u128::from(self.bins)) >> 42) as u32
                };
                out.push([reduce(0), reduce(42), reduce(84)]);
            }
        }
        out
    }
}

/// The output hash `H(j, v)` (KKRT16 Figure 2, the random oracle applied to the
/// row `q_j ⊕ (C(x) ∧ s)`, resp. `t_j`), bound to the session and the bin index:
/// `SHA-256(j ‖ v ‖ sid ‖ DST)`, the first `tag_len` bytes (`j` a little-endian
/// `u64`, `v` the row's 64 bytes, DST = `"psi/kkrt-ot/out"`).
///
/// The message is always 119 bytes, so with its padding it is exactly two
/// 64-byte blocks: `j ‖ v[..56]`, then `v[56..] ‖ sid ‖ DST ‖ padding`. The
/// second block's constant tail is built once per session; each tag costs two
/// SHA-256 compressions (plain SHA-256: `sha2::compress256` just skips the
/// buffering of the streaming API). The DST is last so that the varying part
/// comes first; every message has the same length, so it still separates this
/// hash from every other use of SHA-256 here.
#[derive(Clone)]
pub(crate) struct OutputHash {
    /// The second block with `sid`, the DST and the padding in place.
    tail: [u8; 64],
}

/// SHA-256 initial value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The domain-separation tag of [`OutputHash`] (15 bytes, to fill the block).
const OUTPUT_DST: &[u8; 15] = b"psi/kkrt-ot/out";

/// Bytes of the row in the first block (after the 8-byte bin index).
const ROW_HEAD: usize = 56;

impl OutputHash {
    pub(crate) fn new(session_id: &[u8; 32]) -> Self {
        const _: () = assert!(8 + ROW_BYTES + 32 + OUTPUT_DST.len() + 9 == 128);
        let mut tail = [0u8; 64];
        let rest = ROW_BYTES - ROW_HEAD;
        tail[rest..rest + 32].copy_from_slice(session_id);
        tail[rest + 32..rest + 32 + OUTPUT_DST.len()].copy_from_slice(OUTPUT_DST);
        tail[55] = 0x80;
        // Message length in bits: 119 · 8 = 952.
        tail[56..].copy_from_slice(&(119u64 * 8).to_be_bytes());
        OutputHash { tail }
    }

    /// The tag (first `tag_len` bytes, little-endian, in a `u128`).
    pub(crate) fn tag(&self, bin: u64, row: &Row, tag_len: usize) -> u128 {
        let mut bytes = [0u8; ROW_BYTES];
        for (w, out) in row.iter().zip(bytes.chunks_exact_mut(8)) {
            out.copy_from_slice(&w.to_le_bytes());
        }
        let mut first = [0u8; 64];
        first[..8].copy_from_slice(&bin.to_le_bytes());
        first[8..].copy_from_slice(&bytes[..ROW_HEAD]);
        let mut second = self.tail;
        second[..ROW_BYTES - ROW_HEAD].copy_from_slice(&bytes[ROW_HEAD..]);
        let mut state = SHA256_IV;
        sha2::compress256(
            &mut state,
            &[GenericArray::from(first), GenericArray::from(second)],
        );
        let mut d = [0u8; 16];
        for (w, out) in state.iter().zip(d.chunks_exact_mut(4)) {
            out.copy_from_slice(&w.to_be_bytes());
        }
        tag_from_bytes(&d[..tag_len])
    }
}

/// Up to 16 bytes as a little-endian `u128`.
pub(crate) fn tag_from_bytes(bytes: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_input_separates_hash_indices() {
        let x = Item::from_digest([0xff; 32]);
        let e: Vec<u128> = (0..3).map(|i| code_input(&x, i)).collect();
        assert_ne!(e[0], e[1]);
        assert_ne!(e[1], e[2]);
        assert_ne!(e[0], e[2]);
        assert_eq!(e[0] >> 126, 0);
        assert_eq!(e[2] >> 126, 2);
    }

    #[test]
    fn batched_code_equals_single() {
        let code = Code::new(&[3; 32]);
        let inputs: Vec<u128> = (0..150u128).map(|i| i * 0x1234_5678_9abc).collect();
        let mut out = vec![[0u64; CODE_WORDS]; inputs.len()];
        code.encode_many(&inputs, &mut out);
        for (x, row) in inputs.iter().zip(&out) {
            assert_eq!(code.encode(*x), *row);
        }
        // Distinct inputs, far-apart codewords (~k/2 = 256 differing bits; the
        // standard deviation is √128 ≈ 11).
        let d: u32 = out[0]
            .iter()
            .zip(&out[1])
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!((180..330).contains(&d), "distance {d}");
    }

    #[test]
    fn output_hash_is_sha256_of_the_documented_message() {
        let sid = [0x5a; 32];
        let h = OutputHash::new(&sid);
        let row: Row = [1, 2, 3, u64::MAX, 5, 6, 7, 0x0123_4567_89ab_cdef];
        let mut msg = Vec::new();
        msg.extend_from_slice(&12345u64.to_le_bytes());
        for w in row {
            msg.extend_from_slice(&w.to_le_bytes());
        }
        msg.extend_from_slice(&sid);
        msg.extend_from_slice(b"psi/kkrt-ot/out");
        assert_eq!(msg.len(), 119);
        let d: [u8; 32] = Sha256::digest(&msg).into();
        for len in 8..=16 {
            assert_eq!(h.tag(12345, &row, len), tag_from_bytes(&d[..len]));
        }
    }

    #[test]
    fn bins_are_in_range() {
        for bins in [1u64, 128, 1000, 1 << 20] {
            let h = BinHasher::new(&[9; 16], bins);
            let items: Vec<Item> = (0..300u32)
                .map(|i| Item::from_key(&i.to_le_bytes()))
                .collect();
            for b in h.bins_of(items.iter()) {
                assert!(b.iter().all(|&p| u64::from(p) < bins));
            }
        }
    }
}
