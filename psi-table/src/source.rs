//! Where rows come from: a CSV file, or a Parquet file when the name ends in
//! `.parquet` (any case). Either way a table is read as a stream of text
//! records ([`csv::ByteRecord`]), so keys, values and copied rows are handled
//! by the same code whatever the format.
//!
//! # Parquet cells as text
//! A Parquet file is read with the arrow reader, a batch of rows at a time,
//! decoding only the columns asked for ([`Rows::select`]); the other fields of
//! a record are empty. Each cell becomes the text a CSV export would hold:
//! - strings as they are; binary as its bytes (a key must still be UTF-8);
//! - integers and decimals in base 10 (`12.50` for a decimal of scale 2);
//! - floats in Rust's shortest form that reads back exactly (`0.1`, `2`,
//!   `NaN`, `inf`);
//! - booleans `true` / `false`;
//! - dates `YYYY-MM-DD`; times `HH:MM:SS[.fraction]`; timestamps
//!   `YYYY-MM-DDTHH:MM:SS[.fraction]`, with `Z` when the column has a time
//!   zone (the stored instant is UTC). A fraction is written only when it is
//!   not zero, without trailing zeros;
//! - dictionary-encoded columns as their values;
//! - a null as the empty string (so a null key part is an empty key).
//!
//! Any other type (lists, structs, maps, durations, intervals, half floats)
//! in a column that is read is [`Error::UnsupportedType`].
//!
//! # Positions
//! A record's position is a `line`, 1-based with the header as line 1, as in
//! a CSV file. For a Parquet file that is the data row + 1, and messages say
//! `row N` (the 1-based data row) instead: see [`at`].

