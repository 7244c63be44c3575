//! PSI-cardinality and PSI-sum in external memory through the real binaries
//! (`psi run --state-dir`, `psi serve --state-dir`): the same released count
//! and sum as the in-memory run and the plaintext, in every mode, with
//! either or both parties on disk; nothing left in the state directories.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Server, PSI};
use rand::{Rng, SeedableRng};

/// A client table with repeated and empty keys; a server table sharing
/// about a third of them, with repeated keys whose values add up.
fn tables(dir: &Path, rows: usize) -> (PathBuf, PathBuf, u64, u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut a = String::from("id,key\n");
    let mut ours = HashSet::new();
    for i in 0..rows {
        if rng.random_range(0..25) == 0 {
            a.push_str(&format!("{i},\n"));
        } else {
            let k = rng.random_range(0..rows);
            ours.insert(k);
            a.push_str(&format!("{i},k{k}\n"));
        }
    }
    let mut b = String::from("key,spend\n");
    let mut theirs: HashMap<usize, u64> = HashMap::new();
    for _ in 0..rows {
        let v = rng.random_range(0..1000u64);
        if rng.random_range(0..30) == 0 {
            b.push_str(&format!(",{v}\n"));
            continue;
        }
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

fn serve(input: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<OsString> = vec!["--once".into(), "--key".into(), "key".into()];
    args.push("--input".into());
    args.push(input.into());
    args.extend(extra.iter().map(Into::into));
    Server::spawn(&args)
}

fn run(url: &str, input: &Path, report: &Path, extra: &[&str]) -> Output {
    Command::new(PSI)
        .args(["run", "--peer", url, "--key", "key", "--quiet"])
        .arg("--input")
        .arg(input)
        .arg("--report")
        .arg(report)
        .args(extra)
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Files left under `dir` (recursively).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(leftovers(&p));
                out.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn external_memory_runs_release_what_in_memory_runs_release() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, count, sum) = tables(dir.path(), 3000);
    assert!(count > 100, "{count}");
    let (c_state, s_state) = (dir.path().join("c-state"), dir.path().join("s-state"));
    let (c_arg, s_arg) = (c_state.to_str().unwrap(), s_state.to_str().unwrap());
    let report = dir.path().join("r.json");
    let s_report = dir.path().join("s.json");
    let s_report_arg = s_report.to_str().unwrap();
    let modes: [(&[&str], &[&str]); 3] = [
        (&["--mode", "cardinality"], &["--mode", "cardinality"]),
        (
            &["--mode", "sum", "--sum-to", "client", "--value", "spend"],
            &["--mode", "sum", "--sum-to", "client"],
        ),
        (&["--mode", "sum", "--value", "spend"], &["--mode", "sum"]),
    ];
    for (server_mode, client_mode) in modes {
        let mut released = Vec::new();
        for (server_disk, client_disk) in
            [(false, false), (true, true), (true, false), (false, true)]
        {
            let mut s_args = server_mode.to_vec();
            s_args.extend(["--report", s_report_arg]);
            if server_disk {
                s_args.extend(["--state-dir", s_arg]);
            }
            let server = serve(&b, &s_args);
            let mut c_args = client_mode.to_vec();
            if client_disk {
                c_args.extend(["--state-dir", c_arg]);
            }
            let o = run(&server.url, &a, &report, &c_args);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(server.wait_exit());
            let r = json(&report);
            assert_eq!(r["released"]["count"], count, "{r}");
            assert_eq!(r["external"].is_object(), client_disk, "{r}");
            assert_eq!(r["input"]["rows"], 3000, "{r}");
            let s = json(&s_report);
            let server_saw = s["sessions"][0]["released"].clone();
            if client_mode.contains(&"sum") {
                let sum_at = if client_mode.contains(&"client") {
                    &r["released"]["sum"]
                } else {
                    &server_saw["sum"]
                };
                assert_eq!(*sum_at, sum, "{r} {s}");
            }
            released.push((r["released"].clone(), server_saw));
            for d in [&c_state, &s_state] {
                // What a server keeps on purpose: its run key (its spill's
                // partition seed comes from it) and the directory of its
                // kept sessions, empty once they completed.
                let leftovers = |d: &Path| -> Vec<PathBuf> {
                    let keep = [s_state.join("run-key"), s_state.join("pjc-sessions")];
                    leftovers(d)
                        .into_iter()
                        .filter(|p| !keep.contains(p))
                        .collect()
                };
                assert!(
                    leftovers(d).is_empty(),
                    "left in {}: {:?}",
                    d.display(),
                    leftovers(d)
                );
            }
        }
        assert!(
            released.windows(2).all(|w| w[0] == w[1]),
            "{server_mode:?}: {released:?}"
        );
    }
}

#[test]
fn thresholds_and_usage_errors_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, count, _) = tables(dir.path(), 600);
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let report = dir.path().join("r.json");
    // Threshold not met: only the news.
    let above = (count + 1).to_string();
    let server = serve(&b, &["--mode", "cardinality", "--state-dir", state_arg]);
    let o = run(
        &server.url,
        &a,
        &report,
        &[
            "--mode",
            "cardinality",
            "--state-dir",
            state_arg,
            "--min-intersection",
            &above,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = json(&report);
    assert_eq!(r["released"]["threshold_met"], false, "{r}");
    assert!(r["released"]["count"].is_null(), "{r}");
    drop(server);
    // Sharding is for intersections.
    let o = run(
        "http://127.0.0.1:9",
        &a,
        &report,
        &[
            "--mode",
            "cardinality",
            "--state-dir",
            state_arg,
            "--shard",
            "0/2",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("one session"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
