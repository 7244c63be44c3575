//! Resumed bucketed linkages of the real binaries (`psi run --state-dir`
//! with two keys, a full join and aligned output, against `psi serve
//! --state-dir`): a client killed (SIGKILL) at random points, again and
//! again, and a server killed and restarted between buckets, end with both
//! sides' outputs equal byte for byte to an uninterrupted run of the same
//! run nonce, with every bucket on ECDH and again on KKRT; a changed input
//! or option (the protocol among them) is refused, naming it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, ok, two_key_tables, Server, PSI};
use rand::{Rng, SeedableRng};

/// `psi serve` of `input` at `listen`, its state in `state`, its side of
/// each linkage in `out_dir`.
fn serve(listen: &str, input: &Path, state: &Path, out_dir: &Path) -> Server {
    let mut args: Vec<OsString> = ["--key", "email", "--key", "phone", "--input"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(input.into());
    args.push("--state-dir".into());
    args.push(state.into());
    args.push("--output".into());
    args.push(out_dir.join("{linkage}.csv").into());
    Server::spawn_at(listen, &args)
}

fn run_cmd(url: &str, input: &Path, out: &Path, extra: &[&str]) -> Command {
    join_cmd(url, input, out, "full", extra)
}

fn join_cmd(url: &str, input: &Path, out: &Path, join: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(PSI);
    c.args(["run", "--peer", url, "--key", "email", "--key", "phone"])
        .args(["--join", join, "--align", "--share-result"])
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .args(extra);
    c
}

/// (step, bucket) pairs recorded in a client's state directory.
fn done(state: &Path) -> usize {
    std::fs::read_dir(state.join("linkage").join("links"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits (bounded) until `state` has at least `n` pairs done, or the child ends.
fn wait_done(child: &mut Child, state: &Path, n: usize) {
    common::wait_for(child, Duration::from_secs(90), || done(state) >= n);
}

/// The server's outputs in `dir` (waiting, bounded, for at least one),
/// each read and removed.
fn take_server_outputs(dir: &Path) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        if !found.is_empty() {
            // Let a write under way finish (outputs appear by rename).
            std::thread::sleep(Duration::from_millis(200));
            return found
                .iter()
                .map(|p| {
                    let bytes = std::fs::read(p).unwrap();
                    std::fs::remove_file(p).unwrap();
                    bytes
                })
                .collect();
        }
        assert!(Instant::now() < deadline, "no server output");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_linkage_killed_anywhere_on_either_side_resumes_to_the_same_outputs() {
    killed_anywhere("ecdh");
}

#[test]
fn a_kkrt_linkage_killed_anywhere_on_either_side_resumes_to_the_same_outputs() {
    killed_anywhere("kkrt");
}

/// The kill-and-restart loop with every bucket on `protocol`.
fn killed_anywhere(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_key_tables(dir.path(), 500, 23);
    let nonce = dir.path().join("nonce");
    std::fs::write(&nonce, "ab".repeat(32)).unwrap();
    let server_state = dir.path().join("server-state");
    let server_out = dir.path().join("server-out");
    std::fs::create_dir_all(&server_out).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = serve(&listen, &b, &server_state, &server_out);

    // Uninterrupted, with the same run nonce (and so the same seed and ids).
    let reference = dir.path().join("ref.csv");
    let state = dir.path().join("state");
    let rep = dir.path().join("r.json");
    let args = [
        "--protocol",
        protocol,
        "--run-nonce-file",
        nonce.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--bucket-items",
        "20",
        "--report",
        rep.to_str().unwrap(),
    ];
    ok(&run_cmd(&server.url, &a, &reference, &args)
        .output()
        .unwrap());
    assert!(!state.exists(), "the state directory is removed on success");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let pairs = r["buckets"]["count"].as_u64().unwrap();
    assert!(pairs >= 32, "many buckets: {r}");
    assert_eq!(r["buckets"]["buckets_resumed"], 0);
    assert_eq!(r["buckets"]["run"].as_u64().unwrap(), pairs);
    assert!(r["linkage"]["linked_rows"].as_u64().unwrap() > 0);
    let server_reference = take_server_outputs(&server_out);
    assert_eq!(server_reference.len(), 1);

    // Killed at random points; between some attempts, and during others,
    // the server is killed and restarted from its state directory.
    let out = dir.path().join("out.csv");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (mut kills, mut restarts) = (0, 0);
    for attempt in 0..8 {
        let at_start = done(&state);
        let mut child = run_cmd(&server.url, &a, &out, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if attempt == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(1..400)));
        } else {
            wait_done(&mut child, &state, done(&state) + rng.random_range(1..6));
        }
        if attempt % 3 == 1 {
            // The server dies under the running client, which rides it out.
            drop(server);
            restarts += 1;
            server = serve(&listen, &b, &server_state, &server_out);
            wait_done(&mut child, &state, done(&state) + rng.random_range(1..4));
        }
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if attempt % 3 == 2 {
            // The server dies between two attempts of the client.
            drop(server);
            restarts += 1;
            server = serve(&listen, &b, &server_state, &server_out);
        }
        if out.exists() {
            break; // it finished before the kill
        }
        assert!(
            done(&state) >= at_start,
            "nothing done is lost (attempt {attempt}: {at_start} before, {} after)",
            done(&state)
        );
    }
    eprintln!(
        "{kills} kills, {restarts} server restarts, {} of {pairs} pairs done before the last run",
        done(&state)
    );
    assert!(
        kills >= 3,
        "the run was killed while working ({kills} times)"
    );
    assert!(restarts >= 2);
    if !out.exists() {
        // The last attempt runs to the end, the server restarted under it
        // once more: it resumes the linkage from its directory.
        let before = done(&state) as u64;
        let mut child = run_cmd(&server.url, &a, &out, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_done(&mut child, &state, done(&state) + 3);
        drop(server);
        server = serve(&listen, &b, &server_state, &server_out);
        let o = child.wait_with_output().unwrap();
        ok(&o);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!e.contains("starting the buckets over"), "{e}");
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
        let resumed = r["buckets"]["buckets_resumed"].as_u64().unwrap();
        assert!(resumed > 0, "buckets were resumed: {r}");
        assert_eq!(resumed, before, "{r}");
        assert_eq!(
            r["buckets"]["run"].as_u64().unwrap() + resumed,
            pairs,
            "{r}"
        );
    }
    assert_eq!(
        std::fs::read(&reference).unwrap(),
        std::fs::read(&out).unwrap(),
        "the client's side, byte for byte"
    );
    for side in take_server_outputs(&server_out) {
        assert!(
            side == server_reference[0],
            "the server's side, byte for byte"
        );
    }
    assert!(!state.exists(), "the state directory is removed on success");
    // The server's linkage directory goes once its side is written.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(server_state.join("linkages"))
        .unwrap()
        .count()
        > 0
    {
        assert!(Instant::now() < deadline, "a linkage directory stayed");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
}

#[test]
fn a_changed_input_or_option_is_refused_on_resume_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_key_tables(dir.path(), 300, 23);
    let server_out = dir.path().join("server-out");
    std::fs::create_dir_all(&server_out).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let server = serve(&listen, &b, &dir.path().join("ss"), &server_out);
    let out = dir.path().join("out.csv");
    let state = dir.path().join("state");
    let s = state.to_str().unwrap();
    let first = run_cmd(
        &server.url,
        &a,
        &out,
        &["--state-dir", s, "--bucket-items", "10"],
    );
    common::run_then_kill(first, Duration::from_secs(90), || done(&state) >= 1);
    assert!(state.join("state.json").exists(), "the progress is kept");
    let refused = |args: &[&str]| {
        let o = run_cmd(&server.url, &a, &out, args).output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = refused(&["--state-dir", s, "--bucket-items", "11"]);
    assert!(
        e.contains("the options changed: bucket items 10 (now: bucket items 11)"),
        "{e}"
    );
    let e = refused(&[
        "--state-dir",
        s,
        "--bucket-items",
        "10",
        "--protocol",
        "kkrt",
    ]);
    assert!(
        e.contains("the options changed: protocol ecdh-ristretto255 (now: protocol kkrt-ot)"),
        "{e}"
    );
    let args = ["--state-dir", s, "--bucket-items", "10"];
    let o = join_cmd(&server.url, &a, &out, "left", &args)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("join full (now: join left)"),
        "{e}"
    );
    let mut text = std::fs::read_to_string(&a).unwrap();
    text.push_str("a9999,e1,p1\n");
    std::fs::write(&a, text).unwrap();
    let e = refused(&["--state-dir", s, "--bucket-items", "10"]);
    assert!(e.contains("the input changed"), "{e}");
    assert!(!out.exists());
    assert!(
        state.join("linkage").join("linkage.json").exists(),
        "nothing lost"
    );
}