use std::fs::File;
use std::io::{self, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::memory::MemoryInput;
use crate::Error;

/// Rows per Parquet batch: large enough to amortise decoding, small enough
/// that a batch of a few text columns stays in the low megabytes.
const PARQUET_BATCH_ROWS: usize = 8192;

/// Whether `path` is read and written as Parquet (its extension is
/// `parquet`, in any case).
pub(crate) fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// A record's position in words: `line N` in a CSV file, `row N` (the
/// 1-based data row, i.e. `line - 1`) in a Parquet file.
pub(crate) fn at(path: &Path, line: u64) -> String {
    if !is_parquet(path) && !crate::memory::is_input(path) {
        format!("line {line}")
    } else if line <= 1 {
        "schema".to_string()
    } else {
        format!("row {}", line - 1)
    }
}

/// A table opened for one streaming pass.
pub(crate) struct Rows {
    path: PathBuf,
    /// The header as written (untrimmed).
    header: csv::ByteRecord,
    kind: Kind,
    /// Data rows read so far.
    rows: u64,
}

enum Kind {
    Csv(csv::Reader<BufReader<File>>),
    Parquet(Box<ParquetRows>),
}

impl Rows {
    /// Opens `path` and reads its header (a Parquet file's column names).
    /// A path registered in [`crate::memory`] is read from memory, as a
    /// Parquet file would be.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        if let Some(table) = crate::memory::input(path) {
            return Self::batches(path, ParquetRows::memory(table));
        }
        let file = File::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let (header, kind) = if is_parquet(path) {
            return Self::batches(path, ParquetRows::open(path, file)?);
        } else {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(BufReader::with_capacity(1 << 16, file));
            let mut header = csv::ByteRecord::new();
            if !reader
                .read_byte_record(&mut header)
                .map_err(|e| csv_error(path, e))?
            {
                return Err(Error::Empty {
                    path: path.to_path_buf(),
                });
            }
            (header, Kind::Csv(reader))
        };
        Ok(Rows {
            path: path.to_path_buf(),
            header,
            kind,
            rows: 0,
        })
    }

    /// Rows of record batches (a Parquet file, or a table in memory).
    fn batches(path: &Path, parquet: ParquetRows) -> Result<Self, Error> {
        let mut header = csv::ByteRecord::new();
        for field in parquet.schema.fields() {
            header.push_field(field.name().as_bytes());
        }
        if header.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Rows {
            path: path.to_path_buf(),
            header,
            kind: Kind::Parquet(Box::new(parquet)),
            rows: 0,
        })
    }

    /// The header fields as written.
    pub(crate) fn header(&self) -> &csv::ByteRecord {
        &self.header
    }

    /// The header names, trimmed of white space.
    pub(crate) fn names(&self) -> Result<Vec<String>, Error> {
        self.header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                std::str::from_utf8(h)
                    .map(|s| s.trim().to_string())
                    .map_err(|_| Error::NotUtf8 {
                        path: self.path.clone(),
                        line: 1,
                        column: format!("#{}", i + 1),
                    })
            })
            .collect()
    }

    /// The header position of `column` (compared with trimmed names), or
    /// [`Error::MissingColumn`] listing the columns there are.
    pub(crate) fn position(&self, column: &str) -> Result<usize, Error> {
        let names = self.names()?;
        names
            .iter()
            .position(|n| n == column)
            .ok_or_else(|| Error::MissingColumn {
                path: self.path.clone(),
                column: column.to_string(),
                available: names.join(", "),
            })
    }

    /// Reads only `columns` (header positions) from now on; the other fields
    /// of each record are empty. Only a Parquet file saves work by it, and
    /// only there is a column's type checked: one that cannot be read as
    /// text is [`Error::UnsupportedType`]. Call before the first
    /// [`Self::next`]; without a call every column is read.
    pub(crate) fn select(&mut self, columns: &[usize]) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Csv(_) => Ok(()),
            Kind::Parquet(p) => p.select(&self.path, columns),
        }
    }

    /// Reads the next data row into `record`; returns its line (see the
    /// module doc), or `None` at the end.
    pub(crate) fn next(&mut self, record: &mut csv::ByteRecord) -> Result<Option<u64>, Error> {
        let line = match &mut self.kind {
            Kind::Csv(reader) => {
                if !reader
                    .read_byte_record(record)
                    .map_err(|e| csv_error(&self.path, e))?
                {
                    return Ok(None);
                }
                let line = record.position().map(|p| p.line()).unwrap_or(self.rows + 2);
                if record.len() != self.header.len() {
                    return Err(Error::Ragged {
                        path: self.path.clone(),
                        line,
                        expected: self.header.len() as u64,
                        found: record.len() as u64,
                    });
                }
                line
            }
            Kind::Parquet(p) => {
                if !p.next(&self.path, self.header.len(), record)? {
                    return Ok(None);
                }
                self.rows + 2
            }
        };
        self.rows += 1;
        Ok(Some(line))
    }
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Open {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("{other:?}"),
        },
    }
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> Error {
    let mut message = e.to_string();
    // Only Snappy is compiled in (see Cargo.toml for the cost of the others).
    if message.contains("Disabled feature at compile time") {
        message.push_str(" (psi reads uncompressed or Snappy-compressed Parquet; rewrite the file with Snappy or as CSV)");
    }
    Error::Parquet {
        path: path.to_path_buf(),
        message,
    }
}

/// A Parquet file read a batch at a time.
struct ParquetRows {
    schema: SchemaRef,
    /// Until the first row is read.
    builder: Option<ParquetRecordBatchReaderBuilder<File>>,
    /// Until the first row is read: a table in memory.
    memory: Option<Arc<MemoryInput>>,
    reader: Option<Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>>,
    /// The columns read, ascending: the batch's column `j` is header
    /// position `selected[j]`.
    selected: Vec<usize>,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    next_row: usize,
    cell: Vec<u8>,
}

