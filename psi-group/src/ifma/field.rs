//! Eight elements of GF(p), p = 2^255 − 19, one per 64-bit lane of a
//! `__m512i`, in radix 2^52: lane j of `Fe8([l0, …, l4])` is
//! `Σ li[j]·2^(52·i)`.
//!
//! **Invariant (normalised):** every `Fe8` this module hands out has limbs
//! 0..=3 below 2^52 and limb 4 below 2^48, so its value is below 2^256 (not
//! necessarily below p; [`Fe8::canonical`] makes it so). `vpmadd52luq/huq`
//! read only the low 52 bits of each operand, so a multiplication is exact
//! only on limbs below 2^52: that is why every addition and subtraction
//! carries its result back to normalised form before it can be multiplied.
//!
//! No function branches on or indexes memory by a lane's value; per-lane
//! choices are `__mmask8` blends.

use core::arch::x86_64::*;

use super::loose::Loose8;

/// 2^52 − 1.
const M52: u64 = (1 << 52) - 1;
/// 2^47 − 1: limb 4 holds bits 208..=254 after a fold at 2^255.
const M47: u64 = (1 << 47) - 1;

/// 8·p in radix 2^52 with every limb at least the largest normalised limb
/// (limbs 0..=3: 2^53 − 152, 2^53 − 2 > 2^52; limb 4: 2^50 − 2 > 2^48), so
/// `a + 8p − b` never goes below zero in any limb.
const EIGHT_P: [u64; 5] = [
    (1 << 53) - 152,
    (1 << 53) - 2,
    (1 << 53) - 2,
    (1 << 53) - 2,
    (1 << 50) - 2,
];

/// Eight field elements (see the module doc for the representation).
#[derive(Clone, Copy)]
pub(crate) struct Fe8(pub(crate) [__m512i; 5]);

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(super) fn splat(x: u64) -> __m512i {
    _mm512_set1_epi64(x as i64)
}

/// The eight lanes of a vector, lane 0 first.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn lanes(v: __m512i) -> [u64; 8] {
    let lo = _mm512_extracti64x4_epi64::<0>(v);
    let hi = _mm512_extracti64x4_epi64::<1>(v);
    [
        _mm256_extract_epi64::<0>(lo) as u64,
        _mm256_extract_epi64::<1>(lo) as u64,
        _mm256_extract_epi64::<2>(lo) as u64,
        _mm256_extract_epi64::<3>(lo) as u64,
        _mm256_extract_epi64::<0>(hi) as u64,
        _mm256_extract_epi64::<1>(hi) as u64,
        _mm256_extract_epi64::<2>(hi) as u64,
        _mm256_extract_epi64::<3>(hi) as u64,
    ]
}

/// A vector from eight lanes, lane 0 first.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn from_lanes(l: [u64; 8]) -> __m512i {
    _mm512_set_epi64(
        l[7] as i64,
        l[6] as i64,
        l[5] as i64,
        l[4] as i64,
        l[3] as i64,
        l[2] as i64,
        l[1] as i64,
        l[0] as i64,
    )
}

/// Every lane set if bit 0 of `bit` is, else none (arithmetic, no branch:
/// `bit` may be secret).
#[inline]
pub(crate) fn mask_splat(bit: u8) -> __mmask8 {
    0u8.wrapping_sub(bit & 1)
}

/// Lanes set in `a` or in `b`.
#[inline]
pub(crate) fn mask_or(a: __mmask8, b: __mmask8) -> __mmask8 {
    a | b
}

