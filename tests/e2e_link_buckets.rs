//! Bucketed linkages of the real binaries (`psi run --state-dir` against
//! `psi serve --state-dir`): for every join, aligned or not, both sides'
//! outputs equal the in-memory linkage's, up to the link ids (fresh per run):
//! the same rows in the same places, the same pairs of rows under one id,
//! and for aligned outputs the same pairs on the same lines of both files.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{link_two_keys, ok, two_key_tables, Server, PSI};

fn serve(input: &Path, output: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<OsString> = ["--key", "email", "--key", "phone", "--input"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(input.into());
    args.push("--output".into());
    args.push(output.into());
    args.extend(extra.iter().map(Into::into));
    Server::spawn(&args)
}

/// An output's lines after the header, as (id, the rest).
fn lines(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let (id, rest) = l.split_once(',').unwrap();
            (id.to_string(), rest.to_string())
        })
        .collect()
}

/// Waits (bounded) for the server's side of a linkage to appear.
fn server_side(dir: &Path, prefix: &str) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(dir).unwrap().flatten().find(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with(prefix) && n.ends_with(".csv")
        });
        if let Some(e) = found {
            return e.path();
        }
        assert!(std::time::Instant::now() < deadline, "no {prefix} output");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What must be equal between two linkages of the same tables: each side's
/// lines with the id blanked or kept as "linked", and the pairs of rows.
#[derive(Debug, PartialEq)]
struct Shape {
    client: Vec<(bool, String)>,
    server: Vec<(bool, String)>,
    /// Linked pairs (client row, server row), sorted.
    pairs: Vec<(String, String)>,
}

fn shape(client: &Path, server: &Path, align: bool) -> Shape {
    let (c, s) = (lines(client), lines(server));
    let mut pairs = Vec::new();
    if align {
        // Line i of one side pairs with line i of the other, under one id.
        assert_eq!(c.len(), s.len());
        for ((ci, cr), (si, sr)) in c.iter().zip(&s) {
            assert_eq!(ci, si, "aligned lines carry the same id");
            if !ci.is_empty() {
                pairs.push((cr.clone(), sr.clone()));
            }
        }
    } else {
        let by_id: BTreeMap<&String, &String> = s
            .iter()
            .filter(|(i, _)| !i.is_empty())
            .map(|(i, r)| (i, r))
            .collect();
        for (i, r) in c.iter().filter(|(i, _)| !i.is_empty()) {
            if let Some(sr) = by_id.get(i) {
                pairs.push((r.clone(), (*sr).clone()));
            }
        }
    }
    pairs.sort();
    // Aligned linked lines are in id order (random per run): compare them as
    // the pairs above; the rest keeps its order.
    let keep = |v: Vec<(String, String)>| -> Vec<(bool, String)> {
        v.into_iter()
            .filter(|(i, _)| !align || i.is_empty())
            .map(|(i, r)| (!i.is_empty(), r))
            .collect()
    };
    Shape {
        client: keep(c),
        server: keep(s),
        pairs,
    }
}

#[test]
fn bucketed_linkages_equal_in_memory_linkages() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_key_tables(dir.path(), 1500, 17);
    let (mem_out, disk_out) = (dir.path().join("mem"), dir.path().join("disk"));
    std::fs::create_dir_all(&mem_out).unwrap();
    std::fs::create_dir_all(&disk_out).unwrap();
    let state = dir.path().join("server-state");
    let memory = serve(&b, &mem_out.join("{linkage}.csv"), &[]);
    let disk = serve(
        &b,
        &disk_out.join("{linkage}.csv"),
        &["--state-dir", state.to_str().unwrap()],
    );
    let mut linked_somewhere = false;
    for join in ["inner", "left", "right", "full"] {
        for align in [false, true] {
            let name = format!("{join}-{align}");
            let mut args = vec!["--join", join, "--share-result"];
            if align {
                args.push("--align");
            }
            let m = dir.path().join(format!("m-{name}.csv"));
            ok(&link_two_keys(&memory.url, &a, &m, &args));
            let client_state = dir.path().join(format!("cs-{name}"));
            let report = dir.path().join(format!("r-{name}.json"));
            let mut bargs = args.clone();
            bargs.extend([
                "--state-dir",
                client_state.to_str().unwrap(),
                "--bucket-items",
                "300",
                "--report",
                report.to_str().unwrap(),
            ]);
            let d = dir.path().join(format!("d-{name}.csv"));
            ok(&link_two_keys(&disk.url, &a, &d, &bargs));
            assert!(!client_state.exists(), "the client's state is removed");
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
            let linked = r["linkage"]["linked_rows"].as_u64().unwrap();
            linked_somewhere |= linked > 0;
            assert_eq!(r["linkage"]["steps"].as_array().unwrap().len(), 2);

            let ms = server_side(&mem_out, "");
            let ds = server_side(&disk_out, "");
            let (want, got) = (shape(&m, &ms, align), shape(&d, &ds, align));
            assert_eq!(got, want, "{name}");
            std::fs::remove_file(ms).unwrap();
            std::fs::remove_file(ds).unwrap();
        }
    }
    assert!(linked_somewhere);
    // The server's linkage directories are removed once written (just after
    // the output appears).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(state.join("linkages")).unwrap().count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a linkage directory stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_single_key_bucketed_linkage_with_duplicates_all_links_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(&a, "id,email\n1,x@y.z\n2,x@y.z\n3,q@y.z\n4,\n").unwrap();
    std::fs::write(&b, "email\nx@y.z\nw@y.z\n").unwrap();
    let state = dir.path().join("s");
    let mut args: Vec<OsString> = ["--key", "email", "--duplicates", "all", "--input"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(b.as_os_str().into());
    args.push("--state-dir".into());
    args.push(state.as_os_str().into());
    let server = Server::spawn(&args);
    let out = dir.path().join("out.csv");
    let o = Command::new(PSI)
        .args(["run", "--peer", &server.url, "--key", "email"])
        .args(["--duplicates", "all", "--join", "left"])
        .arg("--input")
        .arg(&a)
        .arg("--output")
        .arg(&out)
        .arg("--state-dir")
        .arg(dir.path().join("cs"))
        .output()
        .unwrap();
    ok(&o);
    let l = lines(&out);
    let linked: Vec<bool> = l.iter().map(|(i, _)| !i.is_empty()).collect();
    assert_eq!(linked, [true, true, false, false]);
    assert_eq!(l[0].0, l[1].0, "both rows of x@y.z carry the one link id");
}

#[test]
fn a_failed_bucketed_linkage_leaves_no_state_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_key_tables(dir.path(), 50, 17);
    // A server that holds its table in memory runs no bucketed linkage.
    let server = serve(&b, &dir.path().join("b-out.csv"), &[]);
    let state = dir.path().join("state");
    let out = dir.path().join("out.csv");
    let o = link_two_keys(
        &server.url,
        &a,
        &out,
        &["--join", "full", "--state-dir", state.to_str().unwrap()],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no bucketed linkage"), "{err}");
    assert!(!state.exists(), "the state directory is removed on failure");
    assert!(!out.exists(), "no output");
    // --shard splits intersections only.
    let o = link_two_keys(
        &server.url,
        &a,
        &out,
        &["--state-dir", state.to_str().unwrap(), "--shard", "0/2"],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--shard"), "{err}");
}
