//! Differential tests of the group operations against curve25519-dalek: the
//! IFMA and AVX2 additions, doublings and scalar multiplications on random points and
//! edge scalars, and the whole batch API of every backend (hash, decode of
//! valid and random encodings, encode, multiply) on batches of every length
//! modulo 8.
//!
//! `PSI_GROUP_CASES=10000000 cargo test --release -p psi-group --test group`
//! is the long run (README, "Group backends"); with `PSI_GROUP_BACKEND=avx2`
//! (or another name) the batch API tests take that backend only.

mod common;

use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::traits::Identity;
use psi_group::testing::{avx2_group_ops, ifma_group_ops, GroupResults};
use psi_group::{Backend, Error, Points, RistrettoPoint, Scalar};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn random_point(rng: &mut ChaCha20Rng) -> RistrettoPoint {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    RistrettoPoint::from_uniform_bytes(&wide)
}

fn edge_scalar(rng: &mut ChaCha20Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let random = Scalar::from_bytes_mod_order_wide(&wide);
    match rng.next_u32() % 8 {
        0 => Scalar::ZERO,
        1 => Scalar::ONE,
        2 => -Scalar::ONE,
        3 => Scalar::from(rng.next_u32() % 17),
        4 => Scalar::from(1u128 << 127) * Scalar::from(1u128 << 125),
        _ => random,
    }
}

/// `N` lanes' worth of random points (some identities, some `b = ±a`) and an
/// edge scalar per round, through `ops`, against curve25519-dalek.
fn group_ops_match_dalek<const N: usize>(
    name: &str,
    seed: u64,
    ops: impl Fn(&[[u8; 32]; N], &[[u8; 32]; N], &[u8; 32]) -> Option<Option<GroupResults<N>>>,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let cases = common::cases();
    let mut done = 0;
    while done < cases {
        let a: [RistrettoPoint; N] = core::array::from_fn(|_| match rng.next_u32() % 6 {
            0 => RistrettoPoint::identity(),
            _ => random_point(&mut rng),
        });
        let b: [RistrettoPoint; N] = core::array::from_fn(|j| match rng.next_u32() % 6 {
            0 => a[j],
            1 => -a[j],
            2 => RistrettoPoint::identity(),
            _ => random_point(&mut rng),
        });
        let s = edge_scalar(&mut rng);
        let got = ops(
            &a.map(|p| p.compress().0),
            &b.map(|p| p.compress().0),
            &s.to_bytes(),
        )
        .expect("the backend's instructions were detected")
        .expect("encodings of points decode");
        for j in 0..N {
            assert_eq!(
                got.add[j],
                (a[j] + b[j]).compress().0,
                "{name} add, lane {j}"
            );
            assert_eq!(
                got.double[j],
                (a[j] + a[j]).compress().0,
                "{name} double, lane {j}"
            );
            assert_eq!(
                got.add_identity[j],
                a[j].compress().0,
                "{name} add identity, lane {j}"
            );
            assert_eq!(
                got.mul[j],
                (a[j] * s).compress().0,
                "{name} mul by {s:?}, lane {j}"
            );
        }
        done += N;
    }
    println!("{name} group: {done} cases agree with curve25519-dalek");
}

#[test]
fn ifma_add_double_mul_match_dalek() {
    if common::ifma_or_skip("ifma_add_double_mul_match_dalek") {
        group_ops_match_dalek("ifma8", 0x6a0f, ifma_group_ops);
    }
}

#[test]
fn avx2_add_double_mul_match_dalek() {
    if common::avx2_or_skip("avx2_add_double_mul_match_dalek") {
        group_ops_match_dalek("avx2", 0xa2f2, avx2_group_ops);
    }
}

/// Every backend this CPU runs, or only the one `PSI_GROUP_BACKEND` names
/// (the long run of one backend).
fn backends() -> Vec<Backend> {
    if std::env::var_os("PSI_GROUP_BACKEND").is_some() {
        let one = Backend::from_env().expect("PSI_GROUP_BACKEND names a backend this CPU runs");
        println!("only {} (PSI_GROUP_BACKEND)", one.name());
        return vec![one];
    }
    let mut all = vec![Backend::portable()];
    if common::avx2_or_skip("batch API on avx2") {
        all.extend(Backend::avx2());
    }
    if common::ifma_or_skip("batch API on ifma8") {
        all.extend(Backend::ifma8());
    }
    all
}

