//! A party's table: read off the async threads with what the plan asks of
//! it (`--rejects` written, repeated key values refused), handed to the
//! protocol as key columns, and a linkage's planned rows turned into the
//! rows the table layer writes.

use psi_core::linkage::{KeyColumn, PlannedRows, NO_KEY};
use psi_table::{KeySpec, KeyedTable, LinkageTable, OutRow};

use crate::error::CliError;
use crate::plan::InputPlan;

/// Reads the input with its one key. Rejects are listed as
/// `line,column,reason`.
pub async fn read_keyed(input: &InputPlan, key: &KeySpec) -> Result<KeyedTable, CliError> {
    let (path, key) = (input.path.clone(), key.clone());
    let table = blocking("reading the input", move || KeyedTable::read(&path, &key)).await??;
    if let Some(path) = &input.rejects {
        announce_rejects(table.write_rejects(path)?, path);
    }
    if input.refuse_duplicates {
        refuse_duplicates(&table)?;
    }
    Ok(table)
}

/// Reads the input with every key of its spec. Rejects are listed as
/// `line,key,column,reason`.
pub async fn read_linkage(input: &InputPlan) -> Result<LinkageTable, CliError> {
    let (path, spec) = (input.path.clone(), input.spec.clone());
    let table = blocking("reading the input", move || {
        LinkageTable::read(&path, &spec)
    })
    .await??;
    if let Some(path) = &input.rejects {
        announce_rejects(table.write_rejects(path)?, path);
    }
    if input.refuse_duplicates {
        if let [key] = table.keys() {
            refuse_duplicates(key)?;
        }
    }
    Ok(table)
}

/// Runs `f` on the blocking pool; `what` names it if the task fails.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CliError::task(what, e))
}

fn announce_rejects(n: u64, path: &std::path::Path) {
    if n > 0 {
        eprintln!(
            "{n} rows with invalid key values written to {}",
            path.display()
        );
    }
}

/// An error naming the first repeated key values' lines (CSV lines, the
/// header being line 1), if any row repeats an earlier row's key.
fn refuse_duplicates(t: &KeyedTable) -> Result<(), CliError> {
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
        "{}: {} rows repeat the key of an earlier row ({}{}); \
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

/// Every key of a table as the protocol's [`KeyColumn`]s.
pub fn key_columns(t: &LinkageTable) -> Vec<KeyColumn> {
    t.keys().iter().map(key_column).collect()
}

fn key_column(t: &KeyedTable) -> KeyColumn {
    let rows = t.stats().rows as usize;
    KeyColumn {
        items: t.items().to_vec(),
        row_items: (0..rows)
            .map(|r| t.row_item(r).map_or(NO_KEY, |i| i as u32))
            .collect(),
    }
}

/// The table layer's rows for a linkage's planned rows, made one at a time
/// as they are written (placeholders are never stored): ids in lowercase hex.
pub fn out_rows(planned: PlannedRows<'_>) -> impl Iterator<Item = OutRow> + Clone + '_ {
    planned.map(|p| OutRow {
        row: p.row,
        id: p
            .id
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect()),
    })
}
