//! Bucketed linkages on KKRT (`psi run --protocol kkrt --state-dir` against
//! `psi serve --state-dir`): with the same run nonce (so the same partition
//! seed and link ids) every output of both sides is byte for byte the ECDH
//! bucketed linkage's, which `e2e_link_buckets.rs` compares with the
//! in-memory linkage and `psi-core`'s tests with the plaintext waterfall.
//! Two keys, full / left / inner joins, aligned or not, shared or not, many
//! buckets, and tables with an empty and a full overlap. In memory, KKRT is
//! refused with a message that points to `--state-dir`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{link_two_keys, ok, two_key_tables, Server};

fn serve(input: &Path, state: &Path, out_dir: &Path) -> Server {
    let mut args: Vec<OsString> = ["--key", "email", "--key", "phone", "--input"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(input.into());
    args.push("--state-dir".into());
    args.push(state.into());
    args.push("--output".into());
    args.push(out_dir.join("{linkage}.csv").into());
    Server::spawn(&args)
}

/// The server's side of the linkage that just ended (waiting, bounded, for
/// it and for its linkage directory to go), read and removed; `None` if it
/// writes none (the result was not shared).
fn take_server_side(out_dir: &Path, state: &Path, shared: bool) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let linkages = state.join("linkages");
    loop {
        let found: Vec<PathBuf> = std::fs::read_dir(out_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        let gone = std::fs::read_dir(&linkages).map_or(true, |d| d.count() == 0);
        if gone && (!shared || !found.is_empty()) {
            assert!(found.len() <= 1, "{found:?}");
            return found.first().map(|p| {
                let bytes = std::fs::read(p).unwrap();
                std::fs::remove_file(p).unwrap();
                bytes
            });
        }
        assert!(
            Instant::now() < deadline,
            "the server's side did not appear"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Sides {
    client: Vec<u8>,
    server: Option<Vec<u8>>,
    report: serde_json::Value,
}

/// One bucketed linkage of `protocol` with run nonce `nonce`.
#[allow(clippy::too_many_arguments)]
fn linkage(
    server: &Server,
    (state, out_dir): (&Path, &Path),
    dir: &Path,
    a: &Path,
    nonce: &Path,
    protocol: &str,
    args: &[&str],
) -> Sides {
    let out = dir.join(format!("{protocol}.csv"));
    let report = dir.join(format!("{protocol}.json"));
    let client_state = dir.join(format!("{protocol}-state"));
    let mut all = args.to_vec();
    all.extend([
        "--protocol",
        protocol,
        "--run-nonce-file",
        nonce.to_str().unwrap(),
        "--state-dir",
        client_state.to_str().unwrap(),
        "--bucket-items",
        "40",
        "--report",
        report.to_str().unwrap(),
    ]);
    ok(&link_two_keys(&server.url, a, &out, &all));
    assert!(!client_state.exists(), "the client's state is removed");
    let shared = args
        .iter()
        .any(|a| *a == "--share-result" || *a == "--align");
    let sides = Sides {
        client: std::fs::read(&out).unwrap(),
        server: take_server_side(out_dir, state, shared),
        report: serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap(),
    };
    std::fs::remove_file(&out).unwrap();
    sides
}

/// Every case of `cases` on tables `a` and `b`, ECDH then KKRT: the same
/// bytes. Returns the rows each KKRT linkage linked.
fn same_outputs(dir: &Path, a: &Path, b: &Path, cases: &[&[&str]]) -> Vec<u64> {
    let (state, out_dir) = (dir.join("server-state"), dir.join("server-out"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let server = serve(b, &state, &out_dir);
    let nonce = dir.join("nonce");
    let mut linked = Vec::new();
    for (i, args) in cases.iter().enumerate() {
        std::fs::write(&nonce, format!("{i:02x}").repeat(32)).unwrap();
        let e = linkage(&server, (&state, &out_dir), dir, a, &nonce, "ecdh", args);
        let k = linkage(&server, (&state, &out_dir), dir, a, &nonce, "kkrt", args);
        let what = args.join(" ");
        assert_eq!(
            e.client, k.client,
            "{what}: the client's side, byte for byte"
        );
        assert_eq!(
            e.server, k.server,
            "{what}: the server's side, byte for byte"
        );
        assert_eq!(e.server.is_some(), args.len() > 2, "{what}");
        assert_eq!(k.report["protocol"], "kkrt-ot-linkage-bucketed");
        assert_eq!(e.report["protocol"], "ecdh-ristretto255-linkage-bucketed");
        for field in ["linkage", "buckets"] {
            let (mut le, mut lk) = (e.report[field].clone(), k.report[field].clone());
            for l in [&mut le, &mut lk] {
                l.as_object_mut().unwrap().remove("linkage"); // the run id
                l.as_object_mut().unwrap().remove("state_dir_bytes");
                l.as_object_mut().unwrap().remove("output"); // the file name
            }
            assert_eq!(le, lk, "{what}: the report's {field}");
        }
        assert!(k.report["buckets"]["count"].as_u64().unwrap() >= 8);
        linked.push(k.report["linkage"]["linked_rows"].as_u64().unwrap());
    }
    linked
}

#[test]
fn kkrt_bucketed_linkages_give_the_ecdh_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_key_tables(dir.path(), 300, 41);
    let cases: [&[&str]; 3] = [
        &["--join", "full", "--align"],
        &["--join", "left", "--share-result"],
        &["--join", "inner"],
    ];
    let linked = same_outputs(dir.path(), &a, &b, &cases);
    assert!(linked.iter().all(|&n| n > 20), "{linked:?}");
}

#[test]
fn empty_and_full_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let (full, empty) = (dir.path().join("full"), dir.path().join("empty"));
    let (mut ta, mut tb, mut tc) = (
        String::from("id,email,phone\n"),
        String::from("phone,email,note\n"),
        String::from("phone,email,note\n"),
    );
    for i in 0..160 {
        ta.push_str(&format!("a{i},e{i},p{i}\n"));
        tb.push_str(&format!("p{i},e{i},b{i}\n"));
        tc.push_str(&format!("q{i},f{i},c{i}\n"));
    }
    std::fs::write(&a, ta).unwrap();
    std::fs::create_dir_all(&full).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let (b, c) = (full.join("b.csv"), empty.join("c.csv"));
    std::fs::write(&b, tb).unwrap();
    std::fs::write(&c, tc).unwrap();
    let cases: [&[&str]; 1] = [&["--join", "full", "--align"]];
    assert_eq!(same_outputs(&full, &a, &b, &cases), [160]);
    assert_eq!(same_outputs(&empty, &a, &c, &cases), [0]);
}

#[test]
fn kkrt_linkages_in_memory_are_refused_naming_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_key_tables(dir.path(), 10, 1);
    let o = link_two_keys(
        "127.0.0.1:9",
        &a,
        &dir.path().join("out.csv"),
        &["--join", "full", "--protocol", "kkrt"],
    );
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--protocol kkrt") && e.contains("--state-dir"),
        "{e}"
    );
}
