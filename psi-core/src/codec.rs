//! The one wire codec shared by every role, the server and the client.
//!
//! Every message starts with the wire version ([`WIRE_VERSION`]) and a message
//! type byte, then its fields in big-endian order. Decoders reject truncated
//! input, trailing bytes, unknown versions and types, and any length above its
//! limit *before* allocating for it.
//!
//! Streams of chunks are framed with [`encode_frame`] (a `u32` big-endian length
//! followed by one message) and cut back into messages by [`FrameDecoder`], which
//! accepts arbitrary byte pieces as they come off a socket.

use std::fmt;

/// The version byte carried by every message. A peer speaking another version
/// is rejected with [`DecodeError::UnsupportedVersion`].
///
/// Version 2: the linkage's finish, totals and step answer and the key
/// declaration became codec messages (version 1 sent them as JSON and text);
/// ECDH and PJC tags hash the point instead of cutting its encoding; KKRT's
/// code is 512 bits wide. A version-1 peer is refused, never answered wrongly.
pub const WIRE_VERSION: u8 = 2;

/// The most elements one chunk message may carry.
pub const MAX_CHUNK_ITEMS: u32 = 1 << 16;

/// The default number of elements per chunk this implementation sends.
pub const DEFAULT_CHUNK_ITEMS: usize = 4096;

/// Size of a compressed ristretto255 point.
pub const POINT_LEN: usize = 32;

/// Largest frame [`FrameDecoder`] accepts: a full chunk of points plus headers.
pub const MAX_FRAME_LEN: usize = MAX_CHUNK_ITEMS as usize * POINT_LEN + 64;

/// A message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a message.
    #[error("message truncated: needed {needed} more bytes")]
    Truncated {
        /// How many bytes were missing.
        needed: usize,
    },
    /// Bytes were left after a complete message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message speaks another wire version.
    #[error("peer speaks wire version {found}, this build speaks version {WIRE_VERSION}")]
    UnsupportedVersion {
        /// The version byte received.
        found: u8,
    },
    /// The message type byte is not the one expected at this point.
    #[error("expected a {expected} message, got message type {found}")]
    UnexpectedMessage {
        /// The expected message.
        expected: &'static str,
        /// The type byte received.
        found: u8,
    },
    /// The protocol byte names no protocol this build knows.
    #[error("unknown protocol id {0}")]
    UnknownProtocol(u8),
    /// A length field is above its limit.
    #[error("{field} is {value}, above the limit of {limit}")]
    TooLarge {
        /// Which length.
        field: &'static str,
        /// The value received.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A field has a value outside its valid range.
    #[error("invalid {field}: {value}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// The value received.
        value: u64,
    },
}

/// A cursor over a received message.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Takes one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Takes a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Takes a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless every byte was read.
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A wire message: one encoder and one decoder.
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one message from `r`, leaving any further bytes unread.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding as a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes exactly one message; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = Self::read(&mut r)?;
        r.expect_end()?;
        Ok(msg)
    }
}

/// The protocol a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// ECDH-PSI on ristretto255; the client learns which of its items are shared.
    EcdhIntersection,
    /// KKRT OT-extension PSI ([`crate::kkrt`]); the client (OPRF receiver) learns
    /// which of its items are shared.
    Kkrt,
    /// PSI-cardinality ([`crate::pjc`]): the counting party learns only `|X ∩ Y|`.
    Cardinality,
    /// PSI-sum ([`crate::pjc`]), direction 1: the value holder learns the number
    /// of matches and the sum of its values over them.
    SumToValueHolder,
    /// PSI-sum ([`crate::pjc`]), direction 2: the key-only party learns the number
    /// of matches and the sum of the peer's values over them.
    SumToKeyHolder,
}

impl Protocol {
    pub(crate) fn id(self) -> u8 {
        match self {
            Protocol::EcdhIntersection => 1,
            Protocol::Kkrt => 2,
            Protocol::Cardinality => 3,
            Protocol::SumToValueHolder => 4,
            Protocol::SumToKeyHolder => 5,
        }
    }

