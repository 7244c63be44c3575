//! The meeting of one party's shard workers after each step of a sharded
//! bucketed linkage ([`psi_core::linkage::shard`]), through a directory the
//! party's workers share (`--shard-dir`: on one machine any directory, in
//! Kubernetes the party's read-write-many state claim).
//!
//! Layout: `DIR/run-{tag}/step-{s}/bucket-{b}`, one [`ShardLinks`] file per
//! step and bucket, written atomically (temporary file, renamed) by the
//! worker that ran the bucket as soon as it recorded it, so a file that is
//! there is complete. `tag` is the first 16 hex digits of the run's digest
//! ([`run_tag`]: the side, the seed, the input's SHA-256, the keys and
//! duplicates, the worker count), so two runs never share a directory, and
//! workers given different inputs or options wait for each other in vain
//! rather than mix their links (the timeout's message names the workers
//! whose buckets are missing). A worker waits by polling (every 50 ms at
//! first, at most every second) for at most `--shard-timeout`.
//!
//! Why files and polling, and not a coordinator: the workers of a party
//! already share that claim for their state, the files are what a restarted
//! worker needs to resume (they stay valid: a bucket's links are a function
//! of the data, the seed and the earlier steps), and there is no process to
//! keep alive or to elect. Why a file per bucket and not per worker: a
//! worker then holds one bucket's links at a time, when it writes them and
//! when it reads the others', so memory stays bounded as in the rest of a
//! bucketed run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use psi_core::bucket::PartitionSeed;
use psi_core::codec::Codec;
use psi_core::linkage::{Shard, ShardLinks, Side};
use sha2::{Digest, Sha256};

use super::state::hex;
use crate::error::CliError;

/// The longest pause between two looks at the directory.
const MAX_POLL: Duration = Duration::from_secs(1);

/// One worker's view of its party's shard directory for one run.
#[derive(Debug, Clone)]
pub struct Barrier {
    /// `DIR/run-{tag}`.
    dir: PathBuf,
    /// This worker.
    pub shard: Shard,
    run: [u8; 32],
    timeout: Duration,
}

/// The digest that names a run among a party's workers: every worker of the
/// party computes it alike, and a worker of another run (seed, input,
/// options or worker count) does not.
pub fn run_tag(
    side: Side,
    seed: &PartitionSeed,
    input_sha256: &str,
    config: &str,
    workers: u16,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"psi linkage shard barrier v1\0");
    h.update([match side {
        Side::Client => 1u8,
        Side::Server => 2,
    }]);
    h.update(seed.as_bytes());
    for part in [input_sha256.as_bytes(), config.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(workers.to_be_bytes());
    h.finalize().into()
}

