//! Bucketed runs of the real binaries (`psi run --state-dir`, `psi serve
//! --state-dir`): the output equals the in-memory run's byte for byte; a
//! client killed (SIGKILL) at any point resumes to the same output; a server
//! killed and restarted between buckets loses and duplicates nothing; a
//! changed input is refused.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, ok, Server, PSI};
use rand::{Rng, SeedableRng};

/// A client table with repeated and empty keys, and a server table that
/// shares about half of them.
fn tables(dir: &Path, rows: usize) -> (PathBuf, PathBuf) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut a = String::from("id,key\n");
    for i in 0..rows {
        match rng.random_range(0..20) {
            0 => a.push_str(&format!("{i},\n")),
            _ => a.push_str(&format!("{i},k{}\n", rng.random_range(0..rows))),
        }
    }
    let mut b = String::from("key,other\n");
    for k in (0..2 * rows).step_by(2) {
        b.push_str(&format!("k{k},x\n"));
    }
    let (pa, pb) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    (pa, pb)
}

fn serve(input: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<OsString> = vec!["--key".into(), "key".into(), "--input".into()];
    args.push(input.into());
    args.extend(extra.iter().map(Into::into));
    Server::spawn(&args)
}

fn run_cmd(url: &str, input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(PSI);
    c.args(["run", "--peer", url, "--key", "key"])
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .args(extra);
    c
}

fn run(url: &str, input: &Path, out: &Path, extra: &[&str]) -> Output {
    run_cmd(url, input, out, extra).output().unwrap()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Buckets marked done in a state directory (0 before the state exists).
fn done(state: &Path) -> usize {
    std::fs::read(state.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| Some(v.get("done")?.as_array()?.len()))
        .unwrap_or(0)
}

/// Waits (bounded) until `state` has at least `n` buckets done, or the child ends.
fn wait_done(child: &mut Child, state: &Path, n: usize) {
    common::wait_for(child, Duration::from_secs(60), || done(state) >= n);
}

#[test]
fn bucketed_runs_equal_in_memory_runs_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 3000);
    let server = serve(&b, &[]);
    for protocol in ["ecdh", "kkrt"] {
        for duplicates in ["all", "first"] {
            let memory = dir.path().join(format!("m-{protocol}-{duplicates}.csv"));
            let bucketed = dir.path().join(format!("b-{protocol}-{duplicates}.csv"));
            let rep = dir.path().join("r.json");
            let common = ["--protocol", protocol, "--duplicates", duplicates];
            ok(&run(&server.url, &a, &memory, &common));
            let state = dir.path().join("state");
            let mut args = common.to_vec();
            let state_arg = state.to_str().unwrap();
            args.extend(["--state-dir", state_arg, "--bucket-items", "400"]);
            args.extend(["--report", rep.to_str().unwrap()]);
            ok(&run(&server.url, &a, &bucketed, &args));
            assert_eq!(
                std::fs::read(&memory).unwrap(),
                std::fs::read(&bucketed).unwrap(),
                "{protocol} --duplicates {duplicates}"
            );
            let r = report(&rep);
            assert_eq!(r["buckets"]["count"], 8, "3000 keys at 400 a bucket");
            assert_eq!(r["buckets"]["buckets_resumed"], 0);
            assert_eq!(r["input"]["rows"], 3000);
            assert!(!state.exists(), "the state directory is removed on success");
        }
    }
}

#[test]
fn a_client_killed_anywhere_resumes_to_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 3000);
    let server = serve(&b, &[]);
    let reference = dir.path().join("ref.csv");
    ok(&run(&server.url, &a, &reference, &["--duplicates", "all"]));

    let out = dir.path().join("out.csv");
    let state = dir.path().join("state");
    let rep = dir.path().join("r.json");
    let args = [
        "--duplicates",
        "all",
        "--state-dir",
        state.to_str().unwrap(),
        "--bucket-items",
        "50",
        "--report",
        rep.to_str().unwrap(),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    // Killed at a random moment (while hashing, partitioning or in a bucket),
    // then after more and more buckets.
    let mut kills = 0;
    for step in 0..6 {
        let mut child = run_cmd(&server.url, &a, &out, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if step == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(1..300)));
        } else {
            wait_done(&mut child, &state, done(&state) + rng.random_range(1..6));
        }
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!out.exists(), "no output before the run completes");
    }
    assert!(
        kills >= 3,
        "the run was killed while working ({kills} times)"
    );
    let before = done(&state);
    ok(&run(&server.url, &a, &out, &args));
    assert_eq!(
        std::fs::read(&reference).unwrap(),
        std::fs::read(&out).unwrap()
    );
    let r = report(&rep);
    assert_eq!(r["buckets"]["buckets_resumed"], before as u64);
    assert_eq!(
        r["buckets"]["run"].as_u64().unwrap() + before as u64,
        r["buckets"]["count"].as_u64().unwrap()
    );
    assert!(before > 0, "buckets were resumed");
    assert!(!state.exists());
}

