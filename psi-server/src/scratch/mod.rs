//! Temporary record files for the external-memory PSI-cardinality and
//! PSI-sum roles ([`psi_core::pjc::external`]): fixed-size records scattered
//! into `F` files ([`RecordFiles`]), each file then read back whole
//! ([`WrittenFiles`]), and on top of that the external shuffle
//! ([`Shuffle`]: each record to a uniformly random file, each file shuffled
//! when read; a uniform permutation, argued in `pjc::external`'s doc).
//!
//! The files live in a [`ScratchDir`] ([`dir`]), a fresh directory removed
//! when the last handle on it is dropped: when a run ends, fails or is
//! abandoned; one left by a killed process goes with the next one made
//! beside it.
//! Every I/O error names the file (a full disk is `No space left on
//! device` on the file being written).

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rand_core::RngCore;

use crate::Error;

mod dir;
mod private;
pub use dir::{dir_bytes, ScratchDir};
pub(crate) use private::{io, write_private};

/// Write buffer per open file: with at most `pjc::external::MAX_FILES`
/// (1024) files, 32 MiB in all.
const BUFFER: usize = 32 * 1024;

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Scratch {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// `F` files of fixed-size records being written.
pub struct RecordFiles {
    /// Held until the files are read (`None`: a kept directory, a resumable
    /// run's, which its owner removes).
    dir: Option<ScratchDir>,
    paths: Vec<PathBuf>,
    files: Vec<BufWriter<File>>,
    counts: Vec<u64>,
    record_len: usize,
}

impl RecordFiles {
    /// Creates `files` empty files `name-NNNN.bin` in `dir` for records of
    /// `record_len` bytes.
    pub fn create(
        dir: &ScratchDir,
        name: &str,
        files: usize,
        record_len: usize,
    ) -> Result<Self, Error> {
        let paths: Vec<PathBuf> = (0..files.max(1))
            .map(|i| dir.path().join(format!("{name}-{i:04}.bin")))
            .collect();
        let files = paths
            .iter()
            .map(|p| {
                File::create(p)
                    .map(|f| BufWriter::with_capacity(BUFFER, f))
                    .map_err(|e| io_error("creating", p, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(RecordFiles {
            dir: Some(dir.clone()),
            counts: vec![0; paths.len()],
            paths,
            files,
            record_len,
        })
    }

    /// Reopens (or creates) `files` files `name-NNNN.bin` in the kept
    /// directory `dir` at a checkpoint: file `i` holds `counts[i]` records
    /// (all zero for new files); anything written after the checkpoint is
    /// cut off. A file shorter than its count is damaged: an error naming it.
    pub fn resume(
        dir: &Path,
        name: &str,
        counts: &[u64],
        record_len: usize,
    ) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
        let paths: Vec<PathBuf> = (0..counts.len().max(1))
            .map(|i| dir.join(format!("{name}-{i:04}.bin")))
            .collect();
        let counts = (0..paths.len())
            .map(|i| counts.get(i).copied().unwrap_or(0))
            .collect::<Vec<u64>>();
        let mut files = Vec::with_capacity(paths.len());
        for (p, &count) in paths.iter().zip(&counts) {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let f = options.open(p).map_err(|e| io_error("opening", p, e))?;
            let want = count.saturating_mul(record_len as u64);
            let len = f.metadata().map_err(|e| io_error("opening", p, e))?.len();
            if len < want {
                return Err(io_error(
                    "opening",
                    p,
                    std::io::Error::other(format!(
                        "{len} bytes where a checkpoint recorded {count} records (damaged: remove the state directory to start over)"
                    )),
                ));
            }
            f.set_len(want).map_err(|e| io_error("truncating", p, e))?;
            let mut f = BufWriter::with_capacity(BUFFER, f);
            std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))
                .map_err(|e| io_error("opening", p, e))?;
            files.push(f);
        }
        Ok(RecordFiles {
            dir: None,
            paths,
            files,
            counts,
            record_len,
        })
    }

    /// Writes everything pushed so far through to the disk (`fsync`) and
    /// returns each file's record count: a checkpoint [`Self::resume`]
    /// can reopen the files at.
    pub fn checkpoint(&mut self) -> Result<Vec<u64>, Error> {
        for (f, path) in self.files.iter_mut().zip(&self.paths) {
            f.flush().map_err(|e| io_error("writing", path, e))?;
            f.get_ref()
                .sync_data()
                .map_err(|e| io_error("writing", path, e))?;
        }
        Ok(self.counts.clone())
    }

    /// How many files.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Appends `record` (`record_len` bytes) to file `file`.
    pub fn push(&mut self, file: usize, record: &[u8]) -> Result<(), Error> {
        if record.len() != self.record_len {
            return Err(Error::Task(format!(
                "a {}-byte record for files of {}-byte records",
                record.len(),
                self.record_len
            )));
        }
        let (Some(f), Some(path)) = (self.files.get_mut(file), self.paths.get(file)) else {
            return Err(Error::Task(format!("no scratch file {file}")));
        };
        f.write_all(record)
            .map_err(|e| io_error("writing", path, e))?;
        self.counts[file] += 1;
        Ok(())
    }

    /// Flushes every file; they can then be read.
    pub fn finish(self) -> Result<WrittenFiles, Error> {
        for (f, path) in self.files.into_iter().zip(&self.paths) {
            f.into_inner()
                .map_err(|e| io_error("writing", path, e.into_error()))?;
        }
        Ok(WrittenFiles {
            _dir: self.dir,
            paths: self.paths,
            counts: self.counts,
            record_len: self.record_len,
        })
    }
}

/// Files written by [`RecordFiles`], read back one at a time.
pub struct WrittenFiles {
    _dir: Option<ScratchDir>,
    paths: Vec<PathBuf>,
    counts: Vec<u64>,
    record_len: usize,
}

impl WrittenFiles {
    /// How many files.
    pub fn files(&self) -> usize {
        self.paths.len()
    }

    /// Records written in all files.
    pub fn records(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Reads file `file` whole (its records, concatenated) and removes it.
    pub fn take(&mut self, file: usize) -> Result<Vec<u8>, Error> {
        let bytes = self.read(file)?;
        if let Some(path) = self.paths.get(file) {
            let _ = fs::remove_file(path);
        }
        Ok(bytes)
    }

    /// Reads file `file` whole (its records, concatenated), checking its
    /// length against the records written.
    pub fn read(&self, file: usize) -> Result<Vec<u8>, Error> {
        let (Some(path), Some(&count)) = (self.paths.get(file), self.counts.get(file)) else {
            return Err(Error::Task(format!("no scratch file {file}")));
        };
        let expected = count.saturating_mul(self.record_len as u64);
        let mut f = File::open(path).map_err(|e| io_error("reading", path, e))?;
        let len = f
            .metadata()
            .map_err(|e| io_error("reading", path, e))?
            .len();
        if len != expected {
            return Err(io_error(
                "reading",
                path,
                std::io::Error::other(format!(
                    "{len} bytes where {count} records were written (changed on disk?)"
                )),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        f.read_to_end(&mut bytes)
            .map_err(|e| io_error("reading", path, e))?;
        Ok(bytes)
    }
}

/// An external shuffle of fixed-size records.
pub struct Shuffle<R: RngCore> {
    files: RecordFiles,
    rng: R,
}

impl<R: RngCore> Shuffle<R> {
    /// Shuffles records of `record_len` bytes through `files` files in
    /// `dir`, with randomness from `rng`.
    pub fn new(
        dir: &ScratchDir,
        name: &str,
        files: usize,
        record_len: usize,
        rng: R,
    ) -> Result<Self, Error> {
        Ok(Shuffle {
            files: RecordFiles::create(dir, name, files, record_len)?,
            rng,
        })
    }

    /// Adds one record: to a uniformly random file.
    pub fn push(&mut self, record: &[u8]) -> Result<(), Error> {
        let file = self.rng.random_range(0..self.files.files());
        self.files.push(file, record)
    }

    /// Ends the input; the records come back in a uniformly random order.
    pub fn finish(self) -> Result<Shuffled<R>, Error> {
        Ok(Shuffled {
            files: Arc::new(self.files.finish()?),
            remove: true,
            rng: self.rng,
            next_file: 0,
            current: Vec::new(),
            at: 0,
        })
    }
}

impl<R: RngCore + Clone> Shuffle<R> {
    /// A shuffle whose files live in the kept directory `dir` (its owner
    /// removes them): one a later process can [`Replayable::reopen`].
    pub fn kept(dir: &Path, name: &str, files: usize, len: usize, rng: R) -> Result<Self, Error> {
        let files = RecordFiles::resume(dir, name, &vec![0; files.max(1)], len)?;
        Ok(Shuffle { files, rng })
    }

    /// Ends the input, keeping the files: [`Replayable::shuffled`] gives
    /// the same uniformly random order every time (a resumed download).
    pub fn finish_replayable(self) -> Result<Replayable<R>, Error> {
        Ok(Replayable {
            files: Arc::new(self.files.finish()?),
            rng: self.rng,
        })
    }

    /// [`Self::finish_replayable`] with the files synced to the disk first;
    /// with each file's record count, for [`Replayable::reopen`].
    pub fn finish_synced(mut self) -> Result<(Replayable<R>, Vec<u64>), Error> {
        let counts = self.files.checkpoint()?;
        Ok((self.finish_replayable()?, counts))
    }
}

/// Shuffled records that can be read again in the same order: the files,
/// and the generator as it was when the first was to be read.
pub struct Replayable<R: RngCore + Clone> {
    files: Arc<WrittenFiles>,
    rng: R,
}

impl<R: RngCore + Clone> Replayable<R> {
    /// The shuffle of [`Shuffle::kept`] files `name-NNNN.bin` in `dir`
    /// holding `counts[i]` records each, made by a shuffle whose generator
    /// started as `rng`: the generator is run past the draw of each record's
    /// file, so the same order comes back. A file of another length is an
    /// error naming it.
    pub fn reopen(
        dir: &Path,
        name: &str,
        counts: &[u64],
        len: usize,
        mut rng: R,
    ) -> Result<Self, Error> {
        let written = RecordFiles::resume(dir, name, counts, len)?.finish()?;
        for _ in 0..written.records() {
            let _ = rng.random_range(0..written.files());
        }
        Ok(Replayable {
            files: Arc::new(written),
            rng,
        })
    }

    /// Records in all.
    pub fn records(&self) -> u64 {
        self.files.records()
    }

    /// The records from the first, in the order every call gives.
    pub fn shuffled(&self) -> Shuffled<R> {
        Shuffled {
            files: self.files.clone(),
            remove: false,
            rng: self.rng.clone(),
            next_file: 0,
            current: Vec::new(),
            at: 0,
        }
    }
}

/// The shuffled records, read file by file.
pub struct Shuffled<R: RngCore> {
    files: Arc<WrittenFiles>,
    /// Remove each file once read (not when it may be read again).
    remove: bool,
    rng: R,
    next_file: usize,
    current: Vec<u8>,
    at: usize,
}

impl<R: RngCore> Shuffled<R> {
    /// Records in all.
    pub fn records(&self) -> u64 {
        self.files.records()
    }

    /// Up to `max` next records (concatenated), `None` at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        let len = self.files.record_len;
        while self.at >= self.current.len() {
            if self.next_file >= self.files.files() {
                return Ok(None);
            }
            self.current = self.files.read(self.next_file)?;
            if self.remove {
                if let Some(path) = self.files.paths.get(self.next_file) {
                    let _ = fs::remove_file(path);
                }
            }
            self.next_file += 1;
            self.at = 0;
            shuffle_records(&mut self.current, len, &mut self.rng);
        }
        let end = (self.at + max.max(1) * len).min(self.current.len());
        let batch = self.current[self.at..end].to_vec();
        self.at = end;
        if self.at >= self.current.len() {
            self.current = Vec::new();
            self.at = 0;
        }
        Ok(Some(batch))
    }
}

/// Fisher–Yates over the `len`-byte records of `bytes`.
fn shuffle_records<R: RngCore>(bytes: &mut [u8], len: usize, rng: &mut R) {
    if len == 0 {
        return;
    }
    let n = bytes.len() / len;
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        if i != j {
            let (head, tail) = bytes.split_at_mut(i * len);
            head[j * len..(j + 1) * len].swap_with_slice(&mut tail[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn shuffled(n: u32, files: usize, seed: u64, dir: &ScratchDir) -> Vec<u32> {
        let rng = ChaCha20Rng::seed_from_u64(seed);
        let mut s = Shuffle::new(dir, "t", files, 4, rng).unwrap();
        for i in 0..n {
            s.push(&i.to_le_bytes()).unwrap();
        }
        let mut out = s.finish().unwrap();
        assert_eq!(out.records(), u64::from(n));
        let mut got = Vec::new();
        while let Some(b) = out.next_batch(7).unwrap() {
            assert!(!b.is_empty() && b.len() <= 28);
            got.extend(
                b.chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
            );
        }
        got
    }

    #[test]
    fn the_shuffle_is_a_permutation() {
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::create(parent.path(), "shuffle").unwrap();
        for (n, files) in [(0, 1), (1, 1), (1, 8), (100, 1), (1000, 16), (4097, 64)] {
            let mut got = shuffled(n, files, u64::from(n), &dir);
            assert_eq!(got.len() as u32, n);
            if n > 10 {
                assert_ne!(got, (0..n).collect::<Vec<_>>(), "{n} records left in order");
            }
            got.sort_unstable();
            assert_eq!(
                got,
                (0..n).collect::<Vec<_>>(),
                "{n} records, {files} files"
            );
        }
        // Each file is removed as it is read.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_shuffle_puts_each_record_anywhere_uniformly() {
        // 4 records, 3 files, 24000 shuffles: each of the 24 orders about
        // 1000 times (a chi-squared test with 23 degrees of freedom; the
        // 0.999 quantile is 49.7).
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::create(parent.path(), "uniform").unwrap();
        let mut counts = std::collections::HashMap::new();
        let runs = 24_000u64;
        let rng = ChaCha20Rng::seed_from_u64(42);
        let mut rng = Some(rng);
        for _ in 0..runs {
            let mut s = Shuffle::new(&dir, "u", 3, 1, rng.take().unwrap()).unwrap();
            for i in 0..4u8 {
                s.push(&[i]).unwrap();
            }
            let mut out = s.finish().unwrap();
            let mut order = Vec::new();
            while let Some(b) = out.next_batch(16).unwrap() {
                order.extend(b);
            }
            *counts.entry(order).or_insert(0u64) += 1;
            rng = Some(out.rng);
        }
        assert_eq!(counts.len(), 24);
        let expected = runs as f64 / 24.0;
        let chi2: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 49.7, "chi-squared {chi2}");
    }

    #[test]
    fn a_replayable_shuffle_gives_the_same_order_every_time() {
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::create(parent.path(), "replay").unwrap();
        let mut s = Shuffle::new(&dir, "r", 8, 4, ChaCha20Rng::seed_from_u64(9)).unwrap();
        for i in 0..500u32 {
            s.push(&i.to_le_bytes()).unwrap();
        }
        let replay = s.finish_replayable().unwrap();
        assert_eq!(replay.records(), 500);
        let read = |mut sh: Shuffled<ChaCha20Rng>, max: usize| {
            let mut out = Vec::new();
            while let Some(b) = sh.next_batch(max).unwrap() {
                out.extend(b);
            }
            out
        };
        let first = read(replay.shuffled(), 7);
        assert_eq!(first.len(), 2000);
        assert_eq!(read(replay.shuffled(), 7), first);
        assert_eq!(
            read(replay.shuffled(), 64),
            first,
            "batches do not change the order"
        );
        // The same generator without replay gives the same order too.
        let mut s = Shuffle::new(&dir, "o", 8, 4, ChaCha20Rng::seed_from_u64(9)).unwrap();
        for i in 0..500u32 {
            s.push(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(read(s.finish().unwrap(), 7), first);
        // Kept files, reopened by another process: the same order again.
        let kept = parent.path().join("kept");
        let mut s = Shuffle::kept(&kept, "k", 8, 4, ChaCha20Rng::seed_from_u64(9)).unwrap();
        for i in 0..500u32 {
            s.push(&i.to_le_bytes()).unwrap();
        }
        let (_, counts) = s.finish_synced().unwrap();
        let rng = ChaCha20Rng::seed_from_u64(9);
        let again = Replayable::reopen(&kept, "k", &counts, 4, rng).unwrap();
        assert_eq!(read(again.shuffled(), 5), first);
        let short: Vec<u64> = counts.iter().map(|c| c + 1).collect();
        let e = Replayable::reopen(&kept, "k", &short, 4, ChaCha20Rng::seed_from_u64(9));
        assert!(e.err().unwrap().to_string().contains("k-0000.bin"));
    }

    #[test]
    fn record_files_resume_at_their_checkpoint() {
        let parent = tempfile::tempdir().unwrap();
        let kept = parent.path().join("kept");
        let mut files = RecordFiles::resume(&kept, "t", &[0, 0, 0], 2).unwrap();
        files.push(0, &[1, 1]).unwrap();
        files.push(2, &[3, 3]).unwrap();
        let mark = files.checkpoint().unwrap();
        assert_eq!(mark, vec![1, 0, 1]);
        // Written after the checkpoint, then the process dies.
        files.push(1, &[2, 2]).unwrap();
        files.push(2, &[4, 4]).unwrap();
        files.checkpoint().unwrap();
        drop(files);
        let mut files = RecordFiles::resume(&kept, "t", &mark, 2).unwrap();
        files.push(2, &[5, 5]).unwrap();
        let written = files.finish().unwrap();
        assert_eq!(written.read(0).unwrap(), vec![1, 1]);
        assert_eq!(written.read(1).unwrap(), Vec::<u8>::new());
        assert_eq!(written.read(2).unwrap(), vec![3, 3, 5, 5]);
        drop(written);
        assert!(kept.join("t-0002.bin").exists(), "a kept directory stays");
        // A file shorter than its checkpoint is damaged.
        fs::write(kept.join("t-0000.bin"), []).unwrap();
        let e = RecordFiles::resume(&kept, "t", &[1, 0, 2], 2)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("t-0000.bin") && e.contains("damaged"), "{e}");
    }

    #[test]
    fn the_directory_goes_with_its_last_handle_and_errors_name_the_file() {
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::create(parent.path(), "gone").unwrap();
        let path = dir.path().to_path_buf();
        let mut files = RecordFiles::create(&dir, "r", 2, 3).unwrap();
        files.push(1, &[1, 2, 3]).unwrap();
        assert!(files.push(1, &[1, 2]).is_err());
        assert!(files.push(2, &[1, 2, 3]).is_err());
        let mut written = files.finish().unwrap();
        fs::write(path.join("r-0000.bin"), [9u8]).unwrap();
        let e = written.take(0).unwrap_err().to_string();
        assert!(e.contains("r-0000.bin") && e.contains("1 bytes"), "{e}");
        assert_eq!(written.take(1).unwrap(), vec![1, 2, 3]);
        drop(dir);
        assert!(path.exists(), "still held by the written files");
        drop(written);
        assert!(!path.exists());
    }
}