impl ParquetRows {
    fn open(path: &Path, file: File) -> Result<Self, Error> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| parquet_error(path, e))?
            .with_batch_size(PARQUET_BATCH_ROWS);
        let schema = builder.schema().clone();
        let selected = (0..schema.fields().len()).collect();
        Ok(ParquetRows {
            schema,
            builder: Some(builder),
            memory: None,
            reader: None,
            selected,
            batch: None,
            next_row: 0,
            cell: Vec::new(),
        })
    }

    /// Record batches in memory, read as a Parquet file's.
    fn memory(table: Arc<MemoryInput>) -> Self {
        let schema = table.schema();
        ParquetRows {
            selected: (0..schema.fields().len()).collect(),
            schema,
            builder: None,
            memory: Some(table),
            reader: None,
            batch: None,
            next_row: 0,
            cell: Vec::new(),
        }
    }

    fn select(&mut self, path: &Path, columns: &[usize]) -> Result<(), Error> {
        let fields = self.schema.fields();
        let mut selected: Vec<usize> = columns
            .iter()
            .copied()
            .filter(|&c| c < fields.len())
            .collect();
        selected.sort_unstable();
        selected.dedup();
        // Rows are counted from the decoded columns, so read at least one
        // (the narrowest decodes fastest, but any will do).
        if selected.is_empty() && !fields.is_empty() {
            selected.push(0);
        }
        for &c in &selected {
            check_type(path, fields[c].name(), fields[c].data_type())?;
        }
        self.selected = selected;
        Ok(())
    }

    /// Fills `record` with the next row (`width` fields); false at the end.
    fn next(
        &mut self,
        path: &Path,
        width: usize,
        record: &mut csv::ByteRecord,
    ) -> Result<bool, Error> {
        if let Some(builder) = self.builder.take() {
            for &c in &self.selected {
                let field = &self.schema.fields()[c];
                check_type(path, field.name(), field.data_type())?;
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), self.selected.clone());
            let reader = builder
                .with_projection(mask)
                .build()
                .map_err(|e| parquet_error(path, e))?;
            self.reader = Some(Box::new(reader));
        }
        if let Some(table) = self.memory.take() {
            for &c in &self.selected {
                let field = &self.schema.fields()[c];
                check_type(path, field.name(), field.data_type())?;
            }
            self.reader = Some(Box::new(table.batches(self.selected.clone())));
        }
        loop {
            if let Some(batch) = &self.batch {
                if self.next_row < batch.num_rows() {
                    break;
                }
            }
            let Some(reader) = self.reader.as_mut() else {
                return Ok(false);
            };
            match reader.next() {
                None => {
                    self.reader = None;
                    self.batch = None;
                    return Ok(false);
                }
                Some(batch) => {
                    let batch = batch.map_err(|e| parquet_error(path, e))?;
                    if batch.num_columns() != self.selected.len() {
                        return Err(parquet_error(
                            path,
                            format!(
                                "expected {} columns in a batch, found {}",
                                self.selected.len(),
                                batch.num_columns()
                            ),
                        ));
                    }
                    self.batch = Some(batch);
                    self.next_row = 0;
                }
            }
        }
        let Some(batch) = &self.batch else {
            return Ok(false);
        };
        let row = self.next_row;
        self.next_row += 1;
        record.clear();
        let mut columns = self.selected.iter().zip(batch.columns()).peekable();
        for position in 0..width {
            match columns.peek() {
                Some((&c, array)) if c == position => {
                    self.cell.clear();
                    write_cell(array.as_ref(), row, &mut self.cell).map_err(|data_type| {
                        Error::UnsupportedType {
                            path: path.to_path_buf(),
                            column: self.schema.fields()[c].name().clone(),
                            data_type,
                        }
                    })?;
                    record.push_field(&self.cell);
                    columns.next();
                }
                _ => record.push_field(b""),
            }
        }
        Ok(true)
    }
}

fn check_type(path: &Path, column: &str, data_type: &DataType) -> Result<(), Error> {
    if supported(data_type) {
        Ok(())
    } else {
        Err(Error::UnsupportedType {
            path: path.to_path_buf(),
            column: column.to_string(),
            data_type: data_type.to_string(),
        })
    }
}

/// Whether [`write_cell`] can write a value of this type.
fn supported(data_type: &DataType) -> bool {
    use DataType as T;
    match data_type {
        T::Null
        | T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::UInt8
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Float32
        | T::Float64
        | T::Decimal32(..)
        | T::Decimal64(..)
        | T::Decimal128(..)
        | T::Decimal256(..)
        | T::Date32
        | T::Date64
        | T::Timestamp(..)
        | T::Time32(TimeUnit::Second | TimeUnit::Millisecond)
        | T::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View
        | T::Binary
        | T::LargeBinary
        | T::BinaryView
        | T::FixedSizeBinary(_) => true,
        T::Dictionary(key, value) => key.is_integer() && supported(value),
        _ => false,
    }
}

