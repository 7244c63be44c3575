//! Writing result rows: chosen data rows of a table, in any order and as
//! often as asked, with an optional id column and placeholder rows of nulls,
//! as CSV or Parquet ([`KeyedTable::write_output`]).
//!
//! # Formats
//! - **CSV**: delimiter, header row, quoting and the text of an absent value
//!   are [`OutputOptions`]. A field is written as the input held it, byte for
//!   byte (a Parquet input's cells as their text, see the crate doc; its
//!   nulls were read as empty strings and stay empty, they are not absent).
//! - **Parquet**: every column is a nullable UTF-8 string (`Utf8`), whatever
//!   its type in the input; placeholders and absent ids are real nulls. Column
//!   names are the input's header names trimmed of white space. Snappy
//!   compression. The CSV options other than `columns` do not apply.
//!
//! # One pass, bounded memory
//! The input is read once. When the output's source rows come in input order
//! (each at least the one before, as for the matching rows of a run) every row
//! is copied as it is read. Otherwise only the rows the output needs, and only
//! their selected columns, are kept in memory, then written in the asked
//! order. Placeholder rows are never kept: with
//! [`KeyedTable::write_output_from`] the rows are made on demand, so a long
//! run of placeholders costs no memory.
//!
//! # Atomic
//! Every option, column and row is checked before anything is created; the
//! output is written to a temporary file in its directory and renamed into
//! place only when complete, so an error never leaves a half-written (or any)
//! output. An output that is the input file itself is refused.

use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tempfile::NamedTempFile;

use crate::source::{is_parquet, Rows};
use crate::{Error, KeyedTable};

/// The output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Delimited text with an optional header row.
    Csv,
    /// Apache Parquet, every column a nullable UTF-8 string.
    Parquet,
}

impl OutputFormat {
    /// The format a file name implies: Parquet for a `.parquet` extension
    /// (any case), else CSV.
    pub fn from_path(path: &Path) -> Self {
        if is_parquet(path) {
            OutputFormat::Parquet
        } else {
            OutputFormat::Csv
        }
    }
}

/// When a CSV field is put in double quotes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QuoteStyle {
    /// Only when it must be: the field holds the delimiter, a quote or a line
    /// break, or is the only, empty field of a row (the default).
    #[default]
    Necessary,
    /// Every field.
    Always,
    /// Every field that does not parse as a number (so empty fields too),
    /// and any numeric field that must be.
    NonNumeric,
    /// Never. A field that would need quotes is then an error
    /// ([`Error::NeedsQuotes`]) rather than a broken file.
    Never,
}

/// How [`KeyedTable::write_output`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// The format; `None` (the default) picks it from the output's extension
    /// ([`OutputFormat::from_path`]).
    pub format: Option<OutputFormat>,
    /// CSV field delimiter, one ASCII byte other than a quote or line break
    /// (default `,`).
    pub delimiter: u8,
    /// Whether CSV output starts with a header row (default `true`).
    pub header: bool,
    /// CSV quoting (default [`QuoteStyle::Necessary`]).
    pub quote: QuoteStyle,
    /// What an absent value (a placeholder row's fields, a missing id) is
    /// written as in CSV (default: empty). Parquet writes nulls.
    pub null: String,
    /// Which input columns, in which order (names matched after trimming;
    /// a column may be named twice). `None` (the default): all, in input
    /// order. An unknown name is [`Error::MissingColumn`].
    pub columns: Option<Vec<String>>,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            format: None,
            delimiter: b',',
            header: true,
            quote: QuoteStyle::Necessary,
            null: String::new(),
            columns: None,
        }
    }
}

/// One output row: a source data row (0-based) or a placeholder row of
/// nulls (`row: None`), with an optional id value (`None`: null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRow {
    /// The input's data row, or `None` for a row of nulls.
    pub row: Option<usize>,
    /// The value of the id column, if there is one (`None`: null).
    pub id: Option<String>,
}

/// Rows per Parquet batch handed to the writer.
const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group: the writer holds one row group in memory.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Marks a data row that the output does not need.
const NOT_NEEDED: u32 = u32::MAX;

