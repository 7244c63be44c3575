//! The encodings file `psi encode` writes and `psi match` reads: a 64-byte
//! header, then one encoding per data row, in input order.
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `PSIENC\0\0` |
//! | 8..10 | format version, little-endian (1) |
//! | 10..12 | flags (0) |
//! | 12..16 | bits per encoding, little-endian (a multiple of 64) |
//! | 16..24 | number of encodings, little-endian |
//! | 24..56 | the spec's fingerprint (SHA-256 of its canonical text) |
//! | 56..64 | zero |
//!
//! Each encoding is `bits / 64` words, each 8 bytes little-endian. The
//! secret is never written. A file is written to a temporary name beside
//! its destination and renamed only when complete: a failed or interrupted
//! run leaves no partial file.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::Error;

const MAGIC: &[u8; 8] = b"PSIENC\0\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 64;
/// Longest encoding a file may hold: a balanced filter of the longest spec.
const MAX_BITS: u32 = 2 << 16;

/// Encodings held in memory, packed one after another, with their popcounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encodings {
    bits: u32,
    fingerprint: [u8; 32],
    words: Vec<u64>,
    popcounts: Vec<u32>,
}

impl Encodings {
    /// No encodings yet, each `bits` long (a multiple of 64).
    pub fn new(bits: u32, fingerprint: [u8; 32]) -> Encodings {
        Encodings {
            bits,
            fingerprint,
            words: Vec::new(),
            popcounts: Vec::new(),
        }
    }

    /// Appends one encoding of [`Self::words_per`] words.
    pub fn push(&mut self, encoding: &[u64]) {
        debug_assert_eq!(encoding.len(), self.words_per());
        self.words.extend_from_slice(encoding);
        self.popcounts
            .push(encoding.iter().map(|w| w.count_ones()).sum());
    }

    /// Bits per encoding.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Words per encoding.
    pub fn words_per(&self) -> usize {
        self.bits as usize / 64
    }

    /// The spec fingerprint.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// How many encodings.
    pub fn len(&self) -> usize {
        self.popcounts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.popcounts.is_empty()
    }

    /// Encoding `i`.
    pub fn row(&self, i: usize) -> &[u64] {
        let w = self.words_per();
        &self.words[i * w..(i + 1) * w]
    }

    /// All words, encoding after encoding.
    pub fn data(&self) -> &[u64] {
        &self.words
    }

    /// Bits set in each encoding.
    pub fn popcounts(&self) -> &[u32] {
        &self.popcounts
    }

    /// Why encodings of `other` cannot be compared with these, if they cannot:
    /// another spec (fingerprint) or another length.
    pub fn incompatibility(&self, other: &Encodings) -> Option<&'static str> {
        if self.fingerprint != other.fingerprint {
            Some("they were encoded under different specs; every owner must encode with the same spec")
        } else if self.bits != other.bits {
            Some("their encodings have different lengths")
        } else {
            None
        }
    }

    /// Reads an encodings file, checking its header and its length.
    pub fn read(path: &Path) -> Result<Encodings, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            what: "cannot read",
            path: path.to_path_buf(),
            source,
        })?;
        Encodings::parse(&bytes, path)
    }

    /// Parses the bytes of an encodings file (`path` names it in errors).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Encodings, Error> {
        let bad = |reason: String| Error::BadEncodings {
            path: path.to_path_buf(),
            reason,
        };
        let Some((header, body)) = bytes.split_first_chunk::<HEADER>() else {
            return Err(bad(
                "not an encodings file made by `psi encode` (shorter than its header)".into(),
            ));
        };
        if &header[..8] != MAGIC {
            return Err(bad(
                "not an encodings file made by `psi encode` (wrong magic bytes)".into(),
            ));
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "encodings format version {version}; this build reads version {FORMAT_VERSION}"
            )));
        }
        let bits = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if bits == 0 || !bits.is_multiple_of(64) || bits > MAX_BITS {
            return Err(bad(format!(
                "invalid encoding length {bits} bits in the header"
            )));
        }
        let mut count_bytes = [0u8; 8];
        count_bytes.copy_from_slice(&header[16..24]);
        let count = u64::from_le_bytes(count_bytes);
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(&header[24..56]);
        let expected = count.checked_mul(u64::from(bits / 8));
        if expected != Some(body.len() as u64) {
            return Err(bad(format!(
                "the header announces {count} encodings of {bits} bits but the file has {} bytes (truncated or not written by psi encode)",
                bytes.len()
            )));
        }
        let words: Vec<u64> = body
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        let per = bits as usize / 64;
        let popcounts = words
            .chunks_exact(per)
            .map(|e| e.iter().map(|w| w.count_ones()).sum())
            .collect();
        Ok(Encodings {
            bits,
            fingerprint,
            words,
            popcounts,
        })
    }

    /// Writes the encodings to `path` (through a temporary file).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let mut w = EncodingsWriter::create(path, self.bits, self.fingerprint)?;
        for i in 0..self.len() {
            w.write(self.row(i))?;
        }
        w.finish().map(|_| ())
    }
}

