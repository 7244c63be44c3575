//! Every field and group operation of this backend, on plain integers in and
//! bytes out, for the differential tests and the fuzz target
//! (`crate::testing`); nothing in the protocol path uses it.

use super::field::{bits_of_mask, bytes_of_limbs, Fe4};
use super::point::Ep4;
use super::ristretto;
use crate::testing::{FieldResults, GroupResults};

/// The largest normalised limb plus one: 2^26 + 2^9 (see `field`).
const LIMB_BOUND: u64 = (1 << 26) + (1 << 9);

/// Limbs made normalised (each below 2^26 + 2^9) by reducing each modulo
/// 2^26 + 2^9: the inputs the field code accepts, up to their bound.
pub(crate) fn normalise(l: [u64; 10]) -> [u64; 10] {
    l.map(|x| x % LIMB_BOUND)
}

#[target_feature(enable = "avx2")]
fn out(x: Fe4) -> [[u8; 32]; 4] {
    x.to_bytes()
}

#[target_feature(enable = "avx2")]
pub(crate) fn field_ops(a: &[[u64; 10]; 4], b: &[[u64; 10]; 4]) -> FieldResults<4> {
    let fa = Fe4::from_limbs(&a.map(normalise));
    let fb = Fe4::from_limbs(&b.map(normalise));
    let (was_square, root) = Fe4::sqrt_ratio_i(fa, fb);
    let (ab, aa) = (fa.mul_loose(fb), fa.square_loose());
    let loose = [ab.add(aa), ab.sub(aa), ab.double_add(aa), aa.double_sub(ab)];
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
    let limbs_ok = raw.iter().flatten().flatten().all(|&x| x < LIMB_BOUND);
    let canonical = fa.canonical().to_limbs();
    let canonical_ok = canonical
        .iter()
        .all(|l| l.iter().enumerate().all(|(i, &x)| x < 1 << (26 - i % 2)));
    FieldResults {
        a: out(fa),
        add: out(fa.add(fb)),
        sub: out(fa.sub(fb)),
        mul: out(fa.mul(fb)),
        square: out(fa.square()),
        neg: out(fa.neg()),
        invert: out(fa.invert()),
        pow_p58: out(fa.pow_p58()),
        sqrt_ratio: (bits_of_mask(was_square), out(root)),
        is_negative: bits_of_mask(fa.is_negative()),
        eq: bits_of_mask(fa.eq(fb)),
        canonical: canonical.map(bytes_of_limbs),
        loose: loose.map(|x| out(x)),
        limbs_normalised: limbs_ok && canonical_ok,
    }
}

#[target_feature(enable = "avx2")]
pub(crate) fn group_ops(
    a: &[[u8; 32]; 4],
    b: &[[u8; 32]; 4],
    s: &[u8; 32],
) -> Option<GroupResults<4>> {
    let (pa, va) = ristretto::decode(a);
    let (pb, vb) = ristretto::decode(b);
    if va & vb != 0x0f {
        return None;
    }
    let sum = pa.add_cached(&pb.to_cached()).to_extended();
    let double = pa.to_proj().double().to_extended();
    let with_identity = pa.add_cached(&Ep4::identity().to_cached()).to_extended();
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
