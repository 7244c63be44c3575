//! Every field and group operation of this backend, on plain integers in and
//! bytes out, for the differential tests and the fuzz target
//! (`crate::testing`); nothing in the protocol path uses it.

use super::field::{bytes_of_limbs, Fe8};
use super::point::Ep8;
use super::ristretto;
use crate::testing::{FieldResults, GroupResults};

/// Limbs made normalised (limbs 0..=3 below 2^52, limb 4 below 2^48) by
/// dropping higher bits: the inputs the field code accepts.
pub(crate) fn normalise(l: [u64; 5]) -> [u64; 5] {
    let m = (1u64 << 52) - 1;
    [
        l[0] & m,
        l[1] & m,
        l[2] & m,
        l[3] & m,
        l[4] & ((1 << 48) - 1),
    ]
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn out(x: Fe8) -> [[u8; 32]; 8] {
    x.to_bytes()
}

#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn field_ops(a: &[[u64; 5]; 8], b: &[[u64; 5]; 8]) -> FieldResults {
    let fa = Fe8::from_limbs(&a.map(normalise));
    let fb = Fe8::from_limbs(&b.map(normalise));
    let (was_square, root) = Fe8::sqrt_ratio_i(fa, fb);
    let (ab, aa) = (fa.mul_loose(fb), fa.square_loose());
    let loose = [ab.add(aa), ab.sub(aa), ab.double_add(aa), aa.double_sub(ab)];
    let loose_ok = [ab, aa]
        .iter()
        .flat_map(|x| x.0.map(|v| super::field::lanes(v)))
        .flatten()
        .all(|l| l < 1 << 57);
    // Raw limbs of every result, to check the normalised-form invariant.
    let raw = [
        fa.add(fb),
        fa.sub(fb),
        fa.mul(fb),
        fa.square(),
        fa.neg(),
        fa.invert(),
        fa.pow_p58(),
        root,
        loose[0],
        loose[1],
        loose[2],
        loose[3],
    ]
    .map(|x| x.to_limbs());
    let limbs_ok = raw
        .iter()
        .flatten()
        .all(|l| l[..4].iter().all(|&x| x < 1 << 52) && l[4] < 1 << 48);
    FieldResults {
        a: out(fa),
        add: out(fa.add(fb)),
        sub: out(fa.sub(fb)),
        mul: out(fa.mul(fb)),
        square: out(fa.square()),
        neg: out(fa.neg()),
        invert: out(fa.invert()),
        pow_p58: out(fa.pow_p58()),
        sqrt_ratio: (was_square, out(root)),
        is_negative: fa.is_negative(),
        eq: fa.eq(fb),
        canonical: fa.canonical().to_limbs().map(bytes_of_limbs),
        loose: loose.map(|x| out(x)),
        limbs_normalised: limbs_ok && loose_ok,
    }
}

#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn group_ops(
    a: &[[u8; 32]; 8],
    b: &[[u8; 32]; 8],
    s: &[u8; 32],
) -> Option<GroupResults> {
    let (pa, va) = ristretto::decode(a);
    let (pb, vb) = ristretto::decode(b);
    if va & vb != 0xff {
        return None;
    }
    let sum = pa.add_cached(&pb.to_cached()).to_extended();
    let double = pa.to_proj().double().to_extended();
    let with_identity = pa.add_cached(&Ep8::identity().to_cached()).to_extended();
    Some(GroupResults {
        add: ristretto::encode(&sum),
        double: ristretto::encode(&double),
        add_identity: ristretto::encode(&with_identity),
        mul: ristretto::encode(&super::scalar_mul::mul(
            &pa,
            &crate::digits::scalar_choices(s),
        )),
    })
}
