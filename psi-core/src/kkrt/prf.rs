//! The public functions both parties evaluate: the pseudorandom code `C`, the
//! cuckoo hash functions `h_0, h_1, h_2`, and the output hash `H`.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use sha2::{Digest, Sha256};

use super::bits::split_block;
use super::{Row, CODE_WORDS};
use crate::Item;

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
/// `C(e) = AES_{K_0}(e) ‖ AES_{K_1}(e) ‖ AES_{K_2}(e) ‖ AES_{K_3}(e)`, cut to `k` bits.
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
                    if 2 * b + 1 < CODE_WORDS {
                        row[2 * b + 1] = hi;
                    }
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
/// `SHA-256(DST ‖ sid ‖ j ‖ v)`, the first `tag_len` bytes.
///
/// The message is always exactly two 64-byte blocks (`DST ‖ sid`, then
/// `j ‖ v`), so the state after the first block is computed once per session
/// and each tag costs the SHA-256 compression of the second block and of the
/// constant padding block (plain SHA-256; `sha2::compress256` just skips the
/// buffering of the streaming API).
#[derive(Clone)]
pub(crate) struct OutputHash {
    /// Chaining value after the first block.
    state: [u32; 8],
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

/// The padding block of a 128-byte message: `0x80`, zeros, length 1024 bits.
const PAD_BLOCK: [u8; 64] = {
    let mut b = [0u8; 64];
    b[0] = 0x80;
    b[62] = 0x04;
    b
};

impl OutputHash {
    pub(crate) fn new(session_id: &[u8; 32]) -> Self {
        let mut first = [0u8; 64];
        let label = b"psi/kkrt-ot/v1/output-hash";
        first[..label.len()].copy_from_slice(label);
        first[32..].copy_from_slice(session_id);
        let mut state = SHA256_IV;
        sha2::compress256(&mut state, &[GenericArray::from(first)]);
        OutputHash { state }
    }

    /// The tag (first `tag_len` bytes, little-endian, in a `u128`).
    pub(crate) fn tag(&self, bin: u64, row: &Row, tag_len: usize) -> u128 {
        let mut block = [0u8; 64];
        block[..8].copy_from_slice(&bin.to_le_bytes());
        for (w, out) in row.iter().zip(block[8..].chunks_exact_mut(8)) {
            out.copy_from_slice(&w.to_le_bytes());
        }
        let mut state = self.state;
        sha2::compress256(
            &mut state,
            &[GenericArray::from(block), GenericArray::from(PAD_BLOCK)],
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
        // Distinct inputs, far-apart codewords (~k/2 = 224 differing bits).
        let d: u32 = out[0]
            .iter()
            .zip(&out[1])
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!((150..300).contains(&d), "distance {d}");
    }

    #[test]
    fn output_hash_is_sha256_of_the_two_blocks() {
        let sid = [0x5a; 32];
        let h = OutputHash::new(&sid);
        let row: Row = [1, 2, 3, u64::MAX, 5, 6, 7];
        let mut msg = Vec::new();
        let mut dst = [0u8; 32];
        dst[..26].copy_from_slice(b"psi/kkrt-ot/v1/output-hash");
        msg.extend_from_slice(&dst);
        msg.extend_from_slice(&sid);
        msg.extend_from_slice(&12345u64.to_le_bytes());
        for w in row {
            msg.extend_from_slice(&w.to_le_bytes());
        }
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