    pub(crate) fn from_id(id: u8) -> Result<Self, DecodeError> {
        match id {
            1 => Ok(Protocol::EcdhIntersection),
            2 => Ok(Protocol::Kkrt),
            3 => Ok(Protocol::Cardinality),
            4 => Ok(Protocol::SumToValueHolder),
            5 => Ok(Protocol::SumToKeyHolder),
            other => Err(DecodeError::UnknownProtocol(other)),
        }
    }

    /// The name used in reports, logs and domain-separation tags.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::EcdhIntersection => "ecdh-ristretto255",
            Protocol::Kkrt => "kkrt-ot",
            Protocol::Cardinality => "pjc-cardinality-ristretto255",
            Protocol::SumToValueHolder => "pjc-sum-to-value-holder-ristretto255",
            Protocol::SumToKeyHolder => "pjc-sum-to-key-holder-ristretto255",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Message type bytes (one list for every protocol, so no two messages share a byte).
pub(crate) mod kind {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CLIENT_MASKED: u8 = 3;
    pub const DOUBLE_MASKED: u8 = 4;
    pub const SERVER_MASKED: u8 = 5;
    /// [`crate::kkrt::ReceiverHello`].
    pub const KKRT_RECEIVER_HELLO: u8 = 16;
    /// [`crate::kkrt::SenderHello`].
    pub const KKRT_SENDER_HELLO: u8 = 17;
    /// [`crate::kkrt::MatrixChunk`].
    pub const KKRT_MATRIX: u8 = 18;
    /// [`crate::kkrt::OprfChunk`].
    pub const KKRT_OPRF: u8 = 19;
    /// [`crate::pjc::PjcHello`] (both roles).
    pub const PJC_HELLO: u8 = 32;
    /// [`crate::codec::PointStream::CounterMasked`] chunks.
    pub const PJC_COUNTER_MASKED: u8 = 33;
    /// [`crate::pjc::ShuffledTags`].
    pub const PJC_SHUFFLED_TAGS: u8 = 34;
    /// [`crate::pjc::ResponderSetChunk`].
    pub const PJC_RESPONDER_SET: u8 = 35;
    /// [`crate::pjc::SumResult`].
    pub const PJC_SUM_RESULT: u8 = 36;
    /// [`crate::pjc::MaskedSum`].
    pub const PJC_MASKED_SUM: u8 = 37;
    /// [`crate::pjc::DecryptedSum`].
    pub const PJC_DECRYPTED_SUM: u8 = 38;
    /// [`crate::linkage::LinkResult`].
    pub const LINK_RESULT: u8 = 48;
    /// [`crate::linkage::StepRecorded`].
    pub const STEP_RECORDED: u8 = 49;
    /// [`crate::linkage::LinkageFinish`].
    pub const LINKAGE_FINISH: u8 = 50;
    /// [`crate::linkage::LinkageTotals`].
    pub const LINKAGE_TOTALS: u8 = 51;
    /// [`crate::linkage::LinkIds`].
    pub const LINK_IDS: u8 = 52;
    /// [`crate::linkage::ShardLinks`] (a file one party's shard workers share).
    pub const SHARD_LINKS: u8 = 53;
    /// [`crate::codec::KeyDeclaration`].
    pub const KEY_DECLARATION: u8 = 64;
    /// [`crate::bucket::wire::RunHello`].
    pub const RUN_HELLO: u8 = 80;
    /// [`crate::bucket::wire::RunAnswer`].
    pub const RUN_ANSWER: u8 = 81;
    /// [`crate::bucket::wire::RunReady`].
    pub const RUN_READY: u8 = 82;
}

pub(crate) fn write_header(out: &mut Vec<u8>, kind: u8) {
    out.push(WIRE_VERSION);
    out.push(kind);
}

pub(crate) fn read_header(
    r: &mut Reader<'_>,
    kind: u8,
    expected: &'static str,
) -> Result<(), DecodeError> {
    let version = r.u8()?;
    if version != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    let found = r.u8()?;
    if found != kind {
        return Err(DecodeError::UnexpectedMessage { expected, found });
    }
    Ok(())
}

/// The message-type byte of an ECDH client hello (the only hello a linkage
/// step accepts).
pub const CLIENT_HELLO_TYPE: u8 = kind::CLIENT_HELLO;

/// The message-type byte of a KKRT receiver hello: a server that serves several
/// protocols reads the second byte of a hello to pick its decoder.
pub const KKRT_HELLO_TYPE: u8 = kind::KKRT_RECEIVER_HELLO;

/// The message-type byte of a [`crate::pjc::PjcHello`] (PSI-cardinality and
/// PSI-sum, either role): a server reads the second byte of a hello to pick
/// its decoder, then the hello's protocol and role to pick its own role.
pub const PJC_HELLO_TYPE: u8 = kind::PJC_HELLO;

/// Reads only the version byte of a message, for a clear error before decoding.
pub fn peek_version(bytes: &[u8]) -> Option<u8> {
    bytes.first().copied()
}

/// What a party's keys are made of, announced before any private data moves
/// so that two parties who normalise or combine key columns differently stop
/// at once instead of computing an empty intersection.
///
/// `fingerprint` decides (the table layer makes it so that column names do
/// not count); `canonical` is the human-readable text, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDeclaration {
    /// The canonical text of the keys (columns, profiles, versions, options).
    pub canonical: String,
    /// A digest of everything that changes the keys' encoding.
    pub fingerprint: [u8; 32],
}

