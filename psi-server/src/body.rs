//! Streaming bodies shared by the server and the client.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use psi_core::codec::{encode_frame, FrameDecoder};
use tokio::sync::mpsc;

/// A body fed by a channel, one frame per message. An `Err` item aborts the
/// body, so the other side sees a broken stream rather than a short one.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it (`capacity` messages in flight).
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, ChannelBody { rx })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// A whole small body.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Frames one message for a stream.
pub fn framed(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 4);
    encode_frame(message, &mut out);
    Bytes::from(out)
}

/// Reads a body frame by frame and hands out complete psi messages.
pub struct FrameReader<B> {
    body: B,
    decoder: FrameDecoder,
    /// Body bytes read so far.
    pub bytes: u64,
    ended: bool,
}

/// Why reading a framed body failed.
#[derive(Debug)]
pub enum ReadError<E> {
    /// The body itself failed.
    Body(E),
    /// The framing is broken (too long, truncated).
    Decode(psi_core::codec::DecodeError),
}

impl<B> FrameReader<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    /// Reads `body`, rejecting frames above `max_frame` bytes.
    pub fn new(body: B, max_frame: usize) -> Self {
        FrameReader {
            body,
            decoder: FrameDecoder::new(max_frame),
            bytes: 0,
            ended: false,
        }
    }

    /// The next message, or `None` at a clean end of the body.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ReadError<B::Error>> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(ReadError::Decode)? {
                return Ok(Some(frame));
            }
            if self.ended {
                self.decoder.finish().map_err(ReadError::Decode)?;
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.bytes += data.len() as u64;
                        self.decoder.push(&data);
                    }
                }
                Some(Err(e)) => return Err(ReadError::Body(e)),
                None => self.ended = true,
            }
        }
    }
}