#[test]
fn a_changed_input_or_option_is_refused_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 1000);
    let server = serve(&b, &[]);
    let out = dir.path().join("out.csv");
    let state = dir.path().join("state");
    let s = state.to_str().unwrap();
    let first = run_cmd(
        &server.url,
        &a,
        &out,
        &["--state-dir", s, "--bucket-items", "20"],
    );
    common::run_then_kill(first, Duration::from_secs(60), || done(&state) >= 1);
    assert!(state.join("state.json").exists());
    let o = run(
        &server.url,
        &a,
        &out,
        &["--state-dir", s, "--bucket-items", "30"],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("the options changed"),
        "{e}"
    );
    let mut text = std::fs::read_to_string(&a).unwrap();
    text.push_str("9999,k1\n");
    std::fs::write(&a, text).unwrap();
    let o = run(
        &server.url,
        &a,
        &out,
        &["--state-dir", s, "--bucket-items", "20"],
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("the input changed"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn a_server_restarted_between_buckets_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 3000);
    let memory = serve(&b, &[]);
    let reference = dir.path().join("ref.csv");
    ok(&run(
        &memory.url,
        &a,
        &reference,
        &["--duplicates", "first"],
    ));
    drop(memory);

    let server_state = dir.path().join("server-state");
    let listen = format!("127.0.0.1:{}", free_port());
    let start = || {
        let args: Vec<OsString> = vec![
            "--key".into(),
            "key".into(),
            "--input".into(),
            b.clone().into(),
            "--state-dir".into(),
            server_state.clone().into(),
        ];
        Server::spawn_at(&listen, &args)
    };
    let server = start();
    let out = dir.path().join("out.csv");
    let state = dir.path().join("state");
    let rep = dir.path().join("r.json");
    let mut child = run_cmd(
        &server.url,
        &a,
        &out,
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "--bucket-items",
            "50",
            "--report",
            rep.to_str().unwrap(),
            "--protocol",
            "kkrt",
            "--duplicates",
            "first",
        ],
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // SIGKILL the server four times at random points: mid-partition (a
    // random few milliseconds after the client started) and then after a
    // random number of further buckets; it restarts from its state each time.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut server = server;
    std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
    let mut killed_at = Vec::new();
    for _ in 0..4 {
        drop(server); // SIGKILL
        killed_at.push(done(&state));
        server = start();
        let next = done(&state) + rng.random_range(1..6);
        wait_done(&mut child, &state, next);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the client rode out the restarts (killed at {killed_at:?} buckets done)"
    );
    drop(server);
    assert_eq!(
        std::fs::read(&reference).unwrap(),
        std::fs::read(&out).unwrap()
    );
    let r = report(&rep);
    assert_eq!(r["buckets"]["buckets_resumed"], 0, "one invocation");
    assert!(
        server_state.join("run-key").exists() && server_state.join("partitions").is_dir(),
        "the server keeps its run key and partitions"
    );
}

/// W shard pairs, as separate processes: server i gets `server_args(i)`,
/// client i `client_args(i)` (besides `--shard i/W`, `--state-dir`, the
/// report); returns the merged output rows (sorted, without headers) and
/// the buckets run in total. Every `--once` server must stop by itself.
fn shard_pairs(
    dir: &Path,
    (a, b): (&Path, &Path),
    workers: usize,
    server_args: impl Fn(usize) -> Vec<String>,
    client_args: impl Fn(usize) -> Vec<String>,
) -> (Vec<String>, u64) {
    let servers: Vec<Server> = (0..workers)
        .map(|i| {
            let state = dir.join(format!("server-{i}"));
            let mut args = vec!["--state-dir".to_string(), state.display().to_string()];
            args.extend(server_args(i));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            serve(b, &args)
        })
        .collect();
    let clients: Vec<(Child, PathBuf, PathBuf)> = (0..workers)
        .map(|i| {
            let out = dir.join(format!("out-{i}.csv"));
            let rep = dir.join(format!("r-{i}.json"));
            let state = dir.join(format!("client-{i}"));
            let mut args = vec![
                "--state-dir".to_string(),
                state.display().to_string(),
                "--shard".to_string(),
                format!("{i}/{workers}"),
                "--report".to_string(),
                rep.display().to_string(),
            ];
            args.extend(client_args(i));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let child = run_cmd(&servers[i].url, a, &out, &args)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (child, out, rep)
        })
        .collect();
    let mut merged: Vec<String> = Vec::new();
    let mut buckets_run = 0;
    for (child, out, rep) in clients {
        let o = child.wait_with_output().unwrap();
        ok(&o);
        let text = std::fs::read_to_string(&out).unwrap();
        merged.extend(text.lines().skip(1).map(str::to_string));
        let r = report(&rep);
        buckets_run += r["buckets"]["run"].as_u64().unwrap();
        assert_eq!(r["buckets"]["count"], 32);
    }
    for server in servers {
        assert!(
            server.wait_exit(),
            "a --once server stops when its run is closed"
        );
    }
    merged.sort();
    (merged, buckets_run)
}