fn file_error(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::ShardFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Barrier {
    /// Worker `shard` of the run `run` ([`run_tag`]) in `shard_dir`.
    pub fn new(shard_dir: &Path, shard: Shard, run: [u8; 32], timeout: Duration) -> Self {
        Barrier {
            dir: shard_dir.join(format!("run-{}", &hex(&run)[..16])),
            shard,
            run,
            timeout,
        }
    }

    fn path(&self, step: u16, bucket: u16) -> PathBuf {
        self.dir
            .join(format!("step-{step}"))
            .join(format!("bucket-{bucket}"))
    }

    /// Writes bucket `bucket`'s links of `step` (atomically). A file already
    /// there with the same bytes stays; one with others is an error (a
    /// bucket's links never change within a run).
    pub fn publish(
        &self,
        step: u16,
        (bucket, buckets): (u16, u16),
        matched: u64,
        rows: Vec<u32>,
    ) -> Result<(), CliError> {
        let links = ShardLinks {
            run: self.run,
            step,
            bucket,
            buckets,
            workers: self.shard.workers,
            matched,
            rows,
        };
        let bytes = links.to_bytes();
        let path = self.path(step, bucket);
        if let Ok(there) = std::fs::read(&path) {
            if there == bytes {
                return Ok(());
            }
            return Err(file_error(
                &path,
                format!(
                    "holds other links of bucket {bucket} of step {step} than this worker's ({} rows); is another worker running as shard {}?",
                    links.rows.len(),
                    self.shard
                ),
            ));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CliError::Io {
                what: "creating the shard directory",
                source,
            })?;
        }
        psi_table::write_atomically(&path, &bytes)?;
        Ok(())
    }

    /// Reads bucket `bucket`'s links of `step` (the file must be there).
    pub fn read(&self, step: u16, (bucket, buckets): (u16, u16)) -> Result<ShardLinks, CliError> {
        let path = self.path(step, bucket);
        let bytes = std::fs::read(&path).map_err(|source| psi_table::Error::Open {
            path: path.clone(),
            source,
        })?;
        let links = ShardLinks::from_bytes(&bytes)
            .map_err(|e| file_error(&path, format!("not a bucket's links: {e}")))?;
        if links.run != self.run
            || links.step != step
            || links.bucket != bucket
            || links.buckets != buckets
            || links.workers != self.shard.workers
        {
            return Err(file_error(
                &path,
                format!(
                    "written for another run, step or bucket (step {}, bucket {} of {}, {} workers; expected step {step}, bucket {bucket} of {buckets}, {} workers)",
                    links.step, links.bucket, links.buckets, links.workers, self.shard.workers
                ),
            ));
        }
        Ok(links)
    }

    /// Waits (at most the timeout) until the other workers wrote the links
    /// of every bucket of `step` that is not ours.
    pub fn wait(&self, step: u16, buckets: u16) -> Result<(), CliError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut waiting: Vec<u16> = (0..buckets).filter(|&b| !self.shard.owns(b)).collect();
        loop {
            waiting.retain(|&b| !self.path(step, b).exists());
            if waiting.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= self.timeout {
                let mut missing: Vec<u16> =
                    waiting.iter().map(|b| b % self.shard.workers).collect();
                missing.sort_unstable();
                missing.dedup();
                let missing: Vec<String> = missing.iter().map(u16::to_string).collect();
                return Err(CliError::ShardTimeout {
                    dir: self.dir.join(format!("step-{step}")),
                    missing: missing.join(", "),
                    workers: self.shard.workers,
                    step,
                    seconds: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(pause.min(self.timeout.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(MAX_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn barrier(dir: &Path, i: u16, timeout_ms: u64) -> Barrier {
        let seed = PartitionSeed::from_bytes([3; 32]);
        let run = run_tag(Side::Client, &seed, "ab", "keys", 2);
        Barrier::new(
            dir,
            Shard::new(i, 2).unwrap(),
            run,
            Duration::from_millis(timeout_ms),
        )
    }

    #[test]
    fn workers_meet_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (barrier(dir.path(), 0, 200), barrier(dir.path(), 1, 200));
        // Four buckets: 0 and 2 are worker 0's, 1 and 3 worker 1's.
        a.publish(0, (0, 4), 1, vec![1, 5]).unwrap();
        // Publishing the same again is fine; other links are not.
        a.publish(0, (0, 4), 1, vec![1, 5]).unwrap();
        assert!(a.publish(0, (0, 4), 1, vec![2]).is_err());
        a.publish(0, (2, 4), 0, vec![]).unwrap();
        let e = a.wait(0, 4).unwrap_err().to_string();
        assert!(e.contains("shard workers 1 of 2"), "{e}");
        b.publish(0, (1, 4), 0, vec![3]).unwrap();
        assert!(a.wait(0, 4).is_err(), "bucket 3 is missing");
        b.publish(0, (3, 4), 0, vec![]).unwrap();
        a.wait(0, 4).unwrap();
        b.wait(0, 4).unwrap();
        assert_eq!(a.read(0, (1, 4)).unwrap().rows, vec![3]);
        assert_eq!(b.read(0, (0, 4)).unwrap().rows, vec![1, 5]);
        // Another bucket count is refused, naming the file.
        let e = b.read(0, (0, 8)).unwrap_err().to_string();
        assert!(e.contains("bucket-0"), "{e}");
        // Another run does not see these files.
        let seed = PartitionSeed::from_bytes([4; 32]);
        let other = Barrier::new(
            dir.path(),
            Shard::new(1, 2).unwrap(),
            run_tag(Side::Client, &seed, "ab", "keys", 2),
            Duration::from_millis(50),
        );
        assert!(other.wait(0, 4).is_err());
    }
}
