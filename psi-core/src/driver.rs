//! An in-memory two-party driver: runs both roles of a protocol in one process,
//! through the real codec and framing, with no sockets. Used by the tests,
//! the fuzz targets and the benchmarks.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::codec::{
    encode_frame, ClientHello, Codec, FrameDecoder, PointChunk, PointStream, ServerHello, TagChunk,
};
use crate::ecdh::{self, ClientOutput};
use crate::kkrt::{self, MatrixChunk, OprfChunk, ReceiverHello, SenderHello};
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
