//! ECDH-PSI on ristretto255 as sans-IO state machines.
//!
//! # The protocol
//! The Diffie–Hellman-based PSI of Meadows (IEEE S&P 1986) and Huberman, Franklin
//! and Hogg (ACM EC 1999), in the form analysed by De Cristofaro and Tsudik
//! ("Practical Private Set Intersection Protocols with Linear Complexity",
//! FC 2010, Figure 2, with the blind-signature step replaced by a second
//! exponentiation as in Pinkas, Schneider and Zohner, "Scalable Private Set
//! Intersection Based on OT Extension", ACM TOPS 2018, §4.1 "DH-based PSI").
//! `H` hashes to ristretto255 (`from_uniform_bytes` of SHA-512 of the length of
//! a domain-separation tag naming the protocol, the tag, the session id and the
//! item), `a` is the client's and `b` the server's per-session secret scalar:
//!
//! ```text
//! client (holds X, learns X ∩ Y)                server (holds Y)
//!   ClientHello{nonce_c, |X|}        ─────▶
//!                                   ◀─────   ServerHello{nonce_s, |Y|}
//!   id   = SHA-256("psi/session-id/v1" ‖ nonce_c ‖ nonce_s)
//!   DST  = "psi/ecdh-ristretto255/v1/hash-to-group/"
//!   H(x) = from_uniform_bytes(SHA-512(u64_be(|DST|) ‖ DST ‖ id ‖ x))
//!   a·H(x) for x ∈ X, in order       ─────▶   T(b·(a·H(x))), same order
//!                                   ◀─────   (streamed, one TagChunk per chunk)
//!                                   ◀─────   b·H(y) for y ∈ Y, shuffled
//!   x ∈ X is shared  ⇔  T(a·(b·H(y))) = T(b·(a·H(x))) for some y
//!   T(P) = SHA-256("psi/ristretto255-tag/v1\0" ‖ P)[..len]
//! ```
//!
//! Tags `T` are `len` = [`tag_len`] bytes, `λ + ⌈log2|X|⌉ + ⌈log2|Y|⌉` bits
//! (λ = 40) rounded up to whole bytes (at least 8). They hash the point rather
//! than cut its encoding, whose first bit is always zero (see `tag_of`), so
//! each of the `|X|·|Y|` pairs of distinct points matches falsely with
//! probability `2^(-8·len)` and a false match anywhere in the run has
//! probability at most `2^-40`.
//!
//! # Security and what each party learns
//! Semi-honest security under the decisional Diffie–Hellman assumption in
//! ristretto255 with `H` modelled as a random oracle. The **client** learns which
//! of its items are in the intersection and the size of the server's set, nothing
//! else (the server's masked set is shuffled, so positions carry nothing). The
//! **server** learns the size of the client's set and nothing else. Items must be
//! distinct: a repeated item shows up as a repeated masked value and so reveals
//! its multiplicity (the table layer deduplicates before calling this module).
//! A malicious peer can make the result wrong (e.g. by using another secret for
//! different items) but every point it sends is decompressed and checked, so a
//! malformed one is an [`Error`], never a panic.
//!
//! # Streaming
//! Neither side builds a whole-set message: items are masked and answered in
//! chunks of at most [`MAX_CHUNK_ITEMS`]. The three streams (client-masked →
//! server, double-masked → client, server-masked → client) are independent after
//! the hellos, so a transport may run them concurrently.
//!
//! # Cost
//! Per item and party: one hash to the group, two constant-time variable-base
//! scalar multiplications and one decompression, all through `psi_group`'s
//! batch API ([`crate::crypto_backend`] names the backend that runs them): with
//! AVX-512 IFMA, eight points at once; else curve25519-dalek, which encodes
//! with one field inversion per batch (it multiplies by `s/2` and lets the
//! batch doubling restore `s`).

use std::sync::Arc;

