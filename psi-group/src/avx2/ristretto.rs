//! ristretto255 on four points at once (RFC 9496 §4.3): decoding, encoding
//! and the Elligator map behind `from_uniform_bytes`, following the RFC's
//! formulas step by step (the same ones curve25519-dalek implements, so the
//! results agree bit for bit; `tests/` checks that).

use core::arch::x86_64::{_mm256_and_si256, _mm256_andnot_si256};

use super::constants::{
    D, D_MINUS_ONE_SQ, INVSQRT_A_MINUS_D, ONE_MINUS_D_SQ, SQRT_AD_MINUS_ONE, SQRT_M1,
};
use super::field::{limbs_of_bytes, mask_from_bits, Fe4, Mask4};
use super::point::{Completed4, Ep4};

/// Whether 32 bytes are the canonical encoding of a field element (below p,
/// bit 255 clear). Public data only (a peer's encoding): plain comparisons.
fn is_canonical_field(b: &[u8; 32]) -> bool {
    if b[31] & 0x80 != 0 {
        return false;
    }
    // p = 2^255 − 19: 0xed, then thirty 0xff, then 0x7f (little-endian).
    let at_least_p = b[31] == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed;
    !at_least_p
}

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

/// RFC 9496 §4.3.2 ENCODE of four points.
#[target_feature(enable = "avx2")]
pub(crate) fn encode(p: &Ep4) -> [[u8; 32]; 4] {
    let (x0, y0, z0, t0) = (p.x, p.y, p.z, p.t);
    let u1 = z0.add(y0).mul(z0.sub(y0));
    let u2 = x0.mul(y0);
    let (_, invsqrt) = Fe4::sqrt_ratio_i(Fe4::one(), u1.mul(u2.square()));
    let den1 = invsqrt.mul(u1);
    let den2 = invsqrt.mul(u2);
    let z_inv = den1.mul(den2).mul(t0);
    let sqrt_m1 = Fe4::splat(&SQRT_M1);
    let ix0 = x0.mul(sqrt_m1);
    let iy0 = y0.mul(sqrt_m1);
    let enchanted = den1.mul(Fe4::splat(&INVSQRT_A_MINUS_D));
    let rotate = t0.mul(z_inv).is_negative();
    let x = x0.select(iy0, rotate);
    let y = y0.select(ix0, rotate);
    let den_inv = den2.select(enchanted, rotate);
    let y = y.neg_if(x.mul(z_inv).is_negative());
    den_inv.mul(z0.sub(y)).abs().to_bytes()
}

/// RFC 9496 §4.3.4 MAP of four field elements, in completed form.
#[target_feature(enable = "avx2")]
fn elligator(r0: Fe4) -> Completed4 {
    let one = Fe4::one();
    let d = Fe4::splat(&D);
    let r = Fe4::splat(&SQRT_M1).mul(r0.square());
    let u = r.add(one).mul(Fe4::splat(&ONE_MINUS_D_SQ));
    let minus_one = one.neg();
    let v = minus_one.sub(r.mul(d)).mul(r.add(d));
    let (was_square, s) = Fe4::sqrt_ratio_i(u, v);
    let s_prime = s.mul(r0).abs().neg();
    // Where u/v was not a square: s = −|s·r0| and c = r (else c = −1).
    let s = s_prime.select(s, was_square);
    let c = r.select(minus_one, was_square);
    let n = c.mul(r.sub(one)).mul(Fe4::splat(&D_MINUS_ONE_SQ)).sub(v);
    let s_sq = s.square();
    Completed4::new(
        s.add(s).mul(v),
        one.sub(s_sq),
        n.mul(Fe4::splat(&SQRT_AD_MINUS_ONE)),
        one.add(s_sq),
    )
}

/// RFC 9496 §4.3.4 one-way map of four 64-byte strings: MAP of each half
/// (bit 255 of each half ignored, as the RFC says), then their sum.
#[target_feature(enable = "avx2")]
pub(crate) fn from_uniform(bytes: &[[u8; 64]; 4]) -> Ep4 {
    let half = |off: usize| {
        bytes.map(|b| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&b[off..off + 32]);
            limbs_of_bytes(&h)
        })
    };
    let p1 = elligator(Fe4::from_limbs(&half(0))).to_extended();
    let p2 = elligator(Fe4::from_limbs(&half(32))).to_extended();
    p1.add_cached(&p2.to_cached()).to_extended()
}
