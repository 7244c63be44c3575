//! The output file: its columns and header checked against the input, a
//! temporary file beside it written as CSV or Parquet, synced and renamed
//! into place only when complete.

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

use super::rows::Copier;
use super::{OutputFormat, OutputOptions, QuoteStyle};
use crate::source::Rows;
use crate::{write_error, Error};

/// Rows per Parquet batch handed to the writer.
const BATCH_ROWS: usize = 8192;
/// Rows per Parquet row group: the writer holds one row group in memory.
const ROW_GROUP_ROWS: usize = 128 * 1024;

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
            Copier::new(
                self.input,
                rows,
                &self.selected,
                &self.names,
                self.format == OutputFormat::Parquet,
            ),
        )
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
