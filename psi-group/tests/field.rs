//! Differential tests of every IFMA and AVX2 field operation against
//! arbitrary-precision integers (num-bigint), on random values, edge values
//! (0, 1, p − 1, p, p + 1, 2p, 2^255 − 1, 2^256 − 1, …) and limbs at their
//! bounds (IFMA: 0, 1, 2^52 − 1 in limbs 0..=3, 2^48 − 1 in limb 4; AVX2:
//! 0, 1, 2^25 − 1, 2^26 − 1 and the largest normalised limb 2^26 + 2^9 − 1
//! in any limb; in any mix). That includes the sums and differences of
//! uncarried products the point formulas use (`FieldResults::loose`), and
//! for ifma8 the bound of those products' limbs (below 2^57).
//!
//! `PSI_GROUP_CASES=10000000 cargo test --release -p psi-group --test field`
//! is the long run (README, "Group backends").

mod common;

use num_bigint::BigUint;
use psi_group::testing::{avx2_field_ops, ifma_field_ops, FieldResults};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const M52: u64 = (1 << 52) - 1;
const M48: u64 = (1 << 48) - 1;

fn p() -> BigUint {
    (BigUint::from(1u8) << 255u32) - BigUint::from(19u8)
}

fn value(l: &[u64; 5]) -> BigUint {
    let n = [l[0] & M52, l[1] & M52, l[2] & M52, l[3] & M52, l[4] & M48];
    n.iter()
        .enumerate()
        .fold(BigUint::default(), |acc, (i, &x)| {
            acc + (BigUint::from(x) << (52 * i))
        })
}

/// Limbs of a value below 2^256.
fn limbs(v: &BigUint) -> [u64; 5] {
    let m = BigUint::from(M52);
    core::array::from_fn(|i| {
        let part = v >> (52 * i);
        let part = if i < 4 { part & &m } else { part };
        part.to_u64_digits().first().copied().unwrap_or(0)
    })
}

fn bytes(v: &BigUint) -> [u8; 32] {
    let mut out = [0u8; 32];
    let le = v.to_bytes_le();
    out[..le.len()].copy_from_slice(&le);
    out
}

fn edge_values() -> Vec<BigUint> {
    let one = BigUint::from(1u8);
    let p = p();
    let two = |k: u32| &one << k;
    vec![
        BigUint::default(),
        one.clone(),
        BigUint::from(2u8),
        BigUint::from(19u8),
        &p - 1u8,
        p.clone(),
        &p + 1u8,
        &p + 18u8,
        &p + 19u8,
        &p * 2u8 - 1u8,
        &p * 2u8,
        &p * 2u8 + 1u8,
        two(255) - 1u8,
        two(255),
        two(256) - 1u8,
        two(52) - 1u8,
        two(52),
        two(104) - 1u8,
        two(208) - 1u8,
        (&p - 1u8) >> 1,
        (&p + 1u8) >> 1,
    ]
}

fn random_limbs(rng: &mut ChaCha20Rng, edges: &[BigUint]) -> [u64; 5] {
    match rng.next_u32() % 4 {
        0 => limbs(&edges[rng.next_u32() as usize % edges.len()]),
        1 => core::array::from_fn(|i| {
            let max = if i == 4 { M48 } else { M52 };
            match rng.next_u32() % 5 {
                0 => 0,
                1 => 1,
                2 => max,
                3 => max - 1,
                _ => rng.next_u64() & max,
            }
        }),
        _ => {
            let mut l: [u64; 5] = core::array::from_fn(|_| rng.next_u64() & M52);
            l[4] &= M48;
            l
        }
    }
}

/// RFC 9496 SQRT_RATIO_M1 on integers.
fn sqrt_ratio_reference(u: &BigUint, v: &BigUint, sqrt_m1: &BigUint) -> (bool, BigUint) {
    let p = p();
    let e = (&p - 5u8) >> 3;
    let v3 = v.modpow(&BigUint::from(3u8), &p);
    let v7 = v.modpow(&BigUint::from(7u8), &p);
    let mut r = (u * &v3 % &p) * (u * &v7 % &p).modpow(&e, &p) % &p;
    let check = v * &r * &r % &p;
    let u = u % &p;
    let neg_u = (&p - &u) % &p;
    let correct = check == u;
    let flipped = check == neg_u;
    let flipped_i = check == &neg_u * sqrt_m1 % &p;
    if flipped || flipped_i {
        r = r * sqrt_m1 % &p;
    }
    if r.bit(0) {
        r = &p - r;
    }
    (correct || flipped, r % &p)
}