/// Longest [`KeyDeclaration::canonical`] text accepted, in bytes.
pub const MAX_KEY_DECLARATION_TEXT: usize = 4096;

impl KeyDeclaration {
    /// Whether both declarations make equal keys.
    pub fn agrees_with(&self, other: &KeyDeclaration) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Codec for KeyDeclaration {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::KEY_DECLARATION);
        out.extend_from_slice(&self.fingerprint);
        // Callers keep the text short; a longer one is cut at a char boundary
        // so the encoding stays within what a decoder accepts.
        let mut end = self.canonical.len().min(MAX_KEY_DECLARATION_TEXT);
        while !self.canonical.is_char_boundary(end) {
            end -= 1;
        }
        out.extend_from_slice(&(end as u32).to_be_bytes());
        out.extend_from_slice(&self.canonical.as_bytes()[..end]);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::KEY_DECLARATION, "key declaration")?;
        let fingerprint = r.array::<32>()?;
        let len = r.u32()?;
        if len as usize > MAX_KEY_DECLARATION_TEXT {
            return Err(DecodeError::TooLarge {
                field: "key declaration text",
                value: len.into(),
                limit: MAX_KEY_DECLARATION_TEXT as u64,
            });
        }
        let text = r.take(len as usize)?;
        let canonical =
            String::from_utf8(text.to_vec()).map_err(|e| DecodeError::InvalidField {
                field: "key declaration text (not UTF-8 at byte)",
                value: e.utf8_error().valid_up_to() as u64,
            })?;
        Ok(KeyDeclaration {
            canonical,
            fingerprint,
        })
    }
}

/// The client's opening message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The protocol the client wants to run.
    pub protocol: Protocol,
    /// The client's fresh random contribution to the session id.
    pub nonce: [u8; 32],
    /// How many (distinct) items the client holds. Revealed to the server.
    pub set_size: u64,
}

impl Codec for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::CLIENT_HELLO);
        out.push(self.protocol.id());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.set_size.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::CLIENT_HELLO, "client hello")?;
        Ok(ClientHello {
            protocol: Protocol::from_id(r.u8()?)?,
            nonce: r.array()?,
            set_size: r.u64()?,
        })
    }
}

