//! An in-memory two-party driver: runs both roles of a protocol in one process,
//! through the real codec and framing, with no sockets. Used by the tests,
//! the fuzz targets and the benchmarks.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::codec::{
    encode_frame, ClientHello, Codec, FrameDecoder, PointChunk, PointStream, Protocol, ServerHello,
    TagChunk,
};
use crate::ecdh::{self, ClientOutput};
use crate::kkrt::{self, MatrixChunk, OprfChunk, ReceiverHello, SenderHello};
use crate::linkage::{self, LinkResult, Waterfall};
use crate::pjc::{
    self, DecryptedSum, MaskedSum, PjcHello, ResponderSetChunk, ShuffledTags, SumResult,
};
use crate::{Error, Item, Limits};

/// The result of a driven run, with the bytes each side sent.
#[derive(Debug, Clone)]
pub struct DriverRun {
    /// What the client learned.
    pub output: ClientOutput,
    /// What the server learned: the size of the client's set.
    pub client_set_size: u64,
    /// Bytes (frames included) the client sent.
    pub client_to_server: u64,
    /// Bytes (frames included) the server sent.
    pub server_to_client: u64,
}

/// Encodes a message as one frame, counts it, and decodes it on the other side
/// through a [`FrameDecoder`], as a transport would.
struct Wire {
    bytes: u64,
}

impl Wire {
    fn carry(&mut self, message: Vec<u8>) -> Result<Vec<u8>, Error> {
        let mut framed = Vec::with_capacity(message.len() + 4);
        encode_frame(&message, &mut framed);
        self.bytes += framed.len() as u64;
        let mut d = FrameDecoder::default();
        d.push(&framed);
        let frame = d.next_frame()?.ok_or(Error::Misuse("frame lost"))?;
        d.finish()?;
        Ok(frame)
    }
}

/// Runs ECDH-PSI between a client holding `client_items` and a server holding
/// `server_items` (each list distinct).
pub fn run_ecdh<R: CryptoRng + ?Sized>(
    rng: &mut R,
    client_items: Vec<Item>,
    server_items: Vec<Item>,
    limits: &Limits,
) -> Result<DriverRun, Error> {
    let mut up = Wire { bytes: 0 };
    let mut down = Wire { bytes: 0 };

    let (expect_hello, hello) = ecdh::Client::start(rng, client_items, limits)?;
    let hello = ClientHello::from_bytes(&up.carry(hello.to_bytes())?)?;
    let client_set_size = hello.set_size;
    let server_items: Arc<[Item]> = server_items.into();
    let (server_hello, mut server) = ecdh::Server::accept(rng, server_items, &hello, limits)?;
    let server_hello = ServerHello::from_bytes(&down.carry(server_hello.to_bytes())?)?;
    let mut client = expect_hello.receive(server_hello)?;

    while let Some(chunk) = client.masker.next_chunk() {
        let chunk = PointChunk::decode(PointStream::ClientMasked, &up.carry(chunk.to_bytes())?)?;
        let answer = server.answerer.receive(chunk)?;
        let answer = TagChunk::from_bytes(&down.carry(answer.to_bytes())?)?;
        client.double_masked.receive(answer)?;
    }
    server.answerer.finish()?;
    let own = client.double_masked.finish()?;

    while let Some(chunk) = server.masker.next_chunk() {
        let chunk = PointChunk::decode(PointStream::ServerMasked, &down.carry(chunk.to_bytes())?)?;
        client.server_set.receive(chunk)?;
    }
    let theirs = client.server_set.finish()?;

    Ok(DriverRun {
        output: ecdh::intersect(own, theirs),
        client_set_size,
        client_to_server: up.bytes,
        server_to_client: down.bytes,
    })
}