use curve25519_dalek::ristretto::CompressedRistretto;
#[cfg(test)]
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use psi_group::{Backend, Points};
use rand::seq::SliceRandom;
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::codec::{
    ClientHello, PointChunk, PointStream, Protocol, ServerHello, TagChunk, DEFAULT_CHUNK_ITEMS,
    MAX_CHUNK_ITEMS, POINT_LEN,
};
use crate::{Error, Item, Limits};

/// Statistical security parameter for tag truncation.
pub const LAMBDA_BITS: u32 = 40;

/// Items per rayon task: large enough to amortise the batched inversion.
pub(crate) const BATCH: usize = 256;

/// A per-session secret scalar `s`, zeroized on drop. Shared with
/// [`crate::pjc`], which masks items the same way.
pub(crate) struct Secret {
    scalar: Scalar,
}

impl Zeroize for Secret {
    fn zeroize(&mut self) {
        self.scalar.zeroize();
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

impl Secret {
    /// A uniform non-zero scalar `s`; the random bytes are zeroized.
    pub(crate) fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut wide = Zeroizing::new([0u8; 64]);
        loop {
            rng.fill_bytes(&mut wide[..]);
            let scalar = Scalar::from_bytes_mod_order_wide(&wide);
            if scalar != Scalar::ZERO {
                return Secret { scalar };
            }
        }
    }

    /// `compress(s·P)` for a batch of points.
    pub(crate) fn mul_compress(&self, points: &Points) -> Vec<CompressedRistretto> {
        points
            .mul_compress(&self.scalar)
            .into_iter()
            .map(CompressedRistretto)
            .collect()
    }
}

/// The group backend every batch of this process runs on: the fastest this
/// CPU has, or the one `PSI_GROUP_BACKEND` forces (psi-group reads it once
/// per process, `Backend::for_process`; see [`crate::crypto_backend`]).
pub(crate) fn backend() -> Backend {
    Backend::for_process()
}

/// Everything both sides derive from the hellos.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) id: [u8; 32],
    /// SHA-512 state after absorbing the domain-separation tag.
    hasher: Sha512,
    pub(crate) tag_len: u8,
}

impl Session {
    fn new(protocol: Protocol, client: &ClientHello, server: &ServerHello) -> Self {
        Self::derive(
            protocol,
            (&client.nonce, client.set_size),
            (&server.nonce, server.set_size),
        )
    }

    /// The session of a run between a first party (ECDH client, PJC counter) and a
    /// second, each given by its hello's nonce and set size.
    pub(crate) fn derive(
        protocol: Protocol,
        first: (&[u8; 32], u64),
        second: (&[u8; 32], u64),
    ) -> Self {
        let mut h = Sha256::new();
        h.update(b"psi/session-id/v1");
        h.update(first.0);
        h.update(second.0);
        let id: [u8; 32] = h.finalize().into();
        let mut hasher = Sha512::new();
        let dst = format!("psi/{}/v1/hash-to-group/", protocol.name());
        hasher.update((dst.len() as u64).to_be_bytes());
        hasher.update(dst.as_bytes());
        hasher.update(id);
        Session {
            id,
            hasher,
            tag_len: tag_len(first.1, second.1),
        }
    }

    /// The 64 bytes `SHA-512(u64_be(|DST|) ‖ DST ‖ id ‖ x)` that `H` maps to the group.
    fn uniform_bytes(&self, item: &Item) -> [u8; 64] {
        let mut h = self.hasher.clone();
        h.update(item.as_bytes());
        h.finalize().into()
    }

    /// `H(x)` for a batch of items.
    pub(crate) fn hash_to_group<'a>(&self, items: impl Iterator<Item = &'a Item>) -> Points {
        let wide: Vec<[u8; 64]> = items.map(|i| self.uniform_bytes(i)).collect();
        Points::from_uniform_bytes(backend(), &wide)
    }
}