impl KeyedTable {
    /// Writes `rows` in the given order: if `id_column` is `Some(name)`, a
    /// first column `name` holding each row's id (null if `None`); then the
    /// selected input columns (nulls for a placeholder row). See the module
    /// doc of [`output`](crate::output) for formats and memory. Atomic (temporary file in the
    /// same directory, then rename); returns the rows written.
    pub fn write_output(
        &self,
        rows: &[OutRow],
        id_column: Option<&str>,
        output: &Path,
        options: &OutputOptions,
    ) -> Result<u64, Error> {
        let plan = rows.iter().map(|r| (r.row, r.id.as_deref()));
        write_plan(
            &self.path,
            self.row_items.len(),
            plan,
            id_column,
            output,
            options,
        )
    }

    /// [`Self::write_output`] over rows made on demand: `rows` is walked a
    /// few times (to check it, to find the source rows it needs, to write),
    /// each time from a fresh clone, so a long run of placeholder rows costs
    /// no memory when the iterator makes them as it goes.
    pub fn write_output_from<I>(
        &self,
        rows: I,
        id_column: Option<&str>,
        output: &Path,
        options: &OutputOptions,
    ) -> Result<u64, Error>
    where
        I: Iterator<Item = OutRow> + Clone,
    {
        let plan = rows.map(|r| (r.row, r.id));
        write_plan(
            &self.path,
            self.row_items.len(),
            plan,
            id_column,
            output,
            options,
        )
    }

    /// Writes the header and the rows flagged in `keep` (from
    /// [`Self::matched_rows`]) to `output` as CSV, field for field as in the
    /// input, in input order, streaming. The output appears atomically: it is
    /// written to a temporary file beside it and renamed into place only when
    /// complete. It is [`Self::write_output`] with default options (but
    /// always CSV), without an id column.
    pub fn write_rows(&self, keep: &[bool], output: &Path) -> Result<u64, Error> {
        let plan = keep
            .iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(row, _)| (Some(row), None::<&str>));
        let options = OutputOptions {
            format: Some(OutputFormat::Csv),
            ..OutputOptions::default()
        };
        write_plan(
            &self.path,
            self.row_items.len(),
            plan,
            None,
            output,
            &options,
        )
    }
}

/// Writes the rows of `input` (a table of `rows` data rows) whose flag is set,
/// in input order, with every column (or the columns of `options`), without
/// holding the table: the output of a bucketed run, whose rows were chosen
/// bucket by bucket. Atomic, as [`KeyedTable::write_output`]; returns the rows
/// written.
pub fn write_flagged(
    input: &Path,
    rows: usize,
    flags: &[u64],
    output: &Path,
    options: &OutputOptions,
) -> Result<u64, Error> {
    let plan = (0..rows)
        .filter(|&r| flags.get(r / 64).is_some_and(|w| w >> (r % 64) & 1 == 1))
        .map(|r| (Some(r), None::<&str>));
    write_plan(input, rows, plan, None, output, options)
}

/// Writes `plan`, a re-iterable list of (row, id), from `input`.
fn write_plan<I, S>(
    input: &Path,
    table_rows: usize,
    plan: I,
    id_column: Option<&str>,
    output: &Path,
    options: &OutputOptions,
) -> Result<u64, Error>
where
    I: Iterator<Item = (Option<usize>, Option<S>)> + Clone,
    S: AsRef<str>,
{
    if let Some(sink) = crate::memory::output(output) {
        let columns = options.columns.as_deref();
        return crate::memory::write_plan(
            input, table_rows, plan, id_column, output, columns, &sink,
        );
    }
    let format = options
        .format
        .unwrap_or_else(|| OutputFormat::from_path(output));
    if format == OutputFormat::Csv {
        check_delimiter(options.delimiter)?;
    }
    if same_file(input, output) {
        return Err(Error::OutputIsInput {
            path: output.to_path_buf(),
        });
    }
    let mut target = Target::open(input, id_column, output, options, format)?;
    let mut sorted = true;
    let mut previous = 0usize;
    for (row, _) in plan.clone() {
        let Some(row) = row else { continue };
        if row >= table_rows {
            return Err(Error::NoSuchRow {
                path: input.to_path_buf(),
                row: row as u64,
                rows: table_rows as u64,
            });
        }
        sorted &= row >= previous;
        previous = row;
    }
    let mut sink = target.create_sink()?;
    let (source, copier) = target.parts(table_rows);
    let written = if sorted {
        copier.stream(source, plan, &mut sink)?
    } else {
        copier.buffered(source, plan, &mut sink)?
    };
    sink.persist(output)?;
    Ok(written)
}