/// Runs a linkage ([`linkage`]) between a client and a server, each with its
/// [`Waterfall`] over its own keys: one ECDH-PSI per step, with the result
/// shared with the server through a [`LinkResult`]. Returns both states (each
/// with its links) and the bytes each side sent.
pub fn run_linkage<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mut client: Waterfall,
    mut server: Waterfall,
    limits: &Limits,
) -> Result<(Waterfall, Waterfall, u64, u64), Error> {
    if client.steps() != server.steps() {
        return Err(Error::Misuse("both sides need the same number of keys"));
    }
    let mut up = Wire { bytes: 0 };
    let mut down = Wire { bytes: 0 };
    while client.step() < client.steps() {
        let (client_offer, server_offer) = (client.offer()?, server.offer()?);
        let (expect_hello, hello) = ecdh::Client::start(rng, client_offer.items.clone(), limits)?;
        let hello = ClientHello::from_bytes(&up.carry(hello.to_bytes())?)?;
        let server_items: Arc<[Item]> = server_offer.items.clone().into();
        let (server_hello, mut s) = ecdh::Server::accept(rng, server_items, &hello, limits)?;
        let order = s.masker.stream_order();
        let server_hello = ServerHello::from_bytes(&down.carry(server_hello.to_bytes())?)?;
        let mut c = expect_hello.receive(server_hello)?;
        let session_id = c.masker.session_id();
        while let Some(chunk) = c.masker.next_chunk() {
            let chunk =
                PointChunk::decode(PointStream::ClientMasked, &up.carry(chunk.to_bytes())?)?;
            let answer = s.answerer.receive(chunk)?;
            c.double_masked
                .receive(TagChunk::from_bytes(&down.carry(answer.to_bytes())?)?)?;
        }
        s.answerer.finish()?;
        while let Some(chunk) = s.masker.next_chunk() {
            let chunk =
                PointChunk::decode(PointStream::ServerMasked, &down.carry(chunk.to_bytes())?)?;
            c.server_set.receive(chunk)?;
        }
        let (_, pairs) = ecdh::intersect_pairs(
            c.double_masked.finish()?,
            c.server_set.finish_keeping_positions()?,
            &session_id,
        )?;
        let result = LinkResult {
            pairs: pairs.iter().map(|p| (p.server_position, p.id)).collect(),
        };
        let result = LinkResult::from_bytes(&up.carry(result.to_bytes())?)?;
        let mine: Vec<(u32, ecdh::LinkId)> =
            pairs.iter().map(|p| (p.client as u32, p.id)).collect();
        client.record(&client_offer, &mine)?;
        server.record(&server_offer, &linkage::resolve(&result, &order)?)?;
    }
    Ok((client, server, up.bytes, down.bytes))
}

/// Runs KKRT OT-extension PSI ([`kkrt`]) between a receiver (client) holding
/// `client_items` and a sender (server) holding `server_items` (each list
/// distinct), through the real codec and framing.
pub fn run_kkrt<R: CryptoRng + ?Sized>(
    rng: &mut R,
    client_items: Vec<Item>,
    server_items: Vec<Item>,
    limits: &Limits,
) -> Result<DriverRun, Error> {
    let mut up = Wire { bytes: 0 };
    let mut down = Wire { bytes: 0 };

    let (expect_hello, hello) = kkrt::Receiver::start(rng, client_items, limits)?;
    let hello = ReceiverHello::from_bytes(&up.carry(hello.to_bytes())?)?;
    let client_set_size = hello.set_size;
    let server_items: Arc<[Item]> = server_items.into();
    let (sender_hello, mut expect_matrix) =
        kkrt::Sender::accept(rng, server_items, &hello, limits)?;
    let sender_hello = SenderHello::from_bytes(&down.carry(sender_hello.to_bytes())?)?;
    let mut matrix = expect_hello.receive(sender_hello)?;

    while let Some(chunk) = matrix.next_chunk() {
        let chunk = MatrixChunk::from_bytes(&up.carry(chunk.to_bytes())?)?;
        expect_matrix.receive(chunk)?;
    }
    let mut expect_values = matrix.finish()?;
    let mut values = expect_matrix.finish()?;

    while let Some(chunk) = values.next_chunk() {
        let chunk = OprfChunk::from_bytes(&down.carry(chunk.to_bytes())?)?;
        expect_values.receive(chunk)?;
    }

    Ok(DriverRun {
        output: expect_values.finish()?,
        client_set_size,
        client_to_server: up.bytes,
        server_to_client: down.bytes,
    })
}

/// The result of a driven PSI-cardinality run ([`crate::pjc`]).
#[derive(Debug, Clone)]
pub struct CardinalityRun {
    /// What the counter (the output party) learned.
    pub output: pjc::Outcome<u64>,
    /// What the responder learned: the size of the counter's set.
    pub counter_set_size: u64,
    /// Bytes (frames included) the counter sent.
    pub counter_to_responder: u64,
    /// Bytes (frames included) the responder sent.
    pub responder_to_counter: u64,
}

/// The result of a driven PSI-sum run ([`crate::pjc`]).
#[derive(Debug, Clone)]
pub struct SumRun {
    /// The output party's result (the value holder in direction 1, the key
    /// holder in direction 2).
    pub output: pjc::Outcome<pjc::SumOutput>,
    /// Direction 1 only: the count as the key holder (counter) sees it.
    pub key_holder_count: Option<pjc::Outcome<u64>>,
    /// Bytes (frames included) the key holder (counter) sent.
    pub key_holder_to_value_holder: u64,
    /// Bytes (frames included) the value holder (responder) sent.
    pub value_holder_to_key_holder: u64,
}

/// The counter's and responder's states after the common part of every
/// [`crate::pjc`] run: hellos, the counter's items, the shuffled answers and
/// the responder's set.
struct PjcRun {
    finish: pjc::CounterFinish,
    finale: pjc::ResponderFinale,
    counter_set_size: u64,
}

