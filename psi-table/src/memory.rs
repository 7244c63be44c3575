//! In-memory tables: Arrow record batches handed over by another program
//! (the Python package `psi_link`), read as a table is read from a file, and
//! outputs that come back as record batches (or bytes, for a report) instead
//! of files.
//!
//! Everything above this crate names a table by its path, so an in-memory
//! table gets a path too: [`register_input`] and [`register_output`] return
//! a handle whose [`InputHandle::path`] (`<pandas DataFrame #3>`) the caller
//! passes wherever a file's path would go. While the handle lives,
//! [`crate::KeyedTable::read`], [`crate::LinkageTable::read`] and the second
//! pass of [`crate::KeyedTable::write_output`] read the batches under that
//! path, and [`crate::KeyedTable::write_output`] and
//! [`crate::write_atomically`] hand what they would write to the output
//! handle. Dropping a handle forgets the table; nothing touches the disk.
//!
//! Cells of an in-memory table read as a Parquet file's cells do (the same
//! text for every type, see the `source` module), so its keys equal the keys
//! of the same table written as CSV or Parquet; positions in messages are
//! `row N` (1-based data rows). An in-memory output keeps the input's
//! column types (rows chosen with Arrow's `interleave`, placeholder rows are
//! nulls); its id column is a nullable UTF-8 string.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arrow_array::builder::StringBuilder;
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};

use crate::Error;

/// The tables and outputs registered now, by path.
#[derive(Default)]
struct Registry {
    next: u64,
    inputs: HashMap<PathBuf, Arc<MemoryInput>>,
    outputs: HashMap<PathBuf, Arc<MemoryOutput>>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    // A panic while holding the lock leaves the maps consistent (every
    // change is one insert or remove), so a poisoned lock is still usable.
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A fresh path for `label` (slashes and angle brackets dropped).
fn fresh_path(registry: &mut Registry, label: &str) -> PathBuf {
    registry.next += 1;
    let label: String = label
        .chars()
        .filter(|c| !matches!(c, '/' | '\\' | '<' | '>'))
        .collect();
    PathBuf::from(format!("<{label} #{}>", registry.next))
}

/// Record batches read as a table.
pub(crate) struct MemoryInput {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    rows: u64,
    /// Rows handed out by every pass so far (for progress).
    read: AtomicU64,
}

/// An in-memory table, registered while this handle lives.
pub struct InputHandle {
    path: PathBuf,
    table: Arc<MemoryInput>,
}

impl InputHandle {
    /// The path that names this table.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its data rows.
    pub fn rows(&self) -> u64 {
        self.table.rows
    }

