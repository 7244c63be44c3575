//! KKRT OT-extension PSI ([`crate::kkrt`]) as two [`Party`] adapters, run by
//! [`run_kkrt`] on the [`schedule::KKRT`] schedule: the receiver (client)
//! sends the matrix; the sender (server) can compute its OPRF values only
//! once the whole matrix is in.

use std::sync::Arc;

use rand_core::CryptoRng;

use super::{is, DriverRun, Outgoing, Pair, Party, HELLO};
use crate::codec::Codec;
use crate::ecdh::ClientOutput;
use crate::kkrt::{self, MatrixChunk, OprfChunk, ReceiverHello, SenderHello};
use crate::schedule::{self, Stream, MATRIX, OPRF_VALUES};
use crate::{Error, Item, Limits};

/// The KKRT receiver (the client) as a [`Party`]: sends [`MATRIX`], receives
/// [`OPRF_VALUES`].
pub struct Receiver {
    state: ReceiverState,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per party, moved only when its state changes: boxing buys nothing"
)]
enum ReceiverState {
    ExpectHello(kkrt::ExpectSenderHello),
    SendMatrix(kkrt::SendMatrix),
    ExpectValues(kkrt::ExpectOprfValues),
    Done(ClientOutput),
    /// A step failed.
    Failed,
}

impl Receiver {
    /// Starts a receiver over `items` (distinct); returns it and its hello.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let (state, hello) = kkrt::Receiver::start(rng, items, limits)?;
        let receiver = Receiver {
            state: ReceiverState::ExpectHello(state),
        };
        Ok((receiver, hello.to_bytes()))
    }

    /// What the receiver learned, once the OPRF values have ended.
    pub fn finish(self) -> Result<ClientOutput, Error> {
        match self.state {
            ReceiverState::Done(output) => Ok(output),
            _ => Err(Error::Misuse("the KKRT receiver has not finished")),
        }
    }
}

impl Party for Receiver {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if !is(stream, &MATRIX) {
            return Err(Error::Misuse("the KKRT receiver sends only the matrix"));
        }
        if let ReceiverState::SendMatrix(matrix) = &mut self.state {
            if let Some(chunk) = matrix.next_chunk() {
                return Ok(Outgoing::Message(chunk.to_bytes()));
            }
        }
        match std::mem::replace(&mut self.state, ReceiverState::Failed) {
            ReceiverState::SendMatrix(matrix) => {
                self.state = ReceiverState::ExpectValues(matrix.finish()?);
                Ok(Outgoing::Ended)
            }
            ReceiverState::ExpectHello(_) => Err(Error::Misuse("the matrix before the hellos")),
            _ => Err(Error::Misuse("the matrix has ended")),
        }
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if is(stream, &HELLO) {
            let hello = message.ok_or(Error::Misuse("the hellos ended without one"))?;
            let hello = SenderHello::from_bytes(&hello)?;
            let ReceiverState::ExpectHello(state) =
                std::mem::replace(&mut self.state, ReceiverState::Failed)
            else {
                return Err(Error::Misuse("a second sender hello"));
            };
            self.state = ReceiverState::SendMatrix(state.receive(hello)?);
            return Ok(None);
        }
        if !is(stream, &OPRF_VALUES) {
            return Err(Error::Misuse("a stream the KKRT receiver does not receive"));
        }
        match message {
            Some(m) => match &mut self.state {
                ReceiverState::ExpectValues(values) => {
                    values.receive(OprfChunk::from_bytes(&m)?)?
                }
                _ => return Err(Error::Misuse("OPRF values before the matrix ended")),
            },
            None => match std::mem::replace(&mut self.state, ReceiverState::Failed) {
                ReceiverState::ExpectValues(values) => {
                    self.state = ReceiverState::Done(values.finish()?);
                }
                _ => return Err(Error::Misuse("the OPRF values ended out of order")),
            },
        }
        Ok(None)
    }
}

/// The KKRT sender (the server) as a [`Party`]: receives [`MATRIX`], sends
/// [`OPRF_VALUES`] once the matrix has ended.
pub struct Sender {
    client_set_size: u64,
    state: SenderState,
}

enum SenderState {
    ExpectMatrix(kkrt::ExpectMatrix),
    SendValues(kkrt::SendOprfValues),
    Done,
    /// A step failed.
    Failed,
}

impl Sender {
    /// A sender over `items` (distinct) for the receiver whose encoded
    /// [`ReceiverHello`] is `hello`; returns it and its encoded answer.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        hello: &[u8],
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let hello = ReceiverHello::from_bytes(hello)?;
        let (answer, matrix) = kkrt::Sender::accept(rng, items, &hello, limits)?;
        let sender = Sender {
            client_set_size: hello.set_size,
            state: SenderState::ExpectMatrix(matrix),
        };
        Ok((sender, answer.to_bytes()))
    }

    /// What the sender learns: the size of the receiver's set.
    pub fn client_set_size(&self) -> u64 {
        self.client_set_size
    }
}

impl Party for Sender {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if !is(stream, &OPRF_VALUES) {
            return Err(Error::Misuse("the KKRT sender sends only OPRF values"));
        }
        Ok(match &mut self.state {
            SenderState::ExpectMatrix(_) => Outgoing::Later,
            SenderState::SendValues(values) => match values.next_chunk() {
                Some(chunk) => Outgoing::Message(chunk.to_bytes()),
                None => {
                    self.state = SenderState::Done;
                    Outgoing::Ended
                }
            },
            SenderState::Done => Outgoing::Ended,
            SenderState::Failed => return Err(Error::Misuse("the KKRT sender has failed")),
        })
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if !is(stream, &MATRIX) {
            return Err(Error::Misuse("a stream the KKRT sender does not receive"));
        }
        match message {
            Some(m) => match &mut self.state {
                SenderState::ExpectMatrix(matrix) => {
                    matrix.receive(MatrixChunk::from_bytes(&m)?)?
                }
                _ => return Err(Error::Misuse("a matrix chunk after the matrix ended")),
            },
            None => match std::mem::replace(&mut self.state, SenderState::Failed) {
                SenderState::ExpectMatrix(matrix) => {
                    self.state = SenderState::SendValues(matrix.finish()?);
                }
                _ => return Err(Error::Misuse("the matrix ended twice")),
            },
        }
        Ok(None)
    }
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
    let (receiver, hello) = Receiver::start(rng, client_items, limits)?;
    let server_items: Arc<[Item]> = server_items.into();
    let mut pair = Pair::connect(receiver, hello, |hello| {
        Sender::accept(rng, server_items, hello, limits)
    })?;
    pair.run(&schedule::KKRT)?;
    let (client_to_server, server_to_client) = (pair.client_to_server(), pair.server_to_client());
    Ok(DriverRun {
        client_set_size: pair.server.client_set_size(),
        output: pair.client.finish()?,
        client_to_server,
        server_to_client,
    })
}
