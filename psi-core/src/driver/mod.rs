//! An in-memory two-party driver: runs both roles of any protocol in one
//! process, through the real codec and framing, with no sockets.
//!
//! In the manner of quinn-proto's test `Pair`, the driver is one generic
//! loop, [`Pair`], over two sans-IO [`Party`] adapters, one per role. An
//! adapter holds the role's typed states from the protocol module by value
//! and turns a stream of the protocol's [`Schedule`] into bytes: it
//! [`send`](Party::send)s the next message of a stream it produces and
//! [`receive`](Party::receive)s the messages of a stream it consumes.
//! [`Pair::run`] follows the schedule ([`crate::schedule`]): it walks the
//! streams in order, asks a stream's sender for messages only once the stream
//! is [ready](Ready), carries every message through a [`Wire`] (one frame per
//! message, cut out again by a [`FrameDecoder`]) that counts the bytes each
//! way, and ends each stream on both sides. A schedule that cannot finish
//! (a stream that never becomes ready, a party that keeps waiting) is an
//! error after one pass without progress, never a hang.
//!
//! One module per protocol holds its two adapters: [`ecdh`], [`kkrt`],
//! [`pjc`] and [`linkage`] (which reuses the ECDH adapters and adds the
//! shared-result exchange of [`crate::schedule::LINKAGE_STEP`]). The `run_*`
//! functions run a whole protocol on a [`Pair`] and report what each side
//! learned and sent: psi-core's property tests compare them with the
//! plaintext answer, the `benches` crate times them and reports the bytes.
//! The `pair_roles` fuzz target runs each adapter on a [`Pair`] against a
//! peer made of arbitrary bytes (the other role targets feed bytes to the
//! core's states directly).

use crate::codec::{encode_frame, FrameDecoder};
use crate::ecdh::ClientOutput;
use crate::schedule::{Carries, Direction, Ready, Schedule, Stream};
use crate::Error;

pub mod ecdh;
pub mod kkrt;
pub mod linkage;
pub mod pjc;

pub use ecdh::run_ecdh;
pub use kkrt::run_kkrt;
pub use linkage::run_linkage;
pub use pjc::{run_cardinality, run_sum, CardinalityRun, SumRun};

/// The result of a driven ECDH-PSI or KKRT run, with the bytes each side sent.
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

/// The hellos, as a [`Pair`] carries them before a schedule's streams: the
/// client's hello, answered by the server's. Schedules leave it out (every
/// one starts with it); a client party takes the server's hello through
/// [`Party::receive`] on this stream.
pub const HELLO: Stream = Stream {
    name: "hello",
    direction: Direction::ClientToServer,
    carries: Carries::Exchange,
    ready: Ready::AtOnce,
};

/// What a party has for a stream it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// The next message (one encoded [`crate::codec::Codec`] message).
    Message(Vec<u8>),
    /// Nothing yet: the party waits for messages on other streams.
    Later,
    /// The stream has ended: every message was sent.
    Ended,
}

/// One role of a protocol as sans-IO bytes in, bytes out, stream by stream.
///
/// A [`Pair`] calls [`Party::send`] only for streams this party sends (by the
/// stream's [`Direction`]) and [`Party::receive`] for the streams it
/// receives, plus the answers to the exchanges it sent. A stream the party
/// does not know, or a call out of order, is an [`Error::Misuse`]; a message
/// that does not decode or that the protocol refuses is the protocol's error.
pub trait Party {
    /// The next message of `stream`, which this party sends.
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error>;

    /// Takes a message of `stream` (`None`: the stream has ended).
    ///
    /// On a stream of [`Carries::Exchange`] the receiver returns its answer
    /// (possibly empty), which goes back to the sender through this same
    /// method, where the sender returns `None`. On a stream of
    /// [`Carries::Chunks`] it returns `None`; an answer paced by the chunks
    /// ([`Ready::Answering`]) goes out on its own stream through
    /// [`Party::send`].
    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error>;
}

/// One direction of an in-memory connection: frames each message with
/// [`encode_frame`], counts the bytes and cuts the frame out again with a
/// [`FrameDecoder`], as a transport would.
#[derive(Debug, Default)]
pub struct Wire {
    bytes: u64,
    decoder: FrameDecoder,
}

impl Wire {
    /// Carries one message across; returns it as the far side reads it.
    pub fn carry(&mut self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let mut framed = Vec::with_capacity(message.len() + 4);
        encode_frame(message, &mut framed);
        self.bytes += framed.len() as u64;
        self.decoder.push(&framed);
        let frame = self
            .decoder
            .next_frame()?
            .ok_or(Error::Misuse("a frame was lost on the wire"))?;
        self.decoder.finish()?;
        Ok(frame)
    }

    /// Bytes carried so far, frames included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A client party and a server party connected by two [`Wire`]s: runs a
/// protocol's [`Schedule`] between them.
#[derive(Debug)]
pub struct Pair<C, S> {
    /// The client (the party that opens the session).
    pub client: C,
    /// The server.
    pub server: S,
    up: Wire,
    down: Wire,
}

/// What moving one stream one step did.
enum Moved {
    /// A message (or an exchange) went across.
    Message,
    /// The sender has nothing yet.
    Nothing,
    /// The stream ended.
    End,
}

impl<C: Party, S: Party> Pair<C, S> {
    /// Exchanges the hellos: carries the client's `hello` to the server,
    /// creates the server party from it with `accept` (which returns the
    /// server party and its answer), and carries the answer back to the client
    /// on [`HELLO`].
    pub fn connect(
        client: C,
        hello: Vec<u8>,
        accept: impl FnOnce(&[u8]) -> Result<(S, Vec<u8>), Error>,
    ) -> Result<Self, Error> {
        let (mut up, mut down) = (Wire::default(), Wire::default());
        let hello = up.carry(&hello)?;
        let (server, answer) = accept(&hello)?;
        let answer = down.carry(&answer)?;
        let mut pair = Pair {
            client,
            server,
            up,
            down,
        };
        if pair.client.receive(&HELLO, Some(answer))?.is_some() {
            return Err(Error::Misuse("a client answered the server's hello"));
        }
        Ok(pair)
    }

