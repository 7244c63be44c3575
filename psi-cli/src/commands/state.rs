//! The state directory of a bucketed `psi run`: what was done, so that the
//! same command after a crash resumes instead of starting over.
//!
//! `state.json` (rewritten atomically after every step) holds the input's size
//! and SHA-256, the configuration that decides the result, the client's run
//! nonce, the partition seed, the spill's counts, the bucket count and the
//! buckets done. `spill/` holds the keys ([`psi_table::spill`]); `buckets/`
//! one file per finished bucket: the matched keys (`u64`, little-endian), then
//! the rows to write (`u32` each, little-endian), written atomically before
//! the bucket is marked done. A bucketed linkage keeps its buckets in
//! `linkage/` instead ([`super::link_spill`]) and its few other facts in
//! `state.json`'s `linkage`. A changed input or configuration is refused;
//! a changed partition (a server that lost its key) or peer set starts the
//! buckets over.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::report::InputReport;

/// The version of `state.json`'s layout.
const FORMAT: u32 = 1;

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    /// [`FORMAT`].
    pub format: u32,
    /// The input file's size in bytes.
    pub input_bytes: u64,
    /// The input file's SHA-256, hex.
    pub input_sha256: String,
    /// Everything else that decides the result, as text.
    pub config: String,
    /// Our half of the partition seed, hex.
    pub client_nonce: String,
    /// The partition seed the spill was made under, hex.
    pub seed: Option<String>,
    /// The input's counts once spilled.
    pub spilled: Option<InputReport>,
    /// The buckets and the peer's set size they were made for.
    pub buckets: Option<Buckets>,
    /// Buckets finished, ascending.
    pub done: Vec<u16>,
    /// A bucketed linkage's progress beyond its link files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkage: Option<LinkProgress>,
}

/// What a bucketed linkage keeps beside its link files (which say which
/// (step, bucket) pairs are done).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinkProgress {
    /// Per step, the size the peer padded each bucket to (0: not seen yet).
    pub peer_padded: Vec<u64>,
    /// The peer's answer to the finish: its rows and its unlinked rows.
    pub totals: Option<(u64, u64)>,
}

/// How the run is cut.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Buckets {
    /// Coarse buckets.
    pub count: u16,
    /// The peer's distinct keys.
    pub peer_set_size: u64,
}

/// A state directory.
pub struct StateDir {
    dir: PathBuf,
    /// What it holds.
    pub state: RunState,
}

pub use crate::hex::{hex, unhex32};

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io { what, source }
}

/// The size and SHA-256 of `path`, read once; `seen` hears bytes read.
pub fn digest_file(path: &Path, mut seen: impl FnMut(u64)) -> Result<(u64, String), CliError> {
    let open = |source| psi_table::Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(open)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(open)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
        seen(total);
    }
    Ok((total, hex(&h.finalize())))
}

