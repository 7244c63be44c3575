#![no_main]
//! The KKRT sender (server) taking an arbitrary receiver hello and matrix stream.
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use psi_core::codec::Codec;
use psi_core::kkrt::{self, MatrixChunk, ReceiverHello};
use psi_core::{Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    // The first byte says how long the hello is; the rest is the matrix stream,
    // cut into chunks whose lengths come from the data too.
    let Some((&hello_len, rest)) = data.split_first() else {
        return;
    };
    let (hello, mut rest) = rest.split_at(rest.len().min(usize::from(hello_len)));
    let Ok(hello) = ReceiverHello::from_bytes(hello) else {
        return;
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Arc<[Item]> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let Ok((_, mut matrix)) = kkrt::Sender::accept(&mut rng, items, &hello, &limits) else {
        return;
    };
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, tail) = tail.split_at(tail.len().min(usize::from(len) * 64));
        rest = tail;
        if let Ok(chunk) = MatrixChunk::from_bytes(piece) {
            let _ = matrix.receive(chunk);
        }
    }
    if let Ok(mut values) = matrix.finish() {
        while values.next_chunk().is_some() {}
    }
});
