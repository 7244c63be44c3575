//! A PSI-cardinality or PSI-sum session ([`schedule::CARDINALITY`],
//! [`schedule::SUM`]): the shuffled tags exist once the counter's upload
//! ended; the sum comes after every stream.

use psi_core::pjc::{Outcome, ResponderFinale, SumOutput};
use psi_core::schedule::{self, Stream};

use super::handoff::{Download, Downstream, Exchange, Upload, Uploaded};
use super::lane::{Lane, Refusal};
use super::pjc_disk::{PjcAnswerer, PjcSet, PjcTags};

pub(crate) struct PjcStreams {
    client_masked: Lane<PjcAnswerer>,
    shuffled_tags: Lane<PjcTags>,
    server_masked: Lane<PjcSet>,
    /// The sums' last exchange (`None` for cardinality).
    sum: Option<Lane<ResponderFinale>>,
    /// Sum to the server: what it learned.
    pub(crate) learned: Option<Outcome<SumOutput>>,
}

impl PjcStreams {
    pub(crate) fn new(answerer: PjcAnswerer, masker: PjcSet, finale: ResponderFinale) -> Self {
        let sum = match finale {
            ResponderFinale::Nothing => None,
            f => Some(Lane::holding("every other stream", f)),
        };
        PjcStreams {
            client_masked: Lane::Ready(answerer),
            shuffled_tags: Lane::waiting("the whole client-masked upload"),
            server_masked: Lane::Ready(masker),
            sum,
            learned: None,
        }
    }

    pub(crate) fn start_upload(&mut self, stream: &Stream) -> Result<Upload, Refusal> {
        if *stream != schedule::CLIENT_MASKED {
            return Err(Refusal::Taken);
        }
        Ok(Upload::PjcCounterMasked(self.client_masked.start()?))
    }

    pub(crate) fn uploaded(&mut self, uploaded: Uploaded) {
        self.client_masked.done();
        if let Uploaded::ShuffledTags(tags) = uploaded {
            self.shuffled_tags.ready(tags);
        }
    }

    pub(crate) fn start_download(&mut self, stream: &Stream) -> Result<Downstream, Refusal> {
        let download = if *stream == schedule::SHUFFLED_TAGS {
            Download::PjcShuffledTags(self.shuffled_tags.start()?)
        } else if *stream == schedule::SERVER_MASKED {
            Download::PjcResponderSet(self.server_masked.start()?)
        } else {
            return Err(Refusal::Taken);
        };
        Ok(Downstream::Produced(download))
    }

    pub(crate) fn downloaded(&mut self, stream: &Stream) {
        if *stream == schedule::SHUFFLED_TAGS {
            self.shuffled_tags.done();
        } else if *stream == schedule::SERVER_MASKED {
            self.server_masked.done();
        }
        if self.streams_done() {
            if let Some(lane) = &mut self.sum {
                lane.release();
            }
        }
    }

    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        match &mut self.sum {
            Some(lane) if *stream == schedule::SUM_EXCHANGE => Ok(Exchange::Sum(lane.start()?)),
            _ => Err(Refusal::Taken),
        }
    }

    pub(crate) fn exchanged(&mut self, learned: Option<Outcome<SumOutput>>) {
        if let Some(lane) = &mut self.sum {
            lane.done();
        }
        self.learned = learned;
    }

    fn streams_done(&self) -> bool {
        self.client_masked.is_done() && self.shuffled_tags.is_done() && self.server_masked.is_done()
    }

    pub(crate) fn all_done(&self) -> bool {
        self.streams_done() && self.sum.as_ref().is_none_or(Lane::is_done)
    }
}
