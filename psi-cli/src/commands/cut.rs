//! `psi partition`: a table's keys cut once into the fine buckets of one
//! run, in a directory every shard worker of that party reads, so that no
//! worker reads (and hashes, and cuts) the whole table itself.
//!
//! A run's partition seed comes from both nonces ([`psi_core::bucket::seed`]):
//! the running party's client nonce (`--run-nonce-file`, shared by its
//! workers) and the serving party's nonce, a PRF of its run key and that
//! client nonce. The serving party cuts with its run key and the client
//! nonce; the running party with the client nonce and the server nonce the
//! serving party's cut wrote to `server-nonce`. Neither nonce is secret (both
//! cross the wire in the run's hello and answer): a nonce fixes which bucket
//! an item falls in, never what the protocol reveals, and buckets are padded
//! to a public size.
//!
//! The directory holds the spill ([`psi_table::spill`]), `server-nonce`, and
//! `partition.json`, written last: what was cut (the input's path, size,
//! modification time and SHA-256, the key), under which nonces, and the
//! input's counts. A worker refuses a directory whose input changed since,
//! whose key differs from its own, or whose seed is not its run's.

use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use psi_core::bucket::{self, PartitionSeed, FINE_BUCKETS};
use psi_table::spill::Spill;
use psi_table::KeySpec;
use serde::{Deserialize, Serialize};

use super::partition::spill_keys;
use super::progress::Progress;
use super::state::{digest_file, hex, unhex32};
use super::table::blocking;
use crate::error::CliError;
use crate::plan::{CutNonces, PartitionPlan};
use crate::report::InputReport;

/// The version of `partition.json`'s layout.
const FORMAT: u32 = 1;
/// The manifest's name; its presence means the cut is complete.
const MANIFEST: &str = "partition.json";

/// What `partition.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The input file as given.
    pub input: String,
    /// Its size in bytes.
    pub input_bytes: u64,
    /// Its modification time (nanoseconds since the Unix epoch), if known.
    pub input_modified_ns: Option<u128>,
    /// Its SHA-256, hex.
    pub input_sha256: String,
    /// The key, canonical.
    pub key: String,
    /// The running party's nonce, hex.
    pub client_nonce: String,
    /// The serving party's nonce, hex.
    pub server_nonce: String,
    /// The input's counts.
    pub report: InputReport,
}

/// A finished cut, checked against the worker's own input and key.
#[derive(Debug, Clone)]
pub struct Cut {
    /// Where it is.
    pub dir: PathBuf,
    /// What it says.
    pub manifest: Manifest,
    /// The client nonce.
    pub client_nonce: [u8; 32],
    /// The server nonce.
    pub server_nonce: [u8; 32],
}

