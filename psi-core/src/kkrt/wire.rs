//! The KKRT messages, in the crate's one codec ([`crate::codec`]): version byte,
//! message type (16..=19), fields big-endian; every length is checked against its
//! limit before anything is allocated, and trailing bytes are an error.

use crate::codec::{
    kind, read_header, write_header, Codec, DecodeError, Protocol, Reader, POINT_LEN,
};

use super::CODE_BITS;

/// Most rows one [`MatrixChunk`] may carry (`2^15` rows of `k` = 512 bits:
/// 2 MiB, inside the codec's frame limit).
pub const MAX_MATRIX_ROWS: u32 = 1 << 15;

// A full matrix chunk (version, type, row count, columns) fits in one frame.
const _: () =
    assert!(2 + 4 + MAX_MATRIX_ROWS as usize / 8 * CODE_BITS <= crate::codec::MAX_FRAME_LEN);

/// Most sender items one [`OprfChunk`] may carry (three tags each, ≤ 1.5 MiB).
pub const MAX_OPRF_ITEMS: u32 = 1 << 15;

/// The receiver's (PSI client's) opening message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverHello {
    /// The protocol ([`Protocol::Kkrt`]).
    pub protocol: Protocol,
    /// The receiver's fresh random contribution to the session id.
    pub nonce: [u8; 32],
    /// How many (distinct) items the receiver holds. Revealed to the sender.
    pub set_size: u64,
    /// Key of the three cuckoo hash functions (chosen so that the receiver's
    /// items fit; see [`super::bin_count`]).
    pub cuckoo_seed: [u8; 16],
    /// The base-OT sender's point `A = a·G` (compressed ristretto255).
    pub ot_point: [u8; POINT_LEN],
}

impl Codec for ReceiverHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::KKRT_RECEIVER_HELLO);
        out.push(self.protocol.id());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.set_size.to_be_bytes());
        out.extend_from_slice(&self.cuckoo_seed);
        out.extend_from_slice(&(CODE_BITS as u16).to_be_bytes());
        out.extend_from_slice(&self.ot_point);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::KKRT_RECEIVER_HELLO, "KKRT receiver hello")?;
        let protocol = Protocol::from_id(r.u8()?)?;
        let nonce = r.array()?;
        let set_size = r.u64()?;
        let cuckoo_seed = r.array()?;
        let code_bits = u16::from_be_bytes(r.array()?);
        if usize::from(code_bits) != CODE_BITS {
            return Err(DecodeError::InvalidField {
                field: "code length in bits",
                value: code_bits.into(),
            });
        }
        Ok(ReceiverHello {
            protocol,
            nonce,
            set_size,
            cuckoo_seed,
            ot_point: r.array()?,
        })
    }
}

/// The sender's (PSI server's) answer: its nonce and set size, and the base-OT
/// receiver's `k` points `B_i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderHello {
    /// The protocol ([`Protocol::Kkrt`]).
    pub protocol: Protocol,
    /// The sender's fresh random contribution to the session id.
    pub nonce: [u8; 32],
    /// How many (distinct) items the sender holds. Revealed to the receiver.
    pub set_size: u64,
    /// `B_i = b_i·G + s_i·A` for `i < k` (compressed; validated by the receiver).
    pub ot_points: Vec<[u8; POINT_LEN]>,
}

impl Codec for SenderHello {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::KKRT_SENDER_HELLO);
        out.push(self.protocol.id());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.set_size.to_be_bytes());
        let count = u16::try_from(self.ot_points.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for p in &self.ot_points {
            out.extend_from_slice(p);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::KKRT_SENDER_HELLO, "KKRT sender hello")?;
        let protocol = Protocol::from_id(r.u8()?)?;
        let nonce = r.array()?;
        let set_size = r.u64()?;
        let count = u16::from_be_bytes(r.array()?);
        if usize::from(count) != CODE_BITS {
            return Err(DecodeError::InvalidField {
                field: "base-OT point count",
                value: count.into(),
            });
        }
        let body = r.take(usize::from(count) * POINT_LEN)?;
        let ot_points = body
            .chunks_exact(POINT_LEN)
            .map(|c| {
                let mut p = [0u8; POINT_LEN];
                p.copy_from_slice(c);
                p
            })
            .collect();
        Ok(SenderHello {
            protocol,
            nonce,
            set_size,
            ot_points,
        })
    }
}

/// Rows `j0 .. j0 + rows` of the OT-extension matrix `U` (KKRT16 Figure 2,
/// `u^i = t^i ⊕ G(k_i^1) ⊕ c^i`), receiver to sender, chunks in row order.
/// Column-major: for each of the `k` columns, `rows / 8` bytes (row `j0 + r`
/// is bit `r % 8` of byte `r / 8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixChunk {
    /// Rows in this chunk: a multiple of 128, `1 ..= MAX_MATRIX_ROWS`.
    pub rows: u32,
    /// `k · rows / 8` bytes.
    pub columns: Vec<u8>,
}