/// The server's answer to [`ClientHello`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The protocol the server runs (must equal the client's).
    pub protocol: Protocol,
    /// The server's fresh random contribution to the session id.
    pub nonce: [u8; 32],
    /// How many (distinct) items the server holds. Revealed to the client.
    pub set_size: u64,
}

impl Codec for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::SERVER_HELLO);
        out.push(self.protocol.id());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.set_size.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::SERVER_HELLO, "server hello")?;
        Ok(ServerHello {
            protocol: Protocol::from_id(r.u8()?)?,
            nonce: r.array()?,
            set_size: r.u64()?,
        })
    }
}

/// Which stream a [`PointChunk`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointStream {
    /// The client's items, masked with the client's secret.
    ClientMasked,
    /// The server's items, masked with the server's secret and shuffled.
    ServerMasked,
    /// PSI-cardinality/sum ([`crate::pjc`]): the counting party's items, masked
    /// with its secret.
    CounterMasked,
}

impl PointStream {
    fn kind(self) -> u8 {
        match self {
            PointStream::ClientMasked => kind::CLIENT_MASKED,
            PointStream::ServerMasked => kind::SERVER_MASKED,
            PointStream::CounterMasked => kind::PJC_COUNTER_MASKED,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PointStream::ClientMasked => "client-masked chunk",
            PointStream::ServerMasked => "server-masked chunk",
            PointStream::CounterMasked => "counter-masked chunk",
        }
    }
}

/// A chunk of compressed ristretto255 points, in wire form (not yet validated as
/// points: that happens when the receiving state machine decompresses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointChunk {
    /// The stream this chunk belongs to.
    pub stream: PointStream,
    /// The compressed points.
    pub points: Vec<[u8; POINT_LEN]>,
}

impl PointChunk {
    /// Encodes the chunk; `stream` decides the message type.
    fn encode_inner(&self, out: &mut Vec<u8>) {
        write_header(out, self.stream.kind());
        // The sender never builds more than MAX_CHUNK_ITEMS points per chunk.
        let count = u32::try_from(self.points.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        out.reserve(self.points.len() * POINT_LEN);
        for p in &self.points {
            out.extend_from_slice(p);
        }
    }

    /// Decodes a chunk that must belong to `stream`; trailing bytes are an error.
    pub fn decode(stream: PointStream, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r, stream.kind(), stream.name())?;
        let count = r.u32()?;
        if count > MAX_CHUNK_ITEMS {
            return Err(DecodeError::TooLarge {
                field: "points in chunk",
                value: count.into(),
                limit: MAX_CHUNK_ITEMS.into(),
            });
        }
        let body = r.take(count as usize * POINT_LEN)?;
        r.expect_end()?;
        let points = body
            .chunks_exact(POINT_LEN)
            .map(|c| {
                let mut p = [0u8; POINT_LEN];
                p.copy_from_slice(c);
                p
            })
            .collect();
        Ok(PointChunk { stream, points })
    }

    /// The encoding as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.points.len() * POINT_LEN);
        self.encode_inner(&mut out);
        out
    }
}

/// A chunk of tags `T` of doubly-masked points (see [`crate::ecdh`]): the
/// server's answer to one [`PointChunk`] of the client, in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagChunk {
    /// Length of each tag in bytes (8..=16).
    pub tag_len: u8,
    /// `count * tag_len` bytes.
    pub tags: Vec<u8>,
}

/// Shortest and longest tag this codec accepts.
pub const TAG_LEN_RANGE: std::ops::RangeInclusive<u8> = 8..=16;

impl TagChunk {
    /// Number of tags in the chunk.
    pub fn len(&self) -> usize {
        self.tags.len() / usize::from(self.tag_len.max(1))
    }