/// Appends the text of `array[row]` to `out` (nothing for a null). An
/// unsupported type is returned as its name.
fn write_cell(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<(), String> {
    use DataType as T;
    if array.is_null(row) {
        return Ok(());
    }
    let unsupported = || array.data_type().to_string();
    // Formatting into a Vec cannot fail.
    let io = |_: io::Error| array.data_type().to_string();
    macro_rules! display {
        ($t:ty) => {{
            let a = array.as_primitive_opt::<$t>().ok_or_else(unsupported)?;
            write!(out, "{}", a.value(row)).map_err(io)
        }};
    }
    macro_rules! decimal {
        ($t:ty) => {{
            let a = array.as_primitive_opt::<$t>().ok_or_else(unsupported)?;
            out.extend_from_slice(a.value_as_string(row).as_bytes());
            Ok(())
        }};
    }
    macro_rules! bytes {
        ($e:expr) => {{
            let a = $e.ok_or_else(unsupported)?;
            out.extend_from_slice(a.value(row).as_ref());
            Ok(())
        }};
    }
    macro_rules! instant {
        ($t:ty, $per_second:expr, $digits:expr, $f:ident) => {{
            let a = array.as_primitive_opt::<$t>().ok_or_else(unsupported)?;
            $f(i64::from(a.value(row)), $per_second, $digits, out);
            Ok(())
        }};
    }
    match array.data_type() {
        T::Null => Ok(()),
        T::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(unsupported)?;
            out.extend_from_slice(if a.value(row) { b"true" } else { b"false" });
            Ok(())
        }
        T::Int8 => display!(Int8Type),
        T::Int16 => display!(Int16Type),
        T::Int32 => display!(Int32Type),
        T::Int64 => display!(Int64Type),
        T::UInt8 => display!(UInt8Type),
        T::UInt16 => display!(UInt16Type),
        T::UInt32 => display!(UInt32Type),
        T::UInt64 => display!(UInt64Type),
        T::Float32 => display!(Float32Type),
        T::Float64 => display!(Float64Type),
        T::Decimal32(..) => decimal!(Decimal32Type),
        T::Decimal64(..) => decimal!(Decimal64Type),
        T::Decimal128(..) => decimal!(Decimal128Type),
        T::Decimal256(..) => decimal!(Decimal256Type),
        T::Date32 => {
            let a = array
                .as_primitive_opt::<Date32Type>()
                .ok_or_else(unsupported)?;
            write_date(i64::from(a.value(row)), out);
            Ok(())
        }
        T::Date64 => {
            let a = array
                .as_primitive_opt::<Date64Type>()
                .ok_or_else(unsupported)?;
            write_date(a.value(row).div_euclid(MS_PER_DAY), out);
            Ok(())
        }
        T::Timestamp(unit, tz) => {
            let written: Result<(), String> = match unit {
                TimeUnit::Second => instant!(TimestampSecondType, 1, 0, write_timestamp),
                TimeUnit::Millisecond => {
                    instant!(TimestampMillisecondType, 1_000, 3, write_timestamp)
                }
                TimeUnit::Microsecond => {
                    instant!(TimestampMicrosecondType, 1_000_000, 6, write_timestamp)
                }
                TimeUnit::Nanosecond => {
                    instant!(TimestampNanosecondType, 1_000_000_000, 9, write_timestamp)
                }
            };
            written?;
            if tz.is_some() {
                out.push(b'Z');
            }
            Ok(())
        }
        T::Time32(TimeUnit::Second) => instant!(Time32SecondType, 1, 0, write_time),
        T::Time32(TimeUnit::Millisecond) => instant!(Time32MillisecondType, 1_000, 3, write_time),
        T::Time64(TimeUnit::Microsecond) => {
            instant!(Time64MicrosecondType, 1_000_000, 6, write_time)
        }
        T::Time64(TimeUnit::Nanosecond) => {
            instant!(Time64NanosecondType, 1_000_000_000, 9, write_time)
        }
        T::Utf8 => bytes!(array.as_string_opt::<i32>()),
        T::LargeUtf8 => bytes!(array.as_string_opt::<i64>()),
        T::Utf8View => bytes!(array.as_string_view_opt()),
        T::Binary => bytes!(array.as_binary_opt::<i32>()),
        T::LargeBinary => bytes!(array.as_binary_opt::<i64>()),
        T::BinaryView => bytes!(array.as_binary_view_opt()),
        T::FixedSizeBinary(_) => bytes!(array.as_fixed_size_binary_opt()),
        T::Dictionary(..) => {
            let a = array.as_any_dictionary_opt().ok_or_else(unsupported)?;
            let key = dictionary_key(a.keys(), row).ok_or_else(unsupported)?;
            let values = a.values();
            if key >= values.len() {
                return Err(unsupported());
            }
            write_cell(values.as_ref(), key, out)
        }
        _ => Err(unsupported()),
    }
}

