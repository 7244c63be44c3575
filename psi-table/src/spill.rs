//! Spill files: a bucketed run's keys on local disk, so that no party holds
//! its whole set in memory.
//!
//! [`SpillWriter`] appends one fixed-size record per keyed row, `(item, row)`
//! (32 + 4 bytes, the row little-endian), to the file of its fine bucket.
//! [`SpillWriter::finish`] sorts each file by item, then row, counts its
//! distinct items, syncs it, and only then writes the index (`index.bin`,
//! through a temporary file), so a spill with an index is complete. A coarse
//! bucket is a range of fine files; [`Spill::load`] reads one into memory as
//! distinct items with the rows that carry each.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use psi_core::Item;
use rayon::prelude::*;

use crate::{read_error, write_error, Error};

/// Bytes per record: the item, then the 0-based row as a little-endian `u32`.
pub const RECORD_BYTES: usize = 36;
/// Largest row number a spill can hold.
pub const MAX_SPILL_ROW: u64 = u32::MAX as u64;
const INDEX: &str = "index.bin";
const MAGIC: &[u8; 8] = b"PSISPIL1";
/// Buffer per open fine file while spilling.
const BUFFER: usize = 16 * 1024;

fn fine_path(dir: &Path, fine: u16) -> PathBuf {
    dir.join(format!("fine-{fine:04}.bin"))
}

/// Writes a spill: one file per fine bucket.
pub struct SpillWriter {
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
    records: Vec<u64>,
}