fn run_pjc_common<R: CryptoRng + ?Sized>(
    rng: &mut R,
    wires: (&mut Wire, &mut Wire),
    key_items: Vec<Item>,
    value_items: Vec<Item>,
    values: Option<Vec<u64>>,
    params: &pjc::Params,
    limits: &Limits,
) -> Result<PjcRun, Error> {
    let (up, down) = wires;
    let (expect_hello, hello) = pjc::Counter::start(rng, key_items, params, limits)?;
    let hello = PjcHello::from_bytes(&up.carry(hello.to_bytes())?)?;
    let counter_set_size = hello.set_size;
    let (responder_hello, mut responder) = pjc::Responder::accept(
        rng,
        value_items.into(),
        values.map(Into::into),
        params,
        hello,
        limits,
    )?;
    let responder_hello = PjcHello::from_bytes(&down.carry(responder_hello.to_bytes())?)?;
    let mut counter = expect_hello.receive(responder_hello)?;

    while let Some(chunk) = counter.masker.next_chunk() {
        let chunk = PointChunk::decode(PointStream::CounterMasked, &up.carry(chunk.to_bytes())?)?;
        responder.answerer.receive(chunk)?;
    }
    let mut answers = responder.answerer.finish()?;
    while let Some(chunk) = answers.next_chunk() {
        let chunk = ShuffledTags::from_bytes(&down.carry(chunk.to_bytes())?)?;
        counter.tags.receive(chunk)?;
    }
    let mut set = counter.tags.finish()?;
    while let Some(chunk) = responder.masker.next_chunk() {
        let chunk = ResponderSetChunk::from_bytes(&down.carry(chunk.to_bytes())?)?;
        set.receive(chunk)?;
    }
    Ok(PjcRun {
        finish: set.finish()?,
        finale: responder.finale,
        counter_set_size,
    })
}

/// Runs PSI-cardinality ([`crate::pjc`], [`Protocol::Cardinality`]): the counter
/// holds `counter_items` and learns the size of the intersection with
/// `responder_items` (each list distinct), behind `min_intersection`.
pub fn run_cardinality<R: CryptoRng + ?Sized>(
    rng: &mut R,
    counter_items: Vec<Item>,
    responder_items: Vec<Item>,
    min_intersection: u64,
    limits: &Limits,
) -> Result<CardinalityRun, Error> {
    let mut up = Wire { bytes: 0 };
    let mut down = Wire { bytes: 0 };
    let params = pjc::Params::new(Protocol::Cardinality, min_intersection);
    let run = run_pjc_common(
        rng,
        (&mut up, &mut down),
        counter_items,
        responder_items,
        None,
        &params,
        limits,
    )?;
    let output = match (run.finish, run.finale) {
        (pjc::CounterFinish::Cardinality(o), pjc::ResponderFinale::Nothing) => o,
        _ => return Err(Error::Misuse("cardinality run ended in another mode")),
    };
    Ok(CardinalityRun {
        output,
        counter_set_size: run.counter_set_size,
        counter_to_responder: up.bytes,
        responder_to_counter: down.bytes,
    })
}

/// Runs PSI-sum ([`crate::pjc`]): the key holder holds `key_items`, the value
/// holder `value_items` with `values[i]` for `value_items[i]` (each list
/// distinct). `params.protocol` picks the direction:
/// [`Protocol::SumToValueHolder`] or [`Protocol::SumToKeyHolder`].
pub fn run_sum<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key_items: Vec<Item>,
    value_items: Vec<Item>,
    values: Vec<u64>,
    params: &pjc::Params,
    limits: &Limits,
) -> Result<SumRun, Error> {
    let mut up = Wire { bytes: 0 };
    let mut down = Wire { bytes: 0 };
    let run = run_pjc_common(
        rng,
        (&mut up, &mut down),
        key_items,
        value_items,
        Some(values),
        params,
        limits,
    )?;
    let (output, key_holder_count) = match (run.finish, run.finale) {
        (
            pjc::CounterFinish::SendSum { message, count },
            pjc::ResponderFinale::ExpectSum(expect),
        ) => {
            let message = SumResult::from_bytes(&up.carry(message.to_bytes())?)?;
            (expect.receive(message)?, Some(count))
        }
        (
            pjc::CounterFinish::SendMaskedSum { message, next },
            pjc::ResponderFinale::Decrypt(decrypt),
        ) => {
            let message = MaskedSum::from_bytes(&up.carry(message.to_bytes())?)?;
            let answer = decrypt.receive(message)?;
            let answer = DecryptedSum::from_bytes(&down.carry(answer.to_bytes())?)?;
            (next.receive(answer)?, None)
        }
        _ => return Err(Error::Misuse("run_sum needs a sum protocol")),
    };
    Ok(SumRun {
        output,
        key_holder_count,
        key_holder_to_value_holder: up.bytes,
        value_holder_to_key_holder: down.bytes,
    })
}