impl Codec for MatrixChunk {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::KKRT_MATRIX);
        out.extend_from_slice(&self.rows.to_be_bytes());
        out.extend_from_slice(&self.columns);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::KKRT_MATRIX, "KKRT matrix chunk")?;
        let rows = r.u32()?;
        if rows > MAX_MATRIX_ROWS {
            return Err(DecodeError::TooLarge {
                field: "matrix rows in chunk",
                value: rows.into(),
                limit: MAX_MATRIX_ROWS.into(),
            });
        }
        if rows == 0 || rows % 128 != 0 {
            return Err(DecodeError::InvalidField {
                field: "matrix rows in chunk",
                value: rows.into(),
            });
        }
        let columns = r.take(rows as usize / 8 * CODE_BITS)?.to_vec();
        Ok(MatrixChunk { rows, columns })
    }
}

/// The sender's OPRF values for a chunk of its items, in a fresh random order:
/// for each item `y`, three tags `H(h_i(y), q_{h_i(y)} ⊕ (C(y‖i) ∧ s))`, `i = 0, 1, 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OprfChunk {
    /// Bytes per tag (8..=16, derived by both sides from the set sizes).
    pub tag_len: u8,
    /// `3 · items · tag_len` bytes.
    pub tags: Vec<u8>,
}

impl OprfChunk {
    /// Number of sender items in the chunk.
    pub fn items(&self) -> usize {
        self.tags.len() / (3 * usize::from(self.tag_len.max(1)))
    }
}

impl Codec for OprfChunk {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::KKRT_OPRF);
        crate::codec::write_tags(out, self.tag_len, self.items(), &self.tags);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::KKRT_OPRF, "KKRT OPRF chunk")?;
        let (tag_len, tags) = crate::codec::read_tags(r, 3, MAX_OPRF_ITEMS, "items in OPRF chunk")?;
        Ok(OprfChunk { tag_len, tags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_cuts_fail<T: Codec + std::fmt::Debug>(bytes: &[u8]) {
        for cut in 0..bytes.len() {
            assert!(T::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            T::from_bytes(&long).unwrap_err(),
            DecodeError::TrailingBytes(1)
        );
    }

    #[test]
    fn round_trips_and_rejections() {
        let h = ReceiverHello {
            protocol: Protocol::Kkrt,
            nonce: [1; 32],
            set_size: 77,
            cuckoo_seed: [2; 16],
            ot_point: [3; 32],
        };
        let b = h.to_bytes();
        assert_eq!(ReceiverHello::from_bytes(&b), Ok(h));
        all_cuts_fail::<ReceiverHello>(&b);
        let mut wrong_k = b.clone();
        wrong_k[2 + 1 + 32 + 8 + 16 + 1] ^= 1;
        assert!(matches!(
            ReceiverHello::from_bytes(&wrong_k),
            Err(DecodeError::InvalidField { .. })
        ));

        let s = SenderHello {
            protocol: Protocol::Kkrt,
            nonce: [4; 32],
            set_size: 5,
            ot_points: vec![[6; 32]; CODE_BITS],
        };
        let b = s.to_bytes();
        assert_eq!(SenderHello::from_bytes(&b), Ok(s));
        all_cuts_fail::<SenderHello>(&b);
        let mut short = SenderHello {
            protocol: Protocol::Kkrt,
            nonce: [4; 32],
            set_size: 5,
            ot_points: vec![[6; 32]; 3],
        }
        .to_bytes();
        assert!(matches!(
            SenderHello::from_bytes(&short),
            Err(DecodeError::InvalidField { .. })
        ));
        short[1] = kind::KKRT_MATRIX;
        assert!(matches!(
            SenderHello::from_bytes(&short),
            Err(DecodeError::UnexpectedMessage { .. })
        ));

        let m = MatrixChunk {
            rows: 128,
            columns: vec![9; 16 * CODE_BITS],
        };
        let b = m.to_bytes();
        assert_eq!(MatrixChunk::from_bytes(&b), Ok(m));
        all_cuts_fail::<MatrixChunk>(&b);
        for rows in [0u32, 64, 129, MAX_MATRIX_ROWS + 128, u32::MAX] {
            let mut bad = vec![crate::codec::WIRE_VERSION, kind::KKRT_MATRIX];
            bad.extend_from_slice(&rows.to_be_bytes());
            assert!(MatrixChunk::from_bytes(&bad).is_err());
        }

        let o = OprfChunk {
            tag_len: 10,
            tags: vec![7; 3 * 10 * 4],
        };
        assert_eq!(o.items(), 4);
        let b = o.to_bytes();
        assert_eq!(OprfChunk::from_bytes(&b), Ok(o));
        all_cuts_fail::<OprfChunk>(&b);
        let mut huge = vec![crate::codec::WIRE_VERSION, kind::KKRT_OPRF, 10];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            OprfChunk::from_bytes(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
