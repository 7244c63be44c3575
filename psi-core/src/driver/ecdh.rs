//! ECDH-PSI ([`crate::ecdh`]) as two [`Party`] adapters, run by
//! [`run_ecdh`] on the [`schedule::ECDH`] schedule: the client sends
//! client-masked; the server answers each chunk on double-masked as it
//! arrives and sends server-masked at once.

use std::collections::VecDeque;
use std::sync::Arc;

use rand_core::CryptoRng;

use super::{is, DriverRun, Outgoing, Pair, Party, HELLO};
use crate::codec::{ClientHello, Codec, PointChunk, PointStream, ServerHello, TagChunk};
use crate::ecdh::{self, ClientOutput, MatchedPair};
use crate::schedule::{self, Stream, CLIENT_MASKED, DOUBLE_MASKED, SERVER_MASKED};
use crate::{Error, Item, Limits};

/// An inbound stream: open (taking chunks) until it ends, then what its end
/// produced.
enum Inbound<Open, Done> {
    Open(Open),
    Ended(Done),
    /// Its end failed; the stream is dead.
    Failed,
}

impl<Open, Done> Inbound<Open, Done> {
    fn open(&mut self) -> Result<&mut Open, Error> {
        match self {
            Inbound::Open(open) => Ok(open),
            _ => Err(Error::Misuse("a message on a stream that has ended")),
        }
    }

    fn end(&mut self, finish: impl FnOnce(Open) -> Result<Done, Error>) -> Result<(), Error> {
        match std::mem::replace(self, Inbound::Failed) {
            Inbound::Open(open) => {
                *self = Inbound::Ended(finish(open)?);
                Ok(())
            }
            _ => Err(Error::Misuse("a stream ended twice")),
        }
    }

    fn is_ended(&self) -> bool {
        matches!(self, Inbound::Ended(_))
    }

    fn done(self) -> Result<Done, Error> {
        match self {
            Inbound::Ended(done) => Ok(done),
            _ => Err(Error::Misuse("a stream has not ended")),
        }
    }
}

/// The ECDH client as a [`Party`]: sends [`CLIENT_MASKED`], receives
/// [`DOUBLE_MASKED`] and [`SERVER_MASKED`].
pub struct Client {
    state: ClientState,
    keep_positions: bool,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per party, moved only when its state changes: boxing buys nothing"
)]
enum ClientState {
    ExpectHello(ecdh::ExpectServerHello),
    Streams(ClientStreams),
    /// The hello was refused.
    Failed,
}

/// The client's three streams after the hellos.
struct ClientStreams {
    session_id: [u8; 32],
    /// `None` once every chunk was sent.
    masker: Option<ecdh::ClientMasker>,
    own: Inbound<ecdh::ExpectDoubleMasked, ecdh::DoubleMaskedDone>,
    theirs: Inbound<ecdh::ExpectServerMasked, ecdh::ServerSetDone>,
}

impl Client {
    /// Starts a client over `items` (distinct); returns it and its hello.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let (state, hello) = ecdh::Client::start(rng, items, limits)?;
        let client = Client {
            state: ClientState::ExpectHello(state),
            keep_positions: false,
        };
        Ok((client, hello.to_bytes()))
    }

    /// Like [`Client::start`], but keeps the server's stream positions, for
    /// [`Client::finish_pairs`].
    pub fn start_keeping_positions<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let (mut client, hello) = Self::start(rng, items, limits)?;
        client.keep_positions = true;
        Ok((client, hello))
    }

    /// Whether every stream has ended (the client can finish).
    pub fn is_done(&self) -> bool {
        match &self.state {
            ClientState::Streams(s) => {
                s.masker.is_none() && s.own.is_ended() && s.theirs.is_ended()
            }
            _ => false,
        }
    }

    /// What the client learned, once every stream has ended.
    pub fn finish(self) -> Result<ClientOutput, Error> {
        let s = self.into_streams()?;
        Ok(ecdh::intersect(s.own.done()?, s.theirs.done()?))
    }

    /// [`Client::finish`] with the shared pairs ([`ecdh::intersect_pairs`]);
    /// needs [`Client::start_keeping_positions`].
    pub fn finish_pairs(self) -> Result<(ClientOutput, Vec<MatchedPair>), Error> {
        let s = self.into_streams()?;
        ecdh::intersect_pairs(s.own.done()?, s.theirs.done()?, &s.session_id)
    }

    fn into_streams(self) -> Result<ClientStreams, Error> {
        match self.state {
            ClientState::Streams(s) if s.masker.is_none() => Ok(s),
            _ => Err(Error::Misuse(
                "the ECDH client has not finished its streams",
            )),
        }
    }

    fn streams(&mut self) -> Result<&mut ClientStreams, Error> {
        match &mut self.state {
            ClientState::Streams(s) => Ok(s),
            _ => Err(Error::Misuse("an ECDH stream before the hellos")),
        }
    }
}

