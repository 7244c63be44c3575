//! What a request takes from a session to run one stream: the core's state
//! for an upload, a download or an exchange, dispatched by protocol without
//! trait objects.

use bytes::Bytes;
use psi_core::codec::{Codec, PointChunk, PointStream};
use psi_core::ecdh::{ExpectClientMasked, ServerMasker};
use psi_core::kkrt::{ExpectMatrix, MatrixChunk, SendOprfValues};
use psi_core::pjc::ResponderFinale;

use super::pjc_disk::{PjcAnswerer, PjcSet, PjcTags};
use tokio::sync::mpsc;

use crate::body::ChannelBody;

/// Frames forwarded from an upload to a download stream.
pub(crate) type Chunks = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// An upload in progress: the core state that takes the client's chunks.
pub(crate) enum Upload {
    EcdhClientMasked(ExpectClientMasked),
    /// Boxed: the KKRT states carry the base-OT keys (about 3.7 KB).
    KkrtMatrix(Box<ExpectMatrix>),
    PjcCounterMasked(PjcAnswerer),
}

/// What an upload leaves when it ends: the state of a stream it made ready.
pub(crate) enum Uploaded {
    Nothing,
    OprfValues(Box<SendOprfValues>),
    ShuffledTags(PjcTags),
}

/// A download the server produces chunk by chunk.
pub(crate) enum Download {
    EcdhServerMasked(ServerMasker),
    KkrtOprfValues(Box<SendOprfValues>),
    PjcShuffledTags(PjcTags),
    PjcResponderSet(PjcSet),
}

/// A download stream: produced here, or forwarded from an upload.
// Built and consumed at once by the download handler: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Downstream {
    Produced(Download),
    Forwarded(ChannelBody),
    /// A resumable client acknowledged the whole stream: nothing to send.
    Finished,
}

/// An exchange of one message each way.
pub(crate) enum Exchange {
    /// The PSI-sum finale.
    Sum(ResponderFinale),
    /// A linkage step's result, for the linkage with this id.
    LinkResult(String),
    /// The PSI-sum finale of a kept session, already answered: the same
    /// message gets the recorded answer, nothing is computed again.
    Recorded(crate::pjc_state::Finale),
}

impl Upload {
    /// Takes one message; may return an answer for a forwarded stream.
    pub(crate) fn process(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, psi_core::Error> {
        match self {
            Upload::EcdhClientMasked(s) => {
                let chunk = PointChunk::decode(PointStream::ClientMasked, message)?;
                Ok(Some(s.receive(chunk)?.to_bytes()))
            }
            Upload::KkrtMatrix(s) => {
                s.receive(MatrixChunk::from_bytes(message)?)?;
                Ok(None)
            }
            Upload::PjcCounterMasked(s) => {
                s.process(message)?;
                Ok(None)
            }
        }
    }

    /// The upload ended; everything announced must have arrived.
    pub(crate) fn finish(self) -> Result<Uploaded, psi_core::Error> {
        match self {
            Upload::EcdhClientMasked(s) => s.finish().map(|()| Uploaded::Nothing),
            Upload::KkrtMatrix(s) => s.finish().map(|v| Uploaded::OprfValues(Box::new(v))),
            Upload::PjcCounterMasked(s) => s.finish().map(Uploaded::ShuffledTags),
        }
    }
}

impl Download {
    /// The next encoded message, `None` at the end; an error (for the log)
    /// cuts the stream.
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self {
            Download::EcdhServerMasked(s) => Ok(s.next_chunk().map(|c| c.to_bytes())),
            Download::KkrtOprfValues(s) => Ok(s.next_chunk().map(|c| c.to_bytes())),
            Download::PjcShuffledTags(s) => s.next_message(),
            Download::PjcResponderSet(s) => s.next_message(),
        }
    }
}
