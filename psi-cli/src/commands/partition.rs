//! Spilling a table's keys by fine bucket ([`psi_core::bucket`]), for both
//! parties of a bucketed run: the client into its state directory, the
//! server into its cache of partitions (`super::disk`), `psi partition` into
//! a cut (`super::cut`).

use std::path::Path;

use psi_core::bucket::{Partition, PartitionSeed, FINE_BUCKETS};
use psi_table::spill::{Spill, SpillWriter};
use psi_table::KeySpec;

use crate::error::CliError;
use crate::report::InputReport;

/// Streams the keys of `path` into fine-bucket files in `dir` under `seed`;
/// `rows` hears the rows read.
pub fn spill_keys(
    path: &Path,
    key: &KeySpec,
    seed: &PartitionSeed,
    dir: &Path,
    rows: impl Fn(u64),
) -> Result<(Spill, InputReport), CliError> {
    let partition = Partition::new(seed);
    let mut writer = SpillWriter::create(dir, FINE_BUCKETS)?;
    let streamed = psi_table::stream_keys(path, key, |row, item| {
        if row % 65536 == 0 {
            rows(row);
        }
        writer.push(partition.fine(&item), &item, row)
    })?;
    let spill = writer.finish()?;
    rows(streamed.stats.rows);
    let report = InputReport::streamed(
        path,
        key,
        &streamed.stats,
        spill.records(),
        spill.distinct(),
    );
    Ok((spill, report))
}