fn sqrt_m1() -> BigUint {
    let s = BigUint::parse_bytes(
        b"2b8324804fc1df0b2b4d00993dfbd7a72f431806ad2fe478c4ee1b274a0ea0b0",
        16,
    )
    .expect("hex");
    assert_eq!(&s * &s % p(), p() - 1u8);
    s
}

/// Lane j of `got` against num-bigint, for inputs of values `va`, `vb`.
fn check_lane<const N: usize>(
    got: &FieldResults<N>,
    j: usize,
    va: &BigUint,
    vb: &BigUint,
    sqrt_m1: &BigUint,
    ctx: &str,
) {
    let p = p();
    let va = va % &p;
    let vb = vb % &p;
    assert_eq!(got.a[j], bytes(&va), "a: {ctx}");
    assert_eq!(got.canonical[j], bytes(&va), "canonical: {ctx}");
    assert_eq!(got.add[j], bytes(&((&va + &vb) % &p)), "add: {ctx}");
    assert_eq!(got.sub[j], bytes(&((&va + &p - &vb) % &p)), "sub: {ctx}");
    assert_eq!(got.mul[j], bytes(&(&va * &vb % &p)), "mul: {ctx}");
    assert_eq!(got.square[j], bytes(&(&va * &va % &p)), "square: {ctx}");
    assert_eq!(got.neg[j], bytes(&((&p - &va) % &p)), "neg: {ctx}");
    let inv = va.modpow(&(&p - 2u8), &p);
    assert_eq!(got.invert[j], bytes(&inv), "invert: {ctx}");
    let p58 = va.modpow(&((&p - 5u8) >> 3), &p);
    assert_eq!(got.pow_p58[j], bytes(&p58), "pow_p58: {ctx}");
    let (sq, root) = sqrt_ratio_reference(&va, &vb, sqrt_m1);
    assert_eq!(got.sqrt_ratio.0 >> j & 1 == 1, sq, "sqrt_ratio flag: {ctx}");
    assert_eq!(got.sqrt_ratio.1[j], bytes(&root), "sqrt_ratio root: {ctx}");
    assert_eq!(
        got.is_negative >> j & 1 == 1,
        va.bit(0),
        "is_negative: {ctx}"
    );
    assert_eq!(got.eq >> j & 1 == 1, va == vb, "eq: {ctx}");
    let (ab, aa) = (&va * &vb % &p, &va * &va % &p);
    let loose = [
        (&ab + &aa) % &p,
        (&ab + &p - &aa) % &p,
        (&ab * 2u8 + &aa) % &p,
        (&aa * 2u8 + &p - &ab) % &p,
    ];
    for (k, want) in loose.iter().enumerate() {
        assert_eq!(got.loose[k][j], bytes(want), "loose {k}: {ctx}");
    }
}

#[test]
fn field_operations_match_big_integers() {
    if !common::ifma_or_skip("field_operations_match_big_integers") {
        return;
    }
    let p = p();
    let sqrt_m1 = sqrt_m1();
    let edges = edge_values();
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed_f1e1d);
    let cases = common::cases();
    let mut done = 0;
    while done < cases {
        let a: [[u64; 5]; 8] = core::array::from_fn(|_| random_limbs(&mut rng, &edges));
        let mut b: [[u64; 5]; 8] = core::array::from_fn(|_| random_limbs(&mut rng, &edges));
        // Some lanes get b ≡ a, in another representation where one fits.
        for j in 0..8 {
            if rng.next_u32() % 8 == 0 {
                let va = value(&a[j]);
                let alt = &va + &p;
                b[j] = if alt.bits() <= 256 {
                    limbs(&alt)
                } else {
                    limbs(&va)
                };
            }
        }
        let got = ifma_field_ops(&a, &b).expect("IFMA was detected");
        assert!(
            got.limbs_normalised,
            "a result left normalised form: {a:x?} {b:x?}"
        );
        for j in 0..8 {
            let ctx = format!("a = {:x?}, b = {:x?}", a[j], b[j]);
            check_lane(&got, j, &value(&a[j]), &value(&b[j]), &sqrt_m1, &ctx);
        }
        done += 8;
    }
    println!("ifma8 field: {done} cases agree with num-bigint");
}

