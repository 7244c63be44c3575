//! Four elements of GF(p), p = 2^255 − 19, one per 64-bit lane of a
//! `__m256i`, in radix 2^25.5: ten limbs of alternately 26 and 25 bits,
//! limb i of weight 2^OFFSET[i] (OFFSET = 0, 26, 51, 77, 102, 128, 153, 179,
//! 204, 230); lane j of `Fe4(l)` is `Σ l[i][j]·2^OFFSET[i]`. Products use
//! `_mm256_mul_epu32` (the low 32 bits of each lane, multiplied to 64 bits).
//!
//! **Invariant (normalised):** every `Fe4` this module hands out has every
//! limb below 2^26 + 2^9 (so below 2^27, which [`Fe4::mul`] and
//! [`Fe4::square`] need), and its value is below 2^257 (not necessarily
//! below p; [`Fe4::canonical`] makes it so). Additions and subtractions
//! carry their result back to this form, so any result may be multiplied.
//!
//! No function branches on or indexes memory by a lane's value; per-lane
//! choices are blends with lane masks ([`Mask4`]: all ones or all zeros in
//! each 64-bit lane).

use core::arch::x86_64::*;

/// Bit widths of the limbs.
const WIDTH: [i32; 10] = [26, 25, 26, 25, 26, 25, 26, 25, 26, 25];
/// Weight of each limb: 2^OFFSET[i].
const OFFSET: [u32; 10] = [0, 26, 51, 77, 102, 128, 153, 179, 204, 230];
const M26: u64 = (1 << 26) - 1;
const M25: u64 = (1 << 25) - 1;

/// 4·p in radix 2^25.5: limb 0 is 4·(2^26 − 19), the other even limbs
/// 4·(2^26 − 1), the odd ones 4·(2^25 − 1). Every limb is at least the
/// largest normalised limb (2^27 − 4 > 2^26 + 2^9), so `a + 4p − b` never
/// goes below zero in any limb.
const FOUR_P: [u64; 10] = [
    (1 << 28) - 76,
    (1 << 27) - 4,
    (1 << 28) - 4,
    (1 << 27) - 4,
    (1 << 28) - 4,
    (1 << 27) - 4,
    (1 << 28) - 4,
    (1 << 27) - 4,
    (1 << 28) - 4,
    (1 << 27) - 4,
];

/// The lane-wise sum of its arguments.
macro_rules! sum {
    ($first:expr $(, $rest:expr)* $(,)?) => {{
        let s = $first;
        $(let s = _mm256_add_epi64(s, $rest);)*
        s
    }};
}

/// A lane mask: all ones or all zeros in each 64-bit lane.
pub(crate) type Mask4 = __m256i;

/// Four field elements (see the module doc for the representation).
#[derive(Clone, Copy)]
pub(crate) struct Fe4(pub(crate) [__m256i; 10]);

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u64) -> __m256i {
    _mm256_set1_epi64x(x as i64)
}

#[inline]
#[target_feature(enable = "avx2")]
fn mask_of(i: usize) -> __m256i {
    splat(if WIDTH[i] == 26 { M26 } else { M25 })
}

/// `19·c` in each lane for any c below 2^59 (shifts and adds, no 32-bit limit).
#[inline]
#[target_feature(enable = "avx2")]
fn times19(c: __m256i) -> __m256i {
    let c16 = _mm256_slli_epi64::<4>(c);
    let c2 = _mm256_slli_epi64::<1>(c);
    _mm256_add_epi64(_mm256_add_epi64(c16, c2), c)
}