    /// Rows read so far, over all passes (reading the keys is one pass,
    /// writing an output another).
    pub fn rows_read(&self) -> u64 {
        self.table.read.load(Ordering::Relaxed)
    }
}

impl Drop for InputHandle {
    fn drop(&mut self) {
        registry().inputs.remove(&self.path);
    }
}

/// Registers `batches` (all of `schema`) as a table named after `label`
/// (`pandas DataFrame`). A batch whose schema differs is refused.
pub fn register_input(
    label: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<InputHandle, Error> {
    let mut registry = registry();
    let path = fresh_path(&mut registry, label);
    if let Some(b) = batches
        .iter()
        .find(|b| b.schema().fields() != schema.fields())
    {
        return Err(Error::Parquet {
            path,
            message: format!(
                "a record batch has the schema {:?}, not the table's {:?}",
                b.schema(),
                schema
            ),
        });
    }
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let table = Arc::new(MemoryInput {
        schema,
        batches,
        rows,
        read: AtomicU64::new(0),
    });
    registry.inputs.insert(path.clone(), table.clone());
    Ok(InputHandle { path, table })
}

/// The in-memory table registered under `path`, if any.
pub(crate) fn input(path: &Path) -> Option<Arc<MemoryInput>> {
    registry().inputs.get(path).cloned()
}

/// Whether `path` names a registered in-memory table.
pub fn is_input(path: &Path) -> bool {
    registry().inputs.contains_key(path)
}

impl MemoryInput {
    /// The table's schema.
    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The batches, each cut down to the columns `selected`, counting the
    /// rows handed out.
    pub(crate) fn batches(
        self: Arc<Self>,
        selected: Vec<usize>,
    ) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> + Send {
        (0..self.batches.len()).map(move |i| {
            let batch = self.batches[i].project(&selected)?;
            self.read
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            Ok(batch)
        })
    }
}

/// What was written to an in-memory output.
#[derive(Debug, Clone)]
pub enum Written {
    /// Rows ([`crate::KeyedTable::write_output`]).
    Batch(RecordBatch),
    /// Bytes ([`crate::write_atomically`]: a report).
    Bytes(Vec<u8>),
}

/// Where in-memory outputs collect.
#[derive(Default)]
pub(crate) struct MemoryOutput {
    written: Mutex<Vec<(PathBuf, Written)>>,
}

impl MemoryOutput {
    /// Keeps `written` as what `path` holds (replacing what it held).
    pub(crate) fn put(&self, path: &Path, written: Written) {
        let mut all = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        all.retain(|(p, _)| p != path);
        all.push((path.to_path_buf(), written));
    }
}

/// An in-memory output, registered while this handle lives: its path, and
/// any path directly under it (`<output #4>/{linkage}` for a server's one
/// result per linkage), is written here instead of to a file.
pub struct OutputHandle {
    path: PathBuf,
    sink: Arc<MemoryOutput>,
}

impl OutputHandle {
    /// The path that names this output.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was written so far, by path, oldest first.
    pub fn written(&self) -> Vec<(PathBuf, Written)> {
        self.sink
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Drop for OutputHandle {
    fn drop(&mut self) {
        registry().outputs.remove(&self.path);
    }
}

/// Registers an in-memory output named after `label` (`report`).
pub fn register_output(label: &str) -> OutputHandle {
    let mut registry = registry();
    let path = fresh_path(&mut registry, label);
    let sink = Arc::new(MemoryOutput::default());
    registry.outputs.insert(path.clone(), sink.clone());
    OutputHandle { path, sink }
}

/// The in-memory output that `path` (or its parent) names, if any.
pub(crate) fn output(path: &Path) -> Option<Arc<MemoryOutput>> {
    let registry = registry();
    registry
        .outputs
        .get(path)
        .or_else(|| path.parent().and_then(|p| registry.outputs.get(p)))
        .cloned()
}

/// Whether `path` (or its parent) names a registered in-memory output.
pub fn is_output(path: &Path) -> bool {
    output(path).is_some()
}

/// [`crate::KeyedTable::write_output`] to an in-memory output: the planned rows of
/// the in-memory table `table` (of `rows` data rows, as read), with their
/// types.
pub(crate) fn write_plan<I, S>(
    table: &Path,
    rows: usize,
    plan: I,
    id_column: Option<&str>,
    output: &Path,
    columns: Option<&[String]>,
    sink: &MemoryOutput,
) -> Result<u64, Error>
where
    I: Iterator<Item = (Option<usize>, Option<S>)>,
    S: AsRef<str>,
{
    let Some(input) = input(table) else {
        return Err(Error::Write {
            path: output.to_path_buf(),
            source: io::Error::other(format!(
                "an in-memory output takes the rows of an in-memory table, and {} is a file",
                table.display()
            )),
        });
    };
    let fields = input.schema.fields();
    let names: Vec<&str> = fields.iter().map(|f| f.name().trim()).collect();
    let selected: Vec<usize> = match columns {
        None => (0..names.len()).collect(),
        Some(columns) => columns
            .iter()
            .map(|c| {
                names
                    .iter()
                    .position(|n| *n == c.trim())
                    .ok_or_else(|| Error::MissingColumn {
                        path: table.to_path_buf(),
                        column: c.trim().to_string(),
                        available: names.join(", "),
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if input.rows != rows as u64 {
        return Err(Error::Changed {
            path: table.to_path_buf(),
            expected: rows as u64,
            found: input.rows,
        });
    }
    // Row r is row r - starts[b] of batch b; a placeholder points at the
    // one row of nulls after the last batch.
    let mut starts = Vec::with_capacity(input.batches.len());
    let mut start = 0usize;
    for b in &input.batches {
        starts.push(start);
        start += b.num_rows();
    }
    let nulls = input.batches.len();
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut ids = StringBuilder::new();
    for (row, id) in plan {
        let pick = match row {
            None => (nulls, 0),
            Some(row) if row >= rows => {
                return Err(Error::NoSuchRow {
                    path: table.to_path_buf(),
                    row: row as u64,
                    rows: rows as u64,
                })
            }
            Some(row) => {
                let b = starts.partition_point(|&s| s <= row) - 1;
                (b, row - starts[b])
            }
        };
        picks.push(pick);
        ids.append_option(id.as_ref().map(AsRef::as_ref));
    }
    let arrow_error = |e: ArrowError| Error::Write {
        path: output.to_path_buf(),
        source: io::Error::other(e),
    };
    let mut out_fields: Vec<Field> = Vec::with_capacity(selected.len() + 1);
    let mut out_columns: Vec<ArrayRef> = Vec::with_capacity(selected.len() + 1);
    if let Some(id) = id_column {
        out_fields.push(Field::new(id, arrow_schema::DataType::Utf8, true));
        out_columns.push(Arc::new(ids.finish()));
    }
    for &c in &selected {
        let field = &fields[c];
        let null_row = new_null_array(field.data_type(), 1);
        let mut sources: Vec<&dyn Array> =
            input.batches.iter().map(|b| b.column(c).as_ref()).collect();
        sources.push(null_row.as_ref());
        out_columns
            .push(arrow_select::interleave::interleave(&sources, &picks).map_err(arrow_error)?);
        out_fields.push(field.as_ref().clone().with_nullable(true));
    }
    let options = RecordBatchOptions::new().with_row_count(Some(picks.len()));
    let batch =
        RecordBatch::try_new_with_options(Arc::new(Schema::new(out_fields)), out_columns, &options)
            .map_err(arrow_error)?;
    sink.put(output, Written::Batch(batch));
    Ok(picks.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeySpec, KeyedTable, OutRow};
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::DataType;

    fn people() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("email", DataType::Utf8, true),
            Field::new("age", DataType::Int64, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let batch = |emails: Vec<Option<&str>>, ages: Vec<i64>, scores: Vec<f64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(emails)),
                    Arc::new(Int64Array::from(ages)),
                    Arc::new(Float64Array::from(scores)),
                ],
            )
            .unwrap()
        };
        let batches = vec![
            batch(vec![Some("a@x.org"), None], vec![30, 31], vec![0.5, 1.5]),
            batch(vec![Some("c@x.org")], vec![32], vec![2.5]),
        ];
        (schema, batches)
    }

    #[test]
    fn a_table_in_memory_reads_like_a_file_and_writes_typed_rows() {
        let (schema, batches) = people();
        let input = register_input("test frame", schema, batches).unwrap();
        assert!(is_input(input.path()));
        let table = KeyedTable::read(input.path(), &KeySpec::parse("email").unwrap()).unwrap();
        assert_eq!(table.stats().rows, 3);
        assert_eq!(table.items().len(), 2, "the null email is an empty key");
        assert_eq!(table.row_item(1), None);
        assert_eq!(input.rows_read(), 3);

        let output = register_output("out");
        let rows = [
            OutRow {
                row: Some(2),
                id: Some("p".into()),
            },
            OutRow {
                row: None,
                id: None,
            },
            OutRow {
                row: Some(0),
                id: Some("q".into()),
            },
        ];
        let options = crate::OutputOptions {
            columns: Some(vec!["score".into(), "age".into()]),
            ..Default::default()
        };
        let n = table
            .write_output(&rows, Some("psi_id"), output.path(), &options)
            .unwrap();
        assert_eq!(n, 3);
        let written = output.written();
        let [(path, Written::Batch(b))] = written.as_slice() else {
            panic!("one batch expected, got {written:?}");
        };
        assert_eq!(path, output.path());
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["psi_id", "score", "age"]);
        let ids = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some("p"), None, Some("q")]);
        let score = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(
            score.iter().collect::<Vec<_>>(),
            [Some(2.5), None, Some(0.5)]
        );
        let age = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(age.iter().collect::<Vec<_>>(), [Some(32), None, Some(30)]);

        // Reports go to the same kind of output, the last version kept.
        let report = register_output("report");
        crate::write_atomically(report.path(), b"{}").unwrap();
        crate::write_atomically(report.path(), b"{\"a\":1}").unwrap();
        let written = report.written();
        assert!(matches!(written.as_slice(), [(_, Written::Bytes(b))] if b == b"{\"a\":1}"));

        let path = input.path().to_path_buf();
        drop(input);
        assert!(!is_input(&path));
        assert!(matches!(
            KeyedTable::read(&path, &KeySpec::parse("email").unwrap()),
            Err(Error::Open { .. })
        ));
    }

    #[test]
    fn errors_name_the_table_and_the_row() {
        let (schema, batches) = people();
        let input = register_input("pandas DataFrame", schema, batches).unwrap();
        let e = KeyedTable::read(input.path(), &KeySpec::parse("mail").unwrap()).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("<pandas DataFrame #"), "{text}");
        assert!(text.contains("no column named \"mail\"; the columns are: email, age, score"));
        let table = KeyedTable::read(input.path(), &KeySpec::parse("age").unwrap()).unwrap();
        let e = table.read_values("email", 100).unwrap_err().to_string();
        assert!(e.starts_with("<pandas DataFrame #"), "{e}");
        assert!(
            e.contains(", row 1, column \"email\": value \"a@x.org\""),
            "{e}"
        );
    }
}
