//! A server's table kept on disk for bucketed runs ([`DiskSource`]): each
//! run's partition spilled into a cache kept by the input's digest and the
//! run's seed (so a resumed run reuses it), or taken from a cut
//! `psi partition` made for that seed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use psi_core::bucket::{PartitionSeed, FINE_BUCKETS};
use psi_core::Item;
use psi_server::{BucketSource, PreparedSet};
use psi_table::spill::Spill;
use psi_table::KeySpec;

use super::cut::Cut;
use super::partition::spill_keys;
use super::progress::ServerProgress;
use super::state::hex;
use crate::error::CliError;

/// Partitions kept per server; older ones are removed.
const KEEP_PARTITIONS: usize = 4;

/// Removes all but the newest `keep` entries of `dir` (by modification
/// time); what cannot be read or removed is left alone.
pub fn keep_newest(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort();
    let extra = dirs.len().saturating_sub(keep);
    for (_, dir) in dirs.into_iter().take(extra) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A server's table on disk.
pub struct DiskSource {
    path: PathBuf,
    key: KeySpec,
    cache: PathBuf,
    digest: String,
    /// Size and modification time at start: a table changed under a running
    /// server is refused rather than served half old, half new.
    stamp: (u64, Option<SystemTime>),
    /// Where partitions show their progress, if anywhere.
    progress: Option<ServerProgress>,
    /// A cut made by `psi partition` for one run's seed.
    cut: Option<Cut>,
}

fn stamp(path: &Path) -> Result<(u64, Option<SystemTime>), CliError> {
    let m = std::fs::metadata(path).map_err(|source| psi_table::Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((m.len(), m.modified().ok()))
}

impl DiskSource {
    /// Serves `path`'s `key`, with partitions under `state_dir/partitions`.
    pub fn new(
        path: PathBuf,
        key: KeySpec,
        state_dir: &Path,
        digest: String,
    ) -> Result<Self, CliError> {
        let cache = state_dir.join("partitions");
        std::fs::create_dir_all(&cache).map_err(|source| CliError::Io {
            what: "creating the server's state directory",
            source,
        })?;
        Ok(DiskSource {
            stamp: stamp(&path)?,
            path,
            key,
            cache,
            digest,
            progress: None,
            cut: None,
        })
    }

    /// Serves the run whose seed is `cut`'s from it.
    pub fn with_cut(self, cut: Cut) -> Self {
        DiskSource {
            cut: Some(cut),
            ..self
        }
    }

    /// Shows each partition on `progress`.
    pub fn with_progress(self, progress: ServerProgress) -> Self {
        DiskSource {
            progress: Some(progress),
            ..self
        }
    }

    /// Removes all but the newest [`KEEP_PARTITIONS`] partitions.
    fn evict(&self) {
        keep_newest(&self.cache, KEEP_PARTITIONS);
    }
}

struct OnDisk(Spill);

impl PreparedSet for OnDisk {
    fn distinct(&self) -> u64 {
        self.0.distinct()
    }

    fn load(&self, fine: std::ops::Range<u16>) -> Result<Vec<Item>, String> {
        self.0
            .load(fine)
            .map(|b| b.items)
            .map_err(|e| e.to_string())
    }
}

impl BucketSource for DiskSource {
    fn prepare(
        &self,
        seed: &PartitionSeed,
        progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedSet>, String> {
        if stamp(&self.path).ok() != Some(self.stamp) {
            return Err(format!(
                "{} changed since this server started; restart it to serve the new table",
                self.path.display()
            ));
        }
        if let Some(cut) = self.cut.as_ref().filter(|c| c.seed() == *seed) {
            tracing::info!(partition = %cut.dir.display(), "partition made by psi partition");
            return Ok(Arc::new(OnDisk(cut.spill().map_err(|e| e.to_string())?)));
        }
        let name = format!("{}-{}", &self.digest[..16], &hex(seed.as_bytes())[..16]);
        let dir = self.cache.join(name);
        if let Ok(spill) = Spill::open(&dir, FINE_BUCKETS) {
            tracing::info!(partition = %dir.display(), "partition reused");
            return Ok(Arc::new(OnDisk(spill)));
        }
        let started = std::time::Instant::now();
        let logged = std::sync::Mutex::new(started);
        if let Some(p) = &self.progress {
            p.partition();
        }
        let spilled = spill_keys(&self.path, &self.key, seed, &dir, |n| {
            progress.store(n, Ordering::Relaxed);
            if let Some(p) = &self.progress {
                p.rows(n);
            }
            // A line every few seconds: partitions of large tables take minutes.
            if let Ok(mut last) = logged.lock() {
                if last.elapsed().as_secs() >= 5 {
                    *last = std::time::Instant::now();
                    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    tracing::info!(
                        rows = n,
                        rows_per_second = rate as u64,
                        "partitioning for a run"
                    );
                }
            }
        });
        if let Some(p) = &self.progress {
            p.serving();
        }
        let (spill, report) = spilled.map_err(|e| e.to_string())?;
        tracing::info!(
            rows = report.rows,
            distinct_keys = report.distinct_keys,
            partition = %dir.display(),
            "table partitioned for a run"
        );
        self.evict();
        Ok(Arc::new(OnDisk(spill)))
    }
}
