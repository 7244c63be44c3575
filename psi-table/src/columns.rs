//! Reading named columns of a table row by row, as text, for callers that
//! need the cells themselves rather than keys (the fuzzy encoder): the same
//! CSV and Parquet reading as keys, streamed, with errors naming the file,
//! the line and the column.

use std::path::{Path, PathBuf};

use crate::{Error, Rows};

/// A table opened for some of its columns.
pub struct Columns {
    rows: Rows,
    path: PathBuf,
    names: Vec<String>,
    positions: Vec<usize>,
    record: csv::ByteRecord,
}

impl Columns {
    /// Opens `path` and finds `names` (trimmed) in its header.
    pub fn open(path: &Path, names: &[&str]) -> Result<Columns, Error> {
        let mut rows = Rows::open(path)?;
        let positions = names
            .iter()
            .map(|name| rows.position(name.trim()))
            .collect::<Result<Vec<usize>, Error>>()?;
        rows.select(&positions)?;
        Ok(Columns {
            rows,
            path: path.to_path_buf(),
            names: names.iter().map(|n| n.trim().to_string()).collect(),
            positions,
            record: csv::ByteRecord::new(),
        })
    }

    /// Reads the next data row: calls `each` with its line (see
    /// [`crate::KeyedTable`] for how lines are counted) and the cells of the
    /// asked columns, in the order asked. Returns `false` at the end.
    pub fn next_row(&mut self, each: impl FnOnce(u64, &[&str])) -> Result<bool, Error> {
        let Some(line) = self.rows.next(&mut self.record)? else {
            return Ok(false);
        };
        let mut cells: Vec<&str> = Vec::with_capacity(self.positions.len());
        for (i, &p) in self.positions.iter().enumerate() {
            let raw = self.record.get(p).unwrap_or_default();
            cells.push(std::str::from_utf8(raw).map_err(|_| Error::NotUtf8 {
                path: self.path.clone(),
                line,
                column: self.names[i].clone(),
            })?);
        }
        each(line, &cells);
        Ok(true)
    }
}
