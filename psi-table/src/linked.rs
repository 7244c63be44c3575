//! A linkage's result written without the table or its links in memory,
//! for bucketed linkages ([`psi_core::linkage::bucketed`]).
//!
//! The links arrive bucket by bucket: each bucket's are a file of
//! `(row, id)` records sorted by row ([`write_links`]; 20 bytes each, the row
//! a little-endian `u32`). [`write_linked`] merges those files as it reads
//! the input (a k-way merge, one small buffer per file), so each input row
//! meets its link, if it has one, in input order.
//!
//! # The same bytes as in memory
//! The rows written, their order and the id column are those of
//! [`psi_core::linkage::plan_rows`] written by
//! [`KeyedTable::write_output_from`](crate::KeyedTable::write_output_from)
//! with the id in lowercase hex (the in-memory linkage's writer):
//! - a difference: this side's unlinked rows, in input order;
//! - unaligned: this side's linked rows (and its unlinked rows if the join
//!   keeps them), in input order: one pass over the input;
//! - aligned: the linked rows in id order (ties, which need two equal
//!   128-bit ids, by row, as the in-memory stable sort leaves them), then
//!   the placeholders that come first (the server's, for the client's
//!   unlinked rows), this side's unlinked rows in input order, then the
//!   placeholders that come last. The id order is an external sort: the
//!   linked rows' selected fields go, keyed by (id, row), into runs sorted in
//!   memory up to a budget and written to a scratch directory, then merged;
//!   the unlinked rows are a second pass over the input. Placeholders are
//!   counted, never stored.
//!
//! Memory: the sort budget, one buffer per link file and per run, one
//! record. The output is atomic as every output of this crate is (temporary
//! file, renamed when complete); the scratch files are removed when the
//! writer returns, whatever the outcome.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use psi_core::linkage::{JoinType, Side};

use crate::output::{Copier, Sink, Target};
use crate::source::Rows;
use crate::{read_error, write_error, Error, OutputFormat, OutputOptions};

/// Bytes per link record: the row (`u32`, little-endian), then the id.
pub const LINK_BYTES: usize = 20;
/// Read buffer per merged file.
const MERGE_BUFFER: usize = 8 * 1024;
/// Bytes a held record costs beyond its fields (key, vector, bookkeeping).
const HELD_OVERHEAD: usize = 64;

