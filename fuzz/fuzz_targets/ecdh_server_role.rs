#![no_main]
//! The ECDH server answering an arbitrary client stream.
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use psi_core::codec::{ClientHello, Codec, PointChunk, PointStream};
use psi_core::{ecdh, Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let (hello, rest) = data.split_at(data.len().min(43));
    let Ok(hello) = ClientHello::from_bytes(hello) else {
        return;
    };
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Arc<[Item]> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let Ok((_, mut server)) = ecdh::Server::accept(&mut rng, items, &hello, &limits) else {
        return;
    };
    for piece in rest.chunks(70) {
        if let Ok(chunk) = PointChunk::decode(PointStream::ClientMasked, piece) {
            let _ = server.answerer.receive(chunk);
        }
    }
    let _ = server.answerer.finish();
});
