#![no_main]
//! Every protocol role through the in-memory driver (`psi_core::driver::Pair`)
//! on its schedule, against a peer that sends arbitrary bytes: its hello, one
//! piece of the input per message on each stream it sends (an empty piece
//! ends the stream), and one per answer to an exchange. Errors, never panics,
//! never hangs.
use libfuzzer_sys::fuzz_target;
use psi_core::codec::Protocol;
use psi_core::driver::{ecdh, kkrt, linkage, pjc, Outgoing, Pair, Party};
use psi_core::linkage::{Duplicates, KeyColumn, Waterfall};
use psi_core::schedule::{self, Carries, Direction, Schedule, Stream};
use psi_core::{Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The input cut into pieces, each led by its big-endian `u16` length.
struct Pieces<'a>(&'a [u8]);

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let [a, b, rest @ ..] = self.0 else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let (piece, rest) = rest.split_at(rest.len().min(len));
        self.0 = rest;
        Some(piece)
    }
}

/// The other side, made of pieces of the input.
struct Peer<'a> {
    /// The direction of the streams it sends.
    sends: Direction,
    pieces: Pieces<'a>,
}

impl Peer<'_> {
    fn piece(&mut self) -> Vec<u8> {
        self.pieces.next().unwrap_or_default().to_vec()
    }
}

impl Party for Peer<'_> {
    fn send(&mut self, _: &Stream) -> Result<Outgoing, Error> {
        // An empty piece ends the stream (no message is empty).
        Ok(match self.pieces.next() {
            Some(piece) if !piece.is_empty() => Outgoing::Message(piece.to_vec()),
            _ => Outgoing::Ended,
        })
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        // An exchange the real party opened gets an arbitrary answer.
        let asked = stream.carries == Carries::Exchange
            && stream.direction != self.sends
            && message.is_some();
        Ok(asked.then(|| self.piece()))
    }
}

/// A real server against a peer client.
fn against_client<'a, S: Party>(
    pieces: Pieces<'a>,
    schedule: &Schedule,
    accept: impl FnOnce(&[u8]) -> Result<(S, Vec<u8>), Error>,
) -> Option<Pair<Peer<'a>, S>> {
    let mut peer = Peer {
        sends: Direction::ClientToServer,
        pieces,
    };
    let hello = peer.piece();
    let mut pair = Pair::connect(peer, hello, accept).ok()?;
    pair.run(schedule).ok()?;
    Some(pair)
}

/// A real client against a peer server.
fn against_server<'a, C: Party>(
    pieces: Pieces<'a>,
    schedule: &Schedule,
    started: Result<(C, Vec<u8>), Error>,
) -> Option<Pair<C, Peer<'a>>> {
    let (client, hello) = started.ok()?;
    let mut pair = Pair::connect(client, hello, |_| {
        let mut peer = Peer {
            sends: Direction::ServerToClient,
            pieces,
        };
        let answer = peer.piece();
        Ok((peer, answer))
    })
    .ok()?;
    pair.run(schedule).ok()?;
    Some(pair)
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let pieces = Pieces(rest);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let limits = Limits {
        max_set_size: 1 << 12,
    };
    let items: Vec<Item> = (0u8..4).map(|i| Item::from_key(&[i])).collect();
    let waterfall = || {
        let key = KeyColumn {
            items: items.clone(),
            row_items: vec![0, 1, 2, 3, 0],
        };
        Waterfall::new(vec![key], Duplicates::First).ok()
    };
    let pjc_protocol = match choice / 8 % 3 {
        0 => Protocol::Cardinality,
        1 => Protocol::SumToValueHolder,
        _ => Protocol::SumToKeyHolder,
    };
    let params = psi_core::pjc::Params::new(pjc_protocol, 1);
    let values = (pjc_protocol != Protocol::Cardinality).then(|| vec![1, 2, 3, 4].into());
    match choice % 8 {
        0 => {
            let started = ecdh::Client::start(&mut rng, items, &limits);
            if let Some(pair) = against_server(pieces, &schedule::ECDH, started) {
                let _ = pair.client.finish();
            }
        }
        1 => {
            against_client(pieces, &schedule::ECDH, |hello| {
                ecdh::Server::accept(&mut rng, items.into(), hello, &limits)
            });
        }
        2 => {
            let started = kkrt::Receiver::start(&mut rng, items, &limits);
            if let Some(pair) = against_server(pieces, &schedule::KKRT, started) {
                let _ = pair.client.finish();
            }
        }
        3 => {
            against_client(pieces, &schedule::KKRT, |hello| {
                kkrt::Sender::accept(&mut rng, items.into(), hello, &limits)
            });
        }
        4 => {
            let started = pjc::Counter::start(&mut rng, items, &params, &limits);
            let schedule = Schedule::of(pjc_protocol, false);
            if let Some(pair) = against_server(pieces, schedule, started) {
                let _ = pair.client.finish();
            }
        }
        5 => {
            let schedule = Schedule::of(pjc_protocol, false);
            let pair = against_client(pieces, schedule, |hello| {
                pjc::Responder::accept(&mut rng, items.into(), values, &params, hello, &limits)
            });
            if let Some(pair) = pair {
                let _ = pair.server.finish();
            }
        }
        6 => {
            let Some(waterfall) = waterfall() else { return };
            let started = linkage::Client::start(&mut rng, waterfall, &limits);
            if let Some(pair) = against_server(pieces, &schedule::LINKAGE_STEP, started) {
                let _ = pair.client.into_waterfall();
            }
        }
        _ => {
            let Some(waterfall) = waterfall() else { return };
            let pair = against_client(pieces, &schedule::LINKAGE_STEP, |hello| {
                linkage::Server::accept(&mut rng, waterfall, hello, &limits)
            });
            if let Some(pair) = pair {
                let _ = pair.server.into_waterfall();
            }
        }
    }
});