/// Tag length in bytes for sets of these sizes: `λ + ⌈log2 n_c⌉ + ⌈log2 n_s⌉` bits.
pub fn tag_len(client_size: u64, server_size: u64) -> u8 {
    let log2 = |n: u64| 64 - n.saturating_sub(1).leading_zeros();
    let bits = LAMBDA_BITS + log2(client_size.max(1)) + log2(server_size.max(1));
    let bytes = bits.div_ceil(8) as u8;
    bytes.clamp(
        *crate::codec::TAG_LEN_RANGE.start(),
        *crate::codec::TAG_LEN_RANGE.end(),
    )
}

/// Domain-separation tag of [`tag_of`].
const TAG_DST: &[u8] = b"psi/ristretto255-tag/v1\0";

/// The tag `T(P)` of a (doubly-masked) point: the first `len` bytes of
/// `SHA-256(TAG_DST ‖ encoding of P)`, as a little-endian integer (on the wire:
/// those bytes in that order).
///
/// The encoding itself is not cut: its first byte always has its low bit clear
/// (ristretto255 encodes a non-negative field element) and only about one even
/// field element in four is an encoding at all, so `len` bytes of it do not
/// carry `8·len` uniform bits. Hashed, distinct points give equal tags with
/// probability `2^(-8·len)` (SHA-256 as a random oracle), which is what
/// [`tag_len`]'s bound assumes.
pub(crate) fn tag_of(c: &CompressedRistretto, len: u8) -> u128 {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(TAG_DST)
        .chain_update(c.as_bytes())
        .finalize()
        .into();
    let mut b = [0u8; 16];
    let len = usize::from(len).min(16);
    b[..len].copy_from_slice(&digest[..len]);
    u128::from_le_bytes(b)
}

pub(crate) fn check_size(who: &'static str, size: u64, limits: &Limits) -> Result<(), Error> {
    if size > limits.max_set_size {
        return Err(Error::SetTooLarge {
            who,
            size,
            limit: limits.max_set_size,
        });
    }
    Ok(())
}

/// Decompresses a batch of points; `offset` is the position of the batch's
/// first point in its stream, for the error.
pub(crate) fn decompress_all(points: &[[u8; POINT_LEN]], offset: u64) -> Result<Points, Error> {
    Points::decompress(backend(), points).map_err(|e| match e {
        psi_group::Error::InvalidEncoding { index } => Error::InvalidPoint {
            index: offset + index as u64,
        },
        // psi_group's error is non-exhaustive; any other refusal is still a bad point.
        _ => Error::InvalidPoint { index: offset },
    })
}

/// `compress(s·H(item))` for each item, in order, in parallel batches.
pub(crate) fn mask_items<'a, F>(
    session: &Session,
    secret: &Secret,
    count: usize,
    item: F,
) -> Vec<[u8; POINT_LEN]>
where
    F: Fn(usize) -> &'a Item + Sync,
{
    let idx: Vec<usize> = (0..count).collect();
    idx.par_chunks(BATCH)
        .flat_map_iter(|batch| {
            let hashed = session.hash_to_group(batch.iter().map(|&i| item(i)));
            secret.mul_compress(&hashed).into_iter().map(|c| c.0)
        })
        .collect()
}

/// Decompresses a chunk of peer points (`offset`: position of the first one in
/// its stream) and returns `compress(s·P)` for each, in order.
pub(crate) fn remask(
    secret: &Secret,
    points: &[[u8; POINT_LEN]],
    offset: u64,
) -> Result<Vec<CompressedRistretto>, Error> {
    let batches: Vec<Vec<CompressedRistretto>> = points
        .par_chunks(BATCH)
        .enumerate()
        .map(|(k, batch)| {
            let decoded = decompress_all(batch, offset + (k * BATCH) as u64)?;
            Ok(secret.mul_compress(&decoded))
        })
        .collect::<Result<_, Error>>()?;
    Ok(batches.into_iter().flatten().collect())
}

/// Chunk size clamped to what the codec accepts.
pub(crate) fn clamp_chunk(chunk: usize) -> usize {
    chunk.clamp(1, MAX_CHUNK_ITEMS as usize)
}

// ---------------------------------------------------------------- client

/// The client role: it holds `X` and learns `X ∩ Y`.
pub struct Client;

