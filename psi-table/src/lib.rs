//! Tables in, tables out: reads the key columns of a CSV or Parquet file as a
//! stream, encodes each row's (possibly composite) key unambiguously into a
//! [`psi_core::Item`], and writes the matching rows back out atomically.
//!
//! This crate knows files, CSV and Parquet; it knows nothing of networks or
//! protocols beyond the [`Item`] type it produces.
//!
//! # Formats
//! A file whose name ends in `.parquet` (any case) is read as Parquet, any
//! other as CSV with a header row. A Parquet cell is read as the text a CSV
//! export would hold (numbers in base 10, dates `YYYY-MM-DD`, a null as the
//! empty string; see the `source` module for every type), so a key read from
//! a Parquet file equals the key read from the same table as CSV. Positions in
//! errors and rejects are 1-based `line`s with the header as line 1; for a
//! Parquet file that is the data row + 1, and messages say `row N`.
//! [`KeyedTable::write_output`] writes chosen rows, in any order, as CSV (with
//! [`OutputOptions`]) or Parquet (every column a nullable string); see
//! [`output`].
//!
//! # Keys
//! A key is one or more columns (`--key email` or `--key given_name,surname`).
//! Header names are matched after trimming white space. Each value is trimmed of
//! leading and trailing white space; a row whose key has an empty component has
//! an *empty key*, is counted, and never matches (an empty value is not a value).
//! The components are joined by length-prefixing each (`u32` big-endian length,
//! then the UTF-8 bytes), so `("ab", "c")` and `("a", "bc")` never collide.
//!
//! # Profiles
//! Each key column may name a normalisation profile, `COL:PROFILE[:OPTION]`
//! (`email:email:gmail`, `dob:date`, `tel:phone:GB`; see [`normalize`]),
//! applied on both sides before hashing. A bare column is profile `raw` (trim
//! only), so the keys above are unchanged, byte for byte. A key with any other
//! profile carries its profiles in its encoding (see [`spec`]), so it never
//! equals a key normalised otherwise. A value that its profile rejects makes an
//! *invalid key*: counted per column, never matched, and listed with its
//! reason (not its value) by [`KeyedTable::write_rejects`]. Several keys in priority order make a
//! [`LinkageSpec`], whose [`LinkageSpec::fingerprint`] two parties compare;
//! [`LinkageTable`] reads all its keys in one pass and
//! [`waterfall_match_plain`] evaluates the waterfall in plaintext.
//!
//! # Duplicates
//! Rows whose key repeats an earlier row's key are counted. The protocol runs on
//! distinct keys only (a repeated masked value would reveal multiplicity to the
//! peer); every row carrying a matched key is written to the output.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use psi_core::Item;

mod columns;
mod keys;
pub mod linkage;
pub mod linked;
pub mod memory;
pub mod normalize;
pub mod output;
mod rejects;
mod source;
pub mod spec;
pub mod spill;
mod stream_values;
mod values;

use keys::KeyEncoder;
use source::{at, Rows};

pub use columns::Columns;
pub use keys::{stream_keys, stream_linkage_keys, StreamedKeys};
pub use linkage::{waterfall_match_plain, Linkage, LinkageTable, LinkedPair, StepStats};
pub use normalize::{Invalid, Normalised, Profile, PROFILE_NAMES};
pub use output::{write_flagged, OutRow, OutputFormat, OutputOptions, QuoteStyle};
pub use rejects::{ColumnStats, Reject, MAX_REJECTS};
pub use spec::{KeySpec, LinkageSpec, KEY_ENCODING_VERSION, MAX_KEYS};
pub use stream_values::stream_keys_values;