/// Limbs of a 256-bit little-endian number with bit 255 dropped (as
/// curve25519-dalek's `FieldElement::from_bytes`): limbs 0..=3 < 2^52, limb 4 < 2^47.
pub(crate) fn limbs_of_bytes(b: &[u8; 32]) -> [u64; 5] {
    let mut w = [0u64; 4];
    for (i, word) in w.iter_mut().enumerate() {
        let mut le = [0u8; 8];
        le.copy_from_slice(&b[8 * i..8 * i + 8]);
        *word = u64::from_le_bytes(le);
    }
    [
        w[0] & M52,
        ((w[0] >> 52) | (w[1] << 12)) & M52,
        ((w[1] >> 40) | (w[2] << 24)) & M52,
        ((w[2] >> 28) | (w[3] << 36)) & M52,
        (w[3] >> 16) & M47,
    ]
}

/// Little-endian bytes of canonical limbs (value < p, so limb 4 < 2^47).
pub(crate) fn bytes_of_limbs(l: [u64; 5]) -> [u8; 32] {
    let w = [
        l[0] | (l[1] << 52),
        (l[1] >> 12) | (l[2] << 40),
        (l[2] >> 24) | (l[3] << 28),
        (l[3] >> 36) | (l[4] << 16),
    ];
    let mut out = [0u8; 32];
    for (i, word) in w.iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
    }
    out
}

impl Fe8 {
    /// The same constant in every lane; `c` must be normalised.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn splat(c: &[u64; 5]) -> Fe8 {
        Fe8([
            splat(c[0]),
            splat(c[1]),
            splat(c[2]),
            splat(c[3]),
            splat(c[4]),
        ])
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn zero() -> Fe8 {
        Fe8([_mm512_setzero_si512(); 5])
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn one() -> Fe8 {
        Fe8::splat(&[1, 0, 0, 0, 0])
    }

    /// Lane j from `limbs[j]`; each must be normalised (as from
    /// [`limbs_of_bytes`]).
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn from_limbs(limbs: &[[u64; 5]; 8]) -> Fe8 {
        let mut out = [_mm512_setzero_si512(); 5];
        for (i, o) in out.iter_mut().enumerate() {
            *o = from_lanes(core::array::from_fn(|j| limbs[j][i]));
        }
        Fe8(out)
    }

    /// Each lane's limbs, as they are (not canonicalised).
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn to_limbs(self) -> [[u64; 5]; 8] {
        let l = self.0.map(|v| lanes(v));
        core::array::from_fn(|j| [l[0][j], l[1][j], l[2][j], l[3][j], l[4][j]])
    }

    /// Each lane's canonical little-endian encoding.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn to_bytes(self) -> [[u8; 32]; 8] {
        self.canonical().to_limbs().map(bytes_of_limbs)
    }