impl Client {
    /// Starts a session over `items` (which must be distinct). Returns the first
    /// state and the [`ClientHello`] to send.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        limits: &Limits,
    ) -> Result<(ExpectServerHello, ClientHello), Error> {
        check_size("our", items.len() as u64, limits)?;
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let hello = ClientHello {
            protocol: Protocol::EcdhIntersection,
            nonce,
            set_size: items.len() as u64,
        };
        let secret = Arc::new(Secret::random(rng));
        Ok((
            ExpectServerHello {
                hello: hello.clone(),
                items,
                secret,
                limits: limits.clone(),
            },
            hello,
        ))
    }
}

/// Client, waiting for the [`ServerHello`].
pub struct ExpectServerHello {
    hello: ClientHello,
    items: Vec<Item>,
    secret: Arc<Secret>,
    limits: Limits,
}

/// The client's three independent streams after the hellos.
pub struct ClientStreams {
    /// Produces the client's masked items, to send to the server.
    pub masker: ClientMasker,
    /// Consumes the server's double-masked answers.
    pub double_masked: ExpectDoubleMasked,
    /// Consumes the server's masked, shuffled set.
    pub server_set: ExpectServerMasked,
}

impl ExpectServerHello {
    /// The hello this state sent (e.g. to resend it).
    pub fn hello(&self) -> &ClientHello {
        &self.hello
    }

    /// Takes the server's hello and splits into the three streams.
    pub fn receive(self, server: ServerHello) -> Result<ClientStreams, Error> {
        if server.protocol != self.hello.protocol {
            return Err(Error::ProtocolMismatch {
                ours: self.hello.protocol,
                theirs: server.protocol,
            });
        }
        check_size("peer's", server.set_size, &self.limits)?;
        let session = Session::new(self.hello.protocol, &self.hello, &server);
        let n = self.items.len() as u64;
        Ok(ClientStreams {
            masker: ClientMasker {
                session: session.clone(),
                secret: self.secret.clone(),
                items: self.items,
                next: 0,
                chunk: DEFAULT_CHUNK_ITEMS,
            },
            double_masked: ExpectDoubleMasked {
                tags: TagCollector::new("double-masked tags", session.tag_len, n, n as usize),
            },
            server_set: ExpectServerMasked {
                tag_len: session.tag_len,
                secret: self.secret,
                expected: server.set_size,
                tags: Vec::with_capacity(up_front_capacity(server.set_size)),
            },
        })
    }
}

/// Client stream 1: masks its items chunk by chunk.
pub struct ClientMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Vec<Item>,
    next: usize,
    chunk: usize,
}

impl ClientMasker {
    /// Sets the number of items per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The session id both sides derived (for logs and reports).
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The next chunk of `a·H(x)`, or `None` when every item was sent.
    pub fn next_chunk(&mut self) -> Option<PointChunk> {
        if self.next >= self.items.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.items.len());
        let slice = &self.items[self.next..end];
        self.next = end;
        let points = mask_items(&self.session, &self.secret, slice.len(), |i| &slice[i]);
        Some(PointChunk {
            stream: PointStream::ClientMasked,
            points,
        })
    }
}

/// The most items a state receiving a peer's stream reserves room for
/// before they arrive: one chunk of the largest size ([`MAX_CHUNK_ITEMS`],
/// 1 MiB of 16-byte tags).
const MAX_UP_FRONT_ITEMS: u64 = MAX_CHUNK_ITEMS as u64;

/// Room to reserve for a stream the peer announced as `announced` items.
/// The count is the peer's claim (up to [`Limits::max_set_size`], 2^28 by
/// default: 4 GiB of tags), so at most [`MAX_UP_FRONT_ITEMS`] are reserved
/// up front and the vector grows as the items actually arrive; reserving
/// the claim would abort the process whenever the allocator refused it.
pub(crate) fn up_front_capacity(announced: u64) -> usize {
    // At most 2^16, so it fits a usize.
    announced.min(MAX_UP_FRONT_ITEMS) as usize
}

