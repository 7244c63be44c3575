#![no_main]
//! The PSI-sum responder (value holder, the server) taking an arbitrary
//! counter hello, masked-item stream and final message.
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use psi_core::codec::{Codec, PointChunk, PointStream, Protocol};
use psi_core::pjc::{self, MaskedSum, PjcHello, ResponderFinale, SumResult};
use psi_core::{Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the direction, byte 1 the hello's length; then chunks whose
    // lengths come from the data, and the last piece is the final message.
    let [direction, hello_len, rest @ ..] = data else {
        return;
    };
    let protocol = if direction & 1 == 0 {
        Protocol::SumToValueHolder
    } else {
        Protocol::SumToKeyHolder
    };
    let (hello, mut rest) = rest.split_at(rest.len().min(usize::from(*hello_len)));
    let Ok(hello) = PjcHello::from_bytes(hello) else {
        return;
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Arc<[Item]> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let values: Arc<[u64]> = vec![1, 2, 3, 4].into();
    let params = pjc::Params::new(protocol, 1);
    let Ok((_, mut streams)) =
        pjc::Responder::accept(&mut rng, items, Some(values), &params, hello, &limits)
    else {
        return;
    };
    while streams.masker.next_chunk().is_some() {}
    let mut last = rest;
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, tail) = tail.split_at(tail.len().min(usize::from(len)));
        rest = tail;
        last = piece;
        if let Ok(chunk) = PointChunk::decode(PointStream::CounterMasked, piece) {
            let _ = streams.answerer.receive(chunk);
        }
    }
    if let Ok(mut tags) = streams.answerer.finish() {
        while tags.next_chunk().is_some() {}
    }
    match streams.finale {
        ResponderFinale::ExpectSum(expect) => {
            if let Ok(m) = SumResult::from_bytes(last) {
                let _ = expect.receive(m);
            }
        }
        ResponderFinale::Decrypt(expect) => {
            if let Ok(m) = MaskedSum::from_bytes(last) {
                let _ = expect.receive(m);
            }
        }
        ResponderFinale::Nothing => {}
    }
});
