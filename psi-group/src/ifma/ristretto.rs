//! ristretto255 on eight points at once (RFC 9496 §4.3): decoding, encoding
//! and the Elligator map behind `from_uniform_bytes`, following the RFC's
//! formulas step by step (the same ones curve25519-dalek implements, so the
//! results agree bit for bit; `tests/` checks that).

use core::arch::x86_64::__mmask8;

use super::constants::{
    D, D_MINUS_ONE_SQ, INVSQRT_A_MINUS_D, ONE_MINUS_D_SQ, SQRT_AD_MINUS_ONE, SQRT_M1,
};
use super::field::{limbs_of_bytes, Fe8};
use super::point::{Completed8, Ep8};

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

/// RFC 9496 §4.3.1 DECODE of eight encodings: the points, and a mask of the
/// lanes that hold a valid encoding (canonical, non-negative s, square
/// ratio, non-negative t, non-zero y).
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn decode(enc: &[[u8; 32]; 8]) -> (Ep8, __mmask8) {
    let mut canonical: __mmask8 = 0;
    for (j, e) in enc.iter().enumerate() {
        canonical |= u8::from(is_canonical_field(e)) << j;
    }
    let s = Fe8::from_limbs(&enc.map(|e| limbs_of_bytes(&e)));
    let one = Fe8::one();
    let ss = s.square();
    let u1 = one.sub(ss);
    let u2 = one.add(ss);
    let u2_sqr = u2.square();
    let v = Fe8::splat(&D).mul(u1.square()).neg().sub(u2_sqr);
    let (was_square, invsqrt) = Fe8::sqrt_ratio_i(one, v.mul(u2_sqr));
    let den_x = invsqrt.mul(u2);
    let den_y = invsqrt.mul(den_x.mul(v));
    let x = s.add(s).mul(den_x).abs();
    let y = u1.mul(den_y);
    let t = x.mul(y);
    let valid = canonical & !s.is_negative() & was_square & !t.is_negative() & !y.is_zero();
    (Ep8 { x, y, z: one, t }, valid)
}

/// RFC 9496 §4.3.2 ENCODE of eight points.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn encode(p: &Ep8) -> [[u8; 32]; 8] {
    let (x0, y0, z0, t0) = (p.x, p.y, p.z, p.t);
    let u1 = z0.add(y0).mul(z0.sub(y0));
    let u2 = x0.mul(y0);
    let (_, invsqrt) = Fe8::sqrt_ratio_i(Fe8::one(), u1.mul(u2.square()));
    let den1 = invsqrt.mul(u1);
    let den2 = invsqrt.mul(u2);
    let z_inv = den1.mul(den2).mul(t0);
    let sqrt_m1 = Fe8::splat(&SQRT_M1);
    let ix0 = x0.mul(sqrt_m1);
    let iy0 = y0.mul(sqrt_m1);
    let enchanted = den1.mul(Fe8::splat(&INVSQRT_A_MINUS_D));
    let rotate = t0.mul(z_inv).is_negative();
    let x = x0.select(iy0, rotate);
    let y = y0.select(ix0, rotate);
    let den_inv = den2.select(enchanted, rotate);
    let y = y.neg_if(x.mul(z_inv).is_negative());
    den_inv.mul(z0.sub(y)).abs().to_bytes()
}

/// RFC 9496 §4.3.4 MAP of eight field elements, in completed form.
#[target_feature(enable = "avx512f,avx512ifma")]
fn elligator(r0: Fe8) -> Completed8 {
    let one = Fe8::one();
    let d = Fe8::splat(&D);
    let r = Fe8::splat(&SQRT_M1).mul(r0.square());
    let u = r.add(one).mul(Fe8::splat(&ONE_MINUS_D_SQ));
    let minus_one = one.neg();
    let v = minus_one.sub(r.mul(d)).mul(r.add(d));
    let (was_square, s) = Fe8::sqrt_ratio_i(u, v);
    let s_prime = s.mul(r0).abs().neg();
    let s = s.select(s_prime, !was_square);
    let c = minus_one.select(r, !was_square);
    let n = c.mul(r.sub(one)).mul(Fe8::splat(&D_MINUS_ONE_SQ)).sub(v);
    let s_sq = s.square();
    Completed8::new(
        s.add(s).mul(v),
        one.sub(s_sq),
        n.mul(Fe8::splat(&SQRT_AD_MINUS_ONE)),
        one.add(s_sq),
    )
}

/// RFC 9496 §4.3.4 one-way map of eight 64-byte strings: MAP of each half
/// (bit 255 of each half ignored, as the RFC says), then their sum.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn from_uniform(bytes: &[[u8; 64]; 8]) -> Ep8 {
    let half = |off: usize| {
        bytes.map(|b| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&b[off..off + 32]);
            limbs_of_bytes(&h)
        })
    };
    let p1 = elligator(Fe8::from_limbs(&half(0))).to_extended();
    let p2 = elligator(Fe8::from_limbs(&half(32))).to_extended();
    p1.add_cached(&p2.to_cached()).to_extended()
}
