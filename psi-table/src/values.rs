//! One non-negative integer value per distinct key (PSI-sum): a second
//! streaming pass over a table that was read with [`KeyedTable::read`].
//!
//! Rows that repeat a key add their values: the value of a key is the total
//! over its rows (e.g. a customer's total spend). Rows with an empty key are
//! never matched, but their values are still checked, so a bad file is
//! reported whole. A value must be a base-10 integer in `0..=max` (leading
//! and trailing white space is trimmed); anything else is an error naming the
//! line, the column and the value.

use std::path::Path;

use crate::{Error, KeyedTable, Rows, NO_KEY};

impl KeyedTable {
    /// Reads column `column` as one value per row and returns, for each
    /// distinct key (in [`KeyedTable::items`] order), the total of its rows'
    /// values. Each value must be at most `max`, and so must each key's total.
    pub fn read_values(&self, column: &str, max: u64) -> Result<Vec<u64>, Error> {
        let path: &Path = &self.path;
        let mut rows = Rows::open(path)?;
        let column = column.trim();
        let position = rows.position(column)?;
        rows.select(&[position])?;
        let mut totals = vec![0u64; self.items.len()];
        let mut record = csv::ByteRecord::new();
        let mut row = 0usize;
        while let Some(line) = rows.next(&mut record)? {
            let Some(&item) = self.row_items.get(row) else {
                return Err(Error::Changed {
                    path: path.to_path_buf(),
                    expected: self.row_items.len() as u64,
                    found: row as u64 + 1,
                });
            };
            let value = parse_value(path, line, column, record.get(position), max)?;
            if item != NO_KEY {
                let total = &mut totals[item as usize];
                *total = total
                    .checked_add(value)
                    .filter(|t| *t <= max)
                    .ok_or_else(|| Error::BadValue {
                        path: path.to_path_buf(),
                        line,
                        column: column.to_string(),
                        value: value.to_string(),
                        reason: "makes its key's total exceed the largest value",
                    })?;
            }
            row += 1;
        }
        if row != self.row_items.len() {
            return Err(Error::Changed {
                path: path.to_path_buf(),
                expected: self.row_items.len() as u64,
                found: row as u64,
            });
        }
        Ok(totals)
    }
}

/// One row's value: a base-10 integer in `0..=max` after trimming; any other
/// text is an error naming the file, the line, the column and the value.
pub(crate) fn parse_value(
    path: &Path,
    line: u64,
    column: &str,
    raw: Option<&[u8]>,
    max: u64,
) -> Result<u64, Error> {
    let bad = |reason: &'static str, value: &str| Error::BadValue {
        path: path.to_path_buf(),
        line,
        column: column.to_string(),
        value: value.chars().take(40).collect(),
        reason,
    };
    let raw = raw.unwrap_or_default();
    let text = std::str::from_utf8(raw).map_err(|_| Error::NotUtf8 {
        path: path.to_path_buf(),
        line,
        column: column.to_string(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("is empty (a value is required on every row)", text));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("is not a non-negative integer", text));
    }
    let value: u64 = text
        .parse()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| bad("is above the largest value allowed", text))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use crate::{Error, KeySpec, KeyedTable};

    fn table(text: &str) -> (tempfile::TempDir, KeyedTable) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        let t = KeyedTable::read(&path, &KeySpec::parse("email").unwrap()).unwrap();
        (dir, t)
    }

    #[test]
    fn values_per_distinct_key_add_up() {
        let (_d, t) = table("email, spend\na,5\nb, 7 \na,10\n,99\n");
        assert_eq!(t.read_values("spend", 100).unwrap(), vec![15, 7]);
    }

    #[test]
    fn bad_values_name_line_column_and_value() {
        for (text, needle) in [
            ("email,spend\na,1\nb,-3\n", "line 3"),
            ("email,spend\na,1.5\n", "not a non-negative integer"),
            ("email,spend\na,\n", "is empty"),
            ("email,spend\na,101\n", "above the largest value"),
            ("email,spend\na,60\na,60\n", "total exceed"),
            (
                "email,spend\na,99999999999999999999999\n",
                "above the largest value",
            ),
        ] {
            let (_d, t) = table(text);
            let e = t.read_values("spend", 100).unwrap_err();
            assert!(matches!(e, Error::BadValue { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{e} / {needle}");
            assert!(e.to_string().contains("spend"), "{e}");
        }
        let (_d, t) = table("email,spend\na,1\n");
        let e = t.read_values("amount", 100).unwrap_err();
        assert!(e.to_string().contains("email, spend"), "{e}");
    }
}
