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
//!
//! # Files
//! This file holds the options and the entry points; `rows.rs` checks a list
//! of rows and copies them from the input (in input order or buffered,
//! placeholders made as they come); `target.rs` opens the output and writes it
//! as CSV or Parquet through a temporary file.

use std::path::Path;

use crate::source::is_parquet;
use crate::{Error, KeyedTable};

mod rows;
mod target;

pub(crate) use rows::Copier;
pub(crate) use target::{check_delimiter, same_file, Sink, Target};

use rows::write_plan;

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