    /// Runs every stream of `schedule` to its end. Each pass walks the
    /// streams in order and moves each ready one until its sender has nothing
    /// more; after each message of a stream, the streams
    /// [answering](Ready::Answering) it move too. Returns the number of
    /// passes: one when the schedule lists the streams in the order the
    /// parties need them. A pass that moves nothing is an
    /// [`Error::Misuse`]: the schedule has stalled.
    pub fn run(&mut self, schedule: &Schedule) -> Result<usize, Error> {
        let streams = schedule.streams;
        let mut ended = vec![false; streams.len()];
        let mut passes = 0;
        while ended.contains(&false) {
            passes += 1;
            let mut progress = false;
            for i in 0..streams.len() {
                progress |= self.drain(streams, i, &mut ended)?;
            }
            if !progress {
                return Err(Error::Misuse(
                    "stalled schedule: a full pass over its streams moved nothing",
                ));
            }
        }
        Ok(passes)
    }

    /// Bytes (frames included) the client sent, hellos included.
    pub fn client_to_server(&self) -> u64 {
        self.up.bytes()
    }

    /// Bytes (frames included) the server sent, hellos included.
    pub fn server_to_client(&self) -> u64 {
        self.down.bytes()
    }

    /// Moves stream `i` while it is ready and its sender has messages, and
    /// after each message the streams answering it. Returns whether anything
    /// moved.
    fn drain(&mut self, streams: &[Stream], i: usize, ended: &mut [bool]) -> Result<bool, Error> {
        let mut progress = false;
        while !ended[i] && is_ready(streams, i, ended) {
            match self.step(&streams[i])? {
                Moved::Nothing => break,
                Moved::End => {
                    ended[i] = true;
                    progress = true;
                }
                Moved::Message => {
                    progress = true;
                    for j in 0..streams.len() {
                        if streams[j].ready == Ready::Answering(streams[i].name) {
                            self.drain(streams, j, ended)?;
                        }
                    }
                }
            }
        }
        Ok(progress)
    }

    /// Moves one message (or one exchange, or the end) of `stream`.
    fn step(&mut self, stream: &Stream) -> Result<Moved, Error> {
        match stream.direction {
            Direction::ClientToServer => transfer(
                (&mut self.client, &mut self.up),
                (&mut self.server, &mut self.down),
                stream,
            ),
            Direction::ServerToClient => transfer(
                (&mut self.server, &mut self.down),
                (&mut self.client, &mut self.up),
                stream,
            ),
        }
    }
}

/// Whether the server can serve stream `i` of `streams` now, by its
/// [`Ready`] rule. A stream waiting for one the schedule lacks is never ready.
fn is_ready(streams: &[Stream], i: usize, ended: &[bool]) -> bool {
    let ended_named = |name: &str| streams.iter().zip(ended).any(|(s, &e)| e && s.name == name);
    match streams[i].ready {
        Ready::AtOnce | Ready::Answering(_) => true,
        Ready::After(name) => ended_named(name),
        Ready::AfterAll => ended.iter().enumerate().all(|(j, &e)| e || j == i),
    }
}

/// Moves one message of `stream` from `from` to `to` through `from`'s wire,
/// and an exchange's answer back through `to`'s.
fn transfer<A: Party, B: Party>(
    (from, out): (&mut A, &mut Wire),
    (to, back): (&mut B, &mut Wire),
    stream: &Stream,
) -> Result<Moved, Error> {
    let message = match from.send(stream)? {
        Outgoing::Later => return Ok(Moved::Nothing),
        Outgoing::Ended => {
            if to.receive(stream, None)?.is_some() {
                return Err(Error::Misuse("a party answered the end of a stream"));
            }
            return Ok(Moved::End);
        }
        Outgoing::Message(message) => out.carry(&message)?,
    };
    match (stream.carries, to.receive(stream, Some(message))?) {
        (Carries::Chunks, None) => Ok(Moved::Message),
        (Carries::Chunks, Some(_)) => Err(Error::Misuse("a party answered a chunk")),
        (Carries::Exchange, None) => Err(Error::Misuse("a party left an exchange unanswered")),
        (Carries::Exchange, Some(answer)) => {
            // An empty answer is no message at all: nothing goes on the wire
            // (over HTTP, an empty response body).
            let answer = if answer.is_empty() {
                answer
            } else {
                back.carry(&answer)?
            };
            if from.receive(stream, Some(answer))?.is_some() {
                return Err(Error::Misuse("a party answered an answer"));
            }
            Ok(Moved::End)
        }
    }
}

/// Whether `stream` is `known` (streams are told apart by name).
fn is(stream: &Stream, known: &Stream) -> bool {
    stream.name == known.name
}

#[cfg(test)]
mod tests;
