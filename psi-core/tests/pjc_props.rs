//! PSI-cardinality and PSI-sum ([`psi_core::pjc`]) against the plaintext
//! count and sum, in every mode and direction.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use psi_core::codec::Protocol;
use psi_core::driver::{run_cardinality, run_sum};
use psi_core::pjc::{Outcome, Params, SumOutput, MAX_VALUE};
use psi_core::{Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const DIRECTIONS: [Protocol; 2] = [Protocol::SumToValueHolder, Protocol::SumToKeyHolder];

fn item(v: u32) -> Item {
    Item::from_key(&v.to_be_bytes())
}

fn items(v: &[u32]) -> Vec<Item> {
    v.iter().map(|&x| item(x)).collect()
}

fn distinct(v: Vec<u32>) -> Vec<u32> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|x| seen.insert(*x)).collect()
}

fn expected_outcome<T>(count: u64, k: u64, v: T) -> Outcome<T> {
    if count >= k {
        Outcome::Released(v)
    } else {
        Outcome::ThresholdNotMet
    }
}

fn check_cardinality(counter: &[u32], responder: &[u32], k: u64, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let run = run_cardinality(
        &mut rng,
        items(counter),
        items(responder),
        k,
        &Limits::default(),
    )
    .unwrap();
    let theirs: HashSet<u32> = responder.iter().copied().collect();
    let count = counter.iter().filter(|x| theirs.contains(x)).count() as u64;
    assert_eq!(run.output, expected_outcome(count, k, count));
    assert_eq!(run.counter_set_size, counter.len() as u64);
    assert!(run.counter_to_responder > 0 && run.responder_to_counter > 0);
}

/// Runs both directions and compares with the plaintext.
fn check_sum(keys: &[u32], with_values: &[(u32, u64)], k: u64, seed: u64) {
    let values: HashMap<u32, u64> = with_values.iter().copied().collect();
    let count = keys.iter().filter(|x| values.contains_key(x)).count() as u64;
    let sum: u64 = keys.iter().filter_map(|x| values.get(x)).sum();
    for (d, protocol) in DIRECTIONS.into_iter().enumerate() {
        let mut rng = ChaCha20Rng::seed_from_u64(seed * 2 + d as u64);
        let params = Params::new(protocol, k);
        let run = run_sum(
            &mut rng,
            items(keys),
            with_values.iter().map(|&(x, _)| item(x)).collect(),
            with_values.iter().map(|&(_, v)| v).collect(),
            &params,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            run.output,
            expected_outcome(count, k, SumOutput { count, sum }),
            "{protocol}"
        );
        match protocol {
            Protocol::SumToValueHolder => {
                assert_eq!(
                    run.key_holder_count,
                    Some(expected_outcome(count, k, count))
                )
            }
            _ => assert_eq!(run.key_holder_count, None),
        }
    }
}

#[test]
fn cardinality_edge_cases() {
    check_cardinality(&[], &[], 0, 1);
    check_cardinality(&[1], &[], 0, 2);
    check_cardinality(&[], &[1], 0, 3);
    check_cardinality(&[1], &[1], 0, 4);
    check_cardinality(&[1], &[2], 0, 5);
    let a: Vec<u32> = (0..5000).collect();
    let b: Vec<u32> = (5000..9000).collect();
    check_cardinality(&a, &a, 0, 6); // all match, across chunk boundaries
    check_cardinality(&a, &b, 0, 7); // none match
    check_cardinality(&a, &a[..4096], 0, 8);
}

#[test]
fn cardinality_threshold() {
    let a: Vec<u32> = (0..100).collect();
    let b: Vec<u32> = (90..200).collect();
    check_cardinality(&a, &b, 10, 1); // exactly met
    check_cardinality(&a, &b, 11, 2); // one short
    check_cardinality(&[], &[], 1, 3);
}

#[test]
fn sum_edge_cases_both_directions() {
    check_sum(&[], &[], 0, 1);
    check_sum(&[1], &[], 0, 2);
    check_sum(&[], &[(1, 5)], 0, 3);
    check_sum(&[1], &[(1, 5)], 0, 4);
    check_sum(&[1], &[(2, 5)], 0, 5);
    check_sum(&[1, 2], &[(1, 0), (2, 0)], 0, 6); // matches with zero values
                                                 // All match, none match, across chunk boundaries.
    let all: Vec<(u32, u64)> = (0..5000).map(|x| (x, u64::from(x) * 3)).collect();
    let keys: Vec<u32> = (0..5000).collect();
    check_sum(&keys, &all, 0, 7);
    let none: Vec<u32> = (5000..6000).collect();
    check_sum(&none, &all, 0, 8);
}

#[test]
fn values_at_the_limit() {
    // 255 values of 2^32 − 1: the largest total below 2^40 made of maximal values.
    let pairs: Vec<(u32, u64)> = (0..255).map(|x| (x, MAX_VALUE)).collect();
    let keys: Vec<u32> = (0..255).chain(1000..1100).collect();
    check_sum(&keys, &pairs, 0, 1); // sum = 255·(2^32 − 1), just below 2^40
    check_sum(&[7], &[(7, MAX_VALUE)], 1, 2);
}

