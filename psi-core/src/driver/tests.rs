use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::codec::Protocol;
use crate::linkage::{Duplicates, KeyColumn, Waterfall};
use crate::schedule::{self, CLIENT_MASKED, MATRIX, OPRF_VALUES, SERVER_MASKED, SHUFFLED_TAGS};
use crate::{pjc::Params, Item, Limits};

fn items(range: std::ops::Range<u32>) -> Vec<Item> {
    range.map(|v| Item::from_key(&v.to_be_bytes())).collect()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(5)
}

/// A party that never has anything to send.
struct Idle;

impl Party for Idle {
    fn send(&mut self, _: &Stream) -> Result<Outgoing, Error> {
        Ok(Outgoing::Later)
    }

    fn receive(&mut self, _: &Stream, _: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }
}

fn kkrt_pair() -> Pair<kkrt::Receiver, kkrt::Sender> {
    let mut rng = rng();
    let limits = Limits::default();
    let (receiver, hello) = kkrt::Receiver::start(&mut rng, items(0..20), &limits).unwrap();
    Pair::connect(receiver, hello, |hello| {
        kkrt::Sender::accept(&mut rng, items(10..30).into(), hello, &limits)
    })
    .unwrap()
}

fn pjc_pair(protocol: Protocol) -> Pair<pjc::Counter, pjc::Responder> {
    let mut rng = rng();
    let limits = Limits::default();
    let params = Params::new(protocol, 0);
    let (counter, hello) = pjc::Counter::start(&mut rng, items(0..20), &params, &limits).unwrap();
    let values: Arc<[u64]> = (0..20).collect();
    let values = (protocol != Protocol::Cardinality).then_some(values);
    Pair::connect(counter, hello, |hello| {
        pjc::Responder::accept(
            &mut rng,
            items(10..30).into(),
            values,
            &params,
            hello,
            &limits,
        )
    })
    .unwrap()
}

#[test]
fn a_stalled_schedule_is_an_error_not_a_loop() {
    const STALLED: Error =
        Error::Misuse("stalled schedule: a full pass over its streams moved nothing");
    // Parties that never send anything.
    let mut idle = Pair::connect(Idle, vec![1], |_| Ok((Idle, vec![2]))).unwrap();
    assert_eq!(idle.run(&schedule::KKRT), Err(STALLED));

    // KKRT without its matrix: the OPRF values wait for a stream that never comes.
    let lacking = Schedule {
        name: "no matrix",
        streams: &[OPRF_VALUES],
    };
    assert_eq!(kkrt_pair().run(&lacking), Err(STALLED));
    // Told the values are ready at once, the sender still waits for the matrix.
    let at_once = Schedule {
        name: "values at once",
        streams: &[Stream {
            ready: Ready::AtOnce,
            ..OPRF_VALUES
        }],
    };
    assert_eq!(kkrt_pair().run(&at_once), Err(STALLED));
}

#[test]
fn a_schedule_out_of_order_is_an_error() {
    // The counter can take the responder's set only after the shuffled tags.
    let swapped = Schedule {
        name: "set before tags",
        streams: &[CLIENT_MASKED, SERVER_MASKED, SHUFFLED_TAGS],
    };
    assert_eq!(
        pjc_pair(Protocol::Cardinality).run(&swapped),
        Err(Error::Misuse(
            "a message the PJC counter cannot take in its state"
        ))
    );
    // Streams in the other direction than the parties use.
    let reversed = Schedule {
        name: "reversed",
        streams: &[Stream {
            direction: Direction::ServerToClient,
            ..MATRIX
        }],
    };
    assert_eq!(
        kkrt_pair().run(&reversed),
        Err(Error::Misuse("the KKRT sender sends only OPRF values"))
    );
}

#[test]
fn every_schedule_runs_in_one_pass() {
    let mut rng = rng();
    let limits = Limits::default();

    let (client, hello) = ecdh::Client::start(&mut rng, items(0..5000), &limits).unwrap();
    let mut pair = Pair::connect(client, hello, |hello| {
        ecdh::Server::accept(&mut rng, items(2500..6000).into(), hello, &limits)
    })
    .unwrap();
    assert_eq!(
        pair.run(Schedule::of(Protocol::EcdhIntersection, false)),
        Ok(1)
    );
    assert_eq!(pair.client.finish().unwrap().matched.len(), 2500);

    let mut pair = kkrt_pair();
    assert_eq!(pair.run(Schedule::of(Protocol::Kkrt, false)), Ok(1));
    assert_eq!(pair.client.finish().unwrap().matched.len(), 10);

    for protocol in [
        Protocol::Cardinality,
        Protocol::SumToValueHolder,
        Protocol::SumToKeyHolder,
    ] {
        let mut pair = pjc_pair(protocol);
        assert_eq!(pair.run(Schedule::of(protocol, false)), Ok(1));
        pair.client.finish().unwrap();
        pair.server.finish().unwrap();
    }

    let column = |range: std::ops::Range<u32>| KeyColumn {
        row_items: (0..range.len() as u32).collect(),
        items: items(range),
    };
    let waterfall = |range| Waterfall::new(vec![column(range)], Duplicates::Unique).unwrap();
    let (client, hello) = linkage::Client::start(&mut rng, waterfall(0..30), &limits).unwrap();
    let mut pair = Pair::connect(client, hello, |hello| {
        linkage::Server::accept(&mut rng, waterfall(20..40), hello, &limits)
    })
    .unwrap();
    assert_eq!(
        pair.run(Schedule::of(Protocol::EcdhIntersection, true)),
        Ok(1)
    );
    assert_eq!(
        pair.client.recorded(),
        Some(crate::linkage::StepRecorded { linked_rows: 10 })
    );
    assert_eq!(pair.client.into_waterfall().unwrap().linked_rows(), 10);
    assert_eq!(pair.server.into_waterfall().unwrap().linked_rows(), 10);
}

/// The bytes each way, as the hand-written runners this driver replaced
/// counted them (message sizes depend on the set sizes only).
#[test]
fn byte_counts_are_those_of_the_messages() {
    let mut rng = rng();
    let limits = Limits::default();
    let run = run_ecdh(&mut rng, items(0..1), vec![], &limits).unwrap();
    assert_eq!((run.client_to_server, run.server_to_client), (89, 66));
    let run = run_ecdh(&mut rng, items(0..5000), items(2500..5500), &limits).unwrap();
    assert_eq!(
        (run.client_to_server, run.server_to_client),
        (160_067, 141_079)
    );
    // KKRT with a 512-bit code: 128 bins × 64 bytes of matrix one way, 512
    // base-OT points the other (1024 and 2048 bytes more than with 448 bits).
    let run = run_kkrt(&mut rng, vec![], items(0..3), &limits).unwrap();
    assert_eq!((run.client_to_server, run.server_to_client), (8299, 16_516));
    let run = run_cardinality(&mut rng, items(0..1), vec![], 0, &limits).unwrap();
    assert_eq!(
        (run.counter_to_responder, run.responder_to_counter),
        (100, 77)
    );
    for (protocol, bytes) in [
        (Protocol::SumToValueHolder, (137, 389)),
        (Protocol::SumToKeyHolder, (128, 427)),
    ] {
        let params = Params::new(protocol, 0);
        let run = run_sum(
            &mut rng,
            vec![],
            items(0..3),
            vec![1, 2, 3],
            &params,
            &limits,
        )
        .unwrap();
        let got = (
            run.key_holder_to_value_holder,
            run.value_holder_to_key_holder,
        );
        assert_eq!(got, bytes, "{protocol:?}");
    }
}
