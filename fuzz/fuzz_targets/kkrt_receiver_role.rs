#![no_main]
//! The KKRT receiver (client) against a sender whose messages start real and
//! are bent by the input, so the later states (the OPRF values, the lookup,
//! the result) are reached: arbitrary bytes never form a sender hello with
//! 512 valid base-OT points.
//!
//! A real sender answers the receiver's hello (both roles seeded, so the
//! whole transcript is the same every run and is computed once per sender
//! set). The input picks the sender set, patches bytes of the encoded hello,
//! then builds the value stream from ops: the next real values re-chunked,
//! patched, skipped, or raw bytes as a chunk; and at the end, if it says so,
//! the rest of the real values.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use psi_core::codec::Codec;
use psi_core::kkrt::{self, OprfChunk, SenderHello};
use psi_core::{Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The sender sets, against the receiver's keys 0..4: empty, the same,
/// overlapping, disjoint, and larger than one default chunk.
const SENDER_SETS: [std::ops::Range<u16>; 5] = [0..0, 0..4, 2..9, 100..103, 1..5000];

fn limits() -> Limits {
    Limits {
        max_set_size: 1 << 13,
    }
}

fn receiver_start() -> Option<(kkrt::ExpectSenderHello, kkrt::ReceiverHello)> {
    let items: Vec<Item> = (0u16..4)
        .map(|i| Item::from_key(&i.to_be_bytes()))
        .collect();
    kkrt::Receiver::start(&mut ChaCha20Rng::seed_from_u64(0), items, &limits()).ok()
}

/// A real transcript: the encoded sender hello, the tag length and every
/// sender value (three tags per item) in the order sent.
struct Transcript {
    hello: Vec<u8>,
    tag_len: u8,
    tags: Vec<u8>,
}

fn transcript(set: usize) -> Option<&'static Transcript> {
    static ALL: [OnceLock<Option<Transcript>>; SENDER_SETS.len()] =
        [const { OnceLock::new() }; SENDER_SETS.len()];
    ALL[set]
        .get_or_init(|| {
            let (expect, hello) = receiver_start()?;
            let y: Vec<Item> = SENDER_SETS[set]
                .clone()
                .map(|i| Item::from_key(&i.to_be_bytes()))
                .collect();
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let (sh, mut sender) =
                kkrt::Sender::accept(&mut rng, y.into(), &hello, &limits()).ok()?;
            let hello = sh.to_bytes();
            let mut matrix = expect.receive(sh).ok()?;
            while let Some(chunk) = matrix.next_chunk() {
                sender.receive(chunk).ok()?;
            }
            let mut values = sender.finish().ok()?;
            let mut t = Transcript {
                hello,
                tag_len: 0,
                tags: Vec::new(),
            };
            while let Some(chunk) = values.next_chunk() {
                t.tag_len = chunk.tag_len;
                t.tags.extend_from_slice(&chunk.tags);
            }
            Some(t)
        })
        .as_ref()
}

/// Reads the input front to back; an exhausted input reads zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(self.0.len().min(n));
        self.0 = rest;
        head
    }
}

/// Flips bits of `bytes` at an input-chosen offset.
fn patch(bytes: &mut [u8], input: &mut Input<'_>) {
    let at = usize::from(input.u16());
    let xor = input.byte();
    if let Some(len) = std::num::NonZeroUsize::new(bytes.len()) {
        bytes[at % len] ^= xor;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.byte();
    let Some(t) = transcript(usize::from(flags) % SENDER_SETS.len()) else {
        return;
    };
    let mut hello = t.hello.clone();
    for _ in 0..input.byte() % 4 {
        patch(&mut hello, &mut input);
    }
    let Ok(hello) = SenderHello::from_bytes(&hello) else {
        return;
    };
    let Some((expect, _)) = receiver_start() else {
        return;
    };
    let Ok(mut matrix) = expect.receive(hello) else {
        return;
    };
    while matrix.next_chunk().is_some() {}
    let Ok(mut values) = matrix.finish() else {
        return;
    };

    // The value stream: each op takes real values from `at` on, or raw bytes.
    let item_bytes = 3 * usize::from(t.tag_len);
    let mut at = 0;
    let real = |items: usize, at: &mut usize| {
        let end = at
            .saturating_add(items.saturating_mul(item_bytes))
            .min(t.tags.len());
        let tags = t.tags[*at..end].to_vec();
        *at = end;
        OprfChunk {
            tag_len: t.tag_len,
            tags,
        }
        .to_bytes()
    };
    while !input.0.is_empty() {
        let op = input.byte();
        let count = usize::from(input.byte()) * usize::from(op >> 2).max(1);
        let message = match op % 4 {
            0 => real(count, &mut at),
            1 => {
                let mut m = real(count, &mut at);
                patch(&mut m, &mut input);
                m
            }
            2 => {
                at = at.saturating_add(count * item_bytes).min(t.tags.len());
                continue;
            }
            _ => input.bytes(count).to_vec(),
        };
        if let Ok(chunk) = OprfChunk::from_bytes(&message) {
            if values.receive(chunk).is_err() {
                return;
            }
        }
    }
    if flags & 0x80 != 0 && at < t.tags.len() {
        let rest = real(usize::MAX, &mut at);
        if let Ok(chunk) = OprfChunk::from_bytes(&rest) {
            let _ = values.receive(chunk);
        }
    }
    let _ = values.finish();
});
