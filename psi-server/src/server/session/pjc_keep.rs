//! A PSI-cardinality or PSI-sum session kept on disk so that it survives a
//! restart of the server ([`crate::pjc_state`] is the file's codec): one
//! directory per session under the server's sessions directory, named by a
//! hash of the token, holding `session.bin` (owner only, 0600, replaced
//! atomically: written to a temporary file, synced, renamed) and the
//! answer files of the session's first shuffle.
//!
//! The directory goes when its [`Kept`] is dropped (the session ended:
//! completed, failed or aborted), unless [`Kept::retain`] kept it for a
//! client that is away (an idle session dropped from memory, a finished
//! sum waiting for the client to confirm its answer); a kept one older than
//! the server's retention goes with the next [`sweep`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

use psi_core::pjc::{Outcome, SumOutput};

use crate::pjc_state::{Finale, SessionRecord};
use crate::scratch::{io, write_private};
use crate::Error;

/// The state file's name in a session's directory.
pub(crate) const FILE: &str = "session.bin";

/// The directory of session `token` under `sessions` (a hash: a token from
/// a request never becomes a path).
pub(crate) fn dir_of(sessions: &Path, token: &str) -> PathBuf {
    let digest = Sha256::new()
        .chain_update(b"psi serve: kept PJC session\0")
        .chain_update(token.as_bytes())
        .finalize();
    let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    sessions.join(format!("pjc-{name}"))
}

/// One kept session: its directory and its record.
pub(crate) struct Kept {
    dir: PathBuf,
    record: Mutex<SessionRecord>,
    retain: AtomicBool,
}

impl Kept {
    /// Keeps a new session: its directory (0700) and its first record.
    pub(crate) fn create(sessions: &Path, record: SessionRecord) -> Result<Kept, Error> {
        let dir = dir_of(sessions, &record.token);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(io("creating", &dir))?;
        let kept = Kept::adopt(dir, record);
        kept.update(|_| ())?;
        Ok(kept)
    }

    /// The session kept in `dir` with `record` (read by [`load`]).
    pub(crate) fn adopt(dir: PathBuf, record: SessionRecord) -> Kept {
        Kept {
            dir,
            record: Mutex::new(record),
            retain: AtomicBool::new(false),
        }
    }

    /// The session's directory (its answer files go there).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Changes the record with `f` and writes it through to the disk.
    pub(crate) fn update(&self, f: impl FnOnce(&mut SessionRecord)) -> Result<(), Error> {
        let path = self.dir.join(FILE);
        let mut record = self.record.lock().map_err(|_| Error::DamagedState {
            path: path.clone(),
            reason: "a thread failed while it changed the session's record".into(),
        })?;
        f(&mut record);
        if !record.fits() {
            return Err(Error::DamagedState {
                path,
                reason: "a field of the session is longer than its file allows".into(),
            });
        }
        save(&self.dir, &record.encode())
    }

    /// Reads the record with `f`.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&SessionRecord) -> T) -> Option<T> {
        self.record.lock().ok().map(|r| f(&r))
    }

    /// Keeps the directory when this handle goes (the client may come back
    /// within the retention), and restarts the retention's clock.
    pub(crate) fn retain(&self) {
        self.retain.store(true, Ordering::SeqCst);
        if let Err(e) = self.update(|_| ()) {
            tracing::error!("keeping a session for its client: {e}");
        }
    }

    /// The sums' finale was answered: the record keeps `finale` and no
    /// secret (the answer files go), until the client confirms; while the
    /// answer is still `decrypting` (a sum to the server), the seed stays,
    /// so that a restarted server can finish it ([`Kept::learned`]).
    pub(crate) fn finish(&self, finale: Finale, decrypting: bool) -> Result<(), Error> {
        self.update(|r| {
            if !decrypting {
                r.seed = None;
            }
            r.answers = None;
            r.finale = Some(finale);
        })?;
        self.retain.store(true, Ordering::SeqCst);
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name() != FILE {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// A sum to the server was decrypted: what it learned is recorded, and
    /// the seed goes.
    pub(crate) fn learned(&self, learned: Outcome<SumOutput>) -> Result<(), Error> {
        self.update(|r| {
            r.seed = None;
            if let Some(f) = r.finale.as_mut() {
                f.learned = Some(learned);
            }
        })
    }

    /// Removes the directory when this handle goes (the client confirmed,
    /// or the session is lost).
    pub(crate) fn discard(&self) {
        self.retain.store(false, Ordering::SeqCst);
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if !self.retain.load(Ordering::SeqCst) {
            remove(&self.dir);
        }
    }
}

/// Removes a session's directory (best effort, logged).
pub(crate) fn remove(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => tracing::debug!(dir = %dir.display(), "kept session removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("removing {}: {e}", dir.display()),
    }
}

/// Writes `bytes` as `dir/FILE` (0600, atomically, synced).
fn save(dir: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_private(dir, FILE, bytes)
}

/// Largest state file read (a record is a few kilobytes at most).
const MAX_FILE: u64 = 64 * 1024;

/// The record kept in `dir`, if any: `Ok(None)` when there is none; an
/// error names the file (damaged, foreign, unreadable).
pub(crate) fn load(dir: &Path) -> Result<Option<SessionRecord>, Error> {
    let path = dir.join(FILE);
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE + 1), &mut bytes)
        .map_err(io("reading", &path))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::DamagedState {
            path,
            reason: format!("longer than {MAX_FILE} bytes"),
        });
    }
    SessionRecord::decode(&bytes)
        .map(Some)
        .map_err(|e| Error::DamagedState {
            path,
            reason: e.to_string(),
        })
}