/// Moves the bits of `z[i]` above its width into `z[i + 1]` (into `z[0]` as
/// 19 times as many for i = 9, since 2^255 ≡ 19). `z[i]` ends below 2^width.
#[inline]
#[target_feature(enable = "avx2")]
fn carry_one<const I: usize>(z: &mut [__m256i; 10]) {
    let c = if WIDTH[I] == 26 {
        _mm256_srli_epi64::<26>(z[I])
    } else {
        _mm256_srli_epi64::<25>(z[I])
    };
    z[I] = _mm256_and_si256(z[I], mask_of(I));
    if I == 9 {
        z[0] = _mm256_add_epi64(z[0], times19(c));
    } else {
        z[(I + 1) % 10] = _mm256_add_epi64(z[(I + 1) % 10], c);
    }
}

/// Carries limbs 0 → 1 → … → 9 in turn (limb 9's carry is kept in limb 9).
#[inline]
#[target_feature(enable = "avx2")]
fn carry_chain_0_to_8(z: &mut [__m256i; 10]) {
    carry_one::<0>(z);
    carry_one::<1>(z);
    carry_one::<2>(z);
    carry_one::<3>(z);
    carry_one::<4>(z);
    carry_one::<5>(z);
    carry_one::<6>(z);
    carry_one::<7>(z);
    carry_one::<8>(z);
}

/// The four lanes of a vector, lane 0 first.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn lanes(v: __m256i) -> [u64; 4] {
    [
        _mm256_extract_epi64::<0>(v) as u64,
        _mm256_extract_epi64::<1>(v) as u64,
        _mm256_extract_epi64::<2>(v) as u64,
        _mm256_extract_epi64::<3>(v) as u64,
    ]
}

/// A vector from four lanes, lane 0 first.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn from_lanes(l: [u64; 4]) -> __m256i {
    _mm256_set_epi64x(l[3] as i64, l[2] as i64, l[1] as i64, l[0] as i64)
}

/// A lane mask from the low four bits of `bits` (bit j: lane j).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn mask_from_bits(bits: u8) -> Mask4 {
    from_lanes(core::array::from_fn(|j| {
        0u64.wrapping_sub(u64::from((bits >> j) & 1))
    }))
}

/// The lanes of a mask as the low four bits of a byte (bit j: lane j).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn bits_of_mask(m: Mask4) -> u8 {
    _mm256_movemask_pd(_mm256_castsi256_pd(m)) as u8
}

/// The same mask in every lane: all ones if `bit` is 1, all zeros if 0
/// (arithmetic, no branch: `bit` may be secret).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn mask_splat(bit: u8) -> Mask4 {
    splat(0u64.wrapping_sub(u64::from(bit & 1)))
}

/// Lanes set in `a` or in `b`.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn mask_or(a: Mask4, b: Mask4) -> Mask4 {
    _mm256_or_si256(a, b)
}

/// Limbs of a 256-bit little-endian number with bit 255 dropped (as
/// curve25519-dalek's `FieldElement::from_bytes`): each limb below 2^width.
pub(crate) fn limbs_of_bytes(b: &[u8; 32]) -> [u64; 10] {
    let mut padded = [0u8; 40];
    padded[..32].copy_from_slice(b);
    core::array::from_fn(|i| {
        let byte = (OFFSET[i] / 8) as usize;
        let mut le = [0u8; 8];
        le.copy_from_slice(&padded[byte..byte + 8]);
        // At most 7 + 26 bits of the word are needed: they are all in it.
        let mask = if WIDTH[i] == 26 { M26 } else { M25 };
        (u64::from_le_bytes(le) >> (OFFSET[i] % 8)) & mask
    })
}

