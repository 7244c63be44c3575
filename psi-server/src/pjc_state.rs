//! The state file of a PSI-cardinality or PSI-sum session a `psi serve
//! --state-dir` keeps on disk so that the session survives a restart of the
//! server ([`psi_core::pjc::external`]'s "Resuming"): one codec, no I/O
//! (the server's `session::pjc_keep` reads and writes it).
//!
//! What it holds, and why each part:
//!
//! - the session's **token** and **owner** (the partner identity that
//!   opened it): only that partner may resume it;
//! - the **table** digest and the **options** that decide the messages
//!   (threshold, sum bits, chunk size): a restarted server over another
//!   input or with other options does not resume it;
//! - the client's **hello**, and the **secret**: the 32-byte seed the
//!   server's generator for the session was keyed with. Given both,
//!   [`psi_core::pjc::external::StreamingResponder::accept`] draws again the
//!   same hello, exponent `b`, ElGamal key and session seed (so the same
//!   shuffles and nonces): whoever reads it can unmask the client's masked
//!   items and decrypt the session's ciphertexts;
//! - the **progress**: the record count of each answer file once the whole
//!   upload is stored (so the shuffled answers replay from those files),
//!   whether each download was acknowledged, and, in the sums, the
//!   **finale**: the client's last message and the answer it got (and what
//!   the server learned, and whether the session's end was reported), so a
//!   client that asks again gets the recorded answer and the server learns
//!   (and reports) the result once. A finished record holds
//!   no secret.
//!
//! Layout (big-endian integers): `PSIPJCS` and the format byte, then each
//! field above in that order; a length before every variable field, each
//! bounded before anything is allocated; trailing bytes are an error.

use psi_core::codec::{DecodeError, Reader};
use psi_core::pjc::external::MAX_FILES;
use psi_core::pjc::{Outcome, SumOutput};
use zeroize::Zeroizing;

use crate::api::MAX_HELLO_BYTES;
use crate::auth::{Identity, Via};

/// The file's first bytes.
pub const MAGIC: &[u8; 7] = b"PSIPJCS";
/// The layout this build writes and reads.
pub const FORMAT: u8 = 1;
/// Longest session token kept.
pub const MAX_TOKEN: usize = 64;
/// Longest partner name kept.
pub const MAX_OWNER: usize = 255;

/// The sums' last exchange, as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finale {
    /// The client's message.
    pub request: Vec<u8>,
    /// Our answer to it (empty for a sum to the server).
    pub answer: Vec<u8>,
    /// Sum to the server: what it learned, once the decryption ended.
    pub learned: Option<Outcome<SumOutput>>,
    /// The session's end was reported (its event sent) by the process that
    /// answered: a later one replays the answer without reporting again.
    pub reported: bool,
}

/// One kept session.
pub struct SessionRecord {
    /// Its token.
    pub token: String,
    /// Who opened it.
    pub owner: Identity,
    /// The served table's digest.
    pub table: [u8; 32],
    /// The threshold of the server's configuration.
    pub min_intersection: u64,
    /// The sums' bound, in bits.
    pub sum_bits: u8,
    /// Items per chunk of the server's downloads.
    pub chunk_items: u32,
    /// SHA-256 of the hello the server answered with (the secret must
    /// give it again).
    pub answer_digest: [u8; 32],
    /// The client's hello as received.
    pub client_hello: Vec<u8>,
    /// The seed of the server's generator for the session (secret);
    /// `None` once the session finished.
    pub seed: Option<Zeroizing<[u8; 32]>>,
    /// Each answer file's records, once the whole upload is stored.
    pub answers: Option<Vec<u64>>,
    /// The shuffled answers were acknowledged.
    pub tags_acked: bool,
    /// The server's set was acknowledged.
    pub set_acked: bool,
    /// The sums' last exchange, once answered.
    pub finale: Option<Finale>,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("owner", &self.owner)
            .field("seed", &self.seed.as_ref().map(|_| "…"))
            .field("answers", &self.answers.as_ref().map(Vec::len))
            .field("tags_acked", &self.tags_acked)
            .field("set_acked", &self.set_acked)
            .field("finale", &self.finale.is_some())
            .finish_non_exhaustive()
    }
}

fn via_byte(via: Via) -> u8 {
    match via {
        Via::Anonymous => 0,
        Via::Certificate => 1,
        Via::Token => 2,
    }
}