#[test]
fn sum_threshold_both_directions() {
    let pairs: Vec<(u32, u64)> = (0..50).map(|x| (x, 1000 + u64::from(x))).collect();
    let keys: Vec<u32> = (40..80).collect(); // 10 matches
    check_sum(&keys, &pairs, 10, 1);
    check_sum(&keys, &pairs, 11, 2);
}

/// The run uses the larger of the two parties' thresholds.
#[test]
fn larger_threshold_wins() {
    use psi_core::pjc::{Counter, CounterFinish, Responder};
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let limits = Limits::default();
    let (state, hello) = Counter::start(
        &mut rng,
        items(&[1, 2, 3]),
        &Params::new(Protocol::Cardinality, 0),
        &limits,
    )
    .unwrap();
    let (answer, mut r) = Responder::accept(
        &mut rng,
        items(&[1, 2, 3]).into(),
        None,
        &Params::new(Protocol::Cardinality, 4),
        hello,
        &limits,
    )
    .unwrap();
    let mut c = state.receive(answer).unwrap();
    while let Some(ch) = c.masker.next_chunk() {
        r.answerer.receive(ch).unwrap();
    }
    let mut tags = r.answerer.finish().unwrap();
    while let Some(ch) = tags.next_chunk() {
        c.tags.receive(ch).unwrap();
    }
    let mut set = c.tags.finish().unwrap();
    while let Some(ch) = r.masker.next_chunk() {
        set.receive(ch).unwrap();
    }
    assert!(matches!(
        set.finish().unwrap(),
        CounterFinish::Cardinality(Outcome::ThresholdNotMet)
    ));
}

#[test]
fn out_of_range_values_and_overflowing_totals_are_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for protocol in DIRECTIONS {
        let params = Params::new(protocol, 0);
        let err = run_sum(
            &mut rng,
            items(&[1]),
            items(&[1, 2]),
            vec![3, MAX_VALUE + 1],
            &params,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::ValueOutOfRange {
                index: 1,
                value: MAX_VALUE + 1,
                limit: MAX_VALUE
            }
        );
        // 2^8 + 2 values of 2^32 − 1 add up to more than 2^40: refused, never wrapped.
        let n = 258u32;
        let keys: Vec<u32> = (0..n).collect();
        let err = run_sum(
            &mut rng,
            items(&keys),
            items(&keys),
            vec![MAX_VALUE; n as usize],
            &params,
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::SumOutOfRange { sum_bits: 40, .. }),
            "{err:?}"
        );
        // A smaller agreed bound is checked the same way.
        let small = Params {
            sum_bits: 10,
            ..params.clone()
        };
        let err = run_sum(
            &mut rng,
            items(&[1, 2]),
            items(&[1, 2]),
            vec![1000, 24],
            &small,
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::SumOutOfRange {
                total: 1024,
                sum_bits: 10
            }
        );
        let ok = run_sum(
            &mut rng,
            items(&[1, 2]),
            items(&[1, 2]),
            vec![1000, 23],
            &small,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            ok.output,
            Outcome::Released(SumOutput {
                count: 2,
                sum: 1023
            })
        );
    }
}

#[test]
fn misuse_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let limits = Limits::default();
    // Values for cardinality, none for a sum, wrong count, wrong protocol, bad bound.
    let p = Params::new(Protocol::Cardinality, 0);
    assert!(matches!(
        psi_core::pjc::Responder::start(
            &mut rng,
            items(&[1]).into(),
            Some(vec![1].into()),
            &p,
            &limits
        ),
        Err(Error::Misuse(_))
    ));
    let s = Params::new(Protocol::SumToKeyHolder, 0);
    assert!(matches!(
        psi_core::pjc::Responder::start(&mut rng, items(&[1]).into(), None, &s, &limits),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        run_sum(&mut rng, items(&[1]), items(&[1]), vec![], &s, &limits),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        run_sum(
            &mut rng,
            items(&[1]),
            items(&[1]),
            vec![1],
            &Params::new(Protocol::EcdhIntersection, 0),
            &limits
        ),
        Err(Error::Misuse(_))
    ));
    let bad = Params { sum_bits: 41, ..s };
    assert!(matches!(
        run_sum(&mut rng, items(&[1]), items(&[1]), vec![1], &bad, &limits),
        Err(Error::Misuse(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn cardinality_matches_plaintext(
        a in prop::collection::vec(0u32..400, 0..300),
        b in prop::collection::vec(0u32..400, 0..300),
        k in 0u64..60,
        seed in any::<u64>(),
    ) {
        check_cardinality(&distinct(a), &distinct(b), k, seed);
    }

    #[test]
    fn sum_matches_plaintext(
        keys in prop::collection::vec(0u32..300, 0..200),
        pairs in prop::collection::vec((0u32..300, 0u64..=MAX_VALUE), 0..200),
        k in 0u64..40,
        seed in 0u64..1 << 60,
    ) {
        let mut seen = HashSet::new();
        let pairs: Vec<(u32, u64)> = pairs.into_iter().filter(|(x, _)| seen.insert(*x)).collect();
        check_sum(&distinct(keys), &pairs, k, seed);
    }
}