/// The dictionary index at `row` of an integer keys array.
fn dictionary_key(keys: &dyn Array, row: usize) -> Option<usize> {
    macro_rules! key {
        ($t:ty) => {
            keys.as_primitive_opt::<$t>()
                .and_then(|k| usize::try_from(k.value(row)).ok())
        };
    }
    match keys.data_type() {
        DataType::Int8 => key!(Int8Type),
        DataType::Int16 => key!(Int16Type),
        DataType::Int32 => key!(Int32Type),
        DataType::Int64 => key!(Int64Type),
        DataType::UInt8 => key!(UInt8Type),
        DataType::UInt16 => key!(UInt16Type),
        DataType::UInt32 => key!(UInt32Type),
        DataType::UInt64 => key!(UInt64Type),
        _ => None,
    }
}

const MS_PER_DAY: i64 = 86_400_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn write_date(days: i64, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days(days);
    let sign = if year < 0 { "-" } else { "" };
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{sign}{:04}-{month:02}-{day:02}", year.unsigned_abs());
}

/// `HH:MM:SS` of a second of the day, then the fraction if not zero.
fn write_clock(second_of_day: i64, fraction: i64, digits: usize, out: &mut Vec<u8>) {
    let (h, m, s) = (
        second_of_day / 3_600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if fraction != 0 && digits > 0 {
        let text = format!("{fraction:0digits$}");
        let _ = write!(out, ".{}", text.trim_end_matches('0'));
    }
}

/// A timestamp `value` in units of `1 / per_second` s since the epoch.
fn write_timestamp(value: i64, per_second: i64, digits: usize, out: &mut Vec<u8>) {
    let (seconds, fraction) = (value.div_euclid(per_second), value.rem_euclid(per_second));
    write_date(seconds.div_euclid(SECONDS_PER_DAY), out);
    out.push(b'T');
    write_clock(seconds.rem_euclid(SECONDS_PER_DAY), fraction, digits, out);
}

/// A time of day `value` in units of `1 / per_second` s since midnight.
fn write_time(value: i64, per_second: i64, digits: usize, out: &mut Vec<u8>) {
    let (seconds, fraction) = (value.div_euclid(per_second), value.rem_euclid(per_second));
    write_clock(seconds.rem_euclid(SECONDS_PER_DAY), fraction, digits, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dates_and_times_are_iso_8601() {
        assert_eq!(text(|o| write_date(0, o)), "1970-01-01");
        assert_eq!(text(|o| write_date(-1, o)), "1969-12-31");
        assert_eq!(text(|o| write_date(11_016, o)), "2000-02-29");
        assert_eq!(text(|o| write_date(19_782, o)), "2024-02-29");
        assert_eq!(text(|o| write_date(-719_528, o)), "0000-01-01");
        assert_eq!(text(|o| write_date(-719_529, o)), "-0001-12-31");
        assert_eq!(
            text(|o| write_timestamp(1_709_210_096_500, 1_000, 3, o)),
            "2024-02-29T12:34:56.5"
        );
        assert_eq!(
            text(|o| write_timestamp(-1, 1_000_000_000, 9, o)),
            "1969-12-31T23:59:59.999999999"
        );
        assert_eq!(
            text(|o| write_timestamp(86_400, 1, 0, o)),
            "1970-01-02T00:00:00"
        );
        assert_eq!(
            text(|o| write_time(45_296_000_001, 1_000_000, 6, o)),
            "12:34:56.000001"
        );
        assert_eq!(text(|o| write_time(0, 1_000, 3, o)), "00:00:00");
        assert_eq!(at(Path::new("a.csv"), 3), "line 3");
        assert_eq!(at(Path::new("a.PARQUET"), 3), "row 2");
        assert!(is_parquet(Path::new("x/y.Parquet")));
        assert!(!is_parquet(Path::new("parquet")));
        let e = parquet_error(
            Path::new("z.parquet"),
            "Parquet error: Disabled feature at compile time: zstd",
        );
        assert!(
            e.to_string()
                .contains("zstd (psi reads uncompressed or Snappy"),
            "{e}"
        );
    }
}