/// How long ago the record in `dir` was last written (or, without one,
/// the directory made; `None`: unknown).
pub(crate) fn age(dir: &Path) -> Option<Duration> {
    let meta = fs::metadata(dir.join(FILE))
        .or_else(|_| fs::metadata(dir))
        .ok()?;
    Some(meta.modified().ok()?.elapsed().unwrap_or_default())
}

/// Removes, under `sessions`, every kept session older than `retention`
/// that is not `live`. Returns how many went.
pub(crate) fn sweep(sessions: &Path, retention: Duration, live: &[PathBuf]) -> usize {
    let Ok(entries) = fs::read_dir(sessions) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let ours = e.file_name().to_string_lossy().starts_with("pjc-");
        if !ours || live.contains(&dir) || !dir.is_dir() {
            continue;
        }
        // A directory without a record is one a crash left half made (or
        // one being made now: given a minute).
        let limit = match dir.join(FILE).exists() {
            true => retention,
            false => retention.min(Duration::from_secs(60)),
        };
        if age(&dir).is_none_or(|a| a > limit) {
            tracing::info!(dir = %dir.display(), "kept session expired: removed");
            remove(&dir);
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::auth::Identity;
    use zeroize::Zeroizing;

    fn record(token: &str) -> SessionRecord {
        SessionRecord {
            token: token.into(),
            owner: Identity::anonymous(),
            table: [1; 32],
            min_intersection: 1,
            sum_bits: 32,
            chunk_items: 16,
            answer_digest: [2; 32],
            client_hello: vec![1],
            seed: Some(Zeroizing::new([5; 32])),
            answers: None,
            tags_acked: false,
            set_acked: false,
            finale: None,
        }
    }

    #[test]
    fn kept_sessions_are_private_retained_finished_and_swept() {
        let root = tempfile::tempdir().unwrap();
        let kept = Kept::create(root.path(), record("t1")).unwrap();
        let dir = kept.dir().to_path_buf();
        assert_eq!(dir, dir_of(root.path(), "t1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        kept.update(|r| r.answers = Some(vec![3, 4])).unwrap();
        let back = load(&dir).unwrap().unwrap();
        assert_eq!(back.answers, Some(vec![3, 4]));
        drop(kept);
        assert!(!dir.exists(), "an ended session's directory goes");

        let kept = Kept::create(root.path(), record("t2")).unwrap();
        let dir = kept.dir().to_path_buf();
        fs::write(dir.join("answers-0000.bin"), [0; 16]).unwrap();
        kept.finish(
            Finale {
                request: vec![1],
                answer: vec![2],
                learned: None,
                reported: false,
            },
            false,
        )
        .unwrap();
        drop(kept);
        let back = load(&dir).unwrap().unwrap();
        assert!(back.seed.is_none() && back.finale.is_some());
        assert!(!dir.join("answers-0000.bin").exists());
        assert_eq!(sweep(root.path(), Duration::from_secs(60), &[]), 0);
        assert_eq!(
            sweep(root.path(), Duration::ZERO, std::slice::from_ref(&dir)),
            0
        );
        assert_eq!(sweep(root.path(), Duration::ZERO, &[]), 1);
        assert!(!dir.exists());

        let dir = dir_of(root.path(), "t3");
        fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_none());
        fs::write(dir.join(FILE), b"PSIPJCS\x01garbage").unwrap();
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("session.bin"), "{e}");
    }
}