fn damaged(path: &Path, reason: impl Into<String>) -> Error {
    Error::DamagedSpill {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes one bucket's links to `path` (atomically), sorted by row.
pub fn write_links(path: &Path, links: &mut [(u32, [u8; 16])]) -> Result<(), Error> {
    links.sort_unstable_by_key(|&(row, _)| row);
    let mut bytes = Vec::with_capacity(links.len() * LINK_BYTES);
    for (row, id) in links.iter() {
        bytes.extend_from_slice(&row.to_le_bytes());
        bytes.extend_from_slice(id);
    }
    crate::write_atomically(path, &bytes)
}

/// Reads the links of files written by [`write_links`], merged by row.
pub struct LinkMerge {
    files: Vec<(PathBuf, BufReader<File>)>,
    heap: BinaryHeap<Reverse<(u32, [u8; 16], usize)>>,
    last: Option<u32>,
}

fn next_link(path: &Path, r: &mut BufReader<File>) -> Result<Option<(u32, [u8; 16])>, Error> {
    let mut record = [0u8; LINK_BYTES];
    let mut got = 0;
    while got < LINK_BYTES {
        let n = r
            .read(&mut record[got..])
            .map_err(|e| read_error(path, e))?;
        if n == 0 {
            return match got {
                0 => Ok(None),
                _ => Err(damaged(path, "a link record is cut off")),
            };
        }
        got += n;
    }
    let row = u32::from_le_bytes([record[0], record[1], record[2], record[3]]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&record[4..]);
    Ok(Some((row, id)))
}

impl LinkMerge {
    /// Opens every file.
    pub fn open(paths: &[PathBuf]) -> Result<Self, Error> {
        let mut merge = LinkMerge {
            files: Vec::with_capacity(paths.len()),
            heap: BinaryHeap::with_capacity(paths.len()),
            last: None,
        };
        for (i, path) in paths.iter().enumerate() {
            let file = File::open(path).map_err(|e| read_error(path, e))?;
            let mut reader = BufReader::with_capacity(MERGE_BUFFER, file);
            if let Some((row, id)) = next_link(path, &mut reader)? {
                merge.heap.push(Reverse((row, id, i)));
            }
            merge.files.push((path.clone(), reader));
        }
        Ok(merge)
    }

    /// The next link by row; a row linked twice, or a file out of order, is
    /// [`Error::DamagedSpill`].
    pub fn next_link(&mut self) -> Result<Option<(u32, [u8; 16])>, Error> {
        let Some(Reverse((row, id, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let (path, reader) = &mut self.files[i];
        if self.last.is_some_and(|last| row <= last) {
            return Err(damaged(
                path,
                format!("row {row} is linked twice or out of order"),
            ));
        }
        self.last = Some(row);
        if let Some((next, nid)) = next_link(path, reader)? {
            self.heap.push(Reverse((next, nid, i)));
        }
        Ok(Some((row, id)))
    }
}

/// Which rows a side writes, as [`psi_core::linkage::plan_rows`] decides.
#[derive(Debug, Clone, Copy)]
pub struct LinkedPlan {
    /// This side.
    pub side: Side,
    /// The join.
    pub join: JoinType,
    /// Whether both sides write their rows in the same (id) order.
    pub align: bool,
    /// The client's rows without a link.
    pub client_unlinked: u64,
    /// The server's rows without a link.
    pub server_unlinked: u64,
    /// Whether this writer writes the rows without a link and an aligned
    /// outer join's placeholders: always, but on the shard workers of a
    /// sharded linkage other than worker 0
    /// ([`psi_core::linkage::Shard::writes_unlinked`]).
    pub writes_unlinked: bool,
}

impl LinkedPlan {
    fn keeps_own_unlinked(&self) -> bool {
        if !self.writes_unlinked {
            return false;
        }
        match self.side {
            Side::Client => self.join.keeps_client_unlinked(),
            Side::Server => self.join.keeps_server_unlinked(),
        }
    }
}

/// Where and how [`write_linked`] writes.
#[derive(Debug, Clone)]
pub struct LinkedOutput<'a> {
    /// The output file.
    pub path: &'a Path,
    /// Its format and CSV options.
    pub options: &'a OutputOptions,
    /// The id column's name.
    pub id_column: &'a str,
    /// Where the sort's runs go (a directory; a fresh one is made inside).
    pub scratch: &'a Path,
    /// Bytes of records the sort holds before it writes a run.
    pub sort_memory: usize,
    /// A sharded linkage's rows linked anywhere, one bit per row (bit
    /// `r % 64` of word `r / 64`): a row without a link in the link files
    /// but set here was linked by another worker, which writes it, so it is
    /// not written here as unlinked. `None`: the link files are all links.
    pub linked_anywhere: Option<&'a [u64]>,
}

impl LinkedOutput<'_> {
    /// Whether row `row`, without a link of ours, was linked elsewhere.
    fn elsewhere(&self, row: u32) -> bool {
        let r = row as usize;
        self.linked_anywhere
            .and_then(|bits| bits.get(r / 64))
            .is_some_and(|w| w >> (r % 64) & 1 == 1)
    }
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes this side of a linkage of `input` (`rows` data rows) from the link
/// files `links` (see the module doc). Returns the rows written.
pub fn write_linked(
    input: &Path,
    rows: usize,
    links: &[PathBuf],
    plan: &LinkedPlan,
    out: &LinkedOutput<'_>,
) -> Result<u64, Error> {
    if crate::memory::output(out.path).is_some() {
        return Err(Error::BadOption {
            option: "output",
            reason: "a bucketed linkage writes its result to a file, not to a table in memory",
        });
    }
    let format = out
        .options
        .format
        .unwrap_or_else(|| OutputFormat::from_path(out.path));
    if format == OutputFormat::Csv {
        crate::output::check_delimiter(out.options.delimiter)?;
    }
    if crate::output::same_file(input, out.path) {
        return Err(Error::OutputIsInput {
            path: out.path.to_path_buf(),
        });
    }
    let mut target = Target::open(input, Some(out.id_column), out.path, out.options, format)?;
    let mut sink = target.create_sink()?;
    let mut written = 0u64;
    let own_unlinked =
        plan.keeps_own_unlinked() || (plan.join == JoinType::Difference && plan.writes_unlinked);
    if plan.join == JoinType::Difference || !plan.align {
        let linked = plan.join != JoinType::Difference;
        let (source, copier) = target.parts(rows);
        pass(source, &copier, links, |row| {
            let keep = match row.id {
                Some(_) => linked,
                None => own_unlinked && !out.elsewhere(row.row),
            };
            if keep {
                let id = row.id.filter(|_| linked).map(|id| hex(&id));
                sink.write(written, id.as_deref(), Some(&row.fields()?))?;
                written += 1;
            }
            Ok(())
        })?;
        sink.persist(out.path)?;
        return Ok(written);
    }

    // Aligned: the linked rows in id order, through the external sort.
    let scratch = tempfile::Builder::new()
        .prefix(".psi-sort-")
        .tempdir_in(out.scratch)
        .map_err(|e| write_error(out.scratch, e))?;
    let mut sorter = Sorter::new(scratch.path(), out.sort_memory);
    {
        let (source, copier) = target.parts(rows);
        pass(source, &copier, links, |row| {
            if let Some(id) = row.id {
                sorter.push(id, row.row, &row.fields()?)?;
            }
            Ok(())
        })?;
    }
    let mut sorted = sorter.finish()?;
    let mut fields = csv::ByteRecord::new();
    while let Some(id) = sorted.next(&mut fields)? {
        sink.write(written, Some(&hex(&id)), Some(&fields))?;
        written += 1;
    }
    drop(sorted);
    let placeholders = |sink: &mut Sink, written: &mut u64, n: u64| -> Result<(), Error> {
        for _ in 0..n {
            sink.write(*written, None, None)?;
            *written += 1;
        }
        Ok(())
    };
    if plan.side == Side::Server && plan.join.keeps_client_unlinked() && plan.writes_unlinked {
        placeholders(&mut sink, &mut written, plan.client_unlinked)?;
    }
    if own_unlinked {
        target.reopen()?;
        let (source, copier) = target.parts(rows);
        pass(source, &copier, links, |row| {
            if row.id.is_none() && !out.elsewhere(row.row) {
                sink.write(written, None, Some(&row.fields()?))?;
                written += 1;
            }
            Ok(())
        })?;
    }
    if plan.side == Side::Client && plan.join.keeps_server_unlinked() && plan.writes_unlinked {
        placeholders(&mut sink, &mut written, plan.server_unlinked)?;
    }
    sink.persist(out.path)?;
    Ok(written)
}

/// One input row met in a [`pass`].
struct PassRow<'r> {
    row: u32,
    id: Option<[u8; 16]>,
    record: &'r csv::ByteRecord,
    line: u64,
    copier: &'r Copier<'r>,
}

impl PassRow<'_> {
    /// The row's output fields.
    fn fields(&self) -> Result<csv::ByteRecord, Error> {
        self.copier.project(self.record, self.line)
    }
}

/// Reads every input row once, in order, with its link (merged from `links`).
fn pass(
    source: &mut Rows,
    copier: &Copier<'_>,
    links: &[PathBuf],
    mut each: impl FnMut(PassRow<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut merge = LinkMerge::open(links)?;
    let mut next = merge.next_link()?;
    let mut record = csv::ByteRecord::new();
    let mut read = 0usize;
    while let Some(line) = source.next(&mut record)? {
        let row = u32::try_from(read).map_err(|_| Error::TooManyRows {
            path: copier.path().to_path_buf(),
            limit: u64::from(u32::MAX),
        })?;
        let id = match next {
            Some((r, id)) if r == row => {
                next = merge.next_link()?;
                Some(id)
            }
            _ => None,
        };
        each(PassRow {
            row,
            id,
            record: &record,
            line,
            copier,
        })?;
        read += 1;
    }
    if read != copier.rows() {
        return Err(copier.changed(read));
    }
    if let Some((row, _)) = next {
        return Err(Error::NoSuchRow {
            path: copier.path().to_path_buf(),
            row: u64::from(row),
            rows: read as u64,
        });
    }
    Ok(())
}

/// A record of the sort: its key (id, then row big-endian) and its fields.
type Held = ([u8; 20], Vec<u8>);

/// An external sort of records keyed by (id, row): runs sorted in memory,
/// written to `dir`, merged.
struct Sorter {
    dir: PathBuf,
    budget: usize,
    held: Vec<Held>,
    bytes: usize,
    runs: Vec<PathBuf>,
}

fn encode_fields(fields: &csv::ByteRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * fields.len() + fields.as_slice().len());
    out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for f in fields.iter() {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn decode_fields(path: &Path, bytes: &[u8], out: &mut csv::ByteRecord) -> Result<(), Error> {
    out.clear();
    let bad = || damaged(path, "a sorted record is damaged");
    let word = |at: usize| -> Result<usize, Error> {
        let b = bytes.get(at..at + 4).ok_or_else(bad)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = word(0)?;
    let mut at = 4;
    for _ in 0..n {
        let len = word(at)?;
        at += 4;
        out.push_field(bytes.get(at..at + len).ok_or_else(bad)?);
        at += len;
    }
    Ok(())
}

impl Sorter {
    fn new(dir: &Path, budget: usize) -> Self {
        Sorter {
            dir: dir.to_path_buf(),
            budget: budget.max(1),
            held: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
        }
    }

    fn push(&mut self, id: [u8; 16], row: u32, fields: &csv::ByteRecord) -> Result<(), Error> {
        let mut key = [0u8; 20];
        key[..16].copy_from_slice(&id);
        key[16..].copy_from_slice(&row.to_be_bytes());
        let payload = encode_fields(fields);
        self.bytes += payload.len() + HELD_OVERHEAD;
        self.held.push((key, payload));
        if self.bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), Error> {
        self.held.sort_unstable_by_key(|a| a.0);
        let path = self.dir.join(format!("run-{:05}.bin", self.runs.len()));
        let file = File::create(&path).map_err(|e| write_error(&path, e))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        for (key, payload) in self.held.drain(..) {
            w.write_all(&key)
                .and_then(|()| w.write_all(&(payload.len() as u32).to_le_bytes()))
                .and_then(|()| w.write_all(&payload))
                .map_err(|e| write_error(&path, e))?;
        }
        w.flush().map_err(|e| write_error(&path, e))?;
        self.bytes = 0;
        self.runs.push(path);
        Ok(())
    }

    fn finish(mut self) -> Result<Sorted, Error> {
        if self.runs.is_empty() {
            self.held.sort_unstable_by_key(|a| a.0);
            return Ok(Sorted::Held(self.held.into_iter()));
        }
        if !self.held.is_empty() {
            self.spill()?;
        }
        let mut runs = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::with_capacity(self.runs.len());
        for (i, path) in self.runs.into_iter().enumerate() {
            let file = File::open(&path).map_err(|e| read_error(&path, e))?;
            let mut reader = BufReader::with_capacity(MERGE_BUFFER, file);
            if let Some((key, payload)) = read_run_record(&path, &mut reader)? {
                heap.push(Reverse((key, i)));
                runs.push((path, reader, payload));
            } else {
                runs.push((path, reader, Vec::new()));
            }
        }
        Ok(Sorted::Merged { runs, heap })
    }
}

fn read_run_record(path: &Path, r: &mut BufReader<File>) -> Result<Option<Held>, Error> {
    let mut head = [0u8; 24];
    match r.read_exact(&mut head[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(read_error(path, e)),
    }
    r.read_exact(&mut head[1..])
        .map_err(|e| read_error(path, e))?;
    let mut key = [0u8; 20];
    key.copy_from_slice(&head[..20]);
    let len = u32::from_le_bytes([head[20], head[21], head[22], head[23]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)
        .map_err(|e| read_error(path, e))?;
    Ok(Some((key, payload)))
}

type Run = (PathBuf, BufReader<File>, Vec<u8>);

/// The sorted records: still in memory, or merged from runs.
enum Sorted {
    Held(std::vec::IntoIter<Held>),
    Merged {
        runs: Vec<Run>,
        heap: BinaryHeap<Reverse<([u8; 20], usize)>>,
    },
}

impl Sorted {
    /// The next record's id, its fields in `fields`.
    fn next(&mut self, fields: &mut csv::ByteRecord) -> Result<Option<[u8; 16]>, Error> {
        let (key, payload, path) = match self {
            Sorted::Held(it) => match it.next() {
                None => return Ok(None),
                Some((key, payload)) => (key, payload, Path::new("(memory)").to_path_buf()),
            },
            Sorted::Merged { runs, heap } => {
                let Some(Reverse((key, i))) = heap.pop() else {
                    return Ok(None);
                };
                let (path, reader, current) = &mut runs[i];
                let payload = match read_run_record(path, reader)? {
                    Some((next, next_payload)) => {
                        heap.push(Reverse((next, i)));
                        std::mem::replace(current, next_payload)
                    }
                    None => std::mem::take(current),
                };
                (key, payload, path.clone())
            }
        };
        decode_fields(&path, &payload, fields)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&key[..16]);
        Ok(Some(id))
    }
}
