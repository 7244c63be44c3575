//! Linkage options shared by `psi run` and `psi serve`: the key spec,
//! duplicates, join types, and the rows each side writes (planned by
//! `psi_core::linkage::plan_rows`).

use std::path::{Path, PathBuf};

use psi_core::linkage::{Duplicates, KeyColumn, PlannedRow, NO_KEY};
use psi_table::{KeyedTable, LinkageSpec, LinkageTable, OutRow};
use serde::Serialize;

use crate::error::CliError;
use crate::TableArgs;

/// `--duplicates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DuplicatesArg {
    /// A repeated key value is an error that names its lines.
    Reject,
    /// Only the first row with a key value can match.
    First,
    /// Every row with a matched key value is matched.
    All,
}

/// `--join`: which rows each side writes (see the README's table of what
/// each party learns); becomes a [`psi_core::linkage::JoinType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JoinArg {
    /// Linked rows only.
    Inner,
    /// Every row of the running party (A); B's linked rows.
    Left,
    /// A's linked rows; every row of the serving party (B).
    Right,
    /// Every row of both.
    Full,
    /// Each side's rows that were not linked.
    Difference,
}

/// The JSON linkage spec file (`--spec`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    keys: Vec<String>,
}

impl TableArgs {
    /// The keys from `--key` (repeated) or `--spec FILE`.
    pub fn linkage_spec(&self) -> Result<LinkageSpec, CliError> {
        let keys = match &self.spec {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::Usage(format!("cannot read the spec {}: {e}", path.display()))
                })?;
                let file: SpecFile = serde_json::from_str(&text).map_err(|e| {
                    CliError::Usage(format!(
                        "{}: not a linkage spec ({e}); expected {{\"keys\": [\"col:profile,...\", ...]}}",
                        path.display()
                    ))
                })?;
                file.keys
            }
            None => self.keys.clone(),
        };
        Ok(LinkageSpec::parse_keys(&keys)?)
    }

    /// The duplicate policy for a single key (`reject` by default).
    pub fn duplicates(&self) -> DuplicatesArg {
        self.duplicates.unwrap_or(DuplicatesArg::Reject)
    }
}

impl From<JoinArg> for psi_core::linkage::JoinType {
    fn from(j: JoinArg) -> Self {
        use psi_core::linkage::JoinType as J;
        match j {
            JoinArg::Inner => J::Inner,
            JoinArg::Left => J::Left,
            JoinArg::Right => J::Right,
            JoinArg::Full => J::Full,
            JoinArg::Difference => J::Difference,
        }
    }
}

/// One key of a table as the protocol's [`KeyColumn`].
pub fn key_column(t: &KeyedTable) -> KeyColumn {
    let rows = t.stats().rows as usize;
    KeyColumn {
        items: t.items().to_vec(),
        row_items: (0..rows)
            .map(|r| t.row_item(r).map_or(NO_KEY, |i| i as u32))
            .collect(),
    }
}

/// Every key of a table as [`KeyColumn`]s.
pub fn key_columns(t: &LinkageTable) -> Vec<KeyColumn> {
    t.keys().iter().map(key_column).collect()
}

/// With `--duplicates reject`: an error naming the first repeated key values'
/// lines (CSV lines, the header being line 1).
pub fn check_duplicates(t: &KeyedTable, what: &str) -> Result<(), CliError> {
    if t.stats().duplicate_key_rows == 0 {
        return Ok(());
    }
    let mut first = vec![usize::MAX; t.items().len()];
    let mut shown = Vec::new();
    for row in 0..t.stats().rows as usize {
        let Some(item) = t.row_item(row) else {
            continue;
        };
        if first[item] == usize::MAX {
            first[item] = row;
        } else if shown.len() < 5 {
            shown.push(format!("line {} repeats line {}", row + 2, first[item] + 2));
        }
    }
    Err(CliError::Usage(format!(
        "{}: {} rows repeat the {what} of an earlier row ({}{}); \
         give --duplicates first (only the first such row can match) or --duplicates all \
         (every such row matches)",
        t.path().display(),
        t.stats().duplicate_key_rows,
        shown.join(", "),
        if t.stats().duplicate_key_rows > 5 {
            ", ..."
        } else {
            ""
        }
    )))
}