    /// True when the chunk holds no tag.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tags as little-endian integers (the first `tag_len` bytes of each).
    pub(crate) fn tag_values(&self) -> impl Iterator<Item = u128> + '_ {
        let len = usize::from(self.tag_len.max(1));
        self.tags.chunks_exact(len).map(move |t| {
            let mut b = [0u8; 16];
            b[..len].copy_from_slice(t);
            u128::from_le_bytes(b)
        })
    }
}

/// Writes a tag body: tag length, item count, then the tags.
pub(crate) fn write_tags(out: &mut Vec<u8>, tag_len: u8, items: usize, tags: &[u8]) {
    out.push(tag_len);
    let count = u32::try_from(items).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(tags);
}

/// Reads a tag body written by [`write_tags`] with `per_item` tags per item and
/// at most `max_items` items (checked before anything is allocated).
pub(crate) fn read_tags(
    r: &mut Reader<'_>,
    per_item: usize,
    max_items: u32,
    field: &'static str,
) -> Result<(u8, Vec<u8>), DecodeError> {
    let tag_len = r.u8()?;
    if !TAG_LEN_RANGE.contains(&tag_len) {
        return Err(DecodeError::InvalidField {
            field: "tag length",
            value: tag_len.into(),
        });
    }
    let count = r.u32()?;
    if count > max_items {
        return Err(DecodeError::TooLarge {
            field,
            value: count.into(),
            limit: max_items.into(),
        });
    }
    let tags = r
        .take(count as usize * per_item * usize::from(tag_len))?
        .to_vec();
    Ok((tag_len, tags))
}

impl Codec for TagChunk {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::DOUBLE_MASKED);
        write_tags(out, self.tag_len, self.len(), &self.tags);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::DOUBLE_MASKED, "double-masked chunk")?;
        let (tag_len, tags) = read_tags(r, 1, MAX_CHUNK_ITEMS, "tags in chunk")?;
        Ok(TagChunk { tag_len, tags })
    }
}

/// Appends `message` to `out` as one frame: a `u32` big-endian length, then the bytes.
pub fn encode_frame(message: &[u8], out: &mut Vec<u8>) {
    // Messages are bounded by MAX_FRAME_LEN, far below u32::MAX.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
}