/// Little-endian bytes of canonical limbs (each below 2^width, value < p).
pub(crate) fn bytes_of_limbs(l: [u64; 10]) -> [u8; 32] {
    let mut acc = [0u64; 5];
    for (i, &x) in l.iter().enumerate() {
        let (word, bit) = ((OFFSET[i] / 64) as usize, OFFSET[i] % 64);
        acc[word] |= x << bit;
        if bit + WIDTH[i] as u32 > 64 {
            acc[word + 1] |= x >> (64 - bit);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in acc[..4].iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
    }
    out
}

impl Fe4 {
    /// The same constant in every lane; `c` must be normalised.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn splat(c: &[u64; 10]) -> Fe4 {
        Fe4(c.map(|x| splat(x)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn zero() -> Fe4 {
        Fe4([_mm256_setzero_si256(); 10])
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn one() -> Fe4 {
        Fe4::splat(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Lane j from `limbs[j]`; each limb must be below 2^26 + 2^9 (as from
    /// [`limbs_of_bytes`]).
    #[target_feature(enable = "avx2")]
    pub(crate) fn from_limbs(limbs: &[[u64; 10]; 4]) -> Fe4 {
        Fe4(core::array::from_fn(|i| {
            from_lanes(core::array::from_fn(|j| limbs[j][i]))
        }))
    }

    /// Each lane's limbs, as they are (not canonicalised).
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_limbs(self) -> [[u64; 10]; 4] {
        let l = self.0.map(|v| lanes(v));
        core::array::from_fn(|j| core::array::from_fn(|i| l[i][j]))
    }

    /// Each lane's canonical little-endian encoding.
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_bytes(self) -> [[u8; 32]; 4] {
        self.canonical().to_limbs().map(bytes_of_limbs)
    }

    /// All ten limbs carry at once (no chain), for sums below 2^29 per limb.
    ///
    /// Bound relied on: every input limb below 2^29. Each limb keeps its low
    /// `width` bits and receives the carry of the limb below, which is below
    /// 2^(29 − 25) = 2^4; limb 0 receives 19 times limb 9's carry (below
    /// 2^(29 − 25), so 19·2^4 < 2^9). Every limb ends below 2^26 + 2^9:
    /// normalised.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn carry_parallel(z: [__m256i; 10]) -> Fe4 {
        let (m26, m25) = (splat(M26), splat(M25));
        let mut c = [_mm256_setzero_si256(); 10];
        let mut out = [_mm256_setzero_si256(); 10];
        // Even limbs have 26 bits, odd ones 25.
        for i in (0..10).step_by(2) {
            c[i] = _mm256_srli_epi64::<26>(z[i]);
            out[i] = _mm256_and_si256(z[i], m26);
            c[i + 1] = _mm256_srli_epi64::<25>(z[i + 1]);
            out[i + 1] = _mm256_and_si256(z[i + 1], m25);
        }
        out[0] = _mm256_add_epi64(out[0], times19(c[9]));
        for i in 1..10 {
            out[i] = _mm256_add_epi64(out[i], c[i - 1]);
        }
        Fe4(out)
    }

    /// `self + b`. Sums of normalised limbs are below 2^27 + 2^10 < 2^29:
    /// [`Fe4::carry_parallel`] applies.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn add(self, b: Fe4) -> Fe4 {
        let a = self.0;
        let b = b.0;
        Fe4::carry_parallel(core::array::from_fn(|i| _mm256_add_epi64(a[i], b[i])))
    }

    /// `self − b`, as `self + 4p − b`: each limb of 4p is at least the largest
    /// normalised limb (see [`FOUR_P`]), so no limb goes negative, and the
    /// result limbs are below 2^26 + 2^9 + 2^28 < 2^29 for
    /// [`Fe4::carry_parallel`].
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn sub(self, b: Fe4) -> Fe4 {
        let a = self.0;
        let b = b.0;
        Fe4::carry_parallel(core::array::from_fn(|i| {
            _mm256_sub_epi64(_mm256_add_epi64(a[i], splat(FOUR_P[i])), b[i])
        }))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn neg(self) -> Fe4 {
        Fe4::zero().sub(self)
    }

    /// Lanes of `b` where `mask` is set, else lanes of `self`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn select(self, b: Fe4, mask: Mask4) -> Fe4 {
        let a = self.0;
        let b = b.0;
        Fe4(core::array::from_fn(|i| {
            _mm256_blendv_epi8(a[i], b[i], mask)
        }))
    }

    /// Negates the lanes where `mask` is set.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn neg_if(self, mask: Mask4) -> Fe4 {
        self.select(self.neg(), mask)
    }

    /// Reduces the ten sums `z[k]` of a product (weight 2^OFFSET[k], the
    /// wrapped-around terms already multiplied by 19) to a normalised element.
    ///
    /// Bound relied on: every `z[k]` below 2^63. Two interleaved carry chains
    /// (0→1→2→3→4→5 and 4→5→6→7→8→9→0→1, as in ref10's `fe_mul`): each
    /// carry out of a limb still holding up to 2^63 is below 2^38, so no sum
    /// passes 2^63 + 2^38 < 2^64; limb 9's carry is below 2^39 and `19·c`
    /// below 2^44 (computed with shifts, [`times19`]). At the end limbs 0, 2,
    /// 4, 6, 8 are below 2^26, limbs 3, 7, 9 below 2^25, limb 5 below
    /// 2^25 + 2^13 (the second carry out of limb 4 is below 2^13) and limb 1
    /// below 2^25 + 2^18 (limb 0's last carry is below 2^18): normalised.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce(mut z: [__m256i; 10]) -> Fe4 {
        carry_one::<0>(&mut z);
        carry_one::<4>(&mut z);
        carry_one::<1>(&mut z);
        carry_one::<5>(&mut z);
        carry_one::<2>(&mut z);
        carry_one::<6>(&mut z);
        carry_one::<3>(&mut z);
        carry_one::<7>(&mut z);
        carry_one::<4>(&mut z);
        carry_one::<8>(&mut z);
        carry_one::<9>(&mut z);
        carry_one::<0>(&mut z);
        Fe4(z)
    }

    /// `self · b`. Operand limbs must be below 2^27 (normalised ones are).
    ///
    /// Limb i times limb j has weight 2^(OFFSET[i] + OFFSET[j]), which is
    /// 2^OFFSET[i+j] times 2 when i and j are both odd, and wraps past 2^255
    /// (≡ 19) when i + j ≥ 10. So the product sums, for each k, `a_i·b_j` or
    /// `(2a_i)·b_j` (i + j = k) and `a_i·(19b_j)` or `(2a_i)·(19b_j)`
    /// (i + j = k + 10). Bounds: `2a_i < 2^28` and `19b_j < 19·2^27 < 2^32`
    /// fit the 32-bit multiplier inputs; each term is below 2^28·2^31.25 =
    /// 2^59.25 and ten of them below 2^62.6 < 2^63, as [`Fe4::reduce`] needs.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn mul(self, b: Fe4) -> Fe4 {
        let a = self.0;
        let b = b.0;
        let a2: [__m256i; 10] = core::array::from_fn(|i| {
            if i % 2 == 1 {
                _mm256_add_epi64(a[i], a[i])
            } else {
                a[i]
            }
        });
        let b19: [__m256i; 10] = core::array::from_fn(|j| _mm256_mul_epu32(b[j], splat(19)));
        let m = |x, y| _mm256_mul_epu32(x, y);
        // z[k]: the ten terms of weight 2^OFFSET[k] (written out, so that no
        // loop or branch is left for the compiler to keep).
        #[rustfmt::skip]
        let z = [
            sum![m(a[0], b[0]), m(a2[1], b19[9]), m(a[2], b19[8]), m(a2[3], b19[7]), m(a[4], b19[6]), m(a2[5], b19[5]), m(a[6], b19[4]), m(a2[7], b19[3]), m(a[8], b19[2]), m(a2[9], b19[1])],
            sum![m(a[0], b[1]), m(a[1], b[0]), m(a[2], b19[9]), m(a[3], b19[8]), m(a[4], b19[7]), m(a[5], b19[6]), m(a[6], b19[5]), m(a[7], b19[4]), m(a[8], b19[3]), m(a[9], b19[2])],
            sum![m(a[0], b[2]), m(a2[1], b[1]), m(a[2], b[0]), m(a2[3], b19[9]), m(a[4], b19[8]), m(a2[5], b19[7]), m(a[6], b19[6]), m(a2[7], b19[5]), m(a[8], b19[4]), m(a2[9], b19[3])],
            sum![m(a[0], b[3]), m(a[1], b[2]), m(a[2], b[1]), m(a[3], b[0]), m(a[4], b19[9]), m(a[5], b19[8]), m(a[6], b19[7]), m(a[7], b19[6]), m(a[8], b19[5]), m(a[9], b19[4])],
            sum![m(a[0], b[4]), m(a2[1], b[3]), m(a[2], b[2]), m(a2[3], b[1]), m(a[4], b[0]), m(a2[5], b19[9]), m(a[6], b19[8]), m(a2[7], b19[7]), m(a[8], b19[6]), m(a2[9], b19[5])],
            sum![m(a[0], b[5]), m(a[1], b[4]), m(a[2], b[3]), m(a[3], b[2]), m(a[4], b[1]), m(a[5], b[0]), m(a[6], b19[9]), m(a[7], b19[8]), m(a[8], b19[7]), m(a[9], b19[6])],
            sum![m(a[0], b[6]), m(a2[1], b[5]), m(a[2], b[4]), m(a2[3], b[3]), m(a[4], b[2]), m(a2[5], b[1]), m(a[6], b[0]), m(a2[7], b19[9]), m(a[8], b19[8]), m(a2[9], b19[7])],
            sum![m(a[0], b[7]), m(a[1], b[6]), m(a[2], b[5]), m(a[3], b[4]), m(a[4], b[3]), m(a[5], b[2]), m(a[6], b[1]), m(a[7], b[0]), m(a[8], b19[9]), m(a[9], b19[8])],
            sum![m(a[0], b[8]), m(a2[1], b[7]), m(a[2], b[6]), m(a2[3], b[5]), m(a[4], b[4]), m(a2[5], b[3]), m(a[6], b[2]), m(a2[7], b[1]), m(a[8], b[0]), m(a2[9], b19[9])],
            sum![m(a[0], b[9]), m(a[1], b[8]), m(a[2], b[7]), m(a[3], b[6]), m(a[4], b[5]), m(a[5], b[4]), m(a[6], b[3]), m(a[7], b[2]), m(a[8], b[1]), m(a[9], b[0])],
        ];
        Fe4::reduce(z)
    }

    /// `self²`: each cross product `a_i·a_j` (i < j) once with factor 2 (4
    /// when both are odd), each square with factor 1 (2 for odd i), 19 for
    /// wrapped terms, as in [`Fe4::mul`]. Bounds: `4a_i < 2^29` and
    /// `19a_j < 2^32` fit the multiplier; per k at most five cross terms below
    /// 2^29·2^31.25 and one square term below 2^59.25: `z[k] < 2^62.7 < 2^63`
    /// for [`Fe4::reduce`].
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn square(self) -> Fe4 {
        let a = self.0;
        let a2: [__m256i; 10] = core::array::from_fn(|i| _mm256_add_epi64(a[i], a[i]));
        let a4: [__m256i; 10] = core::array::from_fn(|i| _mm256_add_epi64(a2[i], a2[i]));
        let a19: [__m256i; 10] = core::array::from_fn(|j| _mm256_mul_epu32(a[j], splat(19)));
        let m = |x, y| _mm256_mul_epu32(x, y);
        #[rustfmt::skip]
        let z = [
            sum![m(a[0], a[0]), m(a4[1], a19[9]), m(a2[2], a19[8]), m(a4[3], a19[7]), m(a2[4], a19[6]), m(a2[5], a19[5])],
            sum![m(a2[0], a[1]), m(a2[2], a19[9]), m(a2[3], a19[8]), m(a2[4], a19[7]), m(a2[5], a19[6])],
            sum![m(a2[0], a[2]), m(a2[1], a[1]), m(a4[3], a19[9]), m(a2[4], a19[8]), m(a4[5], a19[7]), m(a[6], a19[6])],
            sum![m(a2[0], a[3]), m(a2[1], a[2]), m(a2[4], a19[9]), m(a2[5], a19[8]), m(a2[6], a19[7])],
            sum![m(a2[0], a[4]), m(a4[1], a[3]), m(a[2], a[2]), m(a4[5], a19[9]), m(a2[6], a19[8]), m(a2[7], a19[7])],
            sum![m(a2[0], a[5]), m(a2[1], a[4]), m(a2[2], a[3]), m(a2[6], a19[9]), m(a2[7], a19[8])],
            sum![m(a2[0], a[6]), m(a4[1], a[5]), m(a2[2], a[4]), m(a2[3], a[3]), m(a4[7], a19[9]), m(a[8], a19[8])],
            sum![m(a2[0], a[7]), m(a2[1], a[6]), m(a2[2], a[5]), m(a2[3], a[4]), m(a2[8], a19[9])],
            sum![m(a2[0], a[8]), m(a4[1], a[7]), m(a2[2], a[6]), m(a4[3], a[5]), m(a[4], a[4]), m(a2[9], a19[9])],
            sum![m(a2[0], a[9]), m(a2[1], a[8]), m(a2[2], a[7]), m(a2[3], a[6]), m(a2[4], a[5])],
        ];
        Fe4::reduce(z)
    }

    /// The unique representative below p, every limb below 2^width.
    ///
    /// Normalised input (limbs below 2^26 + 2^9) is below 2^257. A carry
    /// chain 0 → 9 leaves limbs 0..=8 below 2^width; limb 9's carry (worth
    /// 2^255 ≡ 19 each, at most 3) goes to limb 0 as 19 times as much: the
    /// value is then at most 2^255 + 57 < 2p. So `q = (x + 19) >> 255` (a
    /// trial carry chain) is 1 exactly when x ≥ p, and `x + 19q − q·2^255`
    /// (a last chain, dropping limb 9's bit 25) is x − q·p.
    #[target_feature(enable = "avx2")]
    pub(crate) fn canonical(self) -> Fe4 {
        let mut z = self.0;
        carry_chain_0_to_8(&mut z);
        carry_one::<9>(&mut z);
        // Trial addition of 19 to find q.
        let mut t = _mm256_add_epi64(z[0], splat(19));
        for i in (0..8).step_by(2) {
            t = _mm256_add_epi64(z[i + 1], _mm256_srli_epi64::<26>(t));
            t = _mm256_add_epi64(z[i + 2], _mm256_srli_epi64::<25>(t));
        }
        t = _mm256_add_epi64(z[9], _mm256_srli_epi64::<26>(t));
        let q = _mm256_srli_epi64::<25>(t);
        z[0] = _mm256_add_epi64(z[0], times19(q));
        carry_chain_0_to_8(&mut z);
        z[9] = _mm256_and_si256(z[9], splat(M25));
        Fe4(z)
    }

    /// Lanes whose canonical value is odd ("negative" in RFC 9496).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn is_negative(self) -> Mask4 {
        let low = _mm256_and_si256(self.canonical().0[0], splat(1));
        _mm256_cmpeq_epi64(low, splat(1))
    }

    /// Lanes where `self` and `b` are the same field element.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn eq(self, b: Fe4) -> Mask4 {
        let a = self.canonical().0;
        let b = b.canonical().0;
        let mut m = splat(u64::MAX);
        for i in 0..10 {
            m = _mm256_and_si256(m, _mm256_cmpeq_epi64(a[i], b[i]));
        }
        m
    }

    /// Lanes that are zero.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn is_zero(self) -> Mask4 {
        self.eq(Fe4::zero())
    }
}

crate::formulas::vector_field_powers!(Fe4, Mask4, "avx2");