impl StateDir {
    /// Opens `dir` (made if missing) for a run of this input and config:
    /// resumes what it holds, or starts fresh with `nonce`. A state of
    /// another input or config is refused, naming the difference.
    pub fn open(
        dir: &Path,
        input: (u64, String),
        config: String,
        nonce: [u8; 32],
    ) -> Result<Self, CliError> {
        fs::create_dir_all(dir.join("buckets")).map_err(io("creating the state directory"))?;
        let path = dir.join("state.json");
        let fresh = RunState {
            format: FORMAT,
            input_bytes: input.0,
            input_sha256: input.1,
            config,
            client_nonce: hex(&nonce),
            seed: None,
            spilled: None,
            buckets: None,
            done: Vec::new(),
            linkage: None,
        };
        let state = match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh,
            Err(e) => return Err(io("reading the state directory")(e)),
            Ok(bytes) => {
                let old: RunState = serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::Usage(format!(
                        "{} is not a run state ({e}); remove it or choose another --state-dir",
                        path.display()
                    ))
                })?;
                check_same(&path, &old, &fresh)?;
                old
            }
        };
        sweep_temporary(dir);
        let out = StateDir {
            dir: dir.to_path_buf(),
            state,
        };
        out.save()?;
        Ok(out)
    }

    /// Writes `state.json` atomically.
    pub fn save(&self) -> Result<(), CliError> {
        let text = serde_json::to_vec_pretty(&self.state).map_err(|e| CliError::Io {
            what: "writing the run state",
            source: std::io::Error::other(e),
        })?;
        psi_table::write_atomically(&self.dir.join("state.json"), &text)?;
        Ok(())
    }

    /// Where the keys are spilled.
    pub fn spill_dir(&self) -> PathBuf {
        self.dir.join("spill")
    }

    fn bucket_path(&self, index: u16) -> PathBuf {
        self.dir
            .join("buckets")
            .join(format!("bucket-{index:04}.rows"))
    }

    /// Forgets the buckets (and, with `spill`, the spill): the partition or
    /// the peer's set changed.
    pub fn start_over(&mut self, spill: bool) -> Result<(), CliError> {
        for index in std::mem::take(&mut self.state.done) {
            let _ = fs::remove_file(self.bucket_path(index));
        }
        self.state.buckets = None;
        self.state.linkage = None;
        if spill {
            self.state.spilled = None;
            self.state.seed = None;
        }
        self.save()
    }

    /// Records bucket `index` done: its matched keys and rows to write.
    pub fn finish_bucket(&mut self, index: u16, keys: u64, rows: &[u32]) -> Result<(), CliError> {
        let mut bytes = Vec::with_capacity(8 + 4 * rows.len());
        bytes.extend_from_slice(&keys.to_le_bytes());
        for r in rows {
            bytes.extend_from_slice(&r.to_le_bytes());
        }
        psi_table::write_atomically(&self.bucket_path(index), &bytes)?;
        if let Err(at) = self.state.done.binary_search(&index) {
            self.state.done.insert(at, index);
        }
        self.save()
    }

    /// Reads a finished bucket: its matched keys, and each row to write is
    /// set in `flags` (one bit per input row).
    pub fn read_bucket(&self, index: u16, flags: &mut [u64]) -> Result<u64, CliError> {
        let path = self.bucket_path(index);
        let bytes = fs::read(&path).map_err(io("reading a finished bucket"))?;
        let damaged = || {
            CliError::Table(psi_table::Error::DamagedSpill {
                path: path.clone(),
                reason: "not a finished bucket".into(),
            })
        };
        if bytes.len() < 8 || (bytes.len() - 8) % 4 != 0 {
            return Err(damaged());
        }
        let mut keys = [0u8; 8];
        keys.copy_from_slice(&bytes[..8]);
        for r in bytes[8..].chunks_exact(4) {
            let row = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
            let word = flags.get_mut(row / 64).ok_or_else(damaged)?;
            *word |= 1 << (row % 64);
        }
        Ok(u64::from_le_bytes(keys))
    }

    /// Bytes the directory holds now.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(entries) = fs::read_dir(p) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.dir)
    }

    /// Removes the directory (the run succeeded).
    pub fn remove(self) -> Result<(), CliError> {
        fs::remove_dir_all(&self.dir).map_err(io("removing the state directory"))
    }
}

/// The key of a server's run nonces, kept in `dir/run-key` (made, readable by
/// the owner only, on first use) so that runs resume across restarts.
pub fn run_key(dir: &Path) -> Result<[u8; 32], CliError> {
    fs::create_dir_all(dir).map_err(io("creating the server's state directory"))?;
    let path = dir.join("run-key");
    match fs::read_to_string(&path) {
        Ok(text) => unhex32(text.trim()).ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not a run key (64 hex digits); remove it to make a new one",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut rng = psi_core::rng::ZeroizingRng::from_os_rng().map_err(|e| {
                io("reading the operating system's randomness")(std::io::Error::other(e))
            })?;
            let key = psi_core::bucket::client_nonce(&mut rng);
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(io("writing the run key"))?;
            std::io::Write::write_all(&mut file, hex(&key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("writing the run key"))?;
            Ok(key)
        }
        Err(e) => Err(io("reading the run key")(e)),
    }
}