fn short(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths are checked against their bounds before a record is made.
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn read_short<'a>(
    r: &mut Reader<'a>,
    field: &'static str,
    limit: usize,
) -> Result<&'a [u8], DecodeError> {
    let len = u16::from_be_bytes(r.array()?);
    if usize::from(len) > limit {
        return Err(DecodeError::TooLarge {
            field,
            value: u64::from(len),
            limit: limit as u64,
        });
    }
    r.take(usize::from(len))
}

fn flag(r: &mut Reader<'_>, field: &'static str) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(DecodeError::InvalidField {
            field,
            value: u64::from(v),
        }),
    }
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidField { field, value: 0 })
}

impl SessionRecord {
    /// Whether the record can be encoded (its variable fields within their
    /// bounds).
    pub fn fits(&self) -> bool {
        let small = |b: &[u8]| b.len() <= MAX_HELLO_BYTES;
        self.token.len() <= MAX_TOKEN
            && self.owner.name.len() <= MAX_OWNER
            && small(&self.client_hello)
            && self
                .answers
                .as_ref()
                .is_none_or(|a| !a.is_empty() && a.len() <= MAX_FILES)
            && self
                .finale
                .as_ref()
                .is_none_or(|f| small(&f.request) && small(&f.answer))
    }

    /// The encoding (zeroized on drop: it holds the seed).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.push(self.token.len() as u8);
        out.extend_from_slice(self.token.as_bytes());
        out.push(via_byte(self.owner.via));
        out.push(self.owner.name.len() as u8);
        out.extend_from_slice(self.owner.name.as_bytes());
        out.extend_from_slice(&self.table);
        out.extend_from_slice(&self.min_intersection.to_be_bytes());
        out.push(self.sum_bits);
        out.extend_from_slice(&self.chunk_items.to_be_bytes());
        out.extend_from_slice(&self.answer_digest);
        short(&mut out, &self.client_hello);
        match &self.seed {
            None => out.push(0),
            Some(seed) => {
                out.push(1);
                out.extend_from_slice(&seed[..]);
            }
        }
        match &self.answers {
            None => out.push(0),
            Some(counts) => {
                out.push(1);
                out.extend_from_slice(&(counts.len() as u16).to_be_bytes());
                for c in counts {
                    out.extend_from_slice(&c.to_be_bytes());
                }
            }
        }
        out.push(u8::from(self.tags_acked));
        out.push(u8::from(self.set_acked));
        match &self.finale {
            None => out.push(0),
            Some(f) => {
                out.push(1);
                short(&mut out, &f.request);
                short(&mut out, &f.answer);
                match f.learned {
                    None => out.push(0),
                    Some(Outcome::Released(SumOutput { count, sum })) => {
                        out.push(1);
                        out.extend_from_slice(&count.to_be_bytes());
                        out.extend_from_slice(&sum.to_be_bytes());
                    }
                    Some(Outcome::ThresholdNotMet) => out.push(2),
                }
                out.push(u8::from(f.reported));
            }
        }
        out
    }

    /// Reads a whole file's bytes: every length bounded, no trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<SessionRecord, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.array::<7>()? != *MAGIC {
            return Err(DecodeError::UnexpectedMessage {
                expected: "kept PJC session (PSIPJCS)",
                found: bytes.first().copied().unwrap_or(0),
            });
        }
        let format = r.u8()?;
        if format != FORMAT {
            return Err(DecodeError::InvalidField {
                field: "state file format",
                value: u64::from(format),
            });
        }
        let len = usize::from(r.u8()?);
        if len > MAX_TOKEN {
            return Err(DecodeError::TooLarge {
                field: "token length",
                value: len as u64,
                limit: MAX_TOKEN as u64,
            });
        }
        let token = text(r.take(len)?, "token")?;
        let via = match r.u8()? {
            0 => Via::Anonymous,
            1 => Via::Certificate,
            2 => Via::Token,
            v => {
                return Err(DecodeError::InvalidField {
                    field: "owner kind",
                    value: u64::from(v),
                })
            }
        };
        let len = usize::from(r.u8()?);
        let name = text(r.take(len)?, "owner")?;
        let table = r.array()?;
        let min_intersection = r.u64()?;
        let sum_bits = r.u8()?;
        let chunk_items = r.u32()?;
        let answer_digest = r.array()?;
        let client_hello = read_short(&mut r, "client hello", MAX_HELLO_BYTES)?.to_vec();
        let seed = match flag(&mut r, "seed flag")? {
            false => None,
            true => Some(Zeroizing::new(r.array::<32>()?)),
        };
        let answers = match flag(&mut r, "answers flag")? {
            false => None,
            true => {
                let files = usize::from(u16::from_be_bytes(r.array()?));
                if files == 0 || files > MAX_FILES {
                    return Err(DecodeError::InvalidField {
                        field: "answer files",
                        value: files as u64,
                    });
                }
                // Bounded by MAX_FILES, and each count must be in the input.
                let counts = (0..files).map(|_| r.u64()).collect::<Result<_, _>>()?;
                Some(counts)
            }
        };
        let tags_acked = flag(&mut r, "answers acknowledged")?;
        let set_acked = flag(&mut r, "set acknowledged")?;
        let finale = match flag(&mut r, "finale flag")? {
            false => None,
            true => {
                let request = read_short(&mut r, "finale request", MAX_HELLO_BYTES)?.to_vec();
                let answer = read_short(&mut r, "finale answer", MAX_HELLO_BYTES)?.to_vec();
                let learned = match r.u8()? {
                    0 => None,
                    1 => Some(Outcome::Released(SumOutput {
                        count: r.u64()?,
                        sum: r.u64()?,
                    })),
                    2 => Some(Outcome::ThresholdNotMet),
                    v => {
                        return Err(DecodeError::InvalidField {
                            field: "learned",
                            value: u64::from(v),
                        })
                    }
                };
                let reported = flag(&mut r, "reported")?;
                Some(Finale {
                    request,
                    answer,
                    learned,
                    reported,
                })
            }
        };
        r.expect_end()?;
        Ok(SessionRecord {
            token,
            owner: Identity { name, via },
            table,
            min_intersection,
            sum_bits,
            chunk_items,
            answer_digest,
            client_hello,
            seed,
            answers,
            tags_acked,
            set_acked,
            finale,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            token: "abc123".into(),
            owner: Identity {
                name: "bank".into(),
                via: Via::Token,
            },
            table: [3; 32],
            min_intersection: 5,
            sum_bits: 40,
            chunk_items: 4096,
            answer_digest: [4; 32],
            client_hello: vec![1, 2, 3],
            seed: Some(Zeroizing::new([9; 32])),
            answers: None,
            tags_acked: false,
            set_acked: false,
            finale: None,
        }
    }

    fn same(a: &SessionRecord, b: &SessionRecord) -> bool {
        a.encode() == b.encode()
    }

    #[test]
    fn records_round_trip_at_every_stage() {
        let mut r = record();
        assert!(r.fits());
        assert!(same(&SessionRecord::decode(&r.encode()).unwrap(), &r));
        r.answers = Some(vec![7, 0, 9, 1]);
        r.tags_acked = true;
        let back = SessionRecord::decode(&r.encode()).unwrap();
        assert!(same(&back, &r));
        assert_eq!(back.answers.as_deref(), Some(&[7, 0, 9, 1][..]));
        assert_eq!(**back.seed.as_ref().unwrap(), [9; 32]);
        for learned in [
            None,
            Some(Outcome::ThresholdNotMet),
            Some(Outcome::Released(SumOutput { count: 4, sum: 77 })),
        ] {
            r.seed = None;
            r.set_acked = true;
            r.finale = Some(Finale {
                request: vec![5; 40],
                answer: vec![],
                learned,
                reported: learned.is_some(),
            });
            let back = SessionRecord::decode(&r.encode()).unwrap();
            assert!(same(&back, &r));
            assert_eq!(back.finale.unwrap().learned, learned);
        }
        assert!(!format!("{r:?}").contains("9, 9"), "no seed in Debug");
    }

    #[test]
    fn damage_and_oversized_fields_are_errors() {
        let r = record();
        let good = r.encode();
        for cut in 0..good.len() {
            assert!(SessionRecord::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(
            SessionRecord::decode(&long).unwrap_err(),
            DecodeError::TrailingBytes(1)
        );
        let mut foreign = good.to_vec();
        foreign[0] = b'X';
        assert!(SessionRecord::decode(&foreign).is_err());
        let mut format = good.to_vec();
        format[7] = 9;
        assert!(SessionRecord::decode(&format).is_err());
        let mut token = good.to_vec();
        token[8] = 200;
        assert!(matches!(
            SessionRecord::decode(&token),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut files = record();
        files.answers = Some(vec![1; MAX_FILES + 1]);
        assert!(!files.fits());
        let bytes = files.encode();
        assert!(SessionRecord::decode(&bytes).is_err());
        let mut hello = record();
        hello.client_hello = vec![0; MAX_HELLO_BYTES + 1];
        assert!(!hello.fits());
        assert!(matches!(
            SessionRecord::decode(&hello.encode()),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
