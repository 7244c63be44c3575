//! Sharded bucketed linkages of the real binaries: W = 3 worker pairs as
//! separate processes (`psi serve --once --shard i/3 --shard-dir` and `psi
//! run --shard i/3 --shard-dir`, every worker with the same run key or run
//! nonce), a two-key waterfall with several buckets per step. Together the
//! workers' outputs are a single-machine bucketed run's (the same run nonce
//! and run key, so the same link ids): as a multiset of rows, and, aligned,
//! line for line once merged by id with worker 0's unlinked tail after; each
//! worker pair's aligned files pair up line by line; and the links are the
//! plaintext waterfall's. The ECDH case kills (SIGKILL) a server worker
//! mid-run and starts it again on its address; the KKRT case kills a client
//! worker and runs its command again. A missing worker, more workers than
//! buckets, a worker resumed as another shard and the usage errors are
//! clear errors.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ok, run_then_kill, two_key_tables, Server, PSI};
use psi_table::{waterfall_match_plain, LinkageSpec, LinkageTable};

const WORKERS: usize = 3;

struct Setup {
    dir: PathBuf,
    a: PathBuf,
    b: PathBuf,
    key: PathBuf,
    nonce: PathBuf,
}

fn setup(dir: &Path) -> Setup {
    let (a, b) = two_key_tables(dir, 1500, 29);
    let (key, nonce) = (dir.join("run-key"), dir.join("nonce"));
    std::fs::write(&key, "cd".repeat(32)).unwrap();
    std::fs::write(&nonce, "5a".repeat(32)).unwrap();
    Setup {
        dir: dir.to_path_buf(),
        a,
        b,
        key,
        nonce,
    }
}

/// `psi serve --once --state-dir` on B's two keys, writing its side to
/// `out`, with `extra`.
fn serve(s: &Setup, name: &str, out: &Path, extra: &[String]) -> Server {
    Server::spawn(&serve_args(s, name, out, extra))
}

/// [`serve`] on `address` (a restart), its name `name` with `{tag}` replaced.
fn serve_at(
    s: &Setup,
    address: &str,
    name: &str,
    out: &Path,
    extra: &[String],
    tag: &str,
) -> Server {
    let name = name.replace("{tag}", tag);
    Server::spawn_at(address, &serve_args(s, &name, out, extra))
}

fn serve_args(s: &Setup, name: &str, out: &Path, extra: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--key", "email", "--key", "phone", "--once"]
        .iter()
        .map(Into::into)
        .collect();
    for (flag, value) in [
        ("--input", s.b.clone()),
        ("--output", out.to_path_buf()),
        ("--state-dir", s.dir.join(format!("{name}-state"))),
        ("--run-key-file", s.key.clone()),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args.extend(extra.iter().map(Into::into));
    args
}

/// `psi run` of the two-key linkage with `extra`.
fn run_cmd(s: &Setup, url: &str, name: &str, out: &Path, extra: &[String]) -> Command {
    let mut c = Command::new(PSI);
    c.args(["run", "--peer", url, "--key", "email", "--key", "phone"])
        .args(["--bucket-items", "100", "--quiet", "--input"])
        .arg(&s.a)
        .arg("--output")
        .arg(out)
        .arg("--state-dir")
        .arg(s.dir.join(format!("{name}-state")))
        .arg("--run-nonce-file")
        .arg(&s.nonce)
        .arg("--report")
        .arg(s.dir.join(format!("{name}.json")))
        .args(extra);
    c
}

/// A file's data lines (no header).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A single machine's bucketed run: (client output, server output).
fn one_machine(s: &Setup, tag: &str, extra: &[String]) -> (PathBuf, PathBuf) {
    let (c, b) = (
        s.dir.join(format!("{tag}-one-a.csv")),
        s.dir.join(format!("{tag}-one-b.csv")),
    );
    let server = serve(s, &format!("{tag}-one-server"), &b, &[]);
    let o = run_cmd(s, &server.url, &format!("{tag}-one-client"), &c, extra)
        .output()
        .unwrap();
    ok(&o);
    assert!(server.wait_exit());
    (c, b)
}

/// Which worker a run kills (SIGKILL) once it recorded two buckets, and
/// starts again with the same command.
#[derive(PartialEq)]
enum Kill {
    /// Client worker 1.
    Client,
    /// Server worker 2 (started again on the same address).
    Server,
}

/// Finished buckets in a links directory (a temporary file is not one).
fn buckets_done(links: &Path) -> usize {
    std::fs::read_dir(links).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".bin"))
            .count()
    })
}

/// Finished buckets of a server's linkages.
fn server_buckets_done(state: &Path) -> usize {
    std::fs::read_dir(state.join("linkages")).map_or(0, |d| {
        d.flatten()
            .map(|e| buckets_done(&e.path().join("links")))
            .sum()
    })
}