/// Offsets and widths of the AVX2 backend's radix-2^25.5 limbs.
const OFFSET10: [usize; 10] = [0, 26, 51, 77, 102, 128, 153, 179, 204, 230];
/// The largest normalised AVX2 limb plus one (its inputs are reduced modulo this).
const BOUND10: u64 = (1 << 26) + (1 << 9);

fn value10(l: &[u64; 10]) -> BigUint {
    l.iter()
        .zip(OFFSET10)
        .fold(BigUint::default(), |acc, (&x, off)| {
            acc + (BigUint::from(x % BOUND10) << off)
        })
}

/// Radix-2^25.5 limbs of a value below 2^256 (limb 9 takes bits 230 up,
/// below 2^26).
fn limbs10(v: &BigUint) -> [u64; 10] {
    core::array::from_fn(|i| {
        let part = v >> OFFSET10[i];
        let part = if i < 9 {
            part & BigUint::from((1u64 << (26 - i % 2)) - 1)
        } else {
            part
        };
        part.to_u64_digits().first().copied().unwrap_or(0)
    })
}

fn random_limbs10(rng: &mut ChaCha20Rng, edges: &[BigUint]) -> [u64; 10] {
    match rng.next_u32() % 4 {
        0 => limbs10(&edges[rng.next_u32() as usize % edges.len()]),
        1 => core::array::from_fn(|i| {
            let width_max = (1u64 << (26 - i % 2)) - 1;
            match rng.next_u32() % 8 {
                0 => 0,
                1 => 1,
                2 => width_max,
                3 => width_max + 1,
                4 => BOUND10 - 1,
                5 => (1 << 26) - 1,
                6 => u64::from(rng.next_u32()) % BOUND10,
                _ => u64::from(rng.next_u32()) & width_max,
            }
        }),
        2 => core::array::from_fn(|_| u64::from(rng.next_u32()) % BOUND10),
        _ => core::array::from_fn(|i| u64::from(rng.next_u32()) & ((1 << (26 - i % 2)) - 1)),
    }
}

#[test]
fn avx2_field_operations_match_big_integers() {
    if !common::avx2_or_skip("avx2_field_operations_match_big_integers") {
        return;
    }
    let p = p();
    let sqrt_m1 = sqrt_m1();
    let edges = edge_values();
    let mut rng = ChaCha20Rng::seed_from_u64(0xa2f1e1d);
    let cases = common::cases();
    let mut done = 0;
    while done < cases {
        let a: [[u64; 10]; 4] = core::array::from_fn(|_| random_limbs10(&mut rng, &edges));
        let mut b: [[u64; 10]; 4] = core::array::from_fn(|_| random_limbs10(&mut rng, &edges));
        // Some lanes get b ≡ a, in another representation where one fits.
        for j in 0..4 {
            if rng.next_u32() % 8 == 0 {
                let va = value10(&a[j]);
                let alt = &va + &p;
                b[j] = if alt.bits() <= 256 {
                    limbs10(&alt)
                } else {
                    limbs10(&(&va % &p))
                };
            }
        }
        let got = avx2_field_ops(&a, &b).expect("AVX2 was detected");
        assert!(
            got.limbs_normalised,
            "a result left normalised form: {a:x?} {b:x?}"
        );
        for j in 0..4 {
            let ctx = format!("a = {:x?}, b = {:x?}", a[j], b[j]);
            check_lane(&got, j, &value10(&a[j]), &value10(&b[j]), &sqrt_m1, &ctx);
        }
        done += 4;
    }
    println!("avx2 field: {done} cases agree with num-bigint");
}
