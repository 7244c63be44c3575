//! `psi serve --state-dir`: bucketed linkages of a table kept on disk
//! ([`psi_core::linkage::bucketed`]). Each linkage run partitions every key
//! of the table into its own directory under `state_dir/linkages`
//! ([`LinkSpill`]), named by the table's digest, the run's seed and the
//! partner, keeps its links there, writes our side of a shared result at the
//! end, and removes the directory.
//!
//! A server killed in the middle of a linkage resumes it: restarted with the
//! same state directory it keeps its run key, so the client's run, opened
//! again with the same nonce, gets the same seed and finds the same
//! directory, whose recorded buckets are reopened ([`LinkSpill::open_sharded`]) and
//! not redone. The partner is part of the name so that no other partner
//! can resume (and so probe) a linkage, even with the same client nonce.
//! Directories of runs that never finished (a client that vanished) are
//! removed when later runs start, beyond the newest few.
//!
//! `psi serve --shard I/W --shard-dir DIR` serves every linkage as shard
//! worker `I` ([`psi_core::linkage::shard`]): its spill refuses the other
//! workers' buckets, and meets this party's other server workers in `DIR`
//! before a step's first bucket and before the totals ([`super::link_meet`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use psi_core::bucket::PartitionSeed;
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed::BucketOffer;
use psi_core::linkage::{LinkageFinish, Side, StepSummary};
use psi_server::{LinkageSource, PreparedLinkage};
use psi_table::linked::LinkedPlan;
use psi_table::LinkageSpec;
use sha2::{Digest, Sha256};

use super::link_shard::{run_tag, Barrier};
use super::link_spill::LinkSpill;
use super::state::hex;
use crate::error::CliError;
use crate::plan::OnDiskLinkage;

/// Unfinished linkage directories kept; older ones are removed.
const KEEP_LINKAGES: usize = 4;

/// A server's table, served as bucketed linkages.
pub struct DiskLinkageSource {
    path: PathBuf,
    spec: LinkageSpec,
    how: OnDiskLinkage,
    dir: PathBuf,
    digest: String,
    stamp: (u64, Option<SystemTime>),
}

fn stamp(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()))
}

impl DiskLinkageSource {
    /// Serves `path`'s keys `spec`, with linkage directories under `state_dir`.
    pub fn new(
        path: PathBuf,
        spec: LinkageSpec,
        how: OnDiskLinkage,
        state_dir: &Path,
        digest: String,
    ) -> Result<Self, CliError> {
        let dir = state_dir.join("linkages");
        std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
            what: "creating the server's state directory",
            source,
        })?;
        let stamp = stamp(&path).ok_or_else(|| {
            CliError::Usage(format!("{}: cannot read its metadata", path.display()))
        })?;
        Ok(DiskLinkageSource {
            path,
            spec,
            how,
            dir,
            digest,
            stamp,
        })
    }

    /// Removes all but the newest [`KEEP_LINKAGES`] linkage directories.
    fn evict(&self) {
        super::disk::keep_newest(&self.dir, KEEP_LINKAGES);
    }
}

impl LinkageSource for DiskLinkageSource {
    fn prepare(
        &self,
        seed: &PartitionSeed,
        partner: &str,
        progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedLinkage>, String> {
        if stamp(&self.path) != Some(self.stamp) {
            return Err(format!(
                "{} changed since this server started; restart it to serve the new table",
                self.path.display()
            ));
        }
        let partner = hex(&Sha256::digest(partner.as_bytes()));
        let name = format!(
            "{}-{}-{}",
            &self.digest[..16],
            &hex(seed.as_bytes())[..16],
            &partner[..16]
        );
        let dir = self.dir.join(name);
        let barrier = self.how.shard.as_ref().map(|s| {
            let config = super::link_meta::config(&self.spec, self.how.duplicates);
            let run = run_tag(Side::Server, seed, &self.digest, &config, s.shard.workers);
            Barrier::new(&s.dir, s.shard, run, s.timeout)
        });
        match LinkSpill::open_sharded(&dir, &self.spec, self.how.duplicates, barrier.clone()) {
            Ok(Some((spill, report)))
                if !(self.how.refuse_duplicates && report.duplicate_key_rows > 0) =>
            {
                tracing::info!(dir = %dir.display(), buckets_recorded = spill.recorded(), "linkage resumed");
                self.evict();
                return Ok(Arc::new(Served {
                    spill,
                    input: self.path.clone(),
                    how: self.how.clone(),
                }));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a linkage's state is damaged: it starts over"),
        }
        self.evict();
        let _ = std::fs::remove_dir_all(&dir);
        let made = LinkSpill::create(
            &self.path,
            &self.spec,
            self.how.duplicates,
            seed,
            &dir,
            |n| progress.store(n, Ordering::Relaxed),
        );
        let (spill, report) = match made {
            Ok((spill, report)) => (spill.sharded(barrier), report),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.to_string());
            }
        };
        if self.how.refuse_duplicates && report.duplicate_key_rows > 0 {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "{}: {} rows repeat another row's key (the server was started with --duplicates reject)",
                self.path.display(),
                report.duplicate_key_rows
            ));
        }
        tracing::info!(rows = report.rows, keys = spill.steps(), dir = %dir.display(), "table partitioned for a linkage");
        Ok(Arc::new(Served {
            spill,
            input: self.path.clone(),
            how: self.how.clone(),
        }))
    }
}

/// One linkage run's state.
struct Served {
    spill: LinkSpill,
    input: PathBuf,
    how: OnDiskLinkage,
}

impl PreparedLinkage for Served {
    fn rows(&self) -> u64 {
        self.spill.rows()
    }

    fn steps(&self) -> usize {
        self.spill.steps()
    }

    fn offer(&self, step: u16, bucket: u16, count: u16) -> Result<(BucketOffer, u64), String> {
        self.spill
            .offer(step, bucket, count)
            .map_err(|e| e.to_string())
    }

    fn unfinished_before(&self, step: u16) -> Option<u16> {
        self.spill.unfinished_before(step)
    }

    fn record(
        &self,
        step: u16,
        bucket: u16,
        count: u16,
        offer: &BucketOffer,
        matched: &[(u32, LinkId)],
    ) -> Result<u64, String> {
        self.spill
            .record(step, bucket, count, offer, matched)
            .map_err(|e| e.to_string())
    }

    fn complete(&self) -> Result<bool, String> {
        // A shard worker meets its party's other workers after the last
        // step first: the unlinked rows are those no worker linked.
        self.spill.settle_all().map_err(|e| e.to_string())?;
        Ok(self.spill.complete())
    }

    fn linked_rows(&self) -> u64 {
        self.spill.linked_rows()
    }

    fn summaries(&self) -> Vec<StepSummary> {
        self.spill.summaries()
    }

    fn finished(
        &self,
        linkage: &str,
        finish: &LinkageFinish,
    ) -> Result<Option<(u64, String)>, String> {
        let written = match (&self.how.output, finish.share_result) {
            (Some(output), true) => {
                let path = output.path(linkage);
                let rows = self.spill.rows();
                let plan = LinkedPlan {
                    side: Side::Server,
                    join: finish.join,
                    align: finish.align,
                    client_unlinked: finish.client_unlinked_rows,
                    server_unlinked: rows - self.spill.linked_rows(),
                    writes_unlinked: true,
                };
                self.spill
                    .write(&self.input, &plan, &path, &output.options)
                    .map(|n| Some((n, path.display().to_string())))
                    .map_err(|e| e.to_string())
            }
            _ => Ok(None),
        };
        let _ = std::fs::remove_dir_all(self.spill.dir());
        written
    }
}
