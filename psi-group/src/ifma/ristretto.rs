//! ristretto255 on eight points at once (RFC 9496 §4.3): decoding, encoding
//! and the Elligator map behind `from_uniform_bytes`, following the RFC's
//! formulas step by step (the same ones curve25519-dalek implements, so the
//! results agree bit for bit; `tests/` checks that).

use core::arch::x86_64::__mmask8;

use crate::formulas::is_canonical_field;

use super::constants::{
    D, D_MINUS_ONE_SQ, INVSQRT_A_MINUS_D, ONE_MINUS_D_SQ, SQRT_AD_MINUS_ONE, SQRT_M1,
};
use super::field::{limbs_of_bytes, Fe8};
use super::point::{Completed8, Ep8};

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

crate::formulas::vector_ristretto!("avx512f,avx512ifma", 8, Fe8, Ep8, Completed8);

/// What the encoding of 2P needs, from P = (X : Y : Z : T): with
/// `e = 2XY`, `f = Z² + dT²`, `g = Y² + X²`, `h = Z² − dT²`, the doubling
/// formulas give 2P = (e·h : f·g : f·h : e·g) (for a = −1: `f = Y² − X²` by
/// the curve equation), so 2P's `1/Z = e·g / (e·g·f·h)` and
/// `1/T = f·h / (e·g·f·h)`: one inversion of `efgh` serves both.
struct Doubled {
    e: Fe8,
    f: Fe8,
    g: Fe8,
    h: Fe8,
    eg: Fe8,
    fh: Fe8,
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn doubled(p: &Ep8) -> Doubled {
    let zz = p.z.square();
    let dtt = Fe8::splat(&D).mul(p.t.square());
    let e = p.x.mul(p.y.add(p.y));
    let f = zz.add(dtt);
    let g = p.y.square().add(p.x.square());
    let h = zz.sub(dtt);
    Doubled {
        e,
        f,
        g,
        h,
        eg: e.mul(g),
        fh: f.mul(h),
    }
}

/// Replaces every lane of every element by its inverse with one field
/// inversion in all (Montgomery's trick: prefix products forward, the
/// inverse of the total, then each inverse backward). A zero lane stays
/// zero and is left out of its lane's products (selected without a branch),
/// so it cannot spoil the other elements' inverses.
#[target_feature(enable = "avx512f,avx512ifma")]
fn invert_batch(v: &mut [Fe8]) {
    let mut prefix = Vec::with_capacity(v.len());
    let mut acc = Fe8::one();
    for x in v.iter() {
        prefix.push(acc);
        acc = acc.mul(*x).select(acc, x.is_zero());
    }
    let mut acc_inv = acc.invert();
    for (x, before) in v.iter_mut().zip(prefix).rev() {
        let zero = x.is_zero();
        let next = acc_inv.mul(*x).select(acc_inv, zero);
        *x = acc_inv.mul(before).select(Fe8::zero(), zero);
        acc_inv = next;
    }
}

/// RFC 9496 §4.3.2 ENCODE of 2P for each P, with one field inversion per
/// batch instead of one inverse square root per point: because 2P is a
/// double, the square root ENCODE needs is known in terms of `e, f, g, h`
/// ([`Doubled`]), as the ristretto255 design notes explain ("batched double
/// and encode"). The steps mirror ENCODE: pick the rotation by the sign of
/// `T/Z`, then the sign of `X/Z`, then `s = |(h − g)·magic·g/T|`. A lane
/// whose `efgh` is zero holds a point of the identity's class (2P has
/// `T = 0`): its inverse stays zero and its encoding is zero, as it must be.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn double_encode_batch(points: &[Ep8]) -> Vec<[[u8; 32]; 8]> {
    let parts: Vec<Doubled> = points.iter().map(|p| doubled(p)).collect();
    let mut inv: Vec<Fe8> = parts.iter().map(|d| d.eg.mul(d.fh)).collect();
    invert_batch(&mut inv);
    let sqrt_m1 = Fe8::splat(&SQRT_M1);
    parts
        .iter()
        .zip(&inv)
        .map(|(d, inv)| {
            let z_inv = d.eg.mul(*inv);
            let t_inv = d.fh.mul(*inv);
            let rotate = d.eg.mul(z_inv).is_negative();
            let e = d.e.select(d.g, rotate);
            let g = d.g.select(d.e.neg(), rotate);
            let h = d.h.select(d.f.mul(sqrt_m1), rotate);
            let magic = Fe8::splat(&INVSQRT_A_MINUS_D).select(sqrt_m1, rotate);
            let g = g.neg_if(h.mul(e).mul(z_inv).is_negative());
            h.sub(g).mul(magic.mul(g.mul(t_inv))).abs().to_bytes()
        })
        .collect()
}