fn modified_ns(path: &Path) -> Result<(u64, Option<u128>), CliError> {
    let m = std::fs::metadata(path).map_err(|source| psi_table::Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    Ok((m.len(), ns))
}

impl Cut {
    /// Opens the cut in `dir` for a worker serving or running `input` by `key`.
    pub fn open(dir: &Path, input: &Path, key: &KeySpec) -> Result<Cut, CliError> {
        let bad = |why: String| CliError::Usage(format!("--partitioned {}: {why}", dir.display()));
        let bytes = std::fs::read(dir.join(MANIFEST)).map_err(|e| {
            bad(format!(
                "no finished cut here ({MANIFEST}: {e}); make one with `psi partition`"
            ))
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("{MANIFEST} is damaged ({e}); cut again")))?;
        if manifest.format != FORMAT {
            return Err(bad(format!(
                "{MANIFEST} has layout {}, this psi reads {FORMAT}; cut again",
                manifest.format
            )));
        }
        if manifest.key != key.canonical() {
            return Err(bad(format!(
                "cut by the key {:?}, this worker's key is {:?}",
                manifest.key,
                key.canonical()
            )));
        }
        let (size, modified) = modified_ns(input)?;
        if (size, modified) != (manifest.input_bytes, manifest.input_modified_ns) {
            return Err(bad(format!(
                "{} changed since it was cut from {} (size or modification time differ); cut it again",
                input.display(),
                manifest.input
            )));
        }
        let (Some(client_nonce), Some(server_nonce)) = (
            unhex32(&manifest.client_nonce),
            unhex32(&manifest.server_nonce),
        ) else {
            return Err(bad(format!("{MANIFEST} holds a damaged nonce; cut again")));
        };
        Ok(Cut {
            dir: dir.to_path_buf(),
            manifest,
            client_nonce,
            server_nonce,
        })
    }

    /// The run's partition seed.
    pub fn seed(&self) -> PartitionSeed {
        bucket::seed(&self.client_nonce, &self.server_nonce)
    }

    /// The input's size and SHA-256, as [`super::state::digest_file`] gives them.
    pub fn digest(&self) -> (u64, String) {
        (
            self.manifest.input_bytes,
            self.manifest.input_sha256.clone(),
        )
    }

    /// The spill.
    pub fn spill(&self) -> Result<Spill, CliError> {
        Ok(Spill::open(&self.dir, FINE_BUCKETS)?)
    }
}

/// What `psi partition` did.
pub struct Cutting {
    /// The manifest written.
    pub manifest: Manifest,
    /// Seconds taken.
    pub seconds: f64,
}

/// Runs `psi partition` and says what it did.
pub async fn cut(plan: PartitionPlan) -> Result<(), CliError> {
    let out = plan.out.clone();
    let done = partition(plan).await?;
    let r = &done.manifest.report;
    println!(
        "cut {} rows ({} distinct keys) of {} into {} in {:.1} s; the run's server nonce is in {}",
        r.rows,
        r.distinct_keys,
        done.manifest.input,
        out.display(),
        done.seconds,
        out.join("server-nonce").display()
    );
    Ok(())
}

/// Cuts the table as `plan` says.
pub async fn partition(plan: PartitionPlan) -> Result<Cutting, CliError> {
    let start = Instant::now();
    let progress = Progress::new(plan.quiet);
    if plan.out.join(MANIFEST).exists() {
        return Err(CliError::Usage(format!(
            "{} already holds a cut; remove it first",
            plan.out.display()
        )));
    }
    let (size, modified) = modified_ns(&plan.input)?;
    progress.phase("checksum", Some(size), "bytes");
    let (path, p) = (plan.input.clone(), progress.clone());
    let digest = blocking("hashing the input", move || {
        digest_file(&path, |n| p.set(n))
    })
    .await??;
    if digest.0 != size || modified_ns(&plan.input)? != (size, modified) {
        return Err(CliError::Usage(format!(
            "{} changed while it was read; cut it when it is no longer written",
            plan.input.display()
        )));
    }
    let server_nonce = match plan.nonces {
        CutNonces::Serving { run_key } => bucket::server_nonce(&run_key, &plan.client_nonce),
        CutNonces::Running { server_nonce } => server_nonce,
    };
    let seed = bucket::seed(&plan.client_nonce, &server_nonce);

    progress.phase("partition", None, "rows");
    let (path, key, dir, p) = (
        plan.input.clone(),
        plan.key.clone(),
        plan.out.clone(),
        progress.clone(),
    );
    // A directory this cut made is removed again if the cut fails: no
    // half-written cut is left behind (one given to us is left as it was).
    let made_here = !plan.out.exists();
    let spilled = blocking("partitioning the input", move || {
        spill_keys(&path, &key, &seed, &dir, |n| p.set(n))
    })
    .await
    .and_then(|r| r);
    progress.finish();
    let (_, report) = match spilled {
        Ok(done) => done,
        Err(e) => {
            if made_here {
                let _ = std::fs::remove_dir_all(&plan.out);
            }
            return Err(e);
        }
    };

    let manifest = Manifest {
        format: FORMAT,
        input: plan.input.display().to_string(),
        input_bytes: size,
        input_modified_ns: modified,
        input_sha256: digest.1,
        key: plan.key.canonical(),
        client_nonce: hex(&plan.client_nonce),
        server_nonce: hex(&server_nonce),
        report,
    };
    let write = |name: &str, bytes: Vec<u8>| {
        let (path, tmp) = (plan.out.join(name), plan.out.join(format!(".{name}.tmp")));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| CliError::Io {
                what: "writing the cut's manifest",
                source,
            })
    };
    write(
        "server-nonce",
        format!("{}\n", manifest.server_nonce).into_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::Io {
        what: "writing the cut's manifest",
        source: std::io::Error::other(e),
    })?;
    write(MANIFEST, json)?;
    Ok(Cutting {
        manifest,
        seconds: start.elapsed().as_secs_f64(),
    })
}
