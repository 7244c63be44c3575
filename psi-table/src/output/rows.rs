//! Which rows an output gets and in what order: the plan of (source row or
//! placeholder, id) is checked against the table, then copied from the input
//! in one pass, row by row when its source rows come in input order, else
//! through the rows it needs kept in memory.

use std::path::Path;

use super::target::{check_delimiter, same_file, Sink, Target};
use super::{OutputFormat, OutputOptions};
use crate::source::Rows;
use crate::Error;

/// Marks a data row that the output does not need.
const NOT_NEEDED: u32 = u32::MAX;

/// Writes `plan`, a re-iterable list of (row, id), from `input`.
pub(super) fn write_plan<I, S>(
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

impl<'t> Copier<'t> {
    /// A copier of the `selected` columns (header positions, in output order;
    /// `names` are the input's column names) of `rows` data rows of `path`;
    /// with `utf8`, every copied field must be UTF-8.
    pub(super) fn new(
        path: &'t Path,
        rows: usize,
        selected: &'t [usize],
        names: &'t [String],
        utf8: bool,
    ) -> Self {
        Copier {
            path,
            rows,
            selected,
            names,
            utf8,
        }
    }

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