/// Reads `table.input` with every key of `spec` (off the async threads),
/// writes `--rejects` (never over the input or `outputs`), and applies
/// `--duplicates`: refused with several keys, `reject` checked on a single
/// key. Returns the table and the protocol's duplicate policy.
pub async fn read_linkage_table(
    table: &TableArgs,
    spec: &LinkageSpec,
    outputs: &[&Path],
) -> Result<(LinkageTable, Duplicates), CliError> {
    let keys = spec.keys().len();
    if keys > 1 && table.duplicates.is_some() {
        return Err(CliError::Usage(
            "--duplicates is for a single key: with several keys a value repeated among the unlinked rows is withheld at that key"
                .into(),
        ));
    }
    let input = table.input.clone();
    let s = spec.clone();
    let read = tokio::task::spawn_blocking(move || LinkageTable::read(&input, &s))
        .await
        .map_err(|e| CliError::Io {
            what: "reading the input",
            source: std::io::Error::other(e),
        })??;
    if let Some(path) = &table.rejects {
        let mut protected = vec![table.input.as_path()];
        protected.extend_from_slice(outputs);
        crate::run::check_output(path, &protected)?;
        read.write_rejects(path)?;
    }
    let duplicates = table.duplicates();
    if keys == 1 && duplicates == DuplicatesArg::Reject {
        check_duplicates(&read.keys()[0], "key")?;
    }
    Ok((read, policy(duplicates, keys)))
}

/// The protocol's policy for `--duplicates` with `keys` keys.
pub fn policy(dup: DuplicatesArg, keys: usize) -> Duplicates {
    match dup {
        _ if keys > 1 => Duplicates::Unique,
        DuplicatesArg::First => Duplicates::First,
        // `reject` has already refused a table with duplicates.
        DuplicatesArg::All | DuplicatesArg::Reject => Duplicates::All,
    }
}

/// The table layer's rows for a linkage's planned rows
/// ([`psi_core::linkage::plan_rows`]): ids in lowercase hex.
pub fn out_rows(planned: Vec<PlannedRow>) -> Vec<OutRow> {
    planned
        .into_iter()
        .map(|p| OutRow {
            row: p.row,
            id: p
                .id
                .map(|id| id.iter().map(|b| format!("{b:02x}")).collect()),
        })
        .collect()
}

/// The file a server writes for one linkage: `{linkage}` in `pattern` is
/// replaced by the linkage id; otherwise, unless it serves only once, the id
/// is added before the extension (`out.csv` → `out-<id>.csv`).
pub fn server_output_path(pattern: &Path, linkage: &str, once: bool) -> PathBuf {
    let text = pattern.to_string_lossy();
    if text.contains("{linkage}") {
        return PathBuf::from(text.replace("{linkage}", linkage));
    }
    if once {
        return pattern.to_path_buf();
    }
    let stem = pattern
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match pattern.extension() {
        Some(ext) => format!("{stem}-{linkage}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{linkage}"),
    };
    pattern.with_file_name(name)
}

/// One key's step in a linkage report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The key (canonical spec).
    pub key: String,
    /// Values we offered.
    pub offered: u64,
    /// Values the peer offered (what we learn of it).
    pub peer_offered: u64,
    /// Values we withheld because several of our unlinked rows carry them.
    pub ambiguous: u64,
    /// Values shared.
    pub matched: u64,
    /// Our rows linked at this step.
    pub linked_rows: u64,
}

/// The linkage part of a report.
#[derive(Debug, Clone, Serialize)]
pub struct LinkageReport {
    /// The linkage id.
    pub linkage: String,
    /// The join type.
    pub join: &'static str,
    /// Whether both sides wrote rows in the same order.
    pub align: bool,
    /// Whether the server wrote its side.
    pub share_result: bool,
    /// Per key, in priority order.
    pub steps: Vec<StepReport>,
    /// Our rows linked.
    pub linked_rows: u64,
    /// Our rows not linked.
    pub unlinked_rows: u64,
    /// The peer's rows (told at the end, for joins and alignment).
    pub peer_rows: u64,
    /// The peer's rows not linked.
    pub peer_unlinked_rows: u64,
    /// Rows written to the output (placeholders included).
    pub rows_written: u64,
    /// The output file, if one was written.
    pub output: Option<String>,
}

/// Per-step reports from our summaries and the peer's offer sizes.
pub fn step_reports(
    spec: &LinkageSpec,
    summaries: &[psi_core::linkage::StepSummary],
    peer_offered: &[u64],
) -> Vec<StepReport> {
    summaries
        .iter()
        .enumerate()
        .map(|(i, s)| StepReport {
            key: spec
                .keys()
                .get(i)
                .map(|k| k.canonical())
                .unwrap_or_default(),
            offered: s.offered,
            peer_offered: peer_offered.get(i).copied().unwrap_or(0),
            ambiguous: s.ambiguous,
            matched: s.matched,
            linked_rows: s.linked_rows,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_per_linkage() {
        let p = Path::new("out/b.csv");
        assert_eq!(server_output_path(p, "abc", true), Path::new("out/b.csv"));
        assert_eq!(
            server_output_path(p, "abc", false),
            Path::new("out/b-abc.csv")
        );
        assert_eq!(
            server_output_path(Path::new("out/{linkage}.parquet"), "abc", false),
            Path::new("out/abc.parquet")
        );
    }
}
