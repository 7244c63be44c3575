//! What an external-memory PSI-cardinality or PSI-sum client keeps so that
//! the same run, started again after its process or connection died,
//! resumes its session ([`psi_core::pjc::external`]'s "Resuming").
//!
//! One file, `session.json` in the caller's directory, readable and
//! writable by the owner only (0600), replaced atomically (written to a
//! temporary file, synced, renamed) at every checkpoint:
//!
//! - `seed`: the 32 bytes the counter's generator was keyed with: its
//!   hello, its secret exponent `a` and its session seed all come from it
//!   (so this is a secret: whoever reads it can unmask our items);
//! - `token`, `server_hello`, `resumable`: the session and the server's
//!   hello (its set size and, for the sums, its public key);
//! - `uploaded`, and per download the items stored (`received`), each
//!   prefix file's record count at that point (`counts`), whether the
//!   whole stream is stored and whether the server heard so (`acked`).
//!
//! The prefix files are `tags-NNNN.bin` and `set-NNNN.bin` beside it. The
//! caller removes the directory when the run has succeeded.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::scratch::{io, write_private};
use crate::Error;

/// The layout of `session.json`.
const FORMAT: u32 = 1;

/// The file's name in the directory.
const FILE: &str = "session.json";

/// One download's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamMark {
    /// Items stored (whole chunks).
    pub received: u64,
    /// Each prefix file's records at that point.
    pub counts: Vec<u64>,
    /// Every item of the stream is stored.
    pub stored: bool,
    /// The server heard that we hold it all (its stream is done).
    pub acked: bool,
}

/// `session.json`.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
pub struct CounterState {
    format: u32,
    /// The generator's seed, hex (secret).
    seed: String,
    /// The session's token, once the server answered our hello.
    pub token: Option<String>,
    /// The server's hello, hex.
    pub server_hello: Option<String>,
    /// Whether the server's session resumes (it runs on disk).
    pub resumable: bool,
    /// The whole upload was taken by the server.
    pub uploaded: bool,
    /// The shuffled answers.
    pub tags: StreamMark,
    /// The server's set.
    pub set: StreamMark,
}

impl Drop for CounterState {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl std::fmt::Debug for CounterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterState")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("uploaded", &self.uploaded)
            .field("tags", &self.tags)
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

fn damaged(path: &Path, reason: impl Into<String>) -> Error {
    Error::DamagedState {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl CounterState {
    /// A fresh state: a new session from `seed`.
    pub fn fresh(seed: &Zeroizing<[u8; 32]>) -> Self {
        CounterState {
            format: FORMAT,
            seed: hex(&seed[..]),
            token: None,
            server_hello: None,
            resumable: false,
            uploaded: false,
            tags: StreamMark::default(),
            set: StreamMark::default(),
        }
    }

    /// The seed (a copy, zeroized on drop).
    pub fn seed(&self) -> Option<Zeroizing<[u8; 32]>> {
        let mut out = Zeroizing::new([0u8; 32]);
        if self.seed.len() != 64 {
            return None;
        }
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(self.seed.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }

    /// The state in `dir`, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Self>, Error> {
        let path = dir.join(FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let state: CounterState =
            serde_json::from_slice(&bytes).map_err(|e| damaged(&path, e.to_string()))?;
        if state.format != FORMAT {
            return Err(damaged(
                &path,
                format!("its format is {}, this build reads {FORMAT}", state.format),
            ));
        }
        if state.seed().is_none() {
            return Err(damaged(&path, "its seed is not 64 hex digits"));
        }
        if state
            .server_hello
            .as_deref()
            .is_some_and(|h| unhex(h).is_none())
        {
            return Err(damaged(&path, "the server's hello is not hex"));
        }
        Ok(Some(state))
    }

    /// The server's hello, decoded from hex.
    pub fn server_hello(&self) -> Option<Vec<u8>> {
        self.server_hello.as_deref().and_then(unhex)
    }

    /// Writes the state to `dir` (0600, atomically, synced).
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let path = dir.join(FILE);
        let text = Zeroizing::new(
            serde_json::to_vec_pretty(self)
                .map_err(|e| damaged(&path, format!("cannot encode it: {e}")))?,
        );
        write_private(dir, FILE, &text)?;
        Ok(())
    }

    /// Starts over: the prefix files go, and the state is `fresh`.
    pub fn reset(dir: &Path, seed: &Zeroizing<[u8; 32]>) -> Result<Self, Error> {
        remove_files(dir);
        let state = CounterState::fresh(seed);
        state.save(dir)?;
        Ok(state)
    }
}

/// Removes the prefix files of `dir` (not the state).
pub fn remove_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if (name.starts_with("tags-") || name.starts_with("set-")) && name.ends_with(".bin") {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * crate::api::MAX_HELLO_BYTES {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Hex of `bytes` (the server's hello, for the state).
pub fn hello_hex(bytes: &[u8]) -> String {
    hex(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_state_round_trips_privately_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        assert!(CounterState::load(&d).unwrap().is_none());
        let seed = Zeroizing::new([7u8; 32]);
        let mut s = CounterState::fresh(&seed);
        s.token = Some("abc".into());
        s.server_hello = Some(hello_hex(&[1, 2, 255]));
        s.tags = StreamMark {
            received: 10,
            counts: vec![4, 6],
            stored: false,
            acked: false,
        };
        s.save(&d).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner only");
        }
        let back = CounterState::load(&d).unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(*back.seed().unwrap(), [7u8; 32]);
        assert_eq!(back.server_hello().unwrap(), vec![1, 2, 255]);
        assert!(
            format!("{back:?}").find("0707").is_none(),
            "no seed in Debug"
        );
        fs::write(d.join("tags-0000.bin"), [1]).unwrap();
        fs::write(d.join("keep.txt"), [1]).unwrap();
        let fresh = CounterState::reset(&d, &Zeroizing::new([9u8; 32])).unwrap();
        assert!(fresh.token.is_none() && !d.join("tags-0000.bin").exists());
        assert!(d.join("keep.txt").exists());
        for bad in [
            "{",
            r#"{"format":2,"seed":"00","token":null,"server_hello":null,"resumable":false,"uploaded":false,"tags":{"received":0,"counts":[],"stored":false,"acked":false},"set":{"received":0,"counts":[],"stored":false,"acked":false}}"#,
            r#"{"format":1,"seed":"zz","token":null,"server_hello":null,"resumable":false,"uploaded":false,"tags":{"received":0,"counts":[],"stored":false,"acked":false},"set":{"received":0,"counts":[],"stored":false,"acked":false}}"#,
        ] {
            fs::write(d.join(FILE), bad).unwrap();
            let e = CounterState::load(&d).unwrap_err().to_string();
            assert!(e.contains("session.json"), "{e}");
        }
    }
}
