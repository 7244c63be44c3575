//! Decoders of the PSI-cardinality/sum messages and a misbehaving peer:
//! errors, never panics.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use psi_core::codec::{Codec, DecodeError, PointChunk, PointStream, Protocol, TagChunk};
use psi_core::pjc::{
    Counter, DecryptedSum, MaskedSum, Params, PjcHello, Responder, ResponderFinale,
    ResponderSetChunk, Role, ShuffledTags, SumResult, MAX_RESPONDER_CHUNK_ITEMS,
};
use psi_core::{Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn hello() -> PjcHello {
    PjcHello {
        protocol: Protocol::SumToKeyHolder,
        role: Role::Responder,
        nonce: [5; 32],
        set_size: 1000,
        min_intersection: 10,
        sum_bits: 40,
        public_key: Some([9; 32]),
    }
}

fn samples() -> Vec<Vec<u8>> {
    vec![
        hello().to_bytes(),
        PjcHello {
            public_key: None,
            ..hello()
        }
        .to_bytes(),
        ShuffledTags(TagChunk {
            tag_len: 9,
            tags: (0..90).collect(),
        })
        .to_bytes(),
        ResponderSetChunk {
            points: vec![[1; 32], [2; 32]],
            ciphertexts: vec![[3; 64], [4; 64]],
        }
        .to_bytes(),
        ResponderSetChunk {
            points: vec![[1; 32]],
            ciphertexts: vec![],
        }
        .to_bytes(),
        SumResult::Sum {
            count: 7,
            ciphertext: [6; 64],
        }
        .to_bytes(),
        SumResult::ThresholdNotMet.to_bytes(),
        MaskedSum {
            ciphertext: [8; 64],
        }
        .to_bytes(),
        DecryptedSum { point: [1; 32] }.to_bytes(),
    ]
}

/// Decodes `bytes` as every new message type; returns how many accepted it.
fn decode_all(bytes: &[u8]) -> usize {
    [
        PjcHello::from_bytes(bytes).is_ok(),
        ShuffledTags::from_bytes(bytes).is_ok(),
        ResponderSetChunk::from_bytes(bytes).is_ok(),
        SumResult::from_bytes(bytes).is_ok(),
        MaskedSum::from_bytes(bytes).is_ok(),
        DecryptedSum::from_bytes(bytes).is_ok(),
        PointChunk::decode(PointStream::CounterMasked, bytes).is_ok(),
    ]
    .into_iter()
    .filter(|&ok| ok)
    .count()
}

#[test]
fn round_trips_truncation_and_trailing_bytes() {
    assert_eq!(PjcHello::from_bytes(&hello().to_bytes()), Ok(hello()));
    let r = ResponderSetChunk {
        points: vec![[1; 32], [2; 32]],
        ciphertexts: vec![[3; 64], [4; 64]],
    };
    assert_eq!(ResponderSetChunk::from_bytes(&r.to_bytes()), Ok(r));
    for bytes in samples() {
        // Each sample decodes as exactly one message type (distinct type bytes).
        assert_eq!(decode_all(&bytes), 1, "{bytes:?}");
        for cut in 0..bytes.len() {
            assert_eq!(decode_all(&bytes[..cut]), 0, "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode_all(&long), 0);
        let mut other = bytes.clone();
        other[0] = psi_core::codec::WIRE_VERSION + 1;
        assert_eq!(decode_all(&other), 0);
    }
}

#[test]
fn lengths_and_flags_are_checked_before_allocating() {
    let mut b = ResponderSetChunk {
        points: vec![],
        ciphertexts: vec![],
    }
    .to_bytes();
    b[2..6].copy_from_slice(&(MAX_RESPONDER_CHUNK_ITEMS + 1).to_be_bytes());
    assert!(matches!(
        ResponderSetChunk::from_bytes(&b),
        Err(DecodeError::TooLarge { .. })
    ));
    b[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        ResponderSetChunk::from_bytes(&b),
        Err(DecodeError::TooLarge { .. })
    ));
    b[2..6].copy_from_slice(&0u32.to_be_bytes());
    b[6] = 2;
    assert!(matches!(
        ResponderSetChunk::from_bytes(&b),
        Err(DecodeError::InvalidField { .. })
    ));
    let mut t = ShuffledTags(TagChunk {
        tag_len: 8,
        tags: vec![],
    })
    .to_bytes();
    t[3..7].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        ShuffledTags::from_bytes(&t),
        Err(DecodeError::TooLarge { .. })
    ));
    let mut h = hello().to_bytes();
    h[3] = 3; // role
    assert!(matches!(
        PjcHello::from_bytes(&h),
        Err(DecodeError::InvalidField { .. })
    ));
    let mut h = hello().to_bytes();
    h[4 + 32 + 16] = 41; // sum bits
    assert!(matches!(
        PjcHello::from_bytes(&h),
        Err(DecodeError::TooLarge { .. })
    ));
    let mut h = hello().to_bytes();
    h[4 + 32 + 16 + 1] = 2; // public-key flag
    assert!(matches!(
        PjcHello::from_bytes(&h),
        Err(DecodeError::InvalidField { .. })
    ));
    let mut s = SumResult::ThresholdNotMet.to_bytes();
    s[2] = 9;
    assert!(SumResult::from_bytes(&s).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(pick in 0usize..9, pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = samples()[pick].clone();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let _ = decode_all(&bytes);
    }
}

fn items(r: std::ops::Range<u32>) -> Vec<Item> {
    r.map(|v| Item::from_key(&v.to_be_bytes())).collect()
}

#[test]
fn hellos_that_disagree_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let limits = Limits::default();
    let sum = Params::new(Protocol::SumToValueHolder, 0);
    let (state, _) = Counter::start(&mut rng, items(0..10), &sum, &limits).unwrap();
    let (_, good) = Responder::start(
        &mut rng,
        items(0..10).into(),
        Some(vec![1; 10].into()),
        &sum,
        &limits,
    )
    .unwrap();
    let bad = [
        PjcHello {
            protocol: Protocol::SumToKeyHolder,
            ..good.clone()
        },
        PjcHello {
            role: Role::Counter,
            ..good.clone()
        },
        PjcHello {
            sum_bits: 30,
            ..good.clone()
        },
        PjcHello {
            public_key: None,
            ..good.clone()
        },
        PjcHello {
            public_key: Some([0; 32]), // the identity
            ..good.clone()
        },
        PjcHello {
            public_key: Some([0xff; 32]),
            ..good.clone()
        },
        PjcHello {
            set_size: u64::MAX,
            ..good.clone()
        },
    ];
    for h in bad {
        let (s, _) = Counter::start(&mut rng, items(0..10), &sum, &limits).unwrap();
        assert!(s.receive(h).is_err());
    }
    assert!(state.receive(good).is_ok());
}

