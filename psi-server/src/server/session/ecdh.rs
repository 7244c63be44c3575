//! An ECDH-PSI session ([`schedule::ECDH`], or [`schedule::LINKAGE_STEP`]
//! with the shared result): the answerer's answers are forwarded to their own
//! stream; the server's masked set streams independently.

use psi_core::ecdh::{ExpectClientMasked, ServerMasker};
use psi_core::schedule::{self, Stream};

use super::handoff::{Chunks, Download, Downstream, Exchange, Upload, Uploaded};
use super::lane::{Lane, Refusal};
use super::result_lane::ResultLane;
use crate::body::ChannelBody;

/// Answers in flight between the upload and the double-masked stream.
const ANSWERS_IN_FLIGHT: usize = 4;

pub(crate) struct EcdhStreams {
    client_masked: Lane<(ExpectClientMasked, Chunks)>,
    double_masked: Lane<ChannelBody>,
    server_masked: Lane<ServerMasker>,
    /// A linkage step: the result, for the linkage with this id.
    result: ResultLane,
}

impl EcdhStreams {
    pub(crate) fn new(
        answerer: ExpectClientMasked,
        masker: ServerMasker,
        linkage: Option<String>,
    ) -> Self {
        let (tx, body) = ChannelBody::channel(ANSWERS_IN_FLIGHT);
        EcdhStreams {
            client_masked: Lane::Ready((answerer, tx)),
            double_masked: Lane::Ready(body),
            server_masked: Lane::Ready(masker),
            result: ResultLane::new(linkage),
        }
    }

    pub(crate) fn start_upload(
        &mut self,
        stream: &Stream,
    ) -> Result<(Upload, Option<Chunks>), Refusal> {
        if *stream != schedule::CLIENT_MASKED {
            return Err(Refusal::Taken);
        }
        let (answerer, tx) = self.client_masked.start()?;
        Ok((Upload::EcdhClientMasked(answerer), Some(tx)))
    }

    pub(crate) fn uploaded(&mut self, _: Uploaded) {
        self.client_masked.done();
        self.release();
    }

    pub(crate) fn start_download(&mut self, stream: &Stream) -> Result<Downstream, Refusal> {
        if *stream == schedule::DOUBLE_MASKED {
            Ok(Downstream::Forwarded(self.double_masked.start()?))
        } else if *stream == schedule::SERVER_MASKED {
            Ok(Downstream::Produced(Download::EcdhServerMasked(
                self.server_masked.start()?,
            )))
        } else {
            Err(Refusal::Taken)
        }
    }

    pub(crate) fn downloaded(&mut self, stream: &Stream) {
        if *stream == schedule::DOUBLE_MASKED {
            self.double_masked.done();
        } else if *stream == schedule::SERVER_MASKED {
            self.server_masked.done();
        }
        self.release();
    }

    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        self.result.start_exchange(stream)
    }

    pub(crate) fn exchanged(&mut self) {
        self.result.exchanged();
    }

    fn streams_done(&self) -> bool {
        self.client_masked.is_done() && self.double_masked.is_done() && self.server_masked.is_done()
    }

    fn release(&mut self) {
        if self.streams_done() {
            self.result.release();
        }
    }

    pub(crate) fn all_done(&self) -> bool {
        self.streams_done() && self.result.is_done()
    }
}