    /// Carries limbs back to normalised form.
    ///
    /// Bound relied on: every input limb below 2^63. Limb 4's bits from 47 up
    /// (worth 2^255 ≡ 19 each) move to limb 0 first: that carry is below 2^17,
    /// so `19·c` fits the 52-bit multiplier input and limb 0 stays below 2^64.
    /// Then limbs 0..=3 carry upward in turn; each ends below 2^52, and limb 4
    /// ends below 2^47 + 2^12 < 2^48 (limb 3's carry is below 2^12).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(super) fn carry(mut z: [__m512i; 5]) -> Fe8 {
        let m52 = splat(M52);
        let c = _mm512_srli_epi64::<47>(z[4]);
        z[4] = _mm512_and_si512(z[4], splat(M47));
        z[0] = _mm512_madd52lo_epu64(z[0], c, splat(19));
        for i in 0..4 {
            let c = _mm512_srli_epi64::<52>(z[i]);
            z[i] = _mm512_and_si512(z[i], m52);
            z[i + 1] = _mm512_add_epi64(z[i + 1], c);
        }
        Fe8(z)
    }

    /// `self + b`: normalised limbs are loose ones, and [`Loose8::add`] carries
    /// their sum (below 2^53 here).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn add(self, b: Fe8) -> Fe8 {
        self.loose().add(b.loose())
    }

    /// `self − b`, as `self + 8p − b`: each limb of 8p is at least the largest
    /// normalised limb (see [`EIGHT_P`]), so no limb goes negative, and the
    /// result limbs are below 2^52 + 2^53 < 2^63 for [`Fe8::carry`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn sub(self, b: Fe8) -> Fe8 {
        let a = self.0;
        let b = b.0;
        Fe8::carry(core::array::from_fn(|i| {
            _mm512_sub_epi64(_mm512_add_epi64(a[i], splat(EIGHT_P[i])), b[i])
        }))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn neg(self) -> Fe8 {
        Fe8::zero().sub(self)
    }

    /// Lanes of `b` where `mask` has its bit set, else lanes of `self`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn select(self, b: Fe8, mask: __mmask8) -> Fe8 {
        let a = self.0;
        let b = b.0;
        Fe8(core::array::from_fn(|i| {
            _mm512_mask_blend_epi64(mask, a[i], b[i])
        }))
    }

    /// Negates the lanes where `mask` has its bit set.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn neg_if(self, mask: __mmask8) -> Fe8 {
        self.select(self.neg(), mask)
    }

    /// Reduces the 10-limb product `Σ z[k]·2^(52k)` modulo p to five limbs,
    /// each below 2^57, not yet carried (see [`super::loose::Loose8`]).
    ///
    /// Bounds relied on: `z[k] < 2^56` for all k (at most ten 52-bit partial
    /// products per position), and the product of two values below 2^260
    /// (limbs below 2^52) is below 2^520.
    /// 1. z5..z8 carry into the next limb, so z5..z8 < 2^52; then z9 < 2^52,
    ///    since `z9·2^468 ≤ product < 2^520`.
    /// 2. The high half is worth 2^260 ≡ 608 (mod p) per unit: `608·z[k+5]`
    ///    (operands < 2^52, product < 2^62) goes in as its low 52 bits to
    ///    z[k] and its high bits (< 2^10) to z[k+1]; the high bits of
    ///    `608·z9` land again at 2^260 and go to z0 as `608·h` (h < 2^10).
    ///    Every z[k], k ≤ 4, is then below 2^56 + 2^52 + 2^20 < 2^57.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn fold_wide(mut z: [__m512i; 10]) -> [__m512i; 5] {
        let m52 = splat(M52);
        for k in 5..9 {
            let c = _mm512_srli_epi64::<52>(z[k]);
            z[k] = _mm512_and_si512(z[k], m52);
            z[k + 1] = _mm512_add_epi64(z[k + 1], c);
        }
        let c608 = splat(608);
        for k in 0..4 {
            z[k] = _mm512_madd52lo_epu64(z[k], z[k + 5], c608);
            z[k + 1] = _mm512_madd52hi_epu64(z[k + 1], z[k + 5], c608);
        }
        z[4] = _mm512_madd52lo_epu64(z[4], z[9], c608);
        let h = _mm512_madd52hi_epu64(_mm512_setzero_si512(), z[9], c608);
        z[0] = _mm512_madd52lo_epu64(z[0], h, c608);
        [z[0], z[1], z[2], z[3], z[4]]
    }

    /// The ten sums of partial products of `self · b`. Operand limbs must be
    /// below 2^52 (normalised ones are); each position k receives at most
    /// five low and five high halves of 104-bit partial products, each below
    /// 2^52: `z[k] < 10·2^52 < 2^56`, as [`Fe8::fold_wide`] needs.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_wide(self, b: Fe8) -> [__m512i; 10] {
        let a = self.0;
        let b = b.0;
        let mut z = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in 0..5 {
                z[i + j] = _mm512_madd52lo_epu64(z[i + j], a[i], b[j]);
                z[i + j + 1] = _mm512_madd52hi_epu64(z[i + j + 1], a[i], b[j]);
            }
        }
        z
    }

    /// The ten sums of partial products of `self²`: the ten cross products
    /// once, doubled by a shift, plus the five squares. Cross terms per
    /// position: at most two low and two high halves (< 2^54), doubled
    /// < 2^55; plus two halves of squares: `z[k] < 2^56` as
    /// [`Fe8::fold_wide`] needs.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn square_wide(self) -> [__m512i; 10] {
        let a = self.0;
        let mut z = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in i + 1..5 {
                z[i + j] = _mm512_madd52lo_epu64(z[i + j], a[i], a[j]);
                z[i + j + 1] = _mm512_madd52hi_epu64(z[i + j + 1], a[i], a[j]);
            }
        }
        for zk in z.iter_mut() {
            *zk = _mm512_slli_epi64::<1>(*zk);
        }
        for i in 0..5 {
            z[2 * i] = _mm512_madd52lo_epu64(z[2 * i], a[i], a[i]);
            z[2 * i + 1] = _mm512_madd52hi_epu64(z[2 * i + 1], a[i], a[i]);
        }
        z
    }

    /// `self · b`, normalised ([`Fe8::fold_wide`], then [`Fe8::carry`]).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn mul(self, b: Fe8) -> Fe8 {
        Fe8::carry(Fe8::fold_wide(self.mul_wide(b)))
    }

    /// `self²`, normalised.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn square(self) -> Fe8 {
        Fe8::carry(Fe8::fold_wide(self.square_wide()))
    }

    /// `self · b` not yet carried: for a product that only goes into sums
    /// and differences, which carry anyway.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn mul_loose(self, b: Fe8) -> Loose8 {
        Loose8(Fe8::fold_wide(self.mul_wide(b)))
    }

    /// `self²` not yet carried.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn square_loose(self) -> Loose8 {
        Loose8(Fe8::fold_wide(self.square_wide()))
    }

    /// A normalised element as a loose one (limbs below 2^52 < 2^57).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn loose(self) -> Loose8 {
        Loose8(self.0)
    }

    /// The unique representative below p, with limbs 0..=3 < 2^52 and limb 4 < 2^47.
    ///
    /// Normalised input is below 2^256: folding bit 255 (limb 4 ≥ 2^47
    /// means one unit of 2^255 ≡ 19, limb 4 < 2^48) leaves a value at most
    /// 2^255 + 18 < 2p. Then `q = (x + 19) >> 255` is 1 exactly when x ≥ p,
    /// and `x + 19q − q·2^255` is x − q·p.
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn canonical(self) -> Fe8 {
        let m52 = splat(M52);
        let m47 = splat(M47);
        let mut z = Fe8::carry(self.0).0;
        // Trial addition of 19 to find q.
        let mut t = _mm512_add_epi64(z[0], splat(19));
        for zi in z.iter().skip(1) {
            t = _mm512_add_epi64(*zi, _mm512_srli_epi64::<52>(t));
        }
        let q = _mm512_srli_epi64::<47>(t);
        z[0] = _mm512_madd52lo_epu64(z[0], q, splat(19));
        for i in 0..4 {
            let c = _mm512_srli_epi64::<52>(z[i]);
            z[i] = _mm512_and_si512(z[i], m52);
            z[i + 1] = _mm512_add_epi64(z[i + 1], c);
        }
        z[4] = _mm512_and_si512(z[4], m47);
        Fe8(z)
    }

    /// Lanes whose canonical value is odd ("negative" in RFC 9496).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn is_negative(self) -> __mmask8 {
        _mm512_test_epi64_mask(self.canonical().0[0], splat(1))
    }

    /// Lanes where `self` and `b` are the same field element.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn eq(self, b: Fe8) -> __mmask8 {
        let a = self.canonical().0;
        let b = b.canonical().0;
        let mut m: __mmask8 = 0xff;
        for i in 0..5 {
            m &= _mm512_cmpeq_epi64_mask(a[i], b[i]);
        }
        m
    }

    /// Lanes that are zero.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn is_zero(self) -> __mmask8 {
        self.eq(Fe8::zero())
    }
}

crate::formulas::vector_field_powers!(Fe8, __mmask8, "avx512f,avx512ifma");
