//! `psi-bench buckets --protocol cardinality|sum`: PSI-cardinality or
//! PSI-sum (to the client) in external memory (`psi serve --state-dir`,
//! `psi run --state-dir`) on generated tables of n rows each (50 %
//! overlap), and the same run held in memory at the same n (or `--ref-n`),
//! in one invocation: seconds, peak RSS of both processes, bytes on the
//! wire, disk used (the peak of both state directories, polled), and the
//! ratio of the two times.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::{assert_success, du, psi_binary, tables, work_dir, Report, Sampler, Server};
use crate::{flag_value, machine, mb};

/// What one run measured.
struct Measured {
    seconds: f64,
    wall: f64,
    client_rss: u64,
    server_rss: u64,
    wire: u64,
    server_disk: u64,
    client_disk: u64,
    count: u64,
    sum: Option<u64>,
    phases: String,
    /// With `--kill-at`: seconds until the first `psi run` was killed, and
    /// whether the second one says it resumed.
    killed: Option<(f64, bool)>,
}

/// One server and client; with `kill_at`, the client is SIGKILLed that many
/// seconds after it started and the same command is run again, which
/// resumes (the server keeps the session for its idle timeout).
fn one_run(
    psi: &Path,
    (a, b): (&Path, &Path),
    n: u64,
    sum: bool,
    disk: Option<&Path>,
    kill_at: Option<f64>,
) -> Measured {
    let (server_state, client_state) = match disk {
        Some(d) => (Some(d.join("server-state")), Some(d.join("client-state"))),
        None => (None, None),
    };
    for d in [&server_state, &client_state].into_iter().flatten() {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let (serve_mode, run_mode): (&[&str], &[&str]) = if sum {
        (
            &["--mode", "sum", "--sum-to", "client", "--value", "spend"],
            &["--mode", "sum", "--sum-to", "client"],
        )
    } else {
        (&["--mode", "cardinality"], &["--mode", "cardinality"])
    };
    let t = Instant::now();
    let mut serve = Command::new(psi);
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--key", "email"])
        .args([
            "--max-set-size",
            &(4 * n).to_string(),
            "--idle-timeout",
            "3600",
        ])
        .args(serve_mode)
        .arg("--input")
        .arg(b);
    if let Some(d) = &server_state {
        serve.arg("--state-dir").arg(d);
    }
    let server = Server::start(&mut serve);
    // The peak disk use of both state directories, polled.
    let watch = Sampler::start(
        server_state.iter().chain(&client_state).cloned().collect(),
        None,
        Duration::from_millis(200),
    );
    let report = a.with_extension("report.json");
    let mut run = Command::new(psi);
    run.args(["run", "--quiet", "--peer", &server.url, "--key", "email"])
        .args(["--idle-timeout", "3600"])
        .args(run_mode)
        .arg("--input")
        .arg(a)
        .arg("--report")
        .arg(&report);
    match &client_state {
        Some(d) => run.arg("--state-dir").arg(d),
        None => run.arg("--in-memory"),
    };
    let killed = kill_at.map(|k| {
        let started = Instant::now();
        let mut first = run
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while started.elapsed().as_secs_f64() < k {
            if first.try_wait().unwrap().is_some() {
                panic!("--kill-at {k}: the run ended before it was killed; give a smaller time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        first.kill().unwrap();
        first.wait().unwrap();
        started.elapsed().as_secs_f64()
    });
    let out = run
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let server_rss = server.peak_rss();
    server.terminate();
    let (peak, _) = watch.finish();
    assert_success(&out);
    let ra = Report::read(&report);
    let client_disk = ra["external"]["spill_bytes"].as_u64().unwrap_or(0)
        + ra["external"]["scratch_bytes"].as_u64().unwrap_or(0);
    Measured {
        seconds: ra.total(),
        wall,
        client_rss: ra.peak_rss(),
        server_rss,
        wire: ra.wire(),
        // The polled peak of both directories, less the client's own peak
        // (reported exactly): the server's, to the poll's resolution.
        server_disk: peak.saturating_sub(client_disk),
        client_disk,
        count: ra["released"]["count"].as_u64().unwrap_or(0),
        sum: ra["released"]["sum"].as_u64(),
        phases: ra.phases(1),
        killed: killed.map(|k| (k, ra["external"]["resumed"].as_bool() == Some(true))),
    }
}

fn print(what: &str, n: u64, m: &Measured) {
    println!(
        "{what} CLI+HTTP n={n} x {n}, 50% overlap: {:.1} s in `psi run` (wall {:.1} s incl. server start), {:.1} MB on the wire, peak RSS run {:.0} MB / serve {:.0} MB, disk run {:.0} MB / serve {:.0} MB (polled peak), count {}{}\n                 phases: {}",
        m.seconds,
        m.wall,
        mb(m.wire),
        mb(m.client_rss),
        mb(m.server_rss),
        mb(m.client_disk),
        mb(m.server_disk),
        m.count,
        m.sum.map(|s| format!(", sum {s}")).unwrap_or_default(),
        m.phases
    );
}

/// `--n N` (default 10^6), `--protocol cardinality|sum`, `--ref-n N` (the
/// in-memory run's size, default n; 0 skips it), `--dir DIR` (keeps the
/// generated tables), `--kill-at SECONDS` (after the uninterrupted external
/// run, one more that is killed at that time and resumed).
pub fn run(args: &[String]) {
    println!("{}", machine());
    let psi = psi_binary();
    let n: u64 = flag_value(args, "--n").map_or(1_000_000, |v| v.parse().unwrap());
    let sum = flag_value(args, "--protocol").as_deref() == Some("sum");
    let ref_n: u64 = flag_value(args, "--ref-n").map_or(n, |v| v.parse().unwrap());
    let (_tmp, dir) = work_dir(args);
    let name = if sum {
        "sum (to client)"
    } else {
        "cardinality"
    };
    let (a, b) = tables(&psi, &dir, n);
    let external = one_run(&psi, (&a, &b), n, sum, Some(&dir), None);
    print(&format!("{name} external memory"), n, &external);
    assert_eq!(external.count, n / 2, "wrong count");
    for d in ["server-state", "client-state"] {
        assert_eq!(du(&dir.join(d)), 0, "temporary files left in {d}");
    }
    if let Some(k) = flag_value(args, "--kill-at") {
        let k: f64 = k.parse().expect("--kill-at takes seconds");
        let again = one_run(&psi, (&a, &b), n, sum, Some(&dir), Some(k));
        print(
            &format!("{name} external memory, killed and run again"),
            n,
            &again,
        );
        assert_eq!(
            again.count, external.count,
            "the resumed run's count differs"
        );
        assert_eq!(again.sum, external.sum, "the resumed run's sum differs");
        if let Some((at, resumed)) = again.killed {
            println!(
                "resume: `psi run` SIGKILLed after {at:.1} s; the same command again took {:.1} s ({}), against {:.1} s for an uninterrupted run: {:.1} s in all, where starting over would take {:.1} s",
                again.seconds,
                if resumed { "it resumed the session" } else { "it did NOT resume" },
                external.seconds,
                at + again.seconds,
                at + external.seconds
            );
        }
    }
    if ref_n == 0 {
        return;
    }
    let (ra, rb) = tables(&psi, &dir, ref_n);
    let memory = one_run(&psi, (&ra, &rb), ref_n, sum, None, None);
    print(&format!("{name} in memory"), ref_n, &memory);
    assert_eq!(memory.count, ref_n / 2, "wrong count");
    if ref_n == n {
        assert_eq!(memory.sum, external.sum, "the two runs' sums differ");
    }
    let scaled = memory.seconds * n as f64 / ref_n as f64;
    println!(
        "ratio: external {:.1} s / in-memory {:.1} s (x n / ref-n = {scaled:.1} s) = {:.2}; peak RSS external run {:.0} MB / serve {:.0} MB vs in memory {:.0} MB / {:.0} MB ({} 1 GiB per party)",
        external.seconds,
        memory.seconds,
        external.seconds / scaled,
        mb(external.client_rss),
        mb(external.server_rss),
        mb(memory.client_rss),
        mb(memory.server_rss),
        if external.client_rss.max(external.server_rss) <= 1 << 30 {
            "within"
        } else {
            "ABOVE"
        }
    );
}
