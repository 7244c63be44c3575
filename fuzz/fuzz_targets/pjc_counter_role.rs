#![no_main]
//! The PSI-cardinality / PSI-sum counter (the client) taking an arbitrary
//! responder hello, shuffled tags, responder set and decrypted sum.
use libfuzzer_sys::fuzz_target;
use psi_core::codec::{Codec, Protocol};
use psi_core::pjc::{self, CounterFinish, DecryptedSum, PjcHello, ResponderSetChunk, ShuffledTags};
use psi_core::{Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let [mode, hello_len, rest @ ..] = data else {
        return;
    };
    let protocol = match mode % 3 {
        0 => Protocol::Cardinality,
        1 => Protocol::SumToValueHolder,
        _ => Protocol::SumToKeyHolder,
    };
    let (hello, rest) = rest.split_at(rest.len().min(usize::from(*hello_len)));
    let Ok(hello) = PjcHello::from_bytes(hello) else {
        return;
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Vec<Item> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let params = pjc::Params::new(protocol, 1);
    let Ok((state, _)) = pjc::Counter::start(&mut rng, items, &params, &limits) else {
        return;
    };
    let Ok(mut streams) = state.receive(hello) else {
        return;
    };
    while streams.masker.next_chunk().is_some() {}
    // Pieces: tags chunks until one fails to decode, then set chunks, then the
    // decrypted sum.
    let mut pieces = Vec::new();
    let mut rest = rest;
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, tail) = tail.split_at(tail.len().min(usize::from(len) * 4));
        pieces.push(piece);
        rest = tail;
    }
    let mut pieces = pieces.into_iter().peekable();
    while let Some(chunk) = pieces.peek().and_then(|p| ShuffledTags::from_bytes(p).ok()) {
        pieces.next();
        let _ = streams.tags.receive(chunk);
    }
    let Ok(mut set) = streams.tags.finish() else {
        return;
    };
    while let Some(chunk) = pieces
        .peek()
        .and_then(|p| ResponderSetChunk::from_bytes(p).ok())
    {
        pieces.next();
        let _ = set.receive(chunk);
    }
    if let Ok(CounterFinish::SendMaskedSum { next, .. }) = set.finish() {
        if let Some(Ok(answer)) = pieces.next().map(DecryptedSum::from_bytes) {
            let _ = next.receive(answer);
        }
    }
});