/// Removes temporary files an interrupted run left in its state directory
/// (every file there is written through a `.psi-*` temporary file).
fn sweep_temporary(dir: &Path) {
    for sub in [dir.to_path_buf(), dir.join("buckets"), dir.join("spill")] {
        let Ok(entries) = fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".psi-") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Refuses to resume a state made for another input or configuration.
fn check_same(path: &Path, old: &RunState, new: &RunState) -> Result<(), CliError> {
    let refuse = |what: String| {
        Err(CliError::Usage(format!(
            "{} belongs to another run: {what}; run the same command as before to resume, or remove the directory to start over",
            path.display()
        )))
    };
    if old.format != FORMAT {
        return refuse(format!(
            "its format is {}, this build writes {FORMAT}",
            old.format
        ));
    }
    if (old.input_bytes, &old.input_sha256) != (new.input_bytes, &new.input_sha256) {
        return refuse(format!(
            "the input changed since (it had {} bytes, SHA-256 {}; now {} bytes, {})",
            old.input_bytes, old.input_sha256, new.input_bytes, new.input_sha256
        ));
    }
    if old.config != new.config {
        // Name the options that differ (the text is `; `-separated).
        let (then, now): (Vec<&str>, Vec<&str>) = (
            old.config.split("; ").collect(),
            new.config.split("; ").collect(),
        );
        let changed: Vec<String> = (0..then.len().max(now.len()))
            .filter(|&i| then.get(i) != now.get(i))
            .map(|i| {
                format!(
                    "{} (now: {})",
                    then.get(i).unwrap_or(&"nothing"),
                    now.get(i).unwrap_or(&"nothing")
                )
            })
            .collect();
        return refuse(format!("the options changed: {}", changed.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_resumes_and_refuses_another_input_or_config() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        let mut s = StateDir::open(&d, (10, "ab".into()), "kkrt".into(), [1; 32]).unwrap();
        let mut flags = vec![0u64; 2];
        s.finish_bucket(3, 2, &[5, 70]).unwrap();
        assert_eq!(s.read_bucket(3, &mut flags).unwrap(), 2);
        assert_eq!(flags, vec![1 << 5, 1 << 6]);
        let again = StateDir::open(&d, (10, "ab".into()), "kkrt".into(), [2; 32]).unwrap();
        assert_eq!(again.state.done, vec![3]);
        assert_eq!(
            again.state.client_nonce,
            hex(&[1; 32]),
            "the first nonce is kept"
        );
        let e = StateDir::open(&d, (11, "ab".into()), "kkrt".into(), [2; 32])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("the input changed"), "{e}");
        let e = StateDir::open(&d, (10, "ab".into()), "ecdh".into(), [2; 32])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("the options changed") && e.contains("ecdh"),
            "{e}"
        );
        let linkage = "linkage; keys email | phone; join full; align true; bucket items 50";
        let d2 = dir.path().join("l");
        StateDir::open(&d2, (10, "ab".into()), linkage.into(), [3; 32]).unwrap();
        let e = StateDir::open(
            &d2,
            (10, "ab".into()),
            linkage.replace("join full", "join left"),
            [3; 32],
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("the options changed: join full (now: join left)") && !e.contains("phone"),
            "only the changed option is named: {e}"
        );
        let mut flags = vec![0u64; 1];
        assert!(
            again.read_bucket(3, &mut flags).is_err(),
            "row 70 is beyond one word"
        );
        assert_eq!(unhex32(&hex(&[7; 32])), Some([7; 32]));
        assert_eq!(unhex32("zz"), None);
    }
}
