//! A misbehaving KKRT peer gets errors, never panics.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use psi_core::codec::{Codec, DecodeError, Protocol};
use psi_core::kkrt::{self, MatrixChunk, OprfChunk, ReceiverHello, SenderHello, CODE_BITS};
use psi_core::{Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn items(range: std::ops::Range<u32>) -> Vec<Item> {
    range.map(|v| Item::from_key(&v.to_be_bytes())).collect()
}

fn start(seed: u64) -> (ChaCha20Rng, kkrt::ExpectSenderHello, ReceiverHello) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (state, hello) =
        kkrt::Receiver::start(&mut rng, items(0..100), &Limits::default()).unwrap();
    (rng, state, hello)
}

fn server_items() -> Arc<[Item]> {
    items(50..150).into()
}

#[test]
fn bad_base_ot_points_are_errors() {
    let (mut rng, _, mut hello) = start(1);
    hello.ot_point = [0xff; 32];
    assert_eq!(
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).err(),
        Some(Error::InvalidPoint { index: 0 })
    );
    hello.ot_point = [0; 32]; // the identity
    assert_eq!(
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).err(),
        Some(Error::InvalidPoint { index: 0 })
    );

    let (mut rng, state, hello) = start(2);
    let (mut sh, _) =
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).unwrap();
    let mut short = sh.clone();
    short.ot_points.pop();
    let (_, state2, _) = start(2);
    assert!(matches!(state2.receive(short), Err(Error::Decode(_))));
    sh.ot_points[CODE_BITS - 1] = [0xff; 32];
    assert_eq!(
        state.receive(sh).err(),
        Some(Error::InvalidPoint {
            index: CODE_BITS as u64 - 1
        })
    );
}

#[test]
fn wrong_protocol_and_oversized_sets_are_refused() {
    let (mut rng, state, mut hello) = start(3);
    let limits = Limits { max_set_size: 99 };
    assert!(matches!(
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &limits),
        Err(Error::SetTooLarge { .. })
    ));
    hello.protocol = Protocol::EcdhIntersection;
    assert!(matches!(
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()),
        Err(Error::ProtocolMismatch { .. })
    ));
    let (_, _, good_hello) = start(3);
    let (mut sh, _) =
        kkrt::Sender::accept(&mut rng, server_items(), &good_hello, &Limits::default()).unwrap();
    sh.set_size = u64::MAX;
    assert!(matches!(state.receive(sh), Err(Error::SetTooLarge { .. })));
}

#[test]
fn matrix_stream_errors() {
    let (mut rng, state, hello) = start(4);
    let (sh, mut expect) =
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).unwrap();
    let mut matrix = state.receive(sh).unwrap();
    assert_eq!(matrix.total_rows(), 1664); // bin_count(100)
    matrix.set_chunk_rows(128);
    let chunk = matrix.next_chunk().unwrap();
    // Too many rows: the whole matrix is 1664 rows.
    let too_big = MatrixChunk {
        rows: 1792,
        columns: vec![0; 1792 / 8 * CODE_BITS],
    };
    assert!(matches!(
        expect.receive(too_big),
        Err(Error::UnexpectedCount { .. })
    ));
    // Length inconsistent with the row count (only constructible in memory).
    let inconsistent = MatrixChunk {
        rows: 128,
        columns: vec![0; 5],
    };
    assert!(expect.receive(inconsistent).is_err());
    // Row counts the codec would refuse, built in memory with matching lengths.
    for rows in [0u32, 64, 100] {
        let odd = MatrixChunk {
            rows,
            columns: vec![0; (rows as usize).div_ceil(64) * 8 * CODE_BITS],
        };
        assert!(matches!(expect.receive(odd), Err(Error::Decode(_))));
    }
    // Truncated on the wire.
    let bytes = chunk.to_bytes();
    assert!(matches!(
        MatrixChunk::from_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { .. })
    ));
    expect.receive(chunk).unwrap();
    // Short stream.
    assert!(matches!(
        expect.finish(),
        Err(Error::UnexpectedCount { .. })
    ));
    // The receiver cannot finish early either.
    assert!(matches!(matrix.finish(), Err(Error::Misuse(_))));
}

#[test]
fn oprf_stream_errors() {
    let (mut rng, state, hello) = start(5);
    let (sh, mut expect) =
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).unwrap();
    let mut matrix = state.receive(sh).unwrap();
    while let Some(c) = matrix.next_chunk() {
        expect.receive(c).unwrap();
    }
    let mut waiting = matrix.finish().unwrap();
    let mut values = expect.finish().unwrap();
    let chunk = values.next_chunk().unwrap();
    assert_eq!(chunk.items(), 100);
    let wrong_len = OprfChunk {
        tag_len: chunk.tag_len + 1,
        tags: vec![0; 3 * (usize::from(chunk.tag_len) + 1)],
    };
    assert!(matches!(
        waiting.receive(wrong_len),
        Err(Error::WrongTagLength { .. })
    ));
    let extra = OprfChunk {
        tag_len: chunk.tag_len,
        tags: vec![0; 3 * 101 * usize::from(chunk.tag_len)],
    };
    assert!(matches!(
        waiting.receive(extra),
        Err(Error::UnexpectedCount { .. })
    ));
    let bytes = chunk.to_bytes();
    assert!(OprfChunk::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    let half = OprfChunk {
        tag_len: chunk.tag_len,
        tags: chunk.tags[..chunk.tags.len() / 2].to_vec(),
    };
    waiting.receive(half).unwrap();
    assert!(matches!(
        waiting.finish(),
        Err(Error::UnexpectedCount { .. })
    ));
}

#[test]
fn wrong_sender_hello_count_is_a_decode_error() {
    let (mut rng, _, hello) = start(6);
    let (sh, _) =
        kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).unwrap();
    let mut bytes = sh.to_bytes();
    // The count field follows version, type, protocol, nonce and set size.
    bytes[2 + 1 + 32 + 8 + 1] ^= 1;
    assert!(matches!(
        SenderHello::from_bytes(&bytes),
        Err(DecodeError::InvalidField { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Arbitrary bytes never panic any KKRT decoder.
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), kind in 16u8..20) {
        let mut b = bytes;
        if b.len() >= 2 {
            b[0] = psi_core::codec::WIRE_VERSION;
            b[1] = kind;
        }
        let _ = ReceiverHello::from_bytes(&b);
        let _ = SenderHello::from_bytes(&b);
        let _ = MatrixChunk::from_bytes(&b);
        let _ = OprfChunk::from_bytes(&b);
    }
}

proptest! {

    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random garbage of the right shape from the sender gives a result or an
    /// error, never a panic.
    #[test]
    fn random_sender_values_never_panic(seed in any::<u64>(), tags in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let (mut rng, state, hello) = start(seed);
        let (sh, _) = kkrt::Sender::accept(&mut rng, server_items(), &hello, &Limits::default()).unwrap();
        let mut matrix = state.receive(sh).unwrap();
        while matrix.next_chunk().is_some() {}
        let mut waiting = matrix.finish().unwrap();
        let _ = waiting.receive(OprfChunk { tag_len: 8, tags });
        let _ = waiting.finish();
    }
}
