//! The KKRT state machines against the plaintext intersection.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::prelude::*;
use psi_core::driver::run_kkrt;
use psi_core::{Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn item(v: u32) -> Item {
    Item::from_key(&v.to_be_bytes())
}

/// Runs the protocol and compares with the plaintext answer.
fn check(client: &[u32], server: &[u32], seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let run = run_kkrt(
        &mut rng,
        client.iter().map(|&v| item(v)).collect(),
        server.iter().map(|&v| item(v)).collect(),
        &Limits::default(),
    )
    .unwrap();
    let server_set: HashSet<u32> = server.iter().copied().collect();
    let expected: Vec<usize> = client
        .iter()
        .enumerate()
        .filter(|(_, v)| server_set.contains(v))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        run.output.matched,
        expected,
        "|X| = {}, |Y| = {}",
        client.len(),
        server.len()
    );
    assert_eq!(run.output.server_set_size, server.len() as u64);
    assert_eq!(run.client_set_size, client.len() as u64);
}

fn distinct(v: Vec<u32>) -> Vec<u32> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|x| seen.insert(*x)).collect()
}

#[test]
fn empty_and_tiny_sets() {
    check(&[], &[], 1);
    check(&[1], &[], 2);
    check(&[], &[1], 3);
    check(&[1], &[1], 4);
    check(&[1], &[2], 5);
    check(&[1, 2], &[2, 3], 6);
    check(&[1, 2], &[1, 2], 7);
}

#[test]
fn identical_disjoint_and_boundaries() {
    // 4/5, 64/65, 2048/2049 and 4095/4096: the small tables of `bin_count`
    // change size (and at 4096 the factor 1.27 takes over); 6450/6451: table
    // sizes cross a 128-bin block (8192 bins is also one matrix chunk).
    for n in [4u32, 5, 64, 65, 2048, 2049, 4095, 4096, 4097, 6450, 6451] {
        let a: Vec<u32> = (0..n).collect();
        check(&a, &a, u64::from(n)); // identical
        let b: Vec<u32> = (n..2 * n).collect();
        check(&a, &b, 7); // disjoint
        let c: Vec<u32> = (n / 2..n + n / 2).collect();
        check(&a, &c, 8); // half
    }
}

#[test]
fn unequal_sizes() {
    let small: Vec<u32> = (0..10).collect();
    let big: Vec<u32> = (5..20_005).collect();
    check(&small, &big, 11);
    check(&big, &small, 12);
}

#[test]
fn unequal_sizes_large() {
    let small: Vec<u32> = (0..10).collect();
    let big: Vec<u32> = (5..100_005).collect();
    check(&small, &big, 13);
    check(&big, &small, 14);
}

#[test]
fn million_vs_million_repeated() {
    // Exact counts on every run, each with fresh cuckoo seeds and base OTs.
    let a: Vec<u32> = (0..1_000_000).collect();
    let b: Vec<u32> = (500_000..1_500_000).collect();
    for seed in 15..18 {
        check(&a, &b, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn matches_plaintext(
        a in proptest::collection::vec(0u32..3000, 0..1500),
        b in proptest::collection::vec(0u32..3000, 0..1500),
        seed in any::<u64>(),
    ) {
        check(&distinct(a), &distinct(b), seed);
    }
}

/// Cuckoo insertion (3 hash functions, no stash, `kkrt::bin_count` bins) should
/// essentially never need a second seed; count retries over many fresh seeds,
/// around the sizes where the table changes (a check of the implementation;
/// the `2^-40` itself rests on `bin_count`'s analysis, not on these trials).
fn cuckoo_retries(sizes: &[u32], trials: u64) -> u32 {
    use psi_core::kkrt;
    let mut total = 0;
    for &n in sizes {
        let x: Vec<Item> = (0..n).map(item).collect();
        for t in 0..trials {
            let mut rng = ChaCha20Rng::seed_from_u64(t);
            let (state, _) =
                kkrt::Receiver::start(&mut rng, x.clone(), &Limits::default()).unwrap();
            total += state.cuckoo_retries();
        }
    }
    total
}

#[test]
fn cuckoo_failure_rate_small_sets() {
    assert_eq!(
        cuckoo_retries(
            &[1, 2, 3, 4, 5, 63, 64, 65, 200, 1000, 2048, 2049, 4095],
            200
        ),
        0
    );
    assert_eq!(cuckoo_retries(&[4096, 4097, 6451], 100), 0);
}

#[test]
#[ignore = "many trials; run with --release -- --ignored"]
fn cuckoo_failure_rate_many_trials() {
    assert_eq!(cuckoo_retries(&[64, 65, 500, 2000, 4095], 5000), 0);
    assert_eq!(cuckoo_retries(&[4096, 8192, 1 << 16], 2000), 0);
}

/// Items should be distinct (the table layer deduplicates). Two copies of an item
/// still fit in the cuckoo table (under different hash functions) and are both
/// reported; four copies cannot fit (three candidate bins), which is an error.
#[test]
fn repeated_items() {
    check(&[1, 2, 1], &[1, 5], 21);
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let x = vec![item(7); 4];
    assert!(matches!(
        psi_core::kkrt::Receiver::start(&mut rng, x, &Limits::default()),
        Err(psi_core::Error::Misuse(_))
    ));
}