/// The rows of an output file, sorted, without the header.
fn sorted_rows(path: &Path) -> Vec<String> {
    let mut rows: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

const CLIENT: [&str; 4] = ["--duplicates", "all", "--bucket-items", "100"];

#[test]
fn three_shard_pairs_together_equal_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 2000);
    let reference = dir.path().join("ref.csv");
    {
        let server = serve(&b, &[]);
        ok(&run(&server.url, &a, &reference, &["--duplicates", "all"]));
    }
    let (key, nonce) = (dir.path().join("run-key"), dir.path().join("nonce"));
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::write(&nonce, "0123456789abcdef".repeat(4)).unwrap();
    let (key, nonce) = (key.display().to_string(), nonce.display().to_string());
    let (merged, buckets_run) = shard_pairs(
        dir.path(),
        (&a, &b),
        3,
        |_| vec!["--run-key-file".into(), key.clone(), "--once".into()],
        |_| {
            let mut args: Vec<String> = CLIENT.iter().map(|s| s.to_string()).collect();
            args.extend(["--run-nonce-file".into(), nonce.clone()]);
            args
        },
    );
    assert_eq!(buckets_run, 32, "every bucket ran once, on one worker");
    let want = sorted_rows(&reference);
    assert!(!want.is_empty());
    assert_eq!(merged, want);
}

/// The stderr of a command that must have failed.
fn refused_with(o: &Output) -> String {
    assert!(!o.status.success(), "expected a refusal");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn partition(args: &[&str]) -> Output {
    Command::new(PSI)
        .arg("partition")
        .args(args)
        .arg("--quiet")
        .output()
        .unwrap()
}

#[test]
fn shard_workers_read_one_cut_made_by_psi_partition() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 2000);
    let reference = dir.path().join("ref.csv");
    {
        let server = serve(&b, &[]);
        ok(&run(&server.url, &a, &reference, &["--duplicates", "all"]));
    }
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("run-key"), "cd".repeat(32)).unwrap();
    std::fs::write(path("other-key"), "ef".repeat(32)).unwrap();
    std::fs::write(path("nonce"), "0123456789abcdef".repeat(4)).unwrap();
    let (b_str, a_str) = (b.display().to_string(), a.display().to_string());
    // The serving party cuts with its run key, the running party with the
    // server nonce that cut wrote.
    let cut_b = [
        "--input",
        &b_str,
        "--key",
        "key",
        "--run-nonce-file",
        &path("nonce"),
    ];
    let o = partition(
        &[
            &cut_b[..],
            &["--run-key-file", &path("run-key"), "--out", &path("cut-b")],
        ]
        .concat(),
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("2000 rows"));
    let server_nonce = dir.path().join("cut-b/server-nonce").display().to_string();
    let cut_a = [
        "--input",
        &a_str,
        "--key",
        "key",
        "--run-nonce-file",
        &path("nonce"),
    ];
    let cut_a_dir = path("cut-a");
    let cut_a_args = [
        &cut_a[..],
        &["--server-nonce-file", &server_nonce, "--out", &cut_a_dir],
    ]
    .concat();
    ok(&partition(&cut_a_args));
    let again = partition(&cut_a_args);
    let why = refused_with(&again);
    assert!(
        why.contains("already holds a cut"),
        "a cut is never overwritten: {why}"
    );

    let (merged, buckets_run) = shard_pairs(
        dir.path(),
        (&a, &b),
        3,
        |_| {
            let key = path("run-key");
            vec![
                "--run-key-file".into(),
                key,
                "--partitioned".into(),
                path("cut-b"),
                "--once".into(),
            ]
        },
        |_| {
            let mut args: Vec<String> = CLIENT.iter().map(|s| s.to_string()).collect();
            args.extend(["--partitioned".into(), path("cut-a")]);
            args
        },
    );
    assert_eq!(buckets_run, 32);
    assert_eq!(merged, sorted_rows(&reference));
    for i in 0..3 {
        let own = dir.path().join(format!("server-{i}/partitions"));
        let cut_again = std::fs::read_dir(&own).map_or(0, |d| d.count());
        assert_eq!(
            cut_again, 0,
            "server worker {i} served the cut, not its own partition"
        );
    }
    assert!(
        dir.path().join("cut-a/partition.json").exists(),
        "workers leave the cut alone"
    );

    // A server with another run key refuses the cut at start.
    let o = Command::new(PSI)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "key",
            "--input",
            &b_str,
        ])
        .args([
            "--state-dir",
            &path("s-other"),
            "--run-key-file",
            &path("other-key"),
        ])
        .args(["--partitioned", &path("cut-b"), "--once"])
        .output()
        .unwrap();
    let why = refused_with(&o);
    assert!(why.contains("another run key"), "{why}");

    // A changed input is refused: the cut no longer describes it.
    let copy = dir.path().join("a2.csv");
    std::fs::copy(&a, &copy).unwrap();
    let copy_str = copy.display().to_string();
    ok(&partition(&[
        "--input",
        &copy_str,
        "--key",
        "key",
        "--run-nonce-file",
        &path("nonce"),
        "--server-nonce-file",
        &server_nonce,
        "--out",
        &path("cut-a2"),
    ]));
    let mut text = std::fs::read_to_string(&copy).unwrap();
    text.push_str("9999,k1\n");
    std::fs::write(&copy, text).unwrap();
    let refused = |input: &Path, run_key: &str, cut: &str, name: &str| {
        let server_state = path(&format!("s-{name}"));
        let server = serve(
            &b,
            &["--state-dir", &server_state, "--run-key-file", run_key],
        );
        let client_state = path(&format!("c-{name}"));
        let out = dir.path().join(format!("{name}.csv"));
        let args = [
            "--duplicates",
            "all",
            "--state-dir",
            &client_state,
            "--partitioned",
            cut,
        ];
        refused_with(&run(&server.url, input, &out, &args))
    };
    let why = refused(&copy, &path("run-key"), &path("cut-a2"), "changed");
    assert!(why.contains("changed since it was cut"), "{why}");

    // A running party's cut under another server's nonce is refused at the run's start.
    let why = refused(&a, &path("other-key"), &path("cut-a"), "other");
    assert!(why.contains("another partition seed"), "{why}");
}

