//! A KKRT session ([`schedule::KKRT`]): the matrix up, then the OPRF values,
//! which exist only once the whole matrix arrived. A bucket of a bucketed
//! linkage ([`schedule::KKRT_LINKAGE_STEP`]) then takes the client's result
//! (the ids of its shared items) once both streams ended.

use psi_core::kkrt::ExpectMatrix;
use psi_core::schedule::{self, Stream};

use super::handoff::{Download, Downstream, Exchange, Upload, Uploaded};
use super::lane::{Lane, Refusal};
use super::result_lane::ResultLane;

pub(crate) struct KkrtStreams {
    matrix: Lane<Box<ExpectMatrix>>,
    oprf_values: Lane<Box<psi_core::kkrt::SendOprfValues>>,
    /// A linkage bucket: the result, for the linkage with this id.
    result: ResultLane,
}

impl KkrtStreams {
    pub(crate) fn new(matrix: ExpectMatrix, linkage: Option<String>) -> Self {
        KkrtStreams {
            matrix: Lane::Ready(Box::new(matrix)),
            oprf_values: Lane::waiting("the whole matrix upload"),
            result: ResultLane::new(linkage),
        }
    }

    pub(crate) fn start_upload(&mut self, stream: &Stream) -> Result<Upload, Refusal> {
        if *stream != schedule::MATRIX {
            return Err(Refusal::Taken);
        }
        Ok(Upload::KkrtMatrix(self.matrix.start()?))
    }

    pub(crate) fn uploaded(&mut self, uploaded: Uploaded) {
        self.matrix.done();
        if let Uploaded::OprfValues(values) = uploaded {
            self.oprf_values.ready(values);
        }
    }

    pub(crate) fn start_download(&mut self, stream: &Stream) -> Result<Downstream, Refusal> {
        if *stream != schedule::OPRF_VALUES {
            return Err(Refusal::Taken);
        }
        Ok(Downstream::Produced(Download::KkrtOprfValues(
            self.oprf_values.start()?,
        )))
    }

    pub(crate) fn downloaded(&mut self) {
        self.oprf_values.done();
        if self.streams_done() {
            self.result.release();
        }
    }

    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        self.result.start_exchange(stream)
    }

    pub(crate) fn exchanged(&mut self) {
        self.result.exchanged();
    }

    fn streams_done(&self) -> bool {
        self.matrix.is_done() && self.oprf_values.is_done()
    }

    pub(crate) fn all_done(&self) -> bool {
        self.streams_done() && self.result.is_done()
    }
}
