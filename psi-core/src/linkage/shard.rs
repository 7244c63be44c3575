//! A bucketed linkage ([`super::bucketed`]) split over `W` worker pairs: the
//! rule of who runs which bucket, who writes which row, and the one message
//! a party's workers exchange.
//!
//! # Why the workers must meet after each step
//! The buckets of one step are independent ([`super::bucketed`]: a row
//! carries one key-`k` value, so it takes part in one bucket of step `k`),
//! so worker `I` of `W` runs the buckets `b` with `b mod W = I`
//! ([`Shard::owns`]), exactly as a sharded intersection does. But step
//! `k + 1` offers only the rows no step `≤ k` linked, and those links come
//! from every bucket, so from every worker. So each worker of a party hands
//! the rows each of its buckets linked to the party's other workers
//! ([`ShardLinks`], one file per step and bucket in a directory the party's
//! workers share, written as the bucket is recorded), and before step
//! `k + 1` waits until it holds the files of every bucket of step `k`; then
//! its bitmap of linked rows is the one a single machine would hold, and it
//! starts the next step. One file per bucket, not per worker, keeps memory
//! bounded by one bucket's links, as everywhere else in a bucketed run. Each
//! party's workers meet among themselves: nothing crosses to the other
//! party.
//!
//! # What the peer learns
//! Nothing beyond an unsharded bucketed linkage of the same seed. Each
//! worker holds its party's whole table (spilled by key) and, after each
//! meeting, the whole bitmap, so it counts the step's offer over **every**
//! bucket ([`super::bucketed::padded_offer`] of the step's total) and pads
//! its buckets to the size a single machine would: the same buckets, the
//! same offers, the same padded sizes, the same link ids
//! ([`super::bucketed::link_id`] depends on the seed, the step and the
//! value, not on who runs the bucket). Only the timing differs (buckets run
//! in parallel, a pause at each meeting). The [`ShardLinks`] files stay on
//! the party's own storage; they hold row numbers, which every worker of
//! that party may know anyway (each holds the table).
//!
//! # Who writes which row
//! Each worker writes, on each side, the rows linked by its own buckets
//! (with their ids). A row that no step linked is written, where the join
//! keeps it, by worker 0 alone ([`Shard::writes_unlinked`]), and so are the
//! placeholders an aligned outer join writes for the other side's unlinked
//! rows. So the `W` outputs of a side, concatenated without their headers,
//! are as a multiset of rows the output of one machine; and with `--align`
//! the outputs of worker `I` on both sides are aligned line by line (both
//! sort their linked rows by id, and only worker 0 writes the unlinked tail
//! on both sides): merging the `W` files by id, rows without an id last in
//! worker 0's order, gives the single machine's file byte for byte.
//!
//! # Resume
//! A [`ShardLinks`] file is a function of the data, the seed and the steps
//! before it (a redone bucket links the same rows under the same ids), so a
//! worker that restarts finds the files it and the others wrote still
//! valid, and writes its own again byte for byte when it gets there.

use crate::codec::{kind, read_header, write_header, Codec, DecodeError, Reader};

/// Worker `index` of `workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker, from 0.
    pub index: u16,
    /// The workers of each party.
    pub workers: u16,
}

impl Shard {
    /// Worker `index` of `workers`; `None` unless `index < workers`.
    pub fn new(index: u16, workers: u16) -> Option<Self> {
        (index < workers).then_some(Shard { index, workers })
    }

    /// The whole linkage on one machine.
    pub const WHOLE: Shard = Shard {
        index: 0,
        workers: 1,
    };

    /// Whether this worker runs bucket `bucket`: `bucket mod W = I`.
    pub fn owns(&self, bucket: u16) -> bool {
        bucket % self.workers == self.index
    }

    /// Whether this worker writes the rows no step linked (and an aligned
    /// outer join's placeholders): worker 0 only.
    pub fn writes_unlinked(&self) -> bool {
        self.index == 0
    }

    /// Whether there is more than one worker.
    pub fn is_split(&self) -> bool {
        self.workers > 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.workers)
    }
}

/// What one bucket linked at one step, on its party's side, written by the
/// worker that ran it: the file `step-{step}/bucket-{bucket}` in the
/// directory the party's workers share (see the module doc). Decoded from a
/// file another process wrote, so every field is checked: the bucket is
/// below the bucket count, the workers at least one, the rows strictly
/// increase, and the row count is bounded by the bytes at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLinks {
    /// The run this belongs to: a digest of the seed, the party's side, its
    /// input and configuration, which every worker of the party computes
    /// alike (a file of another run is refused, not mixed in).
    pub run: [u8; 32],
    /// The step (key index, from 0).
    pub step: u16,
    /// The bucket.
    pub bucket: u16,
    /// The run's bucket count.
    pub buckets: u16,
    /// The workers of each party (the bucket's worker is `bucket mod
    /// workers`).
    pub workers: u16,
    /// Distinct values the bucket linked (its part of the step summary's
    /// `matched`).
    pub matched: u64,
    /// The rows the bucket linked, strictly increasing.
    pub rows: Vec<u32>,
}

