//! The shared result of a linkage step or bucket ([`schedule::RESULT`]), for
//! ECDH and KKRT sessions alike: it opens once every other stream of the
//! session has ended, and takes the client's result once.

use psi_core::schedule::{self, Stream};

use super::handoff::Exchange;
use super::lane::{Lane, Refusal};

/// `None` for a session that shares no result; else the lane holding the
/// linkage's id until the exchange.
pub(crate) struct ResultLane(Option<Lane<String>>);

impl ResultLane {
    /// For the linkage with this id, if any.
    pub(crate) fn new(linkage: Option<String>) -> Self {
        ResultLane(linkage.map(|id| Lane::holding("every other stream", id)))
    }

    /// Every other stream has ended: the result may come.
    pub(crate) fn release(&mut self) {
        if let Some(lane) = &mut self.0 {
            lane.release();
        }
    }

    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        match &mut self.0 {
            Some(lane) if *stream == schedule::RESULT => Ok(Exchange::LinkResult(lane.start()?)),
            _ => Err(Refusal::Taken),
        }
    }

    pub(crate) fn exchanged(&mut self) {
        if let Some(lane) = &mut self.0 {
            lane.done();
        }
    }

    /// Done, or never part of the session.
    pub(crate) fn is_done(&self) -> bool {
        self.0.as_ref().is_none_or(Lane::is_done)
    }
}
