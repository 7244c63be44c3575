use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::wire::{RunAnswer, RunHello, RunReady};
use super::*;
use crate::codec::{Codec, Protocol};

fn items(n: usize, rng: &mut ChaCha20Rng) -> Vec<Item> {
    (0..n)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            Item::from_digest(b)
        })
        .collect()
}

#[test]
fn both_parties_put_an_item_in_the_same_bucket_and_seeds_differ_per_nonce() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = [7u8; 32];
    let c1 = client_nonce(&mut rng);
    let c2 = client_nonce(&mut rng);
    let s1 = seed(&c1, &server_nonce(&key, &c1));
    assert_eq!(s1, seed(&c1, &server_nonce(&key, &c1)));
    let s2 = seed(&c2, &server_nonce(&key, &c2));
    assert_ne!(s1, s2);
    let (p1, p1b, p2) = (
        Partition::new(&s1),
        Partition::new(&s1),
        Partition::new(&s2),
    );
    let xs = items(2000, &mut rng);
    let mut differ = 0;
    for x in &xs {
        assert_eq!(p1.fine(x), p1b.fine(x));
        assert!(p1.fine(x) < FINE_BUCKETS);
        differ += usize::from(p1.fine(x) != p2.fine(x));
    }
    assert!(
        differ > 1900,
        "another seed is another partition ({differ})"
    );
}

#[test]
fn fine_buckets_are_near_uniform() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let p = Partition::new(&seed(&[1; 32], &[2; 32]));
    let mut counts = vec![0u64; usize::from(FINE_BUCKETS)];
    for x in items(1 << 18, &mut rng) {
        counts[usize::from(p.fine(&x))] += 1;
    }
    // Mean 1024, standard deviation 32: all within eight of them.
    assert!(
        counts.iter().all(|&c| (768..=1280).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn bucket_counts_ranges_and_padding() {
    assert_eq!(bucket_count(0, 0, 1 << 20), 1);
    assert_eq!(bucket_count(1 << 20, 5, 1 << 20), 1);
    assert_eq!(bucket_count((1 << 20) + 1, 5, 1 << 20), 2);
    assert_eq!(bucket_count(5, 100_000_000, 1 << 20), 128);
    assert_eq!(bucket_count(u64::MAX, 0, 1), FINE_BUCKETS);
    for count in [1u16, 2, 8, 256] {
        assert!(valid_count(count));
        let mut next = 0;
        for b in 0..count {
            let r = fine_range(b, count);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, FINE_BUCKETS);
    }
    assert!(!valid_count(0) && !valid_count(3) && !valid_count(512));
    assert_eq!(padded_size(12345, 1), 12345);
    assert_eq!(
        padded_size(0, 4),
        16,
        "mean 0: eight times (0 + 1), plus eight"
    );
    let m = (1u64 << 20).div_ceil(4);
    assert_eq!(padded_size(1 << 20, 4), m + 8 * (m.isqrt() + 1) + 8);
}

#[test]
fn padding_fills_to_the_bound_and_refuses_overflow() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut xs = items(10, &mut rng);
    let real = xs.clone();
    pad(&mut xs, 25, 0, &mut rng).unwrap();
    assert_eq!(xs.len(), 25);
    assert_eq!(&xs[..10], &real[..]);
    let dummies: std::collections::HashSet<_> = xs[10..].iter().collect();
    assert_eq!(dummies.len(), 15);
    assert_eq!(
        pad(&mut xs, 24, 3, &mut rng),
        Err(Error::BucketOverflow {
            bucket: 3,
            items: 25,
            bound: 24
        })
    );
}

#[test]
fn run_messages_round_trip_and_refuse_garbage() {
    let hello = RunHello {
        protocol: Protocol::Kkrt,
        client_nonce: [9; 32],
    };
    assert_eq!(RunHello::from_bytes(&hello.to_bytes()).unwrap(), hello);
    let answer = RunAnswer {
        server_nonce: [3; 32],
        fine_buckets: FINE_BUCKETS,
    };
    assert_eq!(RunAnswer::from_bytes(&answer.to_bytes()).unwrap(), answer);
    let ready = RunReady {
        server_set_size: 1 << 40,
    };
    assert_eq!(RunReady::from_bytes(&ready.to_bytes()).unwrap(), ready);

    let mut bad = RunHello {
        protocol: Protocol::Cardinality,
        client_nonce: [0; 32],
    }
    .to_bytes();
    assert!(
        RunHello::from_bytes(&bad).is_err(),
        "cardinality is not bucketed"
    );
    bad = answer.to_bytes();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(RunAnswer::from_bytes(&bad).is_err());
    let mut long = ready.to_bytes();
    long.push(0);
    assert!(RunReady::from_bytes(&long).is_err());
    assert!(RunHello::from_bytes(&hello.to_bytes()[..10]).is_err());
}