impl Codec for ShardLinks {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::SHARD_LINKS);
        out.extend_from_slice(&self.run);
        out.extend_from_slice(&self.step.to_be_bytes());
        out.extend_from_slice(&self.bucket.to_be_bytes());
        out.extend_from_slice(&self.buckets.to_be_bytes());
        out.extend_from_slice(&self.workers.to_be_bytes());
        out.extend_from_slice(&self.matched.to_be_bytes());
        // Rows are u32 row numbers, so fewer than 2^32 of them.
        out.extend_from_slice(&(self.rows.len() as u32).to_be_bytes());
        for row in &self.rows {
            out.extend_from_slice(&row.to_be_bytes());
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::SHARD_LINKS, "shard links")?;
        let run = r.array::<32>()?;
        let u16_of = |r: &mut Reader<'_>| r.array::<2>().map(u16::from_be_bytes);
        let step = u16_of(r)?;
        let bucket = u16_of(r)?;
        let buckets = u16_of(r)?;
        if bucket >= buckets {
            return Err(DecodeError::InvalidField {
                field: "bucket (not below the bucket count)",
                value: u64::from(bucket),
            });
        }
        let workers = u16_of(r)?;
        if workers == 0 {
            return Err(DecodeError::InvalidField {
                field: "workers",
                value: 0,
            });
        }
        let matched = r.u64()?;
        let n = r.u32()? as usize;
        let needed = n.saturating_mul(4);
        if needed > r.remaining() {
            return Err(DecodeError::Truncated {
                needed: needed - r.remaining(),
            });
        }
        if matched > n as u64 {
            return Err(DecodeError::InvalidField {
                field: "matched values (more than the rows linked)",
                value: matched,
            });
        }
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let row = r.u32()?;
            if rows.last().is_some_and(|&last| row <= last) {
                return Err(DecodeError::InvalidField {
                    field: "row (not above the one before)",
                    value: u64::from(row),
                });
            }
            rows.push(row);
        }
        Ok(ShardLinks {
            run,
            step,
            bucket,
            buckets,
            workers,
            matched,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> ShardLinks {
        ShardLinks {
            run: [7; 32],
            step: 1,
            bucket: 5,
            buckets: 8,
            workers: 3,
            matched: 2,
            rows: vec![0, 5, 9],
        }
    }

    #[test]
    fn round_trips_and_refuses_what_is_wrong() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(ShardLinks::from_bytes(&bytes).unwrap(), m);
        // Every cut is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(ShardLinks::from_bytes(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ShardLinks::from_bytes(&longer).is_err());
        let unsorted = ShardLinks {
            rows: vec![5, 5, 9],
            ..sample()
        };
        assert!(ShardLinks::from_bytes(&unsorted.to_bytes()).is_err());
        let mut bad_bucket = bytes.clone();
        // bucket (offset 2 + 32 + 2) set to 8 of 8 buckets.
        bad_bucket[37] = 8;
        assert!(ShardLinks::from_bytes(&bad_bucket).is_err());
        let mut no_workers = bytes.clone();
        no_workers[41] = 0;
        assert!(ShardLinks::from_bytes(&no_workers).is_err());
        let too_many = ShardLinks {
            matched: 4,
            ..sample()
        };
        assert!(ShardLinks::from_bytes(&too_many.to_bytes()).is_err());
        // A huge claimed count allocates nothing.
        let mut huge = sample().to_bytes();
        let at = 2 + 32 + 8 + 8;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ShardLinks::from_bytes(&huge),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn each_bucket_has_one_worker() {
        for workers in 1..6u16 {
            for bucket in 0..64u16 {
                let owners = (0..workers)
                    .filter(|&i| Shard::new(i, workers).unwrap().owns(bucket))
                    .count();
                assert_eq!(owners, 1);
            }
            let writers = (0..workers)
                .filter(|&i| Shard::new(i, workers).unwrap().writes_unlinked())
                .count();
            assert_eq!(writers, 1);
        }
        assert!(Shard::new(3, 3).is_none());
        assert!(!Shard::WHOLE.is_split());
    }
}