/// Collects a stream of tags of one announced length and count (the ECDH
/// client's double-masked answers, the PJC counter's shuffled answers).
pub(crate) struct TagCollector {
    stream: &'static str,
    tag_len: u8,
    expected: u64,
    tags: Vec<u128>,
}

impl TagCollector {
    pub(crate) fn new(stream: &'static str, tag_len: u8, expected: u64, capacity: usize) -> Self {
        TagCollector {
            stream,
            tag_len,
            expected,
            tags: Vec::with_capacity(capacity),
        }
    }

    /// Takes one chunk: the tag length must match and the count stay within
    /// what was announced.
    pub(crate) fn receive(&mut self, chunk: &TagChunk) -> Result<(), Error> {
        if chunk.tag_len != self.tag_len {
            return Err(Error::WrongTagLength {
                expected: self.tag_len,
                got: chunk.tag_len,
            });
        }
        let got = self.tags.len() as u64 + chunk.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: self.stream,
                expected: self.expected,
                got,
            });
        }
        self.tags.extend(chunk.tag_values());
        Ok(())
    }

    /// Ends the stream: every announced tag must have arrived.
    pub(crate) fn finish(self) -> Result<Vec<u128>, Error> {
        if self.tags.len() as u64 != self.expected {
            return Err(Error::UnexpectedCount {
                stream: self.stream,
                expected: self.expected,
                got: self.tags.len() as u64,
            });
        }
        Ok(self.tags)
    }
}

/// Client stream 2: waits for the server's double-masked tags of its items.
pub struct ExpectDoubleMasked {
    tags: TagCollector,
}

impl ExpectDoubleMasked {
    /// Takes one chunk of tags.
    pub fn receive(&mut self, chunk: TagChunk) -> Result<(), Error> {
        self.tags.receive(&chunk)
    }

    /// Ends the stream: every tag must have arrived.
    pub fn finish(self) -> Result<DoubleMaskedDone, Error> {
        Ok(DoubleMaskedDone {
            tags: self.tags.finish()?,
        })
    }
}

/// Client: all double-masked tags of its own items, in item order.
pub struct DoubleMaskedDone {
    tags: Vec<u128>,
}

/// Client stream 3: waits for the server's masked, shuffled set.
pub struct ExpectServerMasked {
    tag_len: u8,
    secret: Arc<Secret>,
    expected: u64,
    tags: Vec<u128>,
}

impl ExpectServerMasked {
    /// Takes one chunk of `b·H(y)`: checks and re-masks every point.
    pub fn receive(&mut self, chunk: PointChunk) -> Result<(), Error> {
        if chunk.stream != PointStream::ServerMasked {
            return Err(Error::Misuse("a client-masked chunk given to the client"));
        }
        let offset = self.tags.len() as u64;
        let got = offset + chunk.points.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "server-masked points",
                expected: self.expected,
                got,
            });
        }
        let len = self.tag_len;
        let masked = remask(&self.secret, &chunk.points, offset)?;
        self.tags.extend(masked.iter().map(|c| tag_of(c, len)));
        Ok(())
    }

    /// Every announced point must have arrived.
    fn check_complete(&self) -> Result<(), Error> {
        if self.tags.len() as u64 != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "server-masked points",
                expected: self.expected,
                got: self.tags.len() as u64,
            });
        }
        Ok(())
    }

    /// Ends the stream: every point must have arrived.
    pub fn finish(self) -> Result<ServerSetDone, Error> {
        self.check_complete()?;
        let mut tags = self.tags;
        tags.par_sort_unstable();
        Ok(ServerSetDone {
            tags,
            positions: None,
        })
    }

    /// Like [`ExpectServerMasked::finish`], but remembers where each tag came
    /// in the server's stream, so that [`intersect_pairs`] can tell the server
    /// which of its (shuffled) positions matched.
    pub fn finish_keeping_positions(self) -> Result<ServerSetDone, Error> {
        self.check_complete()?;
        // The stream is at most u32::MAX long (the server refuses larger sets).
        let mut pairs: Vec<(u128, u32)> = self
            .tags
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i as u32))
            .collect();
        pairs.par_sort_unstable();
        let positions = pairs.iter().map(|p| p.1).collect();
        let tags = pairs.into_iter().map(|p| p.0).collect();
        Ok(ServerSetDone {
            tags,
            positions: Some(positions),
        })
    }
}

