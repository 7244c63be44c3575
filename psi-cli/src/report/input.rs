//! The `input` part of every report: what a party read.

use serde::{Deserialize, Serialize};

/// Counts about one party's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputReport {
    /// The input file.
    pub path: String,
    /// The key columns.
    pub key: Vec<String>,
    /// Data rows read.
    pub rows: u64,
    /// Rows with an empty key component (never matched).
    pub empty_key_rows: u64,
    /// Rows whose key repeats an earlier row's key.
    pub duplicate_key_rows: u64,
    /// Distinct non-empty keys: the set size the peer learns.
    pub distinct_keys: u64,
    /// Rows whose key has a value its profile rejects (never matched).
    pub invalid_key_rows: u64,
    /// Empty and invalid values per key column.
    pub columns: Vec<ColumnReport>,
    /// With several keys (a waterfall): the same counts per key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyReport>,
}

/// Empty and invalid values of one key column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The column.
    pub column: String,
    /// Empty values.
    pub empty: u64,
    /// Values the column's profile rejected.
    pub invalid: u64,
}

/// Counts for one key of a waterfall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyReport {
    /// The key's canonical spec.
    pub key: String,
    /// Rows with an empty value in the key.
    pub empty_key_rows: u64,
    /// Rows with an invalid value in the key.
    pub invalid_key_rows: u64,
    /// Rows repeating another row's value of this key.
    pub duplicate_key_rows: u64,
    /// Distinct values of this key.
    pub distinct_keys: u64,
    /// Per column.
    pub columns: Vec<ColumnReport>,
}

fn column_reports(s: &psi_table::TableStats) -> Vec<ColumnReport> {
    s.columns
        .iter()
        .map(|c| ColumnReport {
            column: c.name.clone(),
            empty: c.empty,
            invalid: c.invalid,
        })
        .collect()
}

impl InputReport {
    /// From a table read with one key: the key is named by its columns.
    pub fn new(table: &psi_table::KeyedTable) -> Self {
        let s = table.stats();
        InputReport {
            path: table.path().display().to_string(),
            key: table.spec().columns().to_vec(),
            rows: s.rows,
            empty_key_rows: s.empty_key_rows,
            duplicate_key_rows: s.duplicate_key_rows,
            distinct_keys: s.distinct_keys,
            invalid_key_rows: s.invalid_key_rows,
            columns: column_reports(s),
            keys: Vec::new(),
        }
    }

    /// From a table streamed with one key ([`psi_table::stream_keys`]):
    /// duplicates and distinct keys come from the spill.
    pub fn streamed(
        path: &std::path::Path,
        spec: &psi_table::KeySpec,
        stats: &psi_table::TableStats,
        keyed_rows: u64,
        distinct: u64,
    ) -> Self {
        InputReport {
            path: path.display().to_string(),
            key: spec.columns().to_vec(),
            rows: stats.rows,
            empty_key_rows: stats.empty_key_rows,
            duplicate_key_rows: keyed_rows - distinct.min(keyed_rows),
            distinct_keys: distinct,
            invalid_key_rows: stats.invalid_key_rows,
            columns: column_reports(stats),
            keys: Vec::new(),
        }
    }

    /// From a table read with every key of a linkage spec: the keys are
    /// named by their canonical specs, the first key's counts are at the
    /// top, and with several keys every key's counts follow.
    pub fn linkage(table: &psi_table::LinkageTable) -> Self {
        let mut report = match table.keys().first() {
            Some(first) => Self::new(first),
            // A linkage spec has at least one key; this is only the type's fallback.
            None => InputReport {
                path: table.path().display().to_string(),
                ..InputReport::default()
            },
        };
        report.key = table.spec().keys().iter().map(|k| k.canonical()).collect();
        if table.keys().len() > 1 {
            report.keys = table
                .keys()
                .iter()
                .map(|t| {
                    let s = t.stats();
                    KeyReport {
                        key: t.spec().canonical(),
                        empty_key_rows: s.empty_key_rows,
                        invalid_key_rows: s.invalid_key_rows,
                        duplicate_key_rows: s.duplicate_key_rows,
                        distinct_keys: s.distinct_keys,
                        columns: column_reports(s),
                    }
                })
                .collect();
        }
        report
    }
}