/// Everything that can go wrong reading or writing a table. Each variant names
/// the file and, where there is one, the line and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file has no header row at all.
    #[error("{path} is empty: expected a header row and at least one data row")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file has a header but no data rows.
    #[error("{path} has a header but no data rows")]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// A key column is not in the header.
    #[error("{path}: no column named {column:?}; the columns are: {available}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The requested column.
        column: String,
        /// The header's columns, comma-separated.
        available: String,
    },
    /// The key specification is unusable.
    #[error("invalid key {spec:?}: {}{reason}", at_part(.part))]
    BadKeySpec {
        /// What the user wrote.
        spec: String,
        /// The part of it that is wrong (`surname:nope`), or empty.
        part: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A CSV row has another number of fields than the header.
    #[error("{path}, line {line}: row has {found} fields but the header has {expected}")]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: u64,
        /// Fields in the row.
        found: u64,
    },
    /// A key value (or header name) is not valid UTF-8.
    #[error("{path}, {}, column {column:?}: value is not valid UTF-8", at(.path, *.line))]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number (Parquet: the data row + 1; the message says `row N`).
        line: u64,
        /// The column name (or its position in the header).
        column: String,
    },
    /// The CSV syntax is broken (e.g. an unterminated quote).
    #[error("{path}, line {line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 if unknown).
        line: u64,
        /// The parser's description.
        message: String,
    },
    /// The input changed between the two passes over it.
    #[error(
        "{path} changed while it was being processed (expected {expected} rows, found {found})"
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// Rows seen in the first pass.
        expected: u64,
        /// Rows seen now.
        found: u64,
    },
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A value (PSI-sum) is not a non-negative integer within the limit.
    #[error("{path}, {}, column {column:?}: value {value:?} {reason}", at(.path, *.line))]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number (Parquet: the data row + 1; the message says `row N`).
        line: u64,
        /// The column name.
        column: String,
        /// The value (at most 40 characters of it).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two tables were read with linkage specs that normalise differently.
    #[error("{path} was read with another linkage spec: {differences}")]
    SpecMismatch {
        /// The table whose spec differs.
        path: PathBuf,
        /// The differences, in words.
        differences: String,
    },
    /// A Parquet file is malformed, or uses a feature (such as a compression
    /// codec other than Snappy) that this build cannot read.
    #[error("{path}: cannot read as Parquet: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The reader's description.
        message: String,
    },
    /// A Parquet column that is read has a type with no text form here
    /// (lists, structs, maps, durations, intervals, half floats).
    #[error("{path}, column {column:?}: Parquet type {data_type} is not supported (use strings, integers, decimals, floats, booleans, dates, times or timestamps)")]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The column's Arrow type.
        data_type: String,
    },
    /// The output path names the input file.
    #[error("refusing to write {path}: it is the input file")]
    OutputIsInput {
        /// The output path.
        path: PathBuf,
    },
    /// An output row names a data row the table does not have (API misuse).
    #[error("{path} has {rows} data rows, so it has no row {row} (0-based) to write")]
    NoSuchRow {
        /// The input file.
        path: PathBuf,
        /// The 0-based row asked for.
        row: u64,
        /// The data rows the table has.
        rows: u64,
    },
    /// An output option is unusable.
    #[error("output option {option}: {reason}")]
    BadOption {
        /// The option (`delimiter`, `columns`).
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// With quote style `Never`, a field holds the delimiter, a quote or a
    /// line break, so it cannot be written without breaking the file.
    #[error("{path}, {}, column {column:?}: the value holds the delimiter, a quote or a line break, which cannot be written without quotes", output_row(*.row))]
    NeedsQuotes {
        /// The output file.
        path: PathBuf,
        /// The 1-based output data row (0: the header).
        row: u64,
        /// The output column.
        column: String,
    },
    /// A spill file or its index (a bucketed run's state) is not what was
    /// written: changed or damaged since.
    #[error("{path}: damaged spill file: {reason}; remove the state directory to start again")]
    DamagedSpill {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Too many rows for one run.
    #[error("{path} has more than {limit} rows; split it or use bucketed mode")]
    TooManyRows {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

/// An [`Error::Write`] naming `path`.
pub(crate) fn write_error(path: &Path, source: io::Error) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// An [`Error::Open`] naming `path` (it could not be opened or read).
pub(crate) fn read_error(path: &Path, source: io::Error) -> Error {
    Error::Open {
        path: path.to_path_buf(),
        source,
    }
}

fn output_row(row: u64) -> String {
    if row == 0 {
        "header".to_string()
    } else {
        format!("output row {row}")
    }
}

fn at_part(part: &str) -> String {
    if part.is_empty() {
        String::new()
    } else {
        format!("{part:?}: ")
    }
}

/// Counts from reading a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableStats {
    /// Data rows (header excluded).
    pub rows: u64,
    /// Rows whose key has an empty component.
    pub empty_key_rows: u64,
    /// Rows whose key has no empty component but a value its profile rejects.
    pub invalid_key_rows: u64,
    /// Rows whose key repeats an earlier row's key.
    pub duplicate_key_rows: u64,
    /// Distinct non-empty keys (the size of the set given to the protocol).
    pub distinct_keys: u64,
    /// Empty and invalid counts per key column, in [`KeySpec::columns`] order.
    pub columns: Vec<ColumnStats>,
}

/// The keys of a table: distinct items plus, per row, which item it carries.
#[derive(Debug, Clone)]
pub struct KeyedTable {
    path: PathBuf,
    /// Distinct items, in order of first appearance.
    items: Vec<Item>,
    /// Per data row: the index into `items`, or `NO_KEY`.
    row_items: Vec<u32>,
    stats: TableStats,
    spec: KeySpec,
    rejects: Vec<Reject>,
}

const NO_KEY: u32 = u32::MAX;
/// Most rows one table may have in a single (unbucketed) run.
pub const MAX_ROWS: u64 = (u32::MAX - 1) as u64;

/// Appends one key component, length-prefixed.
pub fn encode_component(value: &str, out: &mut Vec<u8>) {
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Collects one key's items during a streaming pass over a table.
struct KeyBuilder {
    encoder: KeyEncoder,
    items: Vec<Item>,
    row_items: Vec<u32>,
    index: HashMap<Item, u32>,
}

impl KeyBuilder {
    fn new(path: &Path, names: &[String], spec: &KeySpec) -> Result<Self, Error> {
        Ok(KeyBuilder {
            encoder: KeyEncoder::new(path, names, spec)?,
            items: Vec::new(),
            row_items: Vec::new(),
            index: HashMap::new(),
        })
    }

    /// Adds one data row (`line` 1-based, the header is line 1).
    fn push(&mut self, path: &Path, record: &csv::ByteRecord, line: u64) -> Result<(), Error> {
        let Some(item) = self.encoder.encode(path, record, line)? else {
            self.row_items.push(NO_KEY);
            return Ok(());
        };
        let next = self.items.len() as u32;
        let id = *self.index.entry(item).or_insert(next);
        if id == next {
            self.items.push(item);
        } else {
            self.encoder.stats.duplicate_key_rows += 1;
        }
        self.row_items.push(id);
        Ok(())
    }

    fn finish(self, path: &Path) -> KeyedTable {
        let KeyEncoder {
            mut stats,
            spec,
            rejects,
            ..
        } = self.encoder;
        stats.distinct_keys = self.items.len() as u64;
        KeyedTable {
            path: path.to_path_buf(),
            items: self.items,
            row_items: self.row_items,
            stats,
            spec,
            rejects,
        }
    }
}

/// Reads `path` once and collects every key of `specs`, one table per key.
fn read_keys(path: &Path, specs: &[KeySpec]) -> Result<Vec<KeyedTable>, Error> {
    let mut rows = Rows::open(path)?;
    let names = rows.names()?;
    let mut builders = specs
        .iter()
        .map(|s| KeyBuilder::new(path, &names, s))
        .collect::<Result<Vec<_>, _>>()?;
    let needed: Vec<usize> = builders
        .iter()
        .flat_map(|b| b.encoder.positions.iter().copied())
        .collect();
    rows.select(&needed)?;
    let mut record = csv::ByteRecord::new();
    let mut count = 0u64;
    while let Some(line) = rows.next(&mut record)? {
        if count >= MAX_ROWS {
            return Err(Error::TooManyRows {
                path: path.to_path_buf(),
                limit: MAX_ROWS,
            });
        }
        count += 1;
        for b in &mut builders {
            b.push(path, &record, line)?;
        }
    }
    if count == 0 {
        return Err(Error::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(builders.into_iter().map(|b| b.finish(path)).collect())
}

impl KeyedTable {
    /// Reads `path` as a stream and collects the keys named by `spec`, each
    /// value normalised by its column's profile.
    pub fn read(path: &Path, spec: &KeySpec) -> Result<Self, Error> {
        let mut tables = read_keys(path, std::slice::from_ref(spec))?;
        tables.pop().ok_or_else(|| Error::NoRows {
            path: path.to_path_buf(),
        })
    }

    /// The key this table was read with.
    pub fn spec(&self) -> &KeySpec {
        &self.spec
    }

    /// Per data row: the index into [`Self::items`] of the row's key, or
    /// `None` if the key was empty or invalid.
    pub fn row_item(&self, row: usize) -> Option<usize> {
        self.row_items
            .get(row)
            .filter(|&&i| i != NO_KEY)
            .map(|&i| i as usize)
    }

    /// The distinct items, to hand to a protocol.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The counts.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which rows carry one of the matched items (`matched` indexes
    /// [`Self::items`]). Returns one flag per data row.
    pub fn matched_rows(&self, matched: &[usize]) -> Vec<bool> {
        let mut item_hit = vec![false; self.items.len()];
        for &m in matched {
            if let Some(h) = item_hit.get_mut(m) {
                *h = true;
            }
        }
        self.row_items
            .iter()
            .map(|&i| i != NO_KEY && item_hit[i as usize])
            .collect()
    }
}

/// Writes `bytes` to `path` atomically (temporary file beside it, then
/// rename); a path of [`memory::register_output`] keeps them in memory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(sink) = memory::output(path) {
        sink.put(path, memory::Written::Bytes(bytes.to_vec()));
        return Ok(());
    }
    let write_err = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".psi-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn composite_keys_do_not_collide() {
        let mut a = Vec::new();
        encode_component("ab", &mut a);
        encode_component("c", &mut a);
        let mut b = Vec::new();
        encode_component("a", &mut b);
        encode_component("bc", &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn reads_trimmed_header_and_counts() {
        let f = file(b"id, email ,name\n1, a@x.com ,A\n2,,B\n3,a@x.com,C\n4,b@x.com,D\n");
        let t = KeyedTable::read(f.path(), &KeySpec::parse("email").unwrap()).unwrap();
        assert_eq!(
            t.stats(),
            &TableStats {
                rows: 4,
                empty_key_rows: 1,
                invalid_key_rows: 0,
                duplicate_key_rows: 1,
                distinct_keys: 2,
                columns: vec![ColumnStats {
                    name: "email".into(),
                    empty: 1,
                    invalid: 0
                }],
            }
        );
        assert_eq!(t.matched_rows(&[0]), vec![true, false, true, false]);
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("o.csv");
        assert_eq!(t.write_rows(&t.matched_rows(&[1]), &path).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id, email ,name\n4,b@x.com,D\n"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let spec = KeySpec::parse("email").unwrap();
        let e = KeyedTable::read(Path::new("/nonexistent/x.csv"), &spec).unwrap_err();
        assert!(matches!(e, Error::Open { .. }), "{e}");
        let f = file(b"");
        assert!(matches!(
            KeyedTable::read(f.path(), &spec),
            Err(Error::Empty { .. })
        ));
        let f = file(b"email\n");
        assert!(matches!(
            KeyedTable::read(f.path(), &spec),
            Err(Error::NoRows { .. })
        ));
        let f = file(b"id,mail\n1,x\n");
        let e = KeyedTable::read(f.path(), &spec).unwrap_err();
        assert!(e.to_string().contains("the columns are: id, mail"), "{e}");
        let f = file(b"id,email\n1,x\n2\n");
        let e = KeyedTable::read(f.path(), &spec).unwrap_err();
        assert!(matches!(e, Error::Ragged { line: 3, .. }), "{e}");
        let f = file(b"id,email\n1,\xff\xfe\n");
        let e = KeyedTable::read(f.path(), &spec).unwrap_err();
        assert!(matches!(e, Error::NotUtf8 { line: 2, .. }), "{e}");
        assert!(KeySpec::parse("a,,b").is_err());
        assert!(KeySpec::parse("a,a").is_err());
    }

    #[test]
    fn raw_keys_encode_as_before_and_profiles_are_in_the_key() {
        let f = file(b"first,last\n Ann ,O'Brien\n");
        let raw = KeyedTable::read(f.path(), &KeySpec::parse("first,last").unwrap()).unwrap();
        // Byte-identical to the encoding before profiles existed.
        let mut key = Vec::new();
        encode_component("Ann", &mut key);
        encode_component("O'Brien", &mut key);
        assert_eq!(raw.items(), [Item::from_key(&key)]);
        let explicit =
            KeyedTable::read(f.path(), &KeySpec::parse("first:raw,last:raw@1").unwrap()).unwrap();
        assert_eq!(explicit.items(), raw.items());

        // `text` leaves these values as they are, yet the keys differ.
        let text =
            KeyedTable::read(f.path(), &KeySpec::parse("first:text,last:text").unwrap()).unwrap();
        assert_ne!(text.items(), raw.items());
        let name =
            KeyedTable::read(f.path(), &KeySpec::parse("first:name,last:name").unwrap()).unwrap();
        assert_ne!(name.items(), text.items());

        // Another party's column names do not matter, the profiles do.
        let g = file(b"given,family\nANN,obrien\n");
        let theirs =
            KeyedTable::read(g.path(), &KeySpec::parse("given:name,family:name").unwrap()).unwrap();
        assert_eq!(theirs.items(), name.items());
        let ascii = KeyedTable::read(
            g.path(),
            &KeySpec::parse("given:name:ascii,family:name").unwrap(),
        )
        .unwrap();
        assert_ne!(ascii.items(), name.items());
    }

    #[test]
    fn composite_key_with_empty_component_is_empty() {
        let f = file(b"a,b\nx,y\nx,\n");
        let t = KeyedTable::read(f.path(), &KeySpec::parse("a, b").unwrap()).unwrap();
        assert_eq!(t.stats().empty_key_rows, 1);
        assert_eq!(t.items().len(), 1);
    }
}