/// Client: the server's set, doubly masked and sorted.
pub struct ServerSetDone {
    tags: Vec<u128>,
    /// With [`ExpectServerMasked::finish_keeping_positions`]: for each sorted
    /// tag, its position in the server's stream.
    positions: Option<Vec<u32>>,
}

/// What the client learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOutput {
    /// Indices (into the client's item list, ascending) of the shared items.
    pub matched: Vec<usize>,
    /// Size of the server's set.
    pub server_set_size: u64,
}

/// Combines the two finished inbound streams into the client's result.
pub fn intersect(own: DoubleMaskedDone, server: ServerSetDone) -> ClientOutput {
    let matched = own
        .tags
        .par_iter()
        .enumerate()
        .filter(|(_, t)| server.tags.binary_search(t).is_ok())
        .map(|(i, _)| i)
        .collect();
    ClientOutput {
        matched,
        server_set_size: server.tags.len() as u64,
    }
}

/// One shared item as the client sees it when the result is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedPair {
    /// Index into the client's item list.
    pub client: usize,
    /// Position of the matching element in the server's (shuffled) stream.
    pub server_position: u32,
    /// The pair's pseudonymous id (see [`link_id`]).
    pub id: LinkId,
}

/// A pseudonymous id of a shared item.
pub type LinkId = [u8; 16];

/// The id both parties can use for the shared item whose doubly-masked tag
/// is `tag`: SHA-256 of a domain-separation tag, the session id and the tag,
/// truncated to 128 bits. It depends on both parties' secrets, so neither
/// can compute it for a key alone, and it changes with every session.
pub fn link_id(session_id: &[u8; 32], tag: u128) -> LinkId {
    let mut h = Sha256::new();
    h.update(b"psi/link-id/v1\0");
    h.update(session_id);
    h.update(tag.to_be_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id
}

/// [`intersect`] that also pairs each shared item with its position in the
/// server's stream and its [`link_id`], for sharing the result with the
/// server. `server` must come from
/// [`ExpectServerMasked::finish_keeping_positions`]. Pairs are in client
/// item order.
pub fn intersect_pairs(
    own: DoubleMaskedDone,
    server: ServerSetDone,
    session_id: &[u8; 32],
) -> Result<(ClientOutput, Vec<MatchedPair>), Error> {
    let Some(positions) = &server.positions else {
        return Err(Error::Misuse(
            "intersect_pairs needs finish_keeping_positions",
        ));
    };
    let pairs: Vec<MatchedPair> = own
        .tags
        .par_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let k = server.tags.binary_search(t).ok()?;
            Some(MatchedPair {
                client: i,
                server_position: positions[k],
                id: link_id(session_id, *t),
            })
        })
        .collect();
    let output = ClientOutput {
        matched: pairs.iter().map(|p| p.client).collect(),
        server_set_size: server.tags.len() as u64,
    };
    Ok((output, pairs))
}

// ---------------------------------------------------------------- server

/// The server role: it holds `Y` and learns only `|X|`.
pub struct Server;

/// The server's two streams after the hellos.
pub struct ServerStreams {
    /// Answers the client's masked chunks.
    pub answerer: ExpectClientMasked,
    /// Produces the server's masked, shuffled set.
    pub masker: ServerMasker,
}

