//! The ECDH-PSI state machines against the plaintext intersection.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use psi_core::codec::{ClientHello, Codec, PointChunk, PointStream, Protocol};
use psi_core::driver::run_ecdh;
use psi_core::{ecdh, Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn item(v: u32) -> Item {
    Item::from_key(&v.to_be_bytes())
}

/// Runs the protocol and compares with the plaintext answer.
fn check(client: &[u32], server: &[u32], seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let run = run_ecdh(
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
    assert_eq!(run.output.matched, expected);
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
}

#[test]
fn identical_disjoint_and_chunk_boundaries() {
    // 4096 is the chunk size: test around it.
    for n in [4095u32, 4096, 4097] {
        let a: Vec<u32> = (0..n).collect();
        check(&a, &a, u64::from(n)); // full overlap
        let b: Vec<u32> = (n..2 * n).collect();
        check(&a, &b, 7); // disjoint
    }
}

#[test]
fn unequal_sizes() {
    let small: Vec<u32> = (0..10).collect();
    let big: Vec<u32> = (5..3000).collect();
    check(&small, &big, 11);
    check(&big, &small, 12);
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

#[test]
fn invalid_point_from_client_is_an_error() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (_, hello) =
        ecdh::Client::start(&mut rng, vec![item(1), item(2)], &Limits::default()).unwrap();
    let items: Arc<[Item]> = vec![item(1)].into();
    let (_, mut server) =
        ecdh::Server::accept(&mut rng, items, &hello, &Limits::default()).unwrap();
    // 0xff.. is not a canonical field element, so not a valid point.
    let bad = PointChunk {
        stream: PointStream::ClientMasked,
        points: vec![[0xff; 32]],
    };
    assert_eq!(
        server.answerer.receive(bad),
        Err(Error::InvalidPoint { index: 0 })
    );
}

#[test]
fn too_many_points_and_short_streams_are_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let (_, hello) = ecdh::Client::start(&mut rng, vec![item(1)], &Limits::default()).unwrap();
    let items: Arc<[Item]> = vec![item(1)].into();
    let (_, mut server) =
        ecdh::Server::accept(&mut rng, items.clone(), &hello, &Limits::default()).unwrap();
    let basepoint = curve25519_dalek_point();
    let two = PointChunk {
        stream: PointStream::ClientMasked,
        points: vec![basepoint, basepoint],
    };
    assert!(matches!(
        server.answerer.receive(two),
        Err(Error::UnexpectedCount { .. })
    ));
    let (_, server) = ecdh::Server::accept(&mut rng, items, &hello, &Limits::default()).unwrap();
    assert!(matches!(
        server.answerer.finish(),
        Err(Error::UnexpectedCount { .. })
    ));
}

#[test]
fn oversized_peer_set_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let hello = ClientHello {
        protocol: Protocol::EcdhIntersection,
        nonce: [0; 32],
        set_size: u64::MAX,
    };
    let hello = ClientHello::from_bytes(&hello.to_bytes()).unwrap();
    let items: Arc<[Item]> = vec![item(1)].into();
    assert!(matches!(
        ecdh::Server::accept(&mut rng, items, &hello, &Limits::default()),
        Err(Error::SetTooLarge { .. })
    ));
}

/// The compressed ristretto255 basepoint (a valid point).
fn curve25519_dalek_point() -> [u8; 32] {
    [
        0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51,
        0x5f, 0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d,
        0x2d, 0x76,
    ]
}
