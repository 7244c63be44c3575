//! [`stream_keys_values`]: [`crate::stream_keys`] with a value column (PSI-sum
//! on a table larger than memory): each row's item and value go to a
//! callback and nothing is kept. Values are checked as
//! [`KeyedTable::read_values`](crate::KeyedTable::read_values) checks them:
//! a base-10 integer in `0..=max` on every row, even one with an empty key;
//! adding up a key's rows is the caller's (it has not seen them yet).

use std::path::Path;

use psi_core::Item;

use crate::keys::{KeyEncoder, StreamedKeys};
use crate::source::Rows;
use crate::values::parse_value;
use crate::{Error, KeySpec};

/// Reads `path` once and calls `each(row, item, value)` for every data row
/// (0-based): `item` is `None` for an empty or invalid key (counted as
/// [`crate::stream_keys`] counts them), `value` is column `column` of the
/// row. An error from `each` stops the pass and is returned.
pub fn stream_keys_values(
    path: &Path,
    spec: &KeySpec,
    column: &str,
    max: u64,
    mut each: impl FnMut(u64, Option<Item>, u64) -> Result<(), Error>,
) -> Result<StreamedKeys, Error> {
    let mut rows = Rows::open(path)?;
    let names = rows.names()?;
    let mut encoder = KeyEncoder::new(path, &names, spec)?;
    let column = column.trim();
    let position = rows.position(column)?;
    let mut selected = encoder.positions.clone();
    selected.push(position);
    rows.select(&selected)?;
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    while let Some(line) = rows.next(&mut record)? {
        let item = encoder.encode(path, &record, line)?;
        let value = parse_value(path, line, column, record.get(position), max)?;
        each(row, item, value)?;
        row += 1;
    }
    if row == 0 {
        return Err(Error::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(StreamedKeys {
        stats: encoder.stats,
        rejects: encoder.rejects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_gives_its_item_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "email,spend\na,5\n,7\na, 10\n").unwrap();
        let spec = KeySpec::parse("email").unwrap();
        let mut got = Vec::new();
        let s = stream_keys_values(&path, &spec, "spend", 100, |row, item, v| {
            got.push((row, item.is_some(), v));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![(0, true, 5), (1, false, 7), (2, true, 10)]);
        assert_eq!((s.stats.rows, s.stats.empty_key_rows), (3, 1));
        std::fs::write(&path, "email,spend\na,5\nb,x\n").unwrap();
        let e = stream_keys_values(&path, &spec, "spend", 100, |_, _, _| Ok(())).unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("spend"),
            "{e}"
        );
    }
}