impl SpillWriter {
    /// Creates (or empties) `fine` files in `dir`, which is created if needed.
    pub fn create(dir: &Path, fine: u16) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        let _ = fs::remove_file(dir.join(INDEX));
        let files = (0..fine)
            .map(|f| {
                let path = fine_path(dir, f);
                File::create(&path)
                    .map(|file| BufWriter::with_capacity(BUFFER, file))
                    .map_err(|e| write_error(&path, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(SpillWriter {
            dir: dir.to_path_buf(),
            files,
            records: vec![0; usize::from(fine)],
        })
    }

    /// Appends `row`'s `item` to fine bucket `fine`.
    pub fn push(&mut self, fine: u16, item: &Item, row: u64) -> Result<(), Error> {
        let f = usize::from(fine);
        let row = u32::try_from(row).map_err(|_| Error::TooManyRows {
            path: self.dir.clone(),
            limit: MAX_SPILL_ROW,
        })?;
        let Some(file) = self.files.get_mut(f) else {
            return Err(Error::DamagedSpill {
                path: self.dir.clone(),
                reason: format!("no fine bucket {fine}"),
            });
        };
        let mut record = [0u8; RECORD_BYTES];
        record[..32].copy_from_slice(item.as_bytes());
        record[32..].copy_from_slice(&row.to_le_bytes());
        file.write_all(&record)
            .map_err(|e| write_error(&fine_path(&self.dir, fine), e))?;
        self.records[f] += 1;
        Ok(())
    }

    /// Flushes, sorts and syncs every file, then writes the index.
    pub fn finish(self) -> Result<Spill, Error> {
        let SpillWriter {
            dir,
            files,
            records,
        } = self;
        for (f, mut file) in files.into_iter().enumerate() {
            file.flush()
                .map_err(|e| write_error(&fine_path(&dir, f as u16), e))?;
        }
        // Each file is read, sorted and rewritten (then synced) on its own:
        // in parallel, so the syncs overlap.
        let distinct = (0..records.len())
            .into_par_iter()
            .map(|f| sort_file(&fine_path(&dir, f as u16), records[f]))
            .collect::<Result<Vec<_>, _>>()?;
        let mut index = Vec::with_capacity(10 + 16 * records.len());
        index.extend_from_slice(MAGIC);
        index.extend_from_slice(&(records.len() as u16).to_le_bytes());
        for (r, d) in records.iter().zip(&distinct) {
            index.extend_from_slice(&r.to_le_bytes());
            index.extend_from_slice(&d.to_le_bytes());
        }
        crate::write_atomically(&dir.join(INDEX), &index)?;
        Ok(Spill {
            dir,
            records,
            distinct,
        })
    }
}

/// Reads a fine file of `records` records whole.
fn read_records(path: &Path, records: u64) -> Result<Vec<[u8; RECORD_BYTES]>, Error> {
    let mut file = File::open(path).map_err(|e| read_error(path, e))?;
    let len = file.metadata().map_err(|e| read_error(path, e))?.len();
    if len != records.saturating_mul(RECORD_BYTES as u64) {
        return Err(Error::DamagedSpill {
            path: path.to_path_buf(),
            reason: format!("{len} bytes where {records} records were written"),
        });
    }
    let n = usize::try_from(records).map_err(|_| Error::DamagedSpill {
        path: path.to_path_buf(),
        reason: "too large for this machine".to_string(),
    })?;
    let mut bytes = Vec::with_capacity(n * RECORD_BYTES);
    file.read_to_end(&mut bytes)
        .map_err(|e| read_error(path, e))?;
    Ok(bytes
        .chunks_exact(RECORD_BYTES)
        .map(|c| {
            let mut r = [0u8; RECORD_BYTES];
            r.copy_from_slice(c);
            r
        })
        .collect())
}

/// Sorts one fine file in place (through a rewrite) and counts its items.
fn sort_file(path: &Path, records: u64) -> Result<u64, Error> {
    let mut all = read_records(path, records)?;
    // Items first, then rows: the row is little-endian, so compare it as a number.
    all.sort_unstable_by(|a, b| {
        a[..32]
            .cmp(&b[..32])
            .then_with(|| row_of(a).cmp(&row_of(b)))
    });
    let distinct = all
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || all[i - 1][..32] != r[..32])
        .count() as u64;
    let mut out = BufWriter::new(File::create(path).map_err(|e| write_error(path, e))?);
    for r in &all {
        out.write_all(r).map_err(|e| write_error(path, e))?;
    }
    out.into_inner()
        .map_err(|e| write_error(path, e.into_error()))?
        .sync_data()
        .map_err(|e| write_error(path, e))?;
    Ok(distinct)
}

fn row_of(record: &[u8; RECORD_BYTES]) -> u32 {
    u32::from_le_bytes([record[32], record[33], record[34], record[35]])
}

/// A finished spill.
#[derive(Debug, Clone)]
pub struct Spill {
    dir: PathBuf,
    records: Vec<u64>,
    distinct: Vec<u64>,
}

/// One coarse bucket in memory: its distinct items, sorted, and the rows that
/// carry each.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Distinct items.
    pub items: Vec<Item>,
    /// `rows[starts[i]..starts[i + 1]]` carry `items[i]`, ascending.
    starts: Vec<u32>,
    rows: Vec<u32>,
}

impl Bucket {
    /// The rows (0-based, ascending) that carry `items[i]`.
    pub fn rows_of(&self, i: usize) -> &[u32] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.rows[a as usize..b as usize],
            _ => &[],
        }
    }
}

