//! [`ScratchDir`]: a fresh directory for one run's temporary files, removed
//! with everything in it when its last handle is dropped, and swept up by
//! the next one made beside it if its process was killed.
//!
//! A drop never runs in a process killed by SIGKILL (or the OOM killer), so
//! each directory `parent/<name>-<random>` has a sibling lock file
//! `parent/<name>-<random>.lock` that its process holds an exclusive lock on
//! (`flock`) for the directory's lifetime; the kernel releases that lock
//! when the process dies, however it dies. Creating a directory first
//! sweeps `parent`: a lock file that can be locked belongs to a dead owner,
//! so its directory and the lock file go.
//!
//! Races: the creator makes the lock file with `create_new` and must win
//! `try_lock` on it before it makes the directory; a sweeper that locks a
//! fresh lock file first makes the creator's `try_lock` fail, and the
//! creator picks another name. So a sweeper only ever removes a directory
//! whose lock it holds, and no live process holds that lock.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand_core::RngCore;

use super::io_error;
use crate::Error;

/// The lock files' suffix.
const LOCK: &str = ".lock";

/// A fresh directory for one run's temporary files, removed (with
/// everything in it) when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ScratchDir(Arc<DirGuard>);

#[derive(Debug)]
struct DirGuard {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held locked until the guard drops (closing it unlocks).
    _lock: File,
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        // The directory first, then its lock file, while still locked.
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

impl ScratchDir {
    /// Creates `parent/<name>-<random>` (and `parent` if needed), after
    /// removing the directories of dead processes in `parent`.
    pub fn create(parent: &Path, name: &str) -> Result<Self, Error> {
        fs::create_dir_all(parent).map_err(|e| io_error("creating", parent, e))?;
        sweep(parent);
        let mut rng = rand::rng();
        for _ in 0..16 {
            let dir = parent.join(format!("{name}-{:016x}", rng.next_u64()));
            let lock_path = lock_path_of(&dir);
            let lock = match File::create_new(&lock_path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("creating", &lock_path, e)),
            };
            match lock.try_lock() {
                Ok(()) => {}
                // A sweeper took it first, and will remove it.
                Err(TryLockError::WouldBlock) => continue,
                // A file system without `flock` (some network mounts): the
                // directory still goes with its last handle, but one left by
                // a killed process stays (a sweeper cannot lock it either).
                Err(TryLockError::Error(e)) => {
                    tracing::debug!(path = %lock_path.display(), error = %e, "scratch lock unsupported");
                }
            }
            match fs::create_dir(&dir) {
                Ok(()) => {
                    return Ok(ScratchDir(Arc::new(DirGuard {
                        dir,
                        lock_path,
                        _lock: lock,
                    })))
                }
                // A directory without its lock file (not made by this
                // code): not ours to remove; try another name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = fs::remove_file(&lock_path);
                    continue;
                }
                Err(e) => {
                    let _ = fs::remove_file(&lock_path);
                    return Err(io_error("creating", &dir, e));
                }
            }
        }
        Err(io_error(
            "creating",
            parent,
            std::io::Error::other("no free name"),
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0.dir
    }

    /// Bytes in the directory's files now.
    pub fn bytes(&self) -> u64 {
        dir_bytes(self.path())
    }
}

/// Bytes in the files directly in `dir` (0 where it cannot be read).
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn lock_path_of(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_os_string();
    name.push(LOCK);
    PathBuf::from(name)
}

/// Removes, in `parent`, every scratch directory whose owner is dead: its
/// lock file can be locked. Best effort: what cannot be read or removed
/// stays (the next sweep tries again), and a live directory is never
/// touched.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(dir) = path
            .to_str()
            .and_then(|p| p.strip_suffix(LOCK))
            .map(PathBuf::from)
        else {
            continue;
        };
        let Ok(lock) = File::open(&path) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&dir);
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What a process killed while it held a scratch directory leaves.
    fn leave_dead(parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("records-0000.bin"), [7u8; 100]).unwrap();
        fs::write(lock_path_of(&dir), b"").unwrap();
        dir
    }

    #[test]
    fn a_dead_process_directory_goes_and_a_live_one_stays() {
        let parent = tempfile::tempdir().unwrap();
        let dead = leave_dead(parent.path(), "pjc-table-00000000000000aa");
        let live = ScratchDir::create(parent.path(), "pjc-table").unwrap();
        assert!(!dead.exists(), "the dead process's directory was swept");
        assert!(!lock_path_of(&dead).exists());
        // Not ours: a directory without a lock file, and other files.
        let foreign = parent.path().join("pjc-table-foreign");
        fs::create_dir(&foreign).unwrap();
        fs::write(parent.path().join("notes.txt"), b"x").unwrap();
        let other = ScratchDir::create(parent.path(), "pjc-session").unwrap();
        assert!(live.path().is_dir(), "a live directory is never swept");
        assert!(lock_path_of(live.path()).exists());
        assert!(foreign.is_dir() && parent.path().join("notes.txt").exists());
        let (live_path, other_path) = (live.path().to_path_buf(), other.path().to_path_buf());
        drop(live);
        drop(other);
        for p in [&live_path, &other_path] {
            assert!(!p.exists() && !lock_path_of(p).exists(), "{p:?}");
        }
    }

    #[test]
    fn a_held_lock_is_not_swept_by_another_process() {
        // The lock is per open file description, so a second handle in this
        // process stands for another process.
        let parent = tempfile::tempdir().unwrap();
        let dir = leave_dead(parent.path(), "held-1");
        let holder = File::open(lock_path_of(&dir)).unwrap();
        holder.try_lock().unwrap();
        let _fresh = ScratchDir::create(parent.path(), "held").unwrap();
        assert!(dir.is_dir(), "locked by a live holder");
        drop(holder);
        let _again = ScratchDir::create(parent.path(), "held").unwrap();
        assert!(!dir.exists(), "swept once its holder is gone");
    }
}