/// Cuts a byte stream that arrives in arbitrary pieces back into frames.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_frame: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder that rejects frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_frame,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `None` if more bytes are needed. A length above
    /// the limit is an error before anything is allocated for it.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len > self.max_frame {
            return Err(DecodeError::TooLarge {
                field: "frame length",
                value: len as u64,
                limit: self.max_frame as u64,
            });
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let frame = avail[4..4 + len].to_vec();
        self.start += 4 + len;
        if self.start > (1 << 20) && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(frame))
    }

    /// Call at the end of the stream: leftover bytes mean the stream was cut.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let left = self.buf.len() - self.start;
        if left == 0 {
            return Ok(());
        }
        let needed = if left < 4 {
            4 - left
        } else {
            let b = &self.buf[self.start..];
            let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            (4 + len).saturating_sub(left)
        };
        Err(DecodeError::Truncated { needed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_declaration_round_trip_and_limits() {
        let d = KeyDeclaration {
            canonical: "e-mail:email@1:gmail; tel:phone@1:GB".into(),
            fingerprint: [3; 32],
        };
        assert_eq!(KeyDeclaration::from_bytes(&d.to_bytes()), Ok(d.clone()));
        assert!(d.agrees_with(&KeyDeclaration {
            canonical: "other names".into(),
            fingerprint: [3; 32],
        }));
        let mut bytes = d.to_bytes();
        bytes[34..38].copy_from_slice(&(MAX_KEY_DECLARATION_TEXT as u32 + 1).to_be_bytes());
        assert!(matches!(
            KeyDeclaration::from_bytes(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut bytes = d.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        assert!(matches!(
            KeyDeclaration::from_bytes(&bytes),
            Err(DecodeError::InvalidField { .. })
        ));
        let long = KeyDeclaration {
            canonical: "é".repeat(MAX_KEY_DECLARATION_TEXT),
            fingerprint: [0; 32],
        };
        let read = KeyDeclaration::from_bytes(&long.to_bytes()).unwrap();
        assert!(read.canonical.len() <= MAX_KEY_DECLARATION_TEXT);
    }

    #[test]
    fn hello_round_trip_and_rejections() {
        let h = ClientHello {
            protocol: Protocol::EcdhIntersection,
            nonce: [7; 32],
            set_size: 12345,
        };
        let bytes = h.to_bytes();
        assert_eq!(ClientHello::from_bytes(&bytes), Ok(h.clone()));
        // Truncated at every length.
        for cut in 0..bytes.len() {
            assert!(matches!(
                ClientHello::from_bytes(&bytes[..cut]),
                Err(DecodeError::Truncated { .. })
            ));
        }
        // Trailing byte.
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            ClientHello::from_bytes(&long),
            Err(DecodeError::TrailingBytes(1))
        );
        // Other version.
        let mut other = bytes.clone();
        other[0] = WIRE_VERSION + 1;
        assert_eq!(
            ClientHello::from_bytes(&other),
            Err(DecodeError::UnsupportedVersion {
                found: WIRE_VERSION + 1
            })
        );
        // A server hello is not a client hello.
        let s = ServerHello {
            protocol: Protocol::EcdhIntersection,
            nonce: [1; 32],
            set_size: 3,
        };
        assert!(matches!(
            ClientHello::from_bytes(&s.to_bytes()),
            Err(DecodeError::UnexpectedMessage { .. })
        ));
        // Unknown protocol.
        let mut p = bytes;
        p[2] = 200;
        assert_eq!(
            ClientHello::from_bytes(&p),
            Err(DecodeError::UnknownProtocol(200))
        );
    }

    #[test]
    fn chunk_count_is_bounded_before_allocating() {
        let mut bytes = vec![WIRE_VERSION, kind::CLIENT_MASKED];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            PointChunk::decode(PointStream::ClientMasked, &bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let c = PointChunk {
            stream: PointStream::ServerMasked,
            points: vec![[3; 32], [4; 32]],
        };
        let b = c.to_bytes();
        assert_eq!(PointChunk::decode(PointStream::ServerMasked, &b), Ok(c));
        assert!(PointChunk::decode(PointStream::ClientMasked, &b).is_err());
        assert!(PointChunk::decode(PointStream::ServerMasked, &b[..b.len() - 1]).is_err());
    }

    #[test]
    fn tag_chunk_round_trip() {
        let t = TagChunk {
            tag_len: 10,
            tags: (0..50).collect(),
        };
        assert_eq!(TagChunk::from_bytes(&t.to_bytes()), Ok(t));
        let bad = TagChunk {
            tag_len: 3,
            tags: vec![1, 2, 3],
        };
        assert!(TagChunk::from_bytes(&bad.to_bytes()).is_err());
    }

    #[test]
    fn frames_split_anywhere() {
        let mut stream = Vec::new();
        let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 3]).collect();
        for m in &msgs {
            encode_frame(m, &mut stream);
        }
        for piece in [1usize, 2, 3, 7, 1000] {
            let mut d = FrameDecoder::default();
            let mut got = Vec::new();
            for part in stream.chunks(piece) {
                d.push(part);
                while let Some(f) = d.next_frame().expect("valid frames") {
                    got.push(f);
                }
            }
            assert_eq!(got, msgs);
            assert!(d.finish().is_ok());
        }
        let mut d = FrameDecoder::default();
        d.push(&stream[..stream.len() - 1]);
        while d.next_frame().expect("valid").is_some() {}
        assert!(matches!(
            d.finish(),
            Err(DecodeError::Truncated { needed: 1 })
        ));
        let mut d = FrameDecoder::new(10);
        d.push(&100u32.to_be_bytes());
        assert!(matches!(d.next_frame(), Err(DecodeError::TooLarge { .. })));
    }
}