/// Three worker pairs, with `kill`. The workers' (client, server) outputs.
fn sharded(s: &Setup, tag: &str, extra: &[String], kill: Kill) -> Vec<(PathBuf, PathBuf)> {
    let (ca, cb) = (
        s.dir.join(format!("{tag}-shards-a")),
        s.dir.join(format!("{tag}-shards-b")),
    );
    let outs: Vec<(PathBuf, PathBuf)> = (0..WORKERS)
        .map(|i| {
            (
                s.dir.join(format!("{tag}-{i}-a.csv")),
                s.dir.join(format!("{tag}-{i}-b.csv")),
            )
        })
        .collect();
    let shard = |i: usize, dir: &Path| {
        vec![
            "--shard".to_string(),
            format!("{i}/{WORKERS}"),
            "--shard-dir".to_string(),
            dir.display().to_string(),
            "--shard-timeout".to_string(),
            "120".to_string(),
        ]
    };
    let mut servers: Vec<Server> = (0..WORKERS)
        .map(|i| serve(s, &format!("{tag}-server-{i}"), &outs[i].1, &shard(i, &cb)))
        .collect();
    let command = |i: usize| {
        let mut args = shard(i, &ca);
        args.extend(extra.iter().cloned());
        run_cmd(
            s,
            &servers[i].url,
            &format!("{tag}-client-{i}"),
            &outs[i].0,
            &args,
        )
    };
    let mut clients: Vec<Child> = Vec::new();
    for i in 0..WORKERS {
        if kill == Kill::Client && i == 1 {
            let links = s.dir.join(format!("{tag}-client-1-state/linkage/links"));
            run_then_kill(command(i), Duration::from_secs(60), || {
                buckets_done(&links) >= 2
            });
            assert!(buckets_done(&links) >= 2, "killed after two buckets");
        }
        let mut cmd = command(i);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        clients.push(cmd.spawn().unwrap());
    }
    if kill == Kill::Server {
        let state = s.dir.join(format!("{tag}-server-2-state"));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while server_buckets_done(&state) < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(server_buckets_done(&state) >= 2, "killed after two buckets");
        let address = servers[2].url.trim_start_matches("http://").to_string();
        let _ = servers[2].child.kill();
        let _ = servers[2].child.wait();
        servers[2] = serve_at(
            s,
            &address,
            "{tag}-server-2",
            &outs[2].1,
            &shard(2, &cb),
            tag,
        );
    }
    let done: Vec<_> = clients
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let failed: Vec<String> = done
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.status.success())
        .map(|(i, o)| format!("client worker {i}: {}", String::from_utf8_lossy(&o.stderr)))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    for (i, o) in done.iter().enumerate() {
        ok(o);
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(s.dir.join(format!("{tag}-client-{i}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(report["buckets"]["shard"], format!("{i}/{WORKERS}"));
        if kill == Kill::Client && i == 1 {
            assert!(report["buckets"]["buckets_resumed"].as_u64().unwrap() >= 2);
        }
    }
    for server in servers {
        assert!(server.wait_exit(), "a --once server worker stops");
    }
    outs
}

/// The linked (A row, B row) pairs of a client and a server output, joined
/// by id; A's rows are `a{i}` in the first column, B's `b{j}` in the last.
fn pairs(client: &[String], server: &[String]) -> BTreeSet<(String, String)> {
    let by_id: BTreeMap<&str, &str> = server
        .iter()
        .filter_map(|l| {
            let (id, rest) = l.split_once(',')?;
            (!id.is_empty()).then(|| (id, rest.rsplit(',').next().unwrap_or("")))
        })
        .collect();
    client
        .iter()
        .filter_map(|l| {
            let (id, rest) = l.split_once(',')?;
            let b = by_id.get(id)?;
            Some((rest.split(',').next()?.to_string(), b.to_string()))
        })
        .collect()
}

fn plain_pairs(s: &Setup) -> BTreeSet<(String, String)> {
    let spec = LinkageSpec::parse("email;phone").unwrap();
    let (ta, tb) = (
        LinkageTable::read(&s.a, &spec).unwrap(),
        LinkageTable::read(&s.b, &spec).unwrap(),
    );
    waterfall_match_plain(&ta, &tb, &spec)
        .unwrap()
        .pairs
        .iter()
        .map(|p| (format!("a{}", p.a_row), format!("b{}", p.b_row)))
        .collect()
}

fn check(s: &Setup, one: &(PathBuf, PathBuf), outs: &[(PathBuf, PathBuf)], align: bool) {
    let (oa, ob) = (lines(&one.0), lines(&one.1));
    let parts_a: Vec<Vec<String>> = outs.iter().map(|o| lines(&o.0)).collect();
    let parts_b: Vec<Vec<String>> = outs.iter().map(|o| lines(&o.1)).collect();
    // As multisets, the workers' outputs are one machine's.
    assert_eq!(sorted(parts_a.concat()), sorted(oa.clone()), "client side");
    assert_eq!(sorted(parts_b.concat()), sorted(ob.clone()), "server side");
    let plain = plain_pairs(s);
    assert!(plain.len() > 100, "{} links", plain.len());
    assert_eq!(pairs(&parts_a.concat(), &parts_b.concat()), plain);
    assert_eq!(pairs(&oa, &ob), plain);
    if align {
        for (i, (ca, cb)) in parts_a.iter().zip(&parts_b).enumerate() {
            assert_eq!(ca.len(), cb.len(), "worker pair {i}");
            for (x, y) in ca.iter().zip(cb) {
                assert_eq!(x.split(',').next(), y.split(',').next(), "worker pair {i}");
            }
        }
        for (parts, whole) in [(&parts_a, &oa), (&parts_b, &ob)] {
            let mut merged: Vec<String> = parts
                .iter()
                .flatten()
                .filter(|l| !l.starts_with(','))
                .cloned()
                .collect();
            merged.sort();
            merged.extend(parts[0].iter().filter(|l| l.starts_with(',')).cloned());
            assert_eq!(&merged, whole, "merged by id, then worker 0's tail");
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn three_ecdh_worker_pairs_full_join_aligned_with_a_killed_server_equal_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let extra = strings(&["--join", "full", "--align"]);
    let one = one_machine(&s, "full", &extra);
    let outs = sharded(&s, "full", &extra, Kill::Server);
    check(&s, &one, &outs, true);
}

#[test]
fn three_kkrt_worker_pairs_inner_join_with_a_killed_worker_equal_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let extra = strings(&["--protocol", "kkrt", "--join", "inner", "--share-result"]);
    let one = one_machine(&s, "inner", &extra);
    let outs = sharded(&s, "inner", &extra, Kill::Client);
    check(&s, &one, &outs, false);
}

#[test]
fn a_missing_worker_or_too_many_workers_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = two_key_tables(d, 300, 5);
    let s = Setup {
        dir: d.to_path_buf(),
        a,
        b,
        key: d.join("run-key"),
        nonce: d.join("nonce"),
    };
    std::fs::write(&s.key, "cd".repeat(32)).unwrap();
    std::fs::write(&s.nonce, "5a".repeat(32)).unwrap();
    let shard = |i: &str, dir: &str| {
        strings(&[
            "--shard",
            i,
            "--shard-dir",
            d.join(dir).to_str().unwrap(),
            "--shard-timeout",
            "2",
        ])
    };

    // Worker 1 of 2 never comes: worker 0 runs its buckets of step 1, waits
    // two seconds, and stops naming it; its progress is kept.
    let server = serve(
        &s,
        "lone-server",
        &d.join("lone-b.csv"),
        &shard("0/2", "sb"),
    );
    let o = run_cmd(
        &s,
        &server.url,
        "lone",
        &d.join("lone-a.csv"),
        &shard("0/2", "sa"),
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard workers 1 of 2 wrote no links of step 0 within 2 s"),
        "{err}"
    );
    assert!(
        d.join("lone-state").join("state.json").exists(),
        "kept to resume"
    );
    assert!(!d.join("lone-a.csv").exists(), "no output");
    drop(server);
    // Resumed as another worker: refused, naming the change.
    let o = run_cmd(
        &s,
        "http://127.0.0.1:9",
        "lone",
        &d.join("lone-a.csv"),
        &shard("1/2", "sa"),
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("the options changed: shard 0/2 (now: shard 1/2)"),
        "{err}"
    );

    // More workers than buckets (8 here) is refused.
    let server = serve(
        &s,
        "many-server",
        &d.join("many-b.csv"),
        &shard("0/16", "mb"),
    );
    let o = run_cmd(
        &s,
        &server.url,
        "many",
        &d.join("many-a.csv"),
        &shard("0/16", "ma"),
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("this linkage has 8 buckets") && err.contains("fewer than the workers"),
        "{err}"
    );
    drop(server);

    // Usage errors, before anything runs.
    let usage = |args: &[&str]| {
        let o = run_cmd(
            &s,
            "http://127.0.0.1:9",
            "usage",
            &d.join("u.csv"),
            &strings(args),
        )
        .output()
        .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = usage(&["--shard", "0/2"]);
    assert!(e.contains("--shard on a linkage needs --shard-dir"), "{e}");
    let e = usage(&["--partitioned", d.to_str().unwrap()]);
    assert!(e.contains("--partitioned reads a cut of one key"), "{e}");
    let o = Command::new(PSI)
        .args(["serve", "--key", "email", "--key", "phone", "--input"])
        .arg(&s.b)
        .arg("--state-dir")
        .arg(d.join("x"))
        .args(["--shard", "0/2", "--shard-dir"])
        .arg(d.join("y"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--shard needs --run-key-file"), "{e}");
}