#[test]
fn a_misbehaving_peer_gets_errors() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let limits = Limits::default();
    let params = Params::new(Protocol::SumToValueHolder, 0);
    let (state, hello) = Counter::start(&mut rng, items(0..10), &params, &limits).unwrap();
    let values: Arc<[u64]> = vec![3; 10].into();
    let (answer, mut r) = Responder::accept(
        &mut rng,
        items(5..15).into(),
        Some(values),
        &params,
        hello,
        &limits,
    )
    .unwrap();
    let mut c = state.receive(answer).unwrap();
    // Bad and surplus points to the responder.
    let bad = PointChunk {
        stream: PointStream::CounterMasked,
        points: vec![[0xff; 32]],
    };
    assert_eq!(
        r.answerer.receive(bad),
        Err(Error::InvalidPoint { index: 0 })
    );
    let wrong_stream = PointChunk {
        stream: PointStream::ClientMasked,
        points: vec![],
    };
    assert!(matches!(
        r.answerer.receive(wrong_stream),
        Err(Error::Misuse(_))
    ));
    let chunk = c.masker.next_chunk().unwrap();
    r.answerer.receive(chunk.clone()).unwrap();
    assert!(matches!(
        r.answerer.receive(chunk),
        Err(Error::UnexpectedCount { .. })
    ));
    let mut tags = r.answerer.finish().unwrap();
    let t = tags.next_chunk().unwrap();
    let wrong_len = ShuffledTags(TagChunk {
        tag_len: t.0.tag_len + 1,
        tags: vec![0; usize::from(t.0.tag_len + 1)],
    });
    assert!(matches!(
        c.tags.receive(wrong_len),
        Err(Error::WrongTagLength { .. })
    ));
    c.tags.receive(t).unwrap();
    let mut set = c.tags.finish().unwrap();
    let mut chunk = r.masker.next_chunk().unwrap();
    // Missing ciphertexts; then a bad ciphertext on a matching item.
    let stripped = ResponderSetChunk {
        points: chunk.points.clone(),
        ciphertexts: vec![],
    };
    assert!(matches!(
        set.receive(stripped),
        Err(Error::UnexpectedCount { .. })
    ));
    for c in &mut chunk.ciphertexts {
        *c = [0xff; 64];
    }
    assert!(matches!(
        set.receive(chunk),
        Err(Error::InvalidPoint { .. })
    ));
    // The value holder refuses a count larger than either set, and bad ciphertexts.
    let ResponderFinale::ExpectSum(expect) = r.finale else {
        panic!("direction 1")
    };
    assert!(matches!(
        expect.receive(SumResult::Sum {
            count: 11,
            ciphertext: [0; 64]
        }),
        Err(Error::UnexpectedCount { .. })
    ));
}

