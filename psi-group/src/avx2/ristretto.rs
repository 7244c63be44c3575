//! ristretto255 on four points at once (RFC 9496 §4.3): decoding, encoding
//! and the Elligator map behind `from_uniform_bytes`, following the RFC's
//! formulas step by step (the same ones curve25519-dalek implements, so the
//! results agree bit for bit; `tests/` checks that).

use core::arch::x86_64::{_mm256_and_si256, _mm256_andnot_si256};

use crate::formulas::is_canonical_field;

use super::constants::{
    D, D_MINUS_ONE_SQ, INVSQRT_A_MINUS_D, ONE_MINUS_D_SQ, SQRT_AD_MINUS_ONE, SQRT_M1,
};
use super::field::{limbs_of_bytes, mask_from_bits, Fe4, Mask4};
use super::point::{Completed4, Ep4};

/// RFC 9496 §4.3.1 DECODE of four encodings: the points, and the lanes
/// that hold a valid encoding (canonical, non-negative s, square ratio,
/// non-negative t, non-zero y) as the low four bits of a byte.
#[target_feature(enable = "avx2")]
pub(crate) fn decode(enc: &[[u8; 32]; 4]) -> (Ep4, u8) {
    let mut canonical_bits = 0u8;
    for (j, e) in enc.iter().enumerate() {
        canonical_bits |= u8::from(is_canonical_field(e)) << j;
    }
    let canonical: Mask4 = mask_from_bits(canonical_bits);
    let s = Fe4::from_limbs(&enc.map(|e| limbs_of_bytes(&e)));
    let one = Fe4::one();
    let ss = s.square();
    let u1 = one.sub(ss);
    let u2 = one.add(ss);
    let u2_sqr = u2.square();
    let v = Fe4::splat(&D).mul(u1.square()).neg().sub(u2_sqr);
    let (was_square, invsqrt) = Fe4::sqrt_ratio_i(one, v.mul(u2_sqr));
    let den_x = invsqrt.mul(u2);
    let den_y = invsqrt.mul(den_x.mul(v));
    let x = s.add(s).mul(den_x).abs();
    let y = u1.mul(den_y);
    let t = x.mul(y);
    // valid = canonical ∧ ¬neg(s) ∧ was_square ∧ ¬neg(t) ∧ ¬zero(y)
    let mut valid = _mm256_and_si256(canonical, was_square);
    valid = _mm256_andnot_si256(s.is_negative(), valid);
    valid = _mm256_andnot_si256(t.is_negative(), valid);
    valid = _mm256_andnot_si256(y.is_zero(), valid);
    (Ep4 { x, y, z: one, t }, super::field::bits_of_mask(valid))
}

crate::formulas::vector_ristretto!("avx2", 4, Fe4, Ep4, Completed4);