impl Party for Client {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if !is(stream, &CLIENT_MASKED) {
            return Err(Error::Misuse("the ECDH client sends only client-masked"));
        }
        let s = self.streams()?;
        match s.masker.as_mut().and_then(|m| m.next_chunk()) {
            Some(chunk) => Ok(Outgoing::Message(chunk.to_bytes())),
            None => {
                s.masker = None;
                Ok(Outgoing::Ended)
            }
        }
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let keep_positions = self.keep_positions;
        if is(stream, &HELLO) {
            let hello = message.ok_or(Error::Misuse("the hellos ended without one"))?;
            let hello = ServerHello::from_bytes(&hello)?;
            let ClientState::ExpectHello(state) =
                std::mem::replace(&mut self.state, ClientState::Failed)
            else {
                return Err(Error::Misuse("a second server hello"));
            };
            let streams = state.receive(hello)?;
            self.state = ClientState::Streams(ClientStreams {
                session_id: streams.masker.session_id(),
                masker: Some(streams.masker),
                own: Inbound::Open(streams.double_masked),
                theirs: Inbound::Open(streams.server_set),
            });
        } else if is(stream, &DOUBLE_MASKED) {
            let own = &mut self.streams()?.own;
            match message {
                Some(m) => own.open()?.receive(TagChunk::from_bytes(&m)?)?,
                None => own.end(|o| o.finish())?,
            }
        } else if is(stream, &SERVER_MASKED) {
            let theirs = &mut self.streams()?.theirs;
            match message {
                Some(m) => theirs
                    .open()?
                    .receive(PointChunk::decode(PointStream::ServerMasked, &m)?)?,
                None if keep_positions => theirs.end(|t| t.finish_keeping_positions())?,
                None => theirs.end(|t| t.finish())?,
            }
        } else {
            return Err(Error::Misuse("a stream the ECDH client does not receive"));
        }
        Ok(None)
    }
}

/// The ECDH server as a [`Party`]: receives [`CLIENT_MASKED`], sends
/// [`DOUBLE_MASKED`] (one answer per chunk received, in order) and
/// [`SERVER_MASKED`].
pub struct Server {
    client_set_size: u64,
    answerer: Inbound<ecdh::ExpectClientMasked, ()>,
    /// Answers to chunks received, not yet sent.
    answers: VecDeque<TagChunk>,
    /// `None` once every chunk was sent.
    masker: Option<ecdh::ServerMasker>,
    order: Arc<[u32]>,
}

impl Server {
    /// A server over `items` (distinct) for the client whose encoded
    /// [`ClientHello`] is `hello`; returns it and its encoded answer.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        hello: &[u8],
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let hello = ClientHello::from_bytes(hello)?;
        let (answer, streams) = ecdh::Server::accept(rng, items, &hello, limits)?;
        let server = Server {
            client_set_size: hello.set_size,
            answerer: Inbound::Open(streams.answerer),
            answers: VecDeque::new(),
            order: streams.masker.stream_order(),
            masker: Some(streams.masker),
        };
        Ok((server, answer.to_bytes()))
    }

    /// What the server learns: the size of the client's set.
    pub fn client_set_size(&self) -> u64 {
        self.client_set_size
    }

    /// The shuffled order of the server-masked stream
    /// ([`ecdh::ServerMasker::stream_order`]).
    pub fn stream_order(&self) -> &[u32] {
        &self.order
    }

    /// Whether every stream has ended.
    pub fn is_done(&self) -> bool {
        self.answerer.is_ended() && self.answers.is_empty() && self.masker.is_none()
    }
}

impl Party for Server {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if is(stream, &DOUBLE_MASKED) {
            Ok(match self.answers.pop_front() {
                Some(answer) => Outgoing::Message(answer.to_bytes()),
                None if self.answerer.is_ended() => Outgoing::Ended,
                None => Outgoing::Later,
            })
        } else if is(stream, &SERVER_MASKED) {
            Ok(match self.masker.as_mut().and_then(|m| m.next_chunk()) {
                Some(chunk) => Outgoing::Message(chunk.to_bytes()),
                None => {
                    self.masker = None;
                    Outgoing::Ended
                }
            })
        } else {
            Err(Error::Misuse("a stream the ECDH server does not send"))
        }
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if !is(stream, &CLIENT_MASKED) {
            return Err(Error::Misuse("a stream the ECDH server does not receive"));
        }
        match message {
            Some(m) => {
                let chunk = PointChunk::decode(PointStream::ClientMasked, &m)?;
                let answer = self.answerer.open()?.receive(chunk)?;
                self.answers.push_back(answer);
            }
            None => self.answerer.end(|a| a.finish())?,
        }
        Ok(None)
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
    let (client, hello) = Client::start(rng, client_items, limits)?;
    let server_items: Arc<[Item]> = server_items.into();
    let mut pair = Pair::connect(client, hello, |hello| {
        Server::accept(rng, server_items, hello, limits)
    })?;
    pair.run(&schedule::ECDH)?;
    let (client_to_server, server_to_client) = (pair.client_to_server(), pair.server_to_client());
    Ok(DriverRun {
        client_set_size: pair.server.client_set_size(),
        output: pair.client.finish()?,
        client_to_server,
        server_to_client,
    })
}
