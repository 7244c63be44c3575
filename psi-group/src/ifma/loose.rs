//! Products not yet carried back to normalised form.
//!
//! A product that only goes into a sum or a difference need not be carried
//! first: the sum or difference carries once for both (in a doubling, the
//! four squares feed only sums and differences; in an addition, the four
//! products). That saves one carry, five shifts, five masks, four additions
//! and one IFMA, per such product.
//!
//! **Invariant:** every limb of a `Loose8` is below 2^57 (the bound
//! [`Fe8::fold_wide`](super::field::Fe8) leaves, and any normalised `Fe8`).
//! A `Loose8` can only be added or subtracted, each time ending in
//! [`Fe8::carry`], whose inputs must be below 2^63; never multiplied, since
//! `vpmadd52luq/huq` read only 52 bits of each limb.

use core::arch::x86_64::*;

use super::field::{splat, Fe8};

/// 2048·p in radix 2^52 with every limb at least 2^57, above every limb of
/// a `Loose8`, so `a + BIG_P − b` never goes below zero in any limb; and
/// every limb below 2^59. (2048·p = 2^266 − 38912: limbs 2^52 − 38912 and
/// 2^52 − 1 (three times) under 2^58 − 1, each lower limb then lent 2^58
/// by the limb above.)
const BIG_P: [u64; 5] = [
    (1 << 58) + (1 << 52) - 38912,
    (1 << 58) + (1 << 52) - 65,
    (1 << 58) + (1 << 52) - 65,
    (1 << 58) + (1 << 52) - 65,
    (1 << 58) - 65,
];

/// Eight field elements whose limbs are below 2^57, not carried.
#[derive(Clone, Copy)]
pub(crate) struct Loose8(pub(super) [__m512i; 5]);

impl Loose8 {
    /// `self + b`: limbs below 2^58, then carried.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn add(self, b: Loose8) -> Fe8 {
        let (a, b) = (self.0, b.0);
        Fe8::carry(core::array::from_fn(|i| _mm512_add_epi64(a[i], b[i])))
    }

    /// `self − b` as `self + BIG_P − b`: limbs at least 0 (each of BIG_P is
    /// at least 2^57 > b's) and below 2^57 + 2^59 < 2^60, then carried.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn sub(self, b: Loose8) -> Fe8 {
        let (a, b) = (self.0, b.0);
        Fe8::carry(core::array::from_fn(|i| {
            _mm512_sub_epi64(_mm512_add_epi64(a[i], splat(BIG_P[i])), b[i])
        }))
    }

    /// `2·self + b`: limbs below 3·2^57 < 2^59, then carried.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn double_add(self, b: Loose8) -> Fe8 {
        let (a, b) = (self.0, b.0);
        Fe8::carry(core::array::from_fn(|i| {
            _mm512_add_epi64(_mm512_add_epi64(a[i], a[i]), b[i])
        }))
    }

    /// `2·self − b` as `2·self + BIG_P − b`: limbs at least 0 and below
    /// 2^58 + 2^59 < 2^60, then carried.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    pub(crate) fn double_sub(self, b: Loose8) -> Fe8 {
        let (a, b) = (self.0, b.0);
        Fe8::carry(core::array::from_fn(|i| {
            let twice = _mm512_add_epi64(a[i], a[i]);
            _mm512_sub_epi64(_mm512_add_epi64(twice, splat(BIG_P[i])), b[i])
        }))
    }
}
