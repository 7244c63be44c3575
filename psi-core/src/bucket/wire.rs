//! The messages that open a bucketed run: the client's [`RunHello`], the
//! server's [`RunAnswer`], and [`RunReady`] once the server has partitioned
//! its set. Each bucket is then an ordinary session of the run's protocol.

use crate::codec::{kind, read_header, write_header, Codec, DecodeError, Protocol, Reader};

use super::FINE_BUCKETS;

/// The client's opening of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHello {
    /// The protocol every bucket runs (ECDH or KKRT).
    pub protocol: Protocol,
    /// The client's half of the partition seed.
    pub client_nonce: [u8; 32],
}

/// The server's answer: its half of the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAnswer {
    /// The server's half of the partition seed.
    pub server_nonce: [u8; 32],
    /// Fine buckets the server partitions into (must be [`FINE_BUCKETS`]).
    pub fine_buckets: u16,
}

/// Sent once the server's set is partitioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReady {
    /// The server's distinct items (the set size the sessions would announce
    /// without padding).
    pub server_set_size: u64,
}

impl Codec for RunHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::RUN_HELLO);
        out.push(self.protocol.id());
        out.extend_from_slice(&self.client_nonce);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::RUN_HELLO, "run hello")?;
        let protocol = Protocol::from_id(r.u8()?)?;
        if !matches!(protocol, Protocol::EcdhIntersection | Protocol::Kkrt) {
            return Err(DecodeError::InvalidField {
                field: "run protocol (ECDH or KKRT)",
                value: u64::from(protocol.id()),
            });
        }
        Ok(RunHello {
            protocol,
            client_nonce: r.array()?,
        })
    }
}

impl Codec for RunAnswer {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::RUN_ANSWER);
        out.extend_from_slice(&self.server_nonce);
        out.extend_from_slice(&self.fine_buckets.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::RUN_ANSWER, "run answer")?;
        let server_nonce = r.array()?;
        let fine_buckets = u16::from_be_bytes(r.array()?);
        if fine_buckets != FINE_BUCKETS {
            return Err(DecodeError::InvalidField {
                field: "fine bucket count",
                value: u64::from(fine_buckets),
            });
        }
        Ok(RunAnswer {
            server_nonce,
            fine_buckets,
        })
    }
}

impl Codec for RunReady {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::RUN_READY);
        out.extend_from_slice(&self.server_set_size.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::RUN_READY, "run ready")?;
        Ok(RunReady {
            server_set_size: r.u64()?,
        })
    }
}