impl Server {
    /// Answers a [`ClientHello`]. `items` (distinct) are shared between sessions;
    /// each session shuffles them afresh.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        client: &ClientHello,
        limits: &Limits,
    ) -> Result<(ServerHello, ServerStreams), Error> {
        if client.protocol != Protocol::EcdhIntersection {
            return Err(Error::ProtocolMismatch {
                ours: Protocol::EcdhIntersection,
                theirs: client.protocol,
            });
        }
        check_size("peer's", client.set_size, limits)?;
        check_size("our", items.len() as u64, limits)?;
        if items.len() > u32::MAX as usize {
            return Err(Error::SetTooLarge {
                who: "our",
                size: items.len() as u64,
                limit: u32::MAX.into(),
            });
        }
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let hello = ServerHello {
            protocol: client.protocol,
            nonce,
            set_size: items.len() as u64,
        };
        let session = Session::new(client.protocol, client, &hello);
        let secret = Arc::new(Secret::random(rng));
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        order.shuffle(rng);
        let order: Arc<[u32]> = order.into();
        Ok((
            hello,
            ServerStreams {
                answerer: ExpectClientMasked {
                    tag_len: session.tag_len,
                    secret: secret.clone(),
                    expected: client.set_size,
                    seen: 0,
                },
                masker: ServerMasker {
                    session,
                    secret,
                    items,
                    order,
                    next: 0,
                    chunk: DEFAULT_CHUNK_ITEMS,
                },
            },
        ))
    }
}

/// Server stream 1: answers each chunk of the client's masked items.
pub struct ExpectClientMasked {
    tag_len: u8,
    secret: Arc<Secret>,
    expected: u64,
    seen: u64,
}

impl ExpectClientMasked {
    /// Checks and re-masks one chunk; returns the answer for the same positions.
    pub fn receive(&mut self, chunk: PointChunk) -> Result<TagChunk, Error> {
        if chunk.stream != PointStream::ClientMasked {
            return Err(Error::Misuse("a server-masked chunk given to the server"));
        }
        let got = self.seen + chunk.points.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "client-masked points",
                expected: self.expected,
                got,
            });
        }
        let masked = remask(&self.secret, &chunk.points, self.seen)?;
        self.seen = got;
        let (tag_len, len) = (self.tag_len, usize::from(self.tag_len));
        let tags: Vec<u8> = masked
            .par_iter()
            .flat_map_iter(|c| tag_of(c, tag_len).to_le_bytes().into_iter().take(len))
            .collect();
        Ok(TagChunk {
            tag_len: self.tag_len,
            tags,
        })
    }

    /// Items answered so far.
    pub fn answered(&self) -> u64 {
        self.seen
    }

    /// Ends the stream: the client must have sent every item it announced.
    pub fn finish(self) -> Result<(), Error> {
        if self.seen != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "client-masked points",
                expected: self.expected,
                got: self.seen,
            });
        }
        Ok(())
    }
}

/// Server stream 2: masks its own items in a fresh random order.
pub struct ServerMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Arc<[Item]>,
    order: Arc<[u32]>,
    next: usize,
    chunk: usize,
}

impl ServerMasker {
    /// Sets the number of items per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The shuffled order: the item (index into the server's items) at each
    /// position of the stream, to resolve a shared result.
    pub fn stream_order(&self) -> Arc<[u32]> {
        self.order.clone()
    }

