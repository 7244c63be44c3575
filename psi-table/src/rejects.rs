//! Key values that were not usable: counts per column ([`ColumnStats`], in
//! [`crate::TableStats::columns`]) and a capped list of the values their
//! profile rejected ([`Reject`]), which [`KeyedTable::write_rejects`] writes
//! as CSV. A reject names line, column and reason, never the value itself.
//!
//! Empty values are counted per column but not listed: they need no
//! explanation, and a sparse column would fill the list and push out the
//! rejects that do.

use std::path::Path;

use crate::{write_atomically, Error, KeyedTable};

/// Most rejects a table keeps (the first ones, in line order); later ones are
/// still counted in [`ColumnStats::invalid`].
pub const MAX_REJECTS: usize = 100_000;

/// One key value that its column's profile rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reject {
    /// 1-based line number of the row in the file (the header is line 1; in
    /// a Parquet file, the data row + 1).
    pub line: u64,
    /// The column name.
    pub column: String,
    /// Why the profile rejected it.
    pub reason: &'static str,
}

/// Empty and invalid counts of one key column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnStats {
    /// The column name.
    pub name: String,
    /// Rows where the value is empty.
    pub empty: u64,
    /// Rows where the profile rejected the value.
    pub invalid: u64,
}

impl ColumnStats {
    pub(crate) fn new(name: &str) -> Self {
        ColumnStats {
            name: name.to_string(),
            empty: 0,
            invalid: 0,
        }
    }
}

impl KeyedTable {
    /// The values that their profile rejected, in line order: the first
    /// [`MAX_REJECTS`] of them.
    pub fn rejects(&self) -> &[Reject] {
        &self.rejects
    }

    /// Writes [`Self::rejects`] to `path` as CSV `line,column,reason`,
    /// atomically. Returns the number of rejects written.
    pub fn write_rejects(&self, path: &Path) -> Result<u64, Error> {
        let mut text = String::from("line,column,reason\n");
        for r in &self.rejects {
            text.push_str(&format!(
                "{},{},{}\n",
                r.line,
                csv_field(&r.column),
                csv_field(r.reason)
            ));
        }
        write_atomically(path, text.as_bytes())?;
        Ok(self.rejects.len() as u64)
    }
}

/// Quotes a CSV field when it needs it.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::{KeySpec, KeyedTable, TableStats};

    #[test]
    fn counts_and_lists_empty_and_invalid_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "id,name,dob\n\
             1,Dr. Ann,19560107\n\
             2,,20230229\n\
             3,ann,1956-01-07\n\
             4,Mr,1956\n\
             5,\"a, b\",\n\
             6,O'Brien,07/01/1956\n\
             7,,\n\
             8,obrien,1956/01/07\n",
        )
        .unwrap();
        let t = KeyedTable::read(&path, &KeySpec::parse("name:name,dob:date").unwrap()).unwrap();
        let s = t.stats();
        assert_eq!(
            (
                s.rows,
                s.empty_key_rows,
                s.invalid_key_rows,
                s.duplicate_key_rows,
                s.distinct_keys
            ),
            (8, 3, 1, 2, 2)
        );
        let c = &s.columns;
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].name.as_str(), c[0].empty, c[0].invalid),
            ("name", 2, 1)
        );
        assert_eq!(
            (c[1].name.as_str(), c[1].empty, c[1].invalid),
            ("dob", 2, 2)
        );
        assert_eq!(t.row_item(0), Some(0));
        assert_eq!(t.row_item(1), None);
        assert_eq!(t.row_item(2), Some(0));
        assert_eq!(t.row_item(5), Some(1));
        assert_eq!(t.row_item(7), Some(1));
        assert_eq!(
            t.matched_rows(&[1]),
            [false, false, false, false, false, true, false, true]
        );
        let rejects: Vec<(u64, &str, &str)> = t
            .rejects()
            .iter()
            .map(|r| (r.line, r.column.as_str(), r.reason))
            .collect();
        assert_eq!(
            rejects,
            [
                (3, "dob", "date does not exist in the calendar"),
                (5, "name", "nothing left after normalisation"),
                (5, "dob", "date is not in an accepted format"),
            ]
        );

        let out = dir.path().join("rejects.csv");
        assert_eq!(t.write_rejects(&out).unwrap(), 3);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "line,column,reason\n\
             3,dob,date does not exist in the calendar\n\
             5,name,nothing left after normalisation\n\
             5,dob,date is not in an accepted format\n"
        );
        // A table without rejects writes the header only.
        let raw = KeyedTable::read(&path, &KeySpec::parse("id").unwrap()).unwrap();
        assert_eq!(raw.write_rejects(&out).unwrap(), 0);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "line,column,reason\n"
        );
        assert_eq!(raw.stats().columns[0].invalid, 0);
        let _ = TableStats::default();
    }

    #[test]
    fn rejects_are_capped_but_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let n = super::MAX_REJECTS + 10;
        let mut text = String::from("d\n");
        for _ in 0..n {
            text.push_str("x\n");
        }
        std::fs::write(&path, text).unwrap();
        let t = KeyedTable::read(&path, &KeySpec::parse("d:date").unwrap()).unwrap();
        assert_eq!(t.rejects().len(), super::MAX_REJECTS);
        assert_eq!(t.stats().columns[0].invalid, n as u64);
        assert_eq!(t.stats().invalid_key_rows, n as u64);
        assert!(t.items().is_empty());
    }
}
