//! Writing result rows: chosen rows of an input table, in any order, with an
//! optional id column and placeholder rows, as CSV (delimiter, header,
//! quoting and the null text configurable) or Parquet (every column a
//! nullable UTF-8 string; placeholders and absent ids are real nulls).
//! Always atomic: a temporary file in the output's directory, renamed into
//! place when complete, so an error never leaves a half-written output.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::source::Rows;
use crate::{Error, KeyedTable};

/// The output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated values (or another delimiter).
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// CSV quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    /// Only fields that need it (the default).
    Necessary,
    /// Every field.
    Always,
    /// Every field that is not a number.
    NonNumeric,
    /// Never (fields with a delimiter or quote are then an error).
    Never,
}

/// How an output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// `None`: Parquet for a `.parquet` extension, else CSV.
    pub format: Option<OutputFormat>,
    /// CSV field delimiter (default `,`).
    pub delimiter: u8,
    /// Whether CSV output has a header row (default yes).
    pub header: bool,
    /// CSV quoting (default: where necessary).
    pub quote: QuoteStyle,
    /// What an absent value is written as in CSV (default: empty).
    pub null: String,
    /// Which input columns, in which order (default: all, in input order).
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

/// One output row: a data row of the input (0-based), or a placeholder of
/// nulls (`row: None`), with an optional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRow {
    /// The input row, or `None` for a row of nulls.
    pub row: Option<usize>,
    /// The id column's value (`None`: null).
    pub id: Option<String>,
}

fn is_parquet_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

impl KeyedTable {
    /// Writes `rows` in the given order to `output`: first, with `id_column`,
    /// a column of that name holding each row's id; then the selected input
    /// columns (nulls for a placeholder). Source rows are read in one pass and
    /// only the needed ones are kept. Returns the rows written.
    pub fn write_output(
        &self,
        rows: &[OutRow],
        id_column: Option<&str>,
        output: &Path,
        options: &OutputOptions,
    ) -> Result<u64, Error> {
        let write_err = |source: io::Error| Error::Write {
            path: output.to_path_buf(),
            source,
        };
        if let (Ok(a), Ok(b)) = (output.canonicalize(), self.path.canonicalize()) {
            if a == b {
                return Err(write_err(io::Error::other(
                    "the output is the input file; refusing to overwrite it",
                )));
            }
        }
        let mut source = Rows::open(&self.path)?;
        let names = source.names()?;
        let selected: Vec<usize> = match &options.columns {
            None => (0..names.len()).collect(),
            Some(cols) => {
                cols.iter()
                    .map(|c| {
                        names.iter().position(|n| n == c.trim()).ok_or_else(|| {
                            Error::MissingColumn {
                                path: self.path.clone(),
                                column: c.clone(),
                                available: names.join(", "),
                            }
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        // The needed rows, read in one pass.
        let mut wanted: HashMap<usize, Vec<Vec<u8>>> = rows
            .iter()
            .filter_map(|r| r.row)
            .map(|r| (r, Vec::new()))
            .collect();
        let mut record = csv::ByteRecord::new();
        let mut row = 0usize;
        while source.next(&mut record)?.is_some() {
            if let Some(slot) = wanted.get_mut(&row) {
                *slot = selected
                    .iter()
                    .map(|&i| record.get(i).unwrap_or_default().to_vec())
                    .collect();
            }
            row += 1;
        }
        if let Some(missing) = rows.iter().filter_map(|r| r.row).find(|&r| r >= row) {
            return Err(Error::Changed {
                path: self.path.clone(),
                expected: missing as u64 + 1,
                found: row as u64,
            });
        }
        let mut header: Vec<String> = Vec::new();
        if let Some(id) = id_column {
            header.push(id.to_string());
        }
        header.extend(selected.iter().map(|&i| names[i].clone()));
        let cells = |r: &OutRow| -> Vec<Option<Vec<u8>>> {
            let mut out = Vec::with_capacity(header.len());
            if id_column.is_some() {
                out.push(r.id.as_ref().map(|s| s.as_bytes().to_vec()));
            }
            match r.row.and_then(|i| wanted.get(&i)) {
                Some(values) => out.extend(values.iter().map(|v| Some(v.clone()))),
                None => out.extend(selected.iter().map(|_| None)),
            }
            out
        };
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".psi-output-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(write_err)?;
        let parquet = match options.format {
            Some(f) => f == OutputFormat::Parquet,
            None => is_parquet_name(output),
        };
        let file = tmp.reopen().map_err(write_err)?;
        if parquet {
            let columns: Vec<ArrayRef> = (0..header.len())
                .map(|c| {
                    let values: Vec<Option<String>> = rows
                        .iter()
                        .map(|r| {
                            cells(r)[c]
                                .as_ref()
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                        })
                        .collect();
                    Arc::new(StringArray::from(values)) as ArrayRef
                })
                .collect();
            let schema = Arc::new(Schema::new(
                header
                    .iter()
                    .map(|h| Field::new(h, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let batch = RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| write_err(io::Error::other(e.to_string())))?;
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None)
                .map_err(|e| write_err(io::Error::other(e.to_string())))?;
            writer
                .write(&batch)
                .map_err(|e| write_err(io::Error::other(e.to_string())))?;
            writer
                .close()
                .map_err(|e| write_err(io::Error::other(e.to_string())))?;
        } else {
            let quote = match options.quote {
                QuoteStyle::Necessary => csv::QuoteStyle::Necessary,
                QuoteStyle::Always => csv::QuoteStyle::Always,
                QuoteStyle::NonNumeric => csv::QuoteStyle::NonNumeric,
                QuoteStyle::Never => csv::QuoteStyle::Never,
            };
            let mut writer = csv::WriterBuilder::new()
                .delimiter(options.delimiter)
                .quote_style(quote)
                .from_writer(io::BufWriter::with_capacity(1 << 16, file));
            let to_write = |e: csv::Error| match e.into_kind() {
                csv::ErrorKind::Io(source) => write_err(source),
                other => write_err(io::Error::other(format!("{other:?}"))),
            };
            if options.header {
                writer.write_record(&header).map_err(to_write)?;
            }
            let null = options.null.as_bytes();
            for r in rows {
                let line = cells(r);
                writer
                    .write_record(line.iter().map(|c| c.as_deref().unwrap_or(null)))
                    .map_err(to_write)?;
            }
            writer.flush().map_err(write_err)?;
        }
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(output).map_err(|e| write_err(e.error))?;
        Ok(rows.len() as u64)
    }
}
