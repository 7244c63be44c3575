//! What the PSI-cardinality and PSI-sum resume tests share: tables with
//! their plaintext count and sum, the `psi run` command, the client's
//! session state.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};

use super::PSI;

/// A client table (repeated keys) and a server table sharing about a
/// third of them, with values (`spend`); the plaintext count and sum.
pub fn tables(dir: &Path, rows: usize, seed: u64) -> (PathBuf, PathBuf, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut a = String::from("id,key\n");
    let mut ours = HashSet::new();
    for i in 0..rows {
        let k = rng.random_range(0..rows);
        ours.insert(k);
        a.push_str(&format!("{i},k{k}\n"));
    }
    let mut b = String::from("key,spend\n");
    let mut theirs: HashMap<usize, u64> = HashMap::new();
    for _ in 0..rows {
        let v = rng.random_range(0..1000u64);
        let k = rng.random_range(rows * 2 / 3..rows * 2);
        *theirs.entry(k).or_default() += v;
        b.push_str(&format!("k{k},{v}\n"));
    }
    let count = ours.iter().filter(|k| theirs.contains_key(k)).count() as u64;
    let sum = ours.iter().filter_map(|k| theirs.get(k)).sum();
    let (pa, pb) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    (pa, pb, count, sum)
}

pub fn run_cmd(url: &str, input: &Path, state: &Path, report: &Path, mode: &[&str]) -> Command {
    let mut c = Command::new(PSI);
    c.args(["run", "--peer", url, "--key", "key", "--quiet"])
        .args(["--chunk-items", "16", "--checkpoint-seconds", "0"])
        .arg("--input")
        .arg(input)
        .arg("--state-dir")
        .arg(state)
        .arg("--report")
        .arg(report)
        .args(mode);
    c
}

/// The client's session state, if written.
pub fn session(state: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(state.join("pjc").join("session.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The three modes, as (the server's arguments, the client's): cardinality,
/// the sum to the client, the sum to the server.
pub const MODES: [(&[&str], &[&str]); 3] = [
    (&["--mode", "cardinality"], &["--mode", "cardinality"]),
    (
        &["--mode", "sum", "--sum-to", "client", "--value", "spend"],
        &["--mode", "sum", "--sum-to", "client"],
    ),
    (&["--mode", "sum", "--value", "spend"], &["--mode", "sum"]),
];

/// `psi serve`'s arguments for table `input` in `mode` (from [`MODES`]),
/// chunks of 16 items, on disk in `state`, its report to `report`.
pub fn serve_args(input: &Path, state: &Path, report: &Path, mode: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--key", "key", "--chunk-items", "16"]
        .iter()
        .map(Into::into)
        .collect();
    args.extend(mode.iter().map(Into::into));
    for (flag, path) in [
        ("--input", input),
        ("--state-dir", state),
        ("--report", report),
    ] {
        args.push(flag.into());
        args.push(path.into());
    }
    args
}
