//! Wire messages of PSI-cardinality and PSI-sum, on the crate's one codec
//! ([`crate::codec`]: version byte, type byte from `codec::kind`, bounded
//! lengths, trailing bytes rejected by `from_bytes`).

use crate::codec::{
    kind, read_header, read_tags, write_header, write_tags, Codec, DecodeError, Protocol, Reader,
    TagChunk, MAX_CHUNK_ITEMS, POINT_LEN,
};

use super::elgamal::CIPHERTEXT_LEN;

/// The largest agreed bound on sums, in bits: sums are below `2^40`.
pub const MAX_SUM_BITS: u8 = 40;

/// The most items a [`ResponderSetChunk`] may carry: a full chunk with
/// ciphertexts (96 bytes per item) stays below [`crate::codec::MAX_FRAME_LEN`].
pub const MAX_RESPONDER_CHUNK_ITEMS: u32 = MAX_CHUNK_ITEMS / 4;

/// The two roles of [`crate::pjc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Holds keys only, sends its masked set first and counts the matches
    /// (P1 in Ion et al.).
    Counter,
    /// Holds keys (and, in the sum protocols, one value per key), answers the
    /// counter and sends its own masked set (P2 in Ion et al.).
    Responder,
}

impl Role {
    fn id(self) -> u8 {
        match self {
            Role::Counter => 1,
            Role::Responder => 2,
        }
    }

    /// The other role.
    pub fn peer(self) -> Role {
        match self {
            Role::Counter => Role::Responder,
            Role::Responder => Role::Counter,
        }
    }
}

/// The opening message of either role. Both parties send one; the session id
/// is derived from the counter's nonce, then the responder's, so either role
/// may be the transport's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PjcHello {
    /// [`Protocol::Cardinality`], [`Protocol::SumToValueHolder`] or
    /// [`Protocol::SumToKeyHolder`].
    pub protocol: Protocol,
    /// The sender's role.
    pub role: Role,
    /// The sender's fresh random contribution to the session id.
    pub nonce: [u8; 32],
    /// How many distinct items the sender holds. Revealed to the peer.
    pub set_size: u64,
    /// The sender's threshold: below it the output party learns only that it
    /// was not met. The run uses the larger of the two.
    pub min_intersection: u64,
    /// Sum protocols: the agreed bound on sums, `2^sum_bits` (0 for cardinality).
    pub sum_bits: u8,
    /// The responder's ElGamal key in the sum protocols; `None` otherwise.
    pub public_key: Option<[u8; POINT_LEN]>,
}

impl Codec for PjcHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_HELLO);
        out.push(self.protocol.id());
        out.push(self.role.id());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.set_size.to_be_bytes());
        out.extend_from_slice(&self.min_intersection.to_be_bytes());
        out.push(self.sum_bits);
        match &self.public_key {
            None => out.push(0),
            Some(pk) => {
                out.push(1);
                out.extend_from_slice(pk);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_HELLO, "PJC hello")?;
        let protocol = Protocol::from_id(r.u8()?)?;
        let role = match r.u8()? {
            1 => Role::Counter,
            2 => Role::Responder,
            other => {
                return Err(DecodeError::InvalidField {
                    field: "role",
                    value: other.into(),
                })
            }
        };
        let nonce = r.array()?;
        let set_size = r.u64()?;
        let min_intersection = r.u64()?;
        let sum_bits = r.u8()?;
        if sum_bits > MAX_SUM_BITS {
            return Err(DecodeError::TooLarge {
                field: "sum bits",
                value: sum_bits.into(),
                limit: MAX_SUM_BITS.into(),
            });
        }
        let public_key = match r.u8()? {
            0 => None,
            1 => Some(r.array()?),
            other => {
                return Err(DecodeError::InvalidField {
                    field: "public-key flag",
                    value: other.into(),
                })
            }
        };
        Ok(PjcHello {
            protocol,
            role,
            nonce,
            set_size,
            min_intersection,
            sum_bits,
            public_key,
        })
    }
}

/// A chunk of the counter's items, doubly masked and truncated, in a secret
/// random order (the responder's answer to the whole counter-masked stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuffledTags(pub TagChunk);

