#![no_main]
//! The KKRT receiver (client) taking an arbitrary sender hello and value stream.
use libfuzzer_sys::fuzz_target;
use psi_core::codec::Codec;
use psi_core::kkrt::{self, OprfChunk, SenderHello};
use psi_core::{Item, Limits};
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    // Two bytes give the hello's length; the rest is the value stream, cut into
    // chunks whose lengths come from the data too.
    if data.len() < 2 {
        return;
    }
    let hello_len = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let rest = &data[2..];
    let (hello, mut rest) = rest.split_at(rest.len().min(hello_len));
    let Ok(hello) = SenderHello::from_bytes(hello) else { return };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let limits = Limits { max_set_size: 1 << 12 };
    let items: Vec<Item> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let Ok((expect, _)) = kkrt::Receiver::start(&mut rng, items, &limits) else { return };
    let Ok(mut matrix) = expect.receive(hello) else { return };
    while matrix.next_chunk().is_some() {}
    let Ok(mut values) = matrix.finish() else { return };
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, tail) = tail.split_at(tail.len().min(usize::from(len) * 8));
        rest = tail;
        if let Ok(chunk) = OprfChunk::from_bytes(piece) {
            let _ = values.receive(chunk);
        }
    }
    let _ = values.finish();
});