impl Spill {
    /// Opens the finished spill in `dir`, which must have `fine` files.
    pub fn open(dir: &Path, fine: u16) -> Result<Self, Error> {
        let path = dir.join(INDEX);
        let bytes = fs::read(&path).map_err(|e| read_error(&path, e))?;
        let damaged = |reason: &str| Error::DamagedSpill {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let expected = 10 + 16 * usize::from(fine);
        if bytes.len() != expected || &bytes[..8] != MAGIC {
            return Err(damaged("not a spill index of this version"));
        }
        if u16::from_le_bytes([bytes[8], bytes[9]]) != fine {
            return Err(damaged("another number of fine buckets"));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let (mut records, mut distinct) = (Vec::new(), Vec::new());
        for f in 0..usize::from(fine) {
            records.push(word(10 + 16 * f));
            distinct.push(word(18 + 16 * f));
        }
        Ok(Spill {
            dir: dir.to_path_buf(),
            records,
            distinct,
        })
    }

    /// Distinct items in all fine buckets.
    pub fn distinct(&self) -> u64 {
        self.distinct.iter().sum()
    }

    /// Records (keyed rows) in all fine buckets.
    pub fn records(&self) -> u64 {
        self.records.iter().sum()
    }

    /// Distinct items in fine buckets `range`.
    pub fn distinct_in(&self, range: Range<u16>) -> u64 {
        let r = usize::from(range.start)..usize::from(range.end);
        self.distinct.get(r).map_or(0, |d| d.iter().sum())
    }

    /// Reads fine buckets `range` as one bucket.
    pub fn load(&self, range: Range<u16>) -> Result<Bucket, Error> {
        let mut bucket = Bucket::default();
        for fine in range {
            let f = usize::from(fine);
            let (Some(&records), Some(&distinct)) = (self.records.get(f), self.distinct.get(f))
            else {
                return Err(Error::DamagedSpill {
                    path: self.dir.clone(),
                    reason: format!("no fine bucket {fine}"),
                });
            };
            let path = fine_path(&self.dir, fine);
            let all = read_records(&path, records)?;
            let before = bucket.items.len();
            for (i, r) in all.iter().enumerate() {
                if i == 0 || all[i - 1][..32] != r[..32] {
                    let mut item = [0u8; 32];
                    item.copy_from_slice(&r[..32]);
                    bucket.items.push(Item::from_digest(item));
                    bucket.starts.push(bucket.rows.len() as u32);
                }
                bucket.rows.push(row_of(r));
            }
            if (bucket.items.len() - before) as u64 != distinct {
                return Err(Error::DamagedSpill {
                    path,
                    reason: "its items differ from its index".to_string(),
                });
            }
        }
        bucket.starts.push(bucket.rows.len() as u32);
        Ok(bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(i: u8) -> Item {
        Item::from_digest([i; 32])
    }

    #[test]
    fn spills_sort_dedupe_and_load_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::create(dir.path(), 4).unwrap();
        // Item 5 twice in bucket 1 (rows 7 and 2), item 9 in bucket 1, item 3 in bucket 3.
        w.push(1, &item(5), 7).unwrap();
        w.push(1, &item(9), 1).unwrap();
        w.push(3, &item(3), 0).unwrap();
        w.push(1, &item(5), 2).unwrap();
        assert!(w.push(9, &item(1), 0).is_err());
        assert!(w.push(0, &item(1), MAX_SPILL_ROW + 1).is_err());
        let spill = w.finish().unwrap();
        assert_eq!((spill.distinct(), spill.records()), (3, 4));
        let reopened = Spill::open(dir.path(), 4).unwrap();
        assert_eq!(reopened.distinct_in(0..2), 2);
        let b = reopened.load(0..2).unwrap();
        assert_eq!(b.items, vec![item(5), item(9)]);
        assert_eq!(b.rows_of(0), &[2, 7]);
        assert_eq!(b.rows_of(1), &[1]);
        assert_eq!(b.rows_of(2), &[] as &[u32]);
        let all = reopened.load(0..4).unwrap();
        assert_eq!(all.items.len(), 3);
        assert!(Spill::open(dir.path(), 8).is_err());
    }

    #[test]
    fn a_damaged_or_unfinished_spill_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::create(dir.path(), 2).unwrap();
        w.push(0, &item(1), 0).unwrap();
        drop(w);
        assert!(
            Spill::open(dir.path(), 2).is_err(),
            "no index: not finished"
        );
        let mut w = SpillWriter::create(dir.path(), 2).unwrap();
        w.push(0, &item(1), 0).unwrap();
        let spill = w.finish().unwrap();
        fs::write(fine_path(dir.path(), 0), [0u8; 35]).unwrap();
        let e = spill.load(0..1).unwrap_err().to_string();
        assert!(e.contains("fine-0000.bin") && e.contains("35 bytes"), "{e}");
    }
}