#[test]
fn batch_api_matches_dalek() {
    let backends = backends();
    let mut rng = ChaCha20Rng::seed_from_u64(0xba7c);
    let cases = common::cases();
    let mut done = 0;
    let mut len = 0usize;
    while done < cases {
        len = len % 19 + 1; // every length 1..=19, so every remainder mod 8
        let mut inputs = vec![[0u8; 64]; len];
        for i in inputs.iter_mut() {
            match rng.next_u32() % 16 {
                0 => *i = [0xff; 64],
                1 => *i = [0; 64],
                _ => rng.fill_bytes(i),
            }
        }
        let want: Vec<RistrettoPoint> = inputs
            .iter()
            .map(RistrettoPoint::from_uniform_bytes)
            .collect();
        let want_enc: Vec<[u8; 32]> = want.iter().map(|p| p.compress().0).collect();
        let s = edge_scalar(&mut rng);
        let want_mul: Vec<[u8; 32]> = want.iter().map(|p| (p * s).compress().0).collect();
        // Random encodings, most invalid; where dalek accepts one so must we.
        let mut random_enc = vec![[0u8; 32]; len];
        for e in random_enc.iter_mut() {
            rng.fill_bytes(e);
            e[0] &= 0xfe;
            e[31] &= 0x7f;
        }
        let dalek_first_bad = random_enc
            .iter()
            .position(|e| CompressedRistretto(*e).decompress().is_none());
        for &backend in &backends {
            let name = backend.name();
            let points = Points::from_uniform_bytes(backend, &inputs);
            assert_eq!(points.len(), len);
            assert_eq!(points.compress(), want_enc, "{name} from_uniform_bytes");
            assert_eq!(points.mul(&s).compress(), want_mul, "{name} mul");
            assert_eq!(points.mul_compress(&s), want_mul, "{name} mul_compress");
            let decoded = Points::decompress(backend, &want_mul).expect("valid");
            assert_eq!(decoded.compress(), want_mul, "{name} decompress");
            assert_eq!(
                decoded.to_dalek(),
                want.iter().map(|p| p * s).collect::<Vec<_>>()
            );
            match (Points::decompress(backend, &random_enc), dalek_first_bad) {
                (Ok(p), None) => assert_eq!(p.compress(), random_enc, "{name}"),
                (Err(Error::InvalidEncoding { index }), Some(i)) => assert_eq!(index, i, "{name}"),
                (got, want) => panic!("{name}: {:?} vs dalek {want:?}", got.err()),
            }
        }
        done += len;
    }
    println!("batch API: {done} points agree with curve25519-dalek on every backend");
}

/// Identity points (a peer may send the all-zero encoding) among others in
/// one batch: `mul_compress` inverts a whole batch at once, and an identity
/// lane must neither spoil the other points' encodings nor encode as
/// anything but zero.
#[test]
fn identities_in_a_batch_spoil_nothing() {
    let backends = backends();
    let mut rng = ChaCha20Rng::seed_from_u64(0x1de7);
    for round in 0..200 {
        let len = 1 + round % 40;
        let encodings: Vec<[u8; 32]> = (0..len)
            .map(|_| match rng.next_u32() % 3 {
                0 => [0u8; 32],
                _ => random_point(&mut rng).compress().0,
            })
            .collect();
        let s = edge_scalar(&mut rng);
        let want: Vec<[u8; 32]> = encodings
            .iter()
            .map(|e| {
                (CompressedRistretto(*e).decompress().expect("valid") * s)
                    .compress()
                    .0
            })
            .collect();
        for &backend in &backends {
            let points = Points::decompress(backend, &encodings).expect("valid");
            assert_eq!(
                points.mul_compress(&s),
                want,
                "{} round {round}",
                backend.name()
            );
        }
    }
}
