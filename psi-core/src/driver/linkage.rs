//! One step of a linkage ([`crate::linkage`]) as two [`Party`] adapters, run
//! by [`run_linkage`] on the [`schedule::LINKAGE_STEP`] schedule: the ECDH
//! adapters ([`super::ecdh`]) run the step's ECDH-PSI, then the client sends
//! its [`LinkResult`] and the server answers [`StepRecorded`]. Each side
//! records the step in its [`Waterfall`].

use std::sync::Arc;

use rand_core::CryptoRng;

use super::{ecdh, is, Outgoing, Pair, Party};
use crate::codec::Codec;
use crate::ecdh::LinkId;
use crate::linkage::{self, LinkResult, Offer, StepRecorded, Waterfall};
use crate::schedule::{self, Stream, RESULT};
use crate::{Error, Item, Limits};

/// The client of one linkage step as a [`Party`]: the ECDH client, then the
/// [`RESULT`] exchange.
pub struct Client {
    waterfall: Waterfall,
    offer: Offer,
    step: ClientStep,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per party, moved only when its state changes: boxing buys nothing"
)]
enum ClientStep {
    /// The step's ECDH-PSI.
    Psi(ecdh::Client),
    /// The result is sent; waiting for the server's [`StepRecorded`], with
    /// the client's own (offered item, id) pairs.
    ExpectRecorded(Vec<(u32, LinkId)>),
    /// The step is recorded on both sides.
    Recorded(StepRecorded),
    /// A step failed.
    Failed,
}

impl Client {
    /// Starts the current step of `waterfall`; returns the client and its
    /// hello.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        waterfall: Waterfall,
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let offer = waterfall.offer()?;
        let (psi, hello) = ecdh::Client::start_keeping_positions(rng, offer.items.clone(), limits)?;
        let client = Client {
            waterfall,
            offer,
            step: ClientStep::Psi(psi),
        };
        Ok((client, hello))
    }

    /// The server's answer to the result, once the step is recorded.
    pub fn recorded(&self) -> Option<StepRecorded> {
        match self.step {
            ClientStep::Recorded(r) => Some(r),
            _ => None,
        }
    }

    /// The waterfall, with this step recorded.
    pub fn into_waterfall(self) -> Result<Waterfall, Error> {
        match self.step {
            ClientStep::Recorded(_) => Ok(self.waterfall),
            _ => Err(Error::Misuse("the linkage step has not been recorded")),
        }
    }
}

impl Party for Client {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if !is(stream, &RESULT) {
            return match &mut self.step {
                ClientStep::Psi(psi) => psi.send(stream),
                _ => Err(Error::Misuse("an ECDH stream after the result")),
            };
        }
        match std::mem::replace(&mut self.step, ClientStep::Failed) {
            ClientStep::Psi(psi) if !psi.is_done() => {
                self.step = ClientStep::Psi(psi);
                Ok(Outgoing::Later)
            }
            ClientStep::Psi(psi) => {
                let (_, pairs) = psi.finish_pairs()?;
                let result = LinkResult {
                    pairs: pairs.iter().map(|p| (p.server_position, p.id)).collect(),
                };
                // Offers hold at most u32::MAX items (the server refuses more).
                let mine = pairs.iter().map(|p| (p.client as u32, p.id)).collect();
                self.step = ClientStep::ExpectRecorded(mine);
                Ok(Outgoing::Message(result.to_bytes()))
            }
            _ => Err(Error::Misuse("a second result")),
        }
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if !is(stream, &RESULT) {
            return match &mut self.step {
                ClientStep::Psi(psi) => psi.receive(stream, message),
                _ => Err(Error::Misuse("an ECDH stream after the result")),
            };
        }
        let answer = message.ok_or(Error::Misuse("the result exchange ended unanswered"))?;
        let ClientStep::ExpectRecorded(mine) =
            std::mem::replace(&mut self.step, ClientStep::Failed)
        else {
            return Err(Error::Misuse("an answer to a result not sent"));
        };
        let recorded = StepRecorded::from_bytes(&answer)?;
        self.waterfall.record(&self.offer, &mine)?;
        self.step = ClientStep::Recorded(recorded);
        Ok(None)
    }
}

/// The server of one linkage step as a [`Party`]: the ECDH server, then the
/// answer to the client's [`LinkResult`].
pub struct Server {
    psi: ecdh::Server,
    waterfall: Waterfall,
    offer: Offer,
    recorded: Option<StepRecorded>,
}

impl Server {
    /// A server for the current step of `waterfall`, for the client whose
    /// encoded hello is `hello`; returns it and its encoded answer.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        waterfall: Waterfall,
        hello: &[u8],
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let offer = waterfall.offer()?;
        let items: Arc<[Item]> = offer.items.clone().into();
        let (psi, answer) = ecdh::Server::accept(rng, items, hello, limits)?;
        let server = Server {
            psi,
            waterfall,
            offer,
            recorded: None,
        };
        Ok((server, answer))
    }

    /// The waterfall, with this step recorded.
    pub fn into_waterfall(self) -> Result<Waterfall, Error> {
        match self.recorded {
            Some(_) => Ok(self.waterfall),
            None => Err(Error::Misuse("the linkage step has not been recorded")),
        }
    }
}

impl Party for Server {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        self.psi.send(stream)
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if !is(stream, &RESULT) {
            return self.psi.receive(stream, message);
        }
        let message = message.ok_or(Error::Misuse("the result exchange ended without one"))?;
        if self.recorded.is_some() {
            return Err(Error::Misuse("a second result"));
        }
        if !self.psi.is_done() {
            return Err(Error::Misuse("a result before the ECDH streams ended"));
        }
        let result = LinkResult::from_bytes(&message)?;
        let matched = linkage::resolve(&result, self.psi.stream_order())?;
        self.waterfall.record(&self.offer, &matched)?;
        let linked_rows = self
            .waterfall
            .summaries()
            .last()
            .map_or(0, |s| s.linked_rows);
        let recorded = StepRecorded { linked_rows };
        self.recorded = Some(recorded);
        Ok(Some(recorded.to_bytes()))
    }
}

/// Runs a linkage ([`linkage`]) between a client and a server, each with its
/// [`Waterfall`] over its own keys: one ECDH-PSI per step, with the result
/// shared with the server through a [`LinkResult`] (answered by
/// [`StepRecorded`]). Returns both states (each with its links) and the bytes
/// the client and the server sent.
pub fn run_linkage<R: CryptoRng + ?Sized>(
    rng: &mut R,
    mut client: Waterfall,
    mut server: Waterfall,
    limits: &Limits,
) -> Result<(Waterfall, Waterfall, u64, u64), Error> {
    if client.steps() != server.steps() {
        return Err(Error::Misuse("both sides need the same number of keys"));
    }
    let (mut up, mut down) = (0, 0);
    while client.step() < client.steps() {
        let (step_client, hello) = Client::start(rng, client, limits)?;
        let mut pair = Pair::connect(step_client, hello, |hello| {
            Server::accept(rng, server, hello, limits)
        })?;
        pair.run(&schedule::LINKAGE_STEP)?;
        up += pair.client_to_server();
        down += pair.server_to_client();
        client = pair.client.into_waterfall()?;
        server = pair.server.into_waterfall()?;
    }
    Ok((client, server, up, down))
}
