#![no_main]
//! The ECDH client receiving an arbitrary server hello and streams.
use libfuzzer_sys::fuzz_target;
use psi_core::codec::{Codec, PointChunk, PointStream, ServerHello, TagChunk};
use psi_core::{ecdh, Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Vec<Item> = (0u8..3).map(|i| Item::from_key(&[i])).collect();
    let Ok((state, _)) = ecdh::Client::start(&mut rng, items, &limits) else {
        return;
    };
    let (hello, rest) = data.split_at(data.len().min(43));
    let Ok(hello) = ServerHello::from_bytes(hello) else {
        return;
    };
    let Ok(mut c) = state.receive(hello) else {
        return;
    };
    let (tags, points) = rest.split_at(rest.len() / 2);
    if let Ok(t) = TagChunk::from_bytes(tags) {
        let _ = c.double_masked.receive(t);
    }
    if let Ok(p) = PointChunk::decode(PointStream::ServerMasked, points) {
        let _ = c.server_set.receive(p);
    }
    if let (Ok(own), Ok(theirs)) = (c.double_masked.finish(), c.server_set.finish()) {
        let _ = ecdh::intersect(own, theirs);
    }
});
