//! One row's key: the key columns' values, trimmed, normalised by their
//! profiles, length-prefixed and hashed to an [`Item`], with the counts and
//! rejects of empty and invalid keys. [`KeyedTable`](crate::KeyedTable)
//! collects distinct items on top of it; [`stream_keys`] hands each row's item
//! to a callback and keeps nothing, for tables larger than memory.

use std::path::Path;

use psi_core::Item;

use crate::source::Rows;
use crate::{encode_component, ColumnStats, Error, KeySpec, Reject, TableStats, MAX_REJECTS};

/// Turns records into items for one key.
pub(crate) struct KeyEncoder {
    pub(crate) spec: KeySpec,
    /// The key columns' positions in the record.
    pub(crate) positions: Vec<usize>,
    pub(crate) stats: TableStats,
    pub(crate) rejects: Vec<Reject>,
    /// Empty for all-`raw` keys, else the profile prefix.
    prefix: Vec<u8>,
    key: Vec<u8>,
}

impl KeyEncoder {
    pub(crate) fn new(path: &Path, names: &[String], spec: &KeySpec) -> Result<Self, Error> {
        let positions: Vec<usize> = spec
            .columns()
            .iter()
            .map(|c| {
                names
                    .iter()
                    .position(|n| n == c)
                    .ok_or_else(|| Error::MissingColumn {
                        path: path.to_path_buf(),
                        column: c.clone(),
                        available: names.join(", "),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(KeyEncoder {
            stats: TableStats {
                columns: spec.columns().iter().map(|c| ColumnStats::new(c)).collect(),
                ..TableStats::default()
            },
            spec: spec.clone(),
            positions,
            rejects: Vec::new(),
            prefix: spec.key_prefix(),
            key: Vec::with_capacity(128),
        })
    }

    /// One data row's item (`line` 1-based, the header is line 1), or `None`
    /// for an empty or invalid key (counted, and invalid ones recorded).
    pub(crate) fn encode(
        &mut self,
        path: &Path,
        record: &csv::ByteRecord,
        line: u64,
    ) -> Result<Option<Item>, Error> {
        self.stats.rows += 1;
        self.key.clear();
        self.key.extend_from_slice(&self.prefix);
        let (mut empty, mut invalid) = (false, false);
        for (c, (&pos, (name, profile))) in
            self.positions.iter().zip(self.spec.fields()).enumerate()
        {
            let raw = record.get(pos).unwrap_or_default();
            let value = std::str::from_utf8(raw).map_err(|_| Error::NotUtf8 {
                path: path.to_path_buf(),
                line,
                column: name.to_string(),
            })?;
            let value = value.trim();
            if value.is_empty() {
                self.stats.columns[c].empty += 1;
                empty = true;
                continue;
            }
            match profile.normalise(value) {
                Ok(n) => encode_component(n.as_str(), &mut self.key),
                Err(reason) => {
                    self.stats.columns[c].invalid += 1;
                    invalid = true;
                    if self.rejects.len() < MAX_REJECTS {
                        self.rejects.push(Reject {
                            line,
                            column: name.to_string(),
                            reason: reason.reason(),
                        });
                    }
                }
            }
        }
        if empty {
            self.stats.empty_key_rows += 1;
            return Ok(None);
        }
        if invalid {
            self.stats.invalid_key_rows += 1;
            return Ok(None);
        }
        Ok(Some(Item::from_key(&self.key)))
    }
}

/// What [`stream_keys`] counted: rows, empty and invalid keys (duplicates
/// and distinct keys are left at zero: nothing is remembered).
#[derive(Debug, Clone)]
pub struct StreamedKeys {
    /// The counts.
    pub stats: TableStats,
    /// The first invalid values.
    pub rejects: Vec<Reject>,
}

/// Reads `path` once and calls `each(row, item)` for every data row (0-based)
/// whose key is neither empty nor invalid; holds one record at a time. An
/// error from `each` stops the pass and is returned.
pub fn stream_keys(
    path: &Path,
    spec: &KeySpec,
    mut each: impl FnMut(u64, Item) -> Result<(), Error>,
) -> Result<StreamedKeys, Error> {
    let mut rows = Rows::open(path)?;
    let names = rows.names()?;
    let mut encoder = KeyEncoder::new(path, &names, spec)?;
    rows.select(&encoder.positions)?;
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    while let Some(line) = rows.next(&mut record)? {
        if let Some(item) = encoder.encode(path, &record, line)? {
            each(row, item)?;
        }
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

/// [`stream_keys`] for several keys in one pass (a linkage's waterfall):
/// calls `each(row, key, item)` for every data row and every key (index
/// into `specs`) whose value is neither empty nor invalid. Returns each
/// key's counts.
pub fn stream_linkage_keys(
    path: &Path,
    specs: &[KeySpec],
    mut each: impl FnMut(u64, usize, Item) -> Result<(), Error>,
) -> Result<Vec<StreamedKeys>, Error> {
    let mut rows = Rows::open(path)?;
    let names = rows.names()?;
    let mut encoders = specs
        .iter()
        .map(|s| KeyEncoder::new(path, &names, s))
        .collect::<Result<Vec<_>, _>>()?;
    let needed: Vec<usize> = encoders
        .iter()
        .flat_map(|e| e.positions.iter().copied())
        .collect();
    rows.select(&needed)?;
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    while let Some(line) = rows.next(&mut record)? {
        for (k, encoder) in encoders.iter_mut().enumerate() {
            if let Some(item) = encoder.encode(path, &record, line)? {
                each(row, k, item)?;
            }
        }
        row += 1;
    }
    if row == 0 {
        return Err(Error::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(encoders
        .into_iter()
        .map(|e| StreamedKeys {
            stats: e.stats,
            rejects: e.rejects,
        })
        .collect())
}