#[test]
fn ctrl_c_keeps_the_progress_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 2000);
    let server = serve(&b, &[]);
    let reference = dir.path().join("ref.csv");
    ok(&run(&server.url, &a, &reference, &["--duplicates", "all"]));
    let out = dir.path().join("out.csv");
    let state = dir.path().join("state");
    let args = [
        "--duplicates",
        "all",
        "--bucket-items",
        "30",
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let mut child = run_cmd(&server.url, &a, &out, &args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_done(&mut child, &state, 2);
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        // It finished before the signal arrived: nothing more to check.
        assert!(out.exists(), "{e}");
        return;
    }
    assert!(e.contains("interrupted; the progress is kept in"), "{e}");
    assert!(!out.exists(), "no output from an interrupted run");
    assert!(done(&state) >= 2, "the progress is kept");
    ok(&run(&server.url, &a, &out, &args));
    assert_eq!(
        std::fs::read(&reference).unwrap(),
        std::fs::read(&out).unwrap()
    );
}

/// Runs `psi run ARGS` with `dir` replaced by a file system of `size` of its
/// own (a tmpfs in a user and mount namespace); `None` where the machine does
/// not allow that.
fn run_on_tiny_disk(dir: &Path, size: &str, args: &[String]) -> Option<Output> {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: no unprivileged user and mount namespaces here (unshare)");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut script = format!(
        "mount -t tmpfs -o size={size} tmpfs '{}' && exec '{PSI}' run",
        dir.display()
    );
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    Some(
        Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
            .output()
            .unwrap(),
    )
}

#[test]
fn a_full_disk_is_a_clear_error_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tables(dir.path(), 3000);
    let server = serve(&b, &[]);
    let tiny = dir.path().join("tiny");
    let s = |p: &Path| p.display().to_string();
    // The spill does not fit.
    let out = dir.path().join("out.csv");
    let args: Vec<String> = [
        "--peer",
        &server.url,
        "--key",
        "key",
        "--duplicates",
        "all",
        "--input",
        &s(&a),
        "--output",
        &s(&out),
        "--state-dir",
        &s(&tiny.join("state")),
    ]
    .map(String::from)
    .to_vec();
    let Some(o) = run_on_tiny_disk(&tiny, "64k", &args) else {
        return;
    };
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("No space left on device") && e.contains("/state/"),
        "names the file: {e}"
    );
    assert!(!out.exists());
    // The spill fits elsewhere, the output does not.
    let out = tiny.join("out.csv");
    let mut args = args;
    let n = args.len();
    args[n - 3] = s(&out);
    args[n - 1] = s(&dir.path().join("state"));
    let o = run_on_tiny_disk(&tiny, "8k", &args).unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("No space left on device") && e.contains("out.csv"),
        "{e}"
    );
    assert!(!out.exists(), "no half-written output");
}