impl Codec for ShuffledTags {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_SHUFFLED_TAGS);
        write_tags(out, self.0.tag_len, self.0.len(), &self.0.tags);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_SHUFFLED_TAGS, "shuffled tags chunk")?;
        let (tag_len, tags) = read_tags(r, 1, MAX_CHUNK_ITEMS, "tags in chunk")?;
        Ok(ShuffledTags(TagChunk { tag_len, tags }))
    }
}

/// A chunk of the responder's set, masked and shuffled; in the sum protocols
/// each point comes with the encryption of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderSetChunk {
    /// `b·H(y)`, compressed (not yet validated).
    pub points: Vec<[u8; POINT_LEN]>,
    /// Empty (cardinality) or one ciphertext per point (sum protocols).
    pub ciphertexts: Vec<[u8; CIPHERTEXT_LEN]>,
}

impl Codec for ResponderSetChunk {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_RESPONDER_SET);
        // The sender never builds more than MAX_RESPONDER_CHUNK_ITEMS per chunk.
        let count = u32::try_from(self.points.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        out.push(u8::from(!self.ciphertexts.is_empty()));
        for p in &self.points {
            out.extend_from_slice(p);
        }
        for c in &self.ciphertexts {
            out.extend_from_slice(c);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_RESPONDER_SET, "responder set chunk")?;
        let count = r.u32()?;
        if count > MAX_RESPONDER_CHUNK_ITEMS {
            return Err(DecodeError::TooLarge {
                field: "items in responder chunk",
                value: count.into(),
                limit: MAX_RESPONDER_CHUNK_ITEMS.into(),
            });
        }
        let with_ciphertexts = match r.u8()? {
            0 => false,
            1 => true,
            other => {
                return Err(DecodeError::InvalidField {
                    field: "ciphertext flag",
                    value: other.into(),
                })
            }
        };
        let n = count as usize;
        let points = fixed_chunks(r.take(n * POINT_LEN)?);
        let ciphertexts = if with_ciphertexts {
            fixed_chunks(r.take(n * CIPHERTEXT_LEN)?)
        } else {
            Vec::new()
        };
        Ok(ResponderSetChunk {
            points,
            ciphertexts,
        })
    }
}

fn fixed_chunks<const N: usize>(body: &[u8]) -> Vec<[u8; N]> {
    body.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
        .collect()
}

/// PSI-sum direction 1, counter → value holder: the encrypted sum over the
/// matches, or only the news that the threshold was not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumResult {
    /// Fewer matches than the threshold: nothing else is sent.
    ThresholdNotMet,
    /// The number of matches and `Enc(Σ values)`, re-randomised.
    Sum {
        /// Number of matches.
        count: u64,
        /// The compressed ciphertext.
        ciphertext: [u8; CIPHERTEXT_LEN],
    },
}

impl Codec for SumResult {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_SUM_RESULT);
        match self {
            SumResult::ThresholdNotMet => out.push(0),
            SumResult::Sum { count, ciphertext } => {
                out.push(1);
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(ciphertext);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_SUM_RESULT, "sum result")?;
        match r.u8()? {
            0 => Ok(SumResult::ThresholdNotMet),
            1 => Ok(SumResult::Sum {
                count: r.u64()?,
                ciphertext: r.array()?,
            }),
            other => Err(DecodeError::InvalidField {
                field: "sum result tag",
                value: other.into(),
            }),
        }
    }
}

/// PSI-sum direction 2, key holder → value holder: `Enc(Σ values + r)` with a
/// uniformly random scalar mask `r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedSum {
    /// The compressed ciphertext.
    pub ciphertext: [u8; CIPHERTEXT_LEN],
}

impl Codec for MaskedSum {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_MASKED_SUM);
        out.extend_from_slice(&self.ciphertext);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_MASKED_SUM, "masked sum")?;
        Ok(MaskedSum {
            ciphertext: r.array()?,
        })
    }
}

/// PSI-sum direction 2, value holder → key holder: the decrypted point
/// `(Σ values + r)·G`, uniformly random to the value holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedSum {
    /// The compressed point.
    pub point: [u8; POINT_LEN],
}

impl Codec for DecryptedSum {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::PJC_DECRYPTED_SUM);
        out.extend_from_slice(&self.point);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::PJC_DECRYPTED_SUM, "decrypted sum")?;
        Ok(DecryptedSum { point: r.array()? })
    }
}