    /// The next chunk of `b·H(y)` in shuffled order, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<PointChunk> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.order.len());
        let slice = &self.order[self.next..end];
        self.next = end;
        let items = &self.items;
        let points = mask_items(&self.session, &self.secret, slice.len(), |i| {
            &items[slice[i] as usize]
        });
        Some(PointChunk {
            stream: PointStream::ServerMasked,
            points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_len_grows_with_sizes() {
        assert_eq!(tag_len(0, 0), 8); // 40 bits = 5 bytes, raised to the minimum of 8
        assert_eq!(tag_len(1 << 20, 1 << 20), 10);
        assert_eq!(tag_len(1 << 40, 1 << 40), 15);
        assert_eq!(tag_len(u64::MAX, u64::MAX), 16);
    }

    /// The module doc's `id`, `DST` and `H(x)`, written out independently of
    /// [`Session::derive`], so the doc and the code cannot drift apart.
    #[test]
    fn hash_to_group_is_the_documented_formula() {
        let (nonce_c, nonce_s) = ([1u8; 32], [2u8; 32]);
        let session = Session::derive(Protocol::EcdhIntersection, (&nonce_c, 5), (&nonce_s, 7));
        let mut id = Sha256::new();
        id.update(b"psi/session-id/v1");
        id.update(nonce_c);
        id.update(nonce_s);
        let id: [u8; 32] = id.finalize().into();
        assert_eq!(session.id, id);
        let dst = b"psi/ecdh-ristretto255/v1/hash-to-group/";
        let item = Item::from_key(b"ann");
        let mut h = Sha512::new();
        h.update((dst.len() as u64).to_be_bytes());
        h.update(dst);
        h.update(id);
        h.update(item.as_bytes());
        let wide: [u8; 64] = h.finalize().into();
        assert_eq!(
            session.hash_to_group([item].iter()).to_dalek(),
            vec![RistrettoPoint::from_uniform_bytes(&wide)]
        );
    }

    /// Every bit of a tag varies over random points. A ristretto encoding's
    /// first byte always has its low bit clear, so a tag cut from the encoding
    /// had `8·len − 1` bits, and half the false-match bound it claims.
    #[test]
    fn every_tag_bit_varies() {
        use rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        for len in [8u8, 10, 16] {
            let mask = u128::MAX >> (128 - 8 * u32::from(len));
            let (mut some_one, mut some_zero) = (0u128, 0u128);
            for _ in 0..256 {
                let mut wide = [0u8; 64];
                rng.fill_bytes(&mut wide);
                let point = RistrettoPoint::from_uniform_bytes(&wide).compress();
                let tag = tag_of(&point, len);
                assert_eq!(tag & !mask, 0, "a tag of {len} bytes has no higher bits");
                some_one |= tag;
                some_zero |= !tag & mask;
            }
            assert_eq!(some_one, mask, "bits always 0: {:#x}", mask & !some_one);
            assert_eq!(some_zero, mask, "bits always 1: {:#x}", mask & !some_zero);
        }
    }

    /// The server's answers on the wire are the tags `T` of the re-masked
    /// points, the same function the client applies to the server's set.
    #[test]
    fn server_answers_are_tags_of_remasked_points() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(14);
        let secret = Arc::new(Secret::random(&mut rng));
        let points: Vec<[u8; POINT_LEN]> = (0..300u32)
            .map(|i| {
                let mut wide = [0u8; 64];
                wide[..4].copy_from_slice(&i.to_le_bytes());
                RistrettoPoint::from_uniform_bytes(&wide).compress().0
            })
            .collect();
        let mut answerer = ExpectClientMasked {
            tag_len: 11,
            secret: secret.clone(),
            expected: 300,
            seen: 0,
        };
        let chunk = answerer
            .receive(PointChunk {
                stream: PointStream::ClientMasked,
                points: points.clone(),
            })
            .unwrap();
        let expect: Vec<u128> = remask(&secret, &points, 0)
            .unwrap()
            .iter()
            .map(|c| tag_of(c, 11))
            .collect();
        assert_eq!(chunk.tag_values().collect::<Vec<_>>(), expect);
    }

    /// Masking through the batch API is `compress(s·P)` on every backend.
    #[test]
    fn mul_compress_is_multiplication_by_the_secret() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let s = Secret::random(&mut rng);
        let p: Vec<RistrettoPoint> = (0..11u8)
            .map(|i| RistrettoPoint::from_uniform_bytes(&[i; 64]))
            .collect();
        let want: Vec<CompressedRistretto> = p.iter().map(|p| (p * s.scalar).compress()).collect();
        for b in [Some(Backend::portable()), Backend::avx2(), Backend::ifma8()]
            .into_iter()
            .flatten()
        {
            assert_eq!(
                s.mul_compress(&Points::from_dalek(b, &p)),
                want,
                "{}",
                b.name()
            );
        }
    }
}