/// Streams encodings to a file; nothing appears at the destination unless
/// [`EncodingsWriter::finish`] succeeds.
pub struct EncodingsWriter {
    out: BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    count: u64,
    words: usize,
}

impl EncodingsWriter {
    /// Starts `path` for encodings of `bits` bits made under the spec with
    /// this `fingerprint`.
    pub fn create(path: &Path, bits: u32, fingerprint: [u8; 32]) -> Result<Self, Error> {
        let io = |source| Error::Io {
            what: "cannot write",
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".psi-encode-")
            .tempfile_in(dir)
            .map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 16, tmp);
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&bits.to_le_bytes());
        header[24..56].copy_from_slice(&fingerprint);
        out.write_all(&header).map_err(io)?;
        Ok(EncodingsWriter {
            out,
            path: path.to_path_buf(),
            count: 0,
            words: bits as usize / 64,
        })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> Error + '_ {
        |source| Error::Io {
            what: "cannot write",
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one encoding.
    pub fn write(&mut self, encoding: &[u64]) -> Result<(), Error> {
        debug_assert_eq!(encoding.len(), self.words);
        let mut bytes = [0u8; 8 * 32];
        for chunk in encoding.chunks(32) {
            for (i, w) in chunk.iter().enumerate() {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
            }
            if let Err(e) = self.out.write_all(&bytes[..chunk.len() * 8]) {
                return Err(self.io()(e));
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Writes the count into the header, syncs, and renames the file into
    /// place. Returns the number of encodings.
    pub fn finish(self) -> Result<u64, Error> {
        let io = |source| Error::Io {
            what: "cannot write",
            path: self.path.clone(),
            source,
        };
        let mut tmp = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file_mut().seek(SeekFrom::Start(16)).map_err(io)?;
        tmp.as_file_mut()
            .write_all(&self.count.to_le_bytes())
            .map_err(io)?;
        tmp.as_file_mut().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.enc");
        let mut e = Encodings::new(128, [9; 32]);
        e.push(&[1, 2]);
        e.push(&[u64::MAX, 0]);
        e.write(&path).unwrap();
        let back = Encodings::read(&path).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.popcounts(), &[2, 64]);
        // Only the file itself is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(Encodings::read(&path)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        std::fs::write(&path, b"rec_id,given_name\n1,ann\n").unwrap();
        let err = Encodings::read(&path).unwrap_err().to_string();
        assert!(err.contains("not an encodings file"), "{err}");
        let mut v2 = bytes.clone();
        v2[8] = 2;
        std::fs::write(&path, &v2).unwrap();
        assert!(Encodings::read(&path)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.enc");
        {
            let mut w = EncodingsWriter::create(&path, 64, [0; 32]).unwrap();
            w.write(&[5]).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