/// An output being opened: the input's reader with the output's columns
/// selected, and what the sink needs. Every option and column is checked
/// by [`Target::open`], before anything is created.
pub(crate) struct Target<'i> {
    input: &'i Path,
    output: std::path::PathBuf,
    pub(crate) source: Rows,
    names: Vec<String>,
    selected: Vec<usize>,
    header: Vec<Vec<u8>>,
    format: OutputFormat,
    options: OutputOptions,
    id_column: Option<String>,
}

impl<'i> Target<'i> {
    /// Checks `options` against `input`'s columns and opens the input.
    pub(crate) fn open(
        input: &'i Path,
        id_column: Option<&str>,
        output: &Path,
        options: &OutputOptions,
        format: OutputFormat,
    ) -> Result<Self, Error> {
        let mut source = Rows::open(input)?;
        let names = source.names()?;
        let selected: Vec<usize> = match &options.columns {
            None => (0..names.len()).collect(),
            Some(columns) => columns
                .iter()
                .map(|c| {
                    names
                        .iter()
                        .position(|n| n == c.trim())
                        .ok_or_else(|| Error::MissingColumn {
                            path: input.to_path_buf(),
                            column: c.trim().to_string(),
                            available: names.join(", "),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        if selected.is_empty() && id_column.is_none() {
            return Err(Error::BadOption {
                option: "columns",
                reason: "no column to write (select at least one, or an id column)",
            });
        }
        source.select(&selected)?;

        let mut header: Vec<Vec<u8>> = Vec::with_capacity(selected.len() + 1);
        if let Some(id) = id_column {
            header.push(id.as_bytes().to_vec());
        }
        for &c in &selected {
            header.push(match format {
                OutputFormat::Csv => source.header().get(c).unwrap_or_default().to_vec(),
                OutputFormat::Parquet => names[c].as_bytes().to_vec(),
            });
        }
        Ok(Target {
            input,
            output: output.to_path_buf(),
            source,
            names,
            selected,
            header,
            format,
            options: options.clone(),
            id_column: id_column.map(str::to_string),
        })
    }

    /// Creates the temporary file beside the output and writes the header.
    pub(crate) fn create_sink(&self) -> Result<Sink, Error> {
        let output = self.output.as_path();
        let id_column = self.id_column.as_deref();
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".psi-output-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|source| write_error(output, source))?;
        Ok(match self.format {
            OutputFormat::Csv => Sink::Csv(Box::new(CsvSink::new(
                tmp,
                output,
                &self.options,
                id_column,
                &self.header,
            )?)),
            OutputFormat::Parquet => Sink::Parquet(Box::new(ParquetSink::new(
                tmp,
                output,
                id_column,
                &self.header,
            )?)),
        })
    }

    /// Opens the input again, for another pass.
    pub(crate) fn reopen(&mut self) -> Result<(), Error> {
        let mut source = Rows::open(self.input)?;
        source.names()?;
        source.select(&self.selected)?;
        self.source = source;
        Ok(())
    }

    /// The reader and a copier of `rows` data rows.
    pub(crate) fn parts(&mut self, rows: usize) -> (&mut Rows, Copier<'_>) {
        (
            &mut self.source,
            Copier {
                path: self.input,
                rows,
                selected: &self.selected,
                names: &self.names,
                utf8: self.format == OutputFormat::Parquet,
            },
        )
    }
}

fn write_error(output: &Path, source: io::Error) -> Error {
    Error::Write {
        path: output.to_path_buf(),
        source,
    }
}

pub(crate) fn check_delimiter(delimiter: u8) -> Result<(), Error> {
    if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\n' | b'\r') {
        return Err(Error::BadOption {
            option: "delimiter",
            reason: "must be one ASCII character other than a double quote or a line break",
        });
    }
    Ok(())
}

/// Whether `output` is the same file as `input` (through any path, symbolic
/// or, on Unix, hard link). An output that does not exist yet is not.
pub(crate) fn same_file(input: &Path, output: &Path) -> bool {
    let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) else {
        return false;
    };
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// Copies source rows to a sink.
pub(crate) struct Copier<'t> {
    /// The input file and its data rows.
    path: &'t Path,
    rows: usize,
    /// Header positions of the output's input columns, in output order.
    selected: &'t [usize],
    names: &'t [String],
    /// Whether every copied field must be UTF-8 (Parquet output).
    utf8: bool,
}

impl Copier<'_> {
    /// The input file.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// The input's data rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The selected fields of `record` (read at `line`).
    pub(crate) fn project(
        &self,
        record: &csv::ByteRecord,
        line: u64,
    ) -> Result<csv::ByteRecord, Error> {
        let mut out = csv::ByteRecord::with_capacity(record.as_slice().len(), self.selected.len());
        for &c in self.selected {
            let field = record.get(c).unwrap_or_default();
            if self.utf8 && std::str::from_utf8(field).is_err() {
                return Err(Error::NotUtf8 {
                    path: self.path.to_path_buf(),
                    line,
                    column: self.names[c].clone(),
                });
            }
            out.push_field(field);
        }
        Ok(out)
    }

    pub(crate) fn changed(&self, found: usize) -> Error {
        Error::Changed {
            path: self.path.to_path_buf(),
            expected: self.rows as u64,
            found: found as u64,
        }
    }

    /// Reads the rest of `source` and checks the row count.
    pub(crate) fn finish_source(&self, source: &mut Rows, mut read: usize) -> Result<(), Error> {
        let mut record = csv::ByteRecord::new();
        while source.next(&mut record)?.is_some() {
            read += 1;
        }
        if read != self.rows {
            return Err(self.changed(read));
        }
        Ok(())
    }

    /// Source rows in input order: copy each as it is read.
    fn stream<S: AsRef<str>>(
        &self,
        source: &mut Rows,
        plan: impl Iterator<Item = (Option<usize>, Option<S>)>,
        sink: &mut Sink,
    ) -> Result<u64, Error> {
        let mut record = csv::ByteRecord::new();
        // The last row read that the output needs, and its fields.
        let mut current: Option<(usize, csv::ByteRecord)> = None;
        let mut read = 0usize;
        let mut written = 0u64;
        for (row, id) in plan {
            let fields = match row {
                None => None,
                Some(row) => {
                    while current.as_ref().is_none_or(|(r, _)| *r != row) {
                        let line = source
                            .next(&mut record)?
                            .ok_or_else(|| self.changed(read))?;
                        if read == row {
                            current = Some((row, self.project(&record, line)?));
                        }
                        read += 1;
                    }
                    current.as_ref().map(|(_, fields)| fields)
                }
            };
            sink.write(written, id.as_ref().map(AsRef::as_ref), fields)?;
            written += 1;
        }
        self.finish_source(source, read)?;
        Ok(written)
    }

    /// Source rows in any order: keep the needed ones, then write.
    fn buffered<S: AsRef<str>>(
        &self,
        source: &mut Rows,
        plan: impl Iterator<Item = (Option<usize>, Option<S>)> + Clone,
        sink: &mut Sink,
    ) -> Result<u64, Error> {
        // Per data row: its slot among the kept rows, or NOT_NEEDED.
        let mut slot_of = vec![NOT_NEEDED; self.rows];
        let mut slots = 0u32;
        for row in plan.clone().filter_map(|(row, _)| row) {
            if let Some(slot) = slot_of.get_mut(row) {
                if *slot == NOT_NEEDED {
                    *slot = slots;
                    slots += 1;
                }
            }
        }
        let mut kept: Vec<Option<csv::ByteRecord>> = vec![None; slots as usize];
        let mut record = csv::ByteRecord::new();
        let mut read = 0usize;
        while let Some(line) = source.next(&mut record)? {
            if let Some(&slot) = slot_of.get(read) {
                if slot != NOT_NEEDED {
                    kept[slot as usize] = Some(self.project(&record, line)?);
                }
            }
            read += 1;
        }
        if read != self.rows {
            return Err(self.changed(read));
        }
        let mut written = 0u64;
        for (row, id) in plan {
            let fields = match row {
                None => None,
                Some(row) => {
                    let slot = slot_of.get(row).copied().unwrap_or(NOT_NEEDED);
                    let fields = kept.get(slot as usize).and_then(Option::as_ref);
                    Some(fields.ok_or_else(|| self.changed(read))?)
                }
            };
            sink.write(written, id.as_ref().map(AsRef::as_ref), fields)?;
            written += 1;
        }
        Ok(written)
    }
}

/// Where output rows go.
pub(crate) enum Sink {
    Csv(Box<CsvSink>),
    Parquet(Box<ParquetSink>),
}

impl Sink {
    /// Writes output row `index` (0-based): the id (when there is an id
    /// column), then `fields`, or nulls for a placeholder.
    pub(crate) fn write(
        &mut self,
        index: u64,
        id: Option<&str>,
        fields: Option<&csv::ByteRecord>,
    ) -> Result<(), Error> {
        match self {
            Sink::Csv(s) => s.write(index, id, fields),
            Sink::Parquet(s) => s.write(id, fields),
        }
    }

    fn finish(self) -> Result<NamedTempFile, Error> {
        match self {
            Sink::Csv(s) => s.finish(),
            Sink::Parquet(s) => s.finish(),
        }
    }

    /// Finishes the file, syncs it and renames it to `output`.
    pub(crate) fn persist(self, output: &Path) -> Result<(), Error> {
        let tmp = self.finish()?;
        tmp.as_file()
            .sync_all()
            .map_err(|source| write_error(output, source))?;
        tmp.persist(output)
            .map_err(|e| write_error(output, e.error))?;
        Ok(())
    }
}

pub(crate) struct CsvSink {
    writer: csv::Writer<BufWriter<NamedTempFile>>,
    output: std::path::PathBuf,
    has_id: bool,
    /// Input columns per row (the header's width without the id).
    width: usize,
    null: Vec<u8>,
    /// With [`QuoteStyle::Never`]: the delimiter, to refuse fields that
    /// would need quotes; and the column names for that message.
    unquoted: Option<(u8, Vec<String>)>,
}

impl CsvSink {
    fn new(
        tmp: NamedTempFile,
        output: &Path,
        options: &OutputOptions,
        id_column: Option<&str>,
        header: &[Vec<u8>],
    ) -> Result<Self, Error> {
        let quote = match options.quote {
            QuoteStyle::Necessary => csv::QuoteStyle::Necessary,
            QuoteStyle::Always => csv::QuoteStyle::Always,
            QuoteStyle::NonNumeric => csv::QuoteStyle::NonNumeric,
            QuoteStyle::Never => csv::QuoteStyle::Never,
        };
        let writer = csv::WriterBuilder::new()
            .flexible(false)
            .delimiter(options.delimiter)
            .quote_style(quote)
            .from_writer(BufWriter::with_capacity(1 << 16, tmp));
        let unquoted = (options.quote == QuoteStyle::Never).then(|| {
            let names = header
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .collect();
            (options.delimiter, names)
        });
        let mut sink = CsvSink {
            writer,
            output: output.to_path_buf(),
            has_id: id_column.is_some(),
            width: header.len() - usize::from(id_column.is_some()),
            null: options.null.as_bytes().to_vec(),
            unquoted,
        };
        if options.header {
            sink.check_unquoted(0, header.iter().map(Vec::as_slice))?;
            sink.writer
                .write_record(header)
                .map_err(|e| csv_write_error(&sink.output, e))?;
        }
        Ok(sink)
    }

    /// With [`QuoteStyle::Never`], refuses a field that needs quotes.
    fn check_unquoted<'f>(
        &self,
        row: u64,
        fields: impl Iterator<Item = &'f [u8]>,
    ) -> Result<(), Error> {
        let Some((delimiter, names)) = &self.unquoted else {
            return Ok(());
        };
        for (c, field) in fields.enumerate() {
            if field
                .iter()
                .any(|b| matches!(*b, b'"' | b'\n' | b'\r') || b == delimiter)
            {
                return Err(Error::NeedsQuotes {
                    path: self.output.clone(),
                    row,
                    column: names.get(c).cloned().unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    fn write(
        &mut self,
        index: u64,
        id: Option<&str>,
        fields: Option<&csv::ByteRecord>,
    ) -> Result<(), Error> {
        let null = self.null.as_slice();
        let id = self
            .has_id
            .then(|| id.map_or(null, str::as_bytes))
            .into_iter();
        let width = self.width;
        let record: Vec<&[u8]> = match fields {
            Some(fields) => id.chain(fields.iter()).collect(),
            None => id.chain(std::iter::repeat_n(null, width)).collect(),
        };
        self.check_unquoted(index + 1, record.iter().copied())?;
        self.writer
            .write_record(&record)
            .map_err(|e| csv_write_error(&self.output, e))
    }

    fn finish(self) -> Result<NamedTempFile, Error> {
        let buffered = self
            .writer
            .into_inner()
            .map_err(|e| write_error(&self.output, io::Error::other(e.to_string())))?;
        buffered
            .into_inner()
            .map_err(|e| write_error(&self.output, io::Error::other(e.to_string())))
    }
}

fn csv_write_error(output: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => write_error(output, source),
        other => write_error(output, io::Error::other(format!("{other:?}"))),
    }
}

pub(crate) struct ParquetSink {
    writer: ArrowWriter<NamedTempFile>,
    output: std::path::PathBuf,
    schema: SchemaRef,
    has_id: bool,
    columns: Vec<StringBuilder>,
    pending: usize,
}

impl ParquetSink {
    fn new(
        tmp: NamedTempFile,
        output: &Path,
        id_column: Option<&str>,
        header: &[Vec<u8>],
    ) -> Result<Self, Error> {
        let fields: Vec<Field> = header
            .iter()
            .map(|h| Field::new(String::from_utf8_lossy(h), DataType::Utf8, true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(tmp, schema.clone(), Some(props))
            .map_err(|e| write_error(output, io::Error::other(e)))?;
        Ok(ParquetSink {
            writer,
            output: output.to_path_buf(),
            columns: (0..header.len()).map(|_| StringBuilder::new()).collect(),
            schema,
            has_id: id_column.is_some(),
            pending: 0,
        })
    }

    fn write(&mut self, id: Option<&str>, fields: Option<&csv::ByteRecord>) -> Result<(), Error> {
        let mut columns = self.columns.iter_mut();
        if self.has_id {
            if let Some(column) = columns.next() {
                column.append_option(id);
            }
        }
        match fields {
            Some(fields) => {
                for (column, field) in columns.zip(fields.iter()) {
                    // Checked when the row was read (`Copier::project`).
                    match std::str::from_utf8(field) {
                        Ok(text) => column.append_value(text),
                        Err(_) => column.append_null(),
                    }
                }
            }
            None => columns.for_each(StringBuilder::append_null),
        }
        self.pending += 1;
        if self.pending >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| write_error(&self.output, io::Error::other(e)))?;
        self.writer
            .write(&batch)
            .map_err(|e| write_error(&self.output, io::Error::other(e)))?;
        self.pending = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<NamedTempFile, Error> {
        self.flush()?;
        self.writer
            .into_inner()
            .map_err(|e| write_error(&self.output, io::Error::other(e)))
    }
}