#[test]
fn a_sum_outside_the_range_is_an_error_not_a_wrapped_value() {
    // Direction 2: a value holder that answers a point whose discrete log is
    // not a plausible sum makes the key holder fail, not guess.
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let limits = Limits::default();
    let params = Params {
        sum_bits: 12,
        ..Params::new(Protocol::SumToKeyHolder, 0)
    };
    let (state, hello) = Counter::start(&mut rng, items(0..4), &params, &limits).unwrap();
    let (answer, mut r) = Responder::accept(
        &mut rng,
        items(0..4).into(),
        Some(vec![1; 4].into()),
        &params,
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
    let psi_core::pjc::CounterFinish::SendMaskedSum { next, .. } = set.finish().unwrap() else {
        panic!("direction 2")
    };
    // A random point instead of the decryption.
    let fake = curve25519_dalek::RistrettoPoint::from_uniform_bytes(&[7; 64]);
    assert_eq!(
        next.receive(DecryptedSum {
            point: fake.compress().to_bytes()
        }),
        Err(Error::SumNotFound { sum_bits: 12 })
    );
}

/// Drives a sum session up to the counter's consumption of the responder's
/// set; returns the counter's state, the responder's chunks and its last step.
fn counter_before_responder_set(
    protocol: Protocol,
    keys: std::ops::Range<u32>,
    value_keys: std::ops::Range<u32>,
) -> (
    psi_core::pjc::ExpectResponderSet,
    Vec<ResponderSetChunk>,
    ResponderFinale,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let limits = Limits::default();
    let params = Params::new(protocol, 0);
    let (state, hello) = Counter::start(&mut rng, items(keys), &params, &limits).unwrap();
    let n = value_keys.len();
    let (answer, mut r) = Responder::accept(
        &mut rng,
        items(value_keys).into(),
        Some(vec![3; n].into()),
        &params,
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
    let mut chunks = Vec::new();
    while let Some(ch) = r.masker.next_chunk() {
        chunks.push(ch);
    }
    (c.tags.finish().unwrap(), chunks, r.finale)
}

#[test]
fn the_counter_decodes_every_ciphertext_not_only_the_matches() {
    // The counter treats every item of the responder's set the same way
    // (its work must not depend on how many match): so a bad ciphertext is
    // refused even on an item that matches nothing.
    for protocol in [Protocol::SumToValueHolder, Protocol::SumToKeyHolder] {
        let (mut set, mut chunks, _) = counter_before_responder_set(protocol, 0..10, 100..110);
        for ct in &mut chunks[0].ciphertexts {
            *ct = [0xff; 64];
        }
        assert!(
            matches!(
                set.receive(chunks.remove(0)),
                Err(Error::InvalidPoint { .. })
            ),
            "{protocol}"
        );
    }
}

#[test]
fn the_value_holder_can_answer_before_the_variable_time_decryption() {
    // Direction 1: `check` validates and decrypts to a point in time that
    // does not depend on the sum; the discrete log comes after the answer.
    let (mut set, chunks, finale) =
        counter_before_responder_set(Protocol::SumToValueHolder, 0..10, 5..15);
    for ch in chunks {
        set.receive(ch).unwrap();
    }
    let psi_core::pjc::CounterFinish::SendSum { message, .. } = set.finish().unwrap() else {
        panic!("direction 1")
    };
    let ResponderFinale::ExpectSum(expect) = finale else {
        panic!("direction 1")
    };
    let checked = expect.check(message).unwrap();
    assert_eq!(
        checked.vartime_decrypt(),
        Ok(psi_core::pjc::Outcome::Released(psi_core::pjc::SumOutput {
            count: 5,
            sum: 15
        }))
    );
}
