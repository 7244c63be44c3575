//! `psi-bench buckets --protocol cardinality|sum`: PSI-cardinality or
//! PSI-sum (to the client) in external memory (`psi serve --state-dir`,
//! `psi run --state-dir`) on generated tables of n rows each (50 %
//! overlap), and the same run held in memory at the same n (or `--ref-n`),
//! in one invocation: seconds, peak RSS of both processes, bytes on the
//! wire, disk used (the peak of both state directories, polled), and the
//! ratio of the two times.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{flag_value, machine, mb};

fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries.flatten().map(|e| du(&e.path())).sum()
}

/// Polls the bytes under `dirs` every 200 ms until dropped; keeps the peak.
struct DiskPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DiskPeak {
    fn watch(dirs: Vec<PathBuf>) -> Self {
        let (peak, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now: u64 = dirs.iter().map(|d| du(d)).sum();
                p.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        DiskPeak {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

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
}

fn one_run(psi: &Path, a: &Path, b: &Path, n: u64, sum: bool, disk: Option<&Path>) -> Measured {
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
    let mut server = serve
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let watch = DiskPeak::watch(server_state.iter().chain(&client_state).cloned().collect());
    let report = a.with_extension("report.json");
    let mut run = Command::new(psi);
    run.args(["run", "--quiet", "--peer", &url, "--key", "email"])
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
    let out = run.output().unwrap();
    let wall = t.elapsed().as_secs_f64();
    let server_rss = crate::vm_hwm(&format!("/proc/{}/status", server.id()));
    // SIGTERM: the server stops as an operator would stop it, and removes
    // its table's spill on the way out.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let peak = watch.finish();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ra: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let seconds = ra["seconds"].as_array().unwrap();
    let total = seconds
        .iter()
        .find(|p| p[0] == "total")
        .and_then(|p| p[1].as_f64())
        .unwrap();
    let phases: Vec<String> = seconds
        .iter()
        .map(|p| format!("{} {:.1}", p[0].as_str().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let client_disk = ra["external"]["spill_bytes"].as_u64().unwrap_or(0)
        + ra["external"]["scratch_bytes"].as_u64().unwrap_or(0);
    Measured {
        seconds: total,
        wall,
        client_rss: ra["environment"]["peak_rss_bytes"].as_u64().unwrap_or(0),
        server_rss,
        wire: ra["bytes_sent"].as_u64().unwrap() + ra["bytes_received"].as_u64().unwrap(),
        // The polled peak of both directories, less the client's own peak
        // (reported exactly): the server's, to the poll's resolution.
        server_disk: peak.saturating_sub(client_disk),
        client_disk,
        count: ra["released"]["count"].as_u64().unwrap_or(0),
        sum: ra["released"]["sum"].as_u64(),
        phases: phases.join(", "),
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
/// generated tables).
pub fn run(args: &[String]) {
    println!("{}", machine());
    let psi = std::env::current_exe().unwrap().with_file_name("psi");
    assert!(
        psi.exists(),
        "build the CLI first: cargo build --release -p psi-cli"
    );
    let n: u64 = flag_value(args, "--n").map_or(1_000_000, |v| v.parse().unwrap());
    let sum = flag_value(args, "--protocol").as_deref() == Some("sum");
    let ref_n: u64 = flag_value(args, "--ref-n").map_or(n, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let dir = flag_value(args, "--dir").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    let tables = |n: u64| {
        let (a, b) = (
            dir.join(format!("a-{n}.csv")),
            dir.join(format!("b-{n}.csv")),
        );
        if !a.exists() || !b.exists() {
            let t = Instant::now();
            crate::gen_tables(&psi, n, "5", &a, &b);
            println!(
                "generated {n} + {n} rows in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        (a, b)
    };
    let name = if sum {
        "sum (to client)"
    } else {
        "cardinality"
    };
    let (a, b) = tables(n);
    let external = one_run(&psi, &a, &b, n, sum, Some(&dir));
    print(&format!("{name} external memory"), n, &external);
    assert_eq!(external.count, n / 2, "wrong count");
    for d in ["server-state", "client-state"] {
        assert_eq!(du(&dir.join(d)), 0, "temporary files left in {d}");
    }
    if ref_n == 0 {
        return;
    }
    let (ra, rb) = tables(ref_n);
    let memory = one_run(&psi, &ra, &rb, ref_n, sum, None);
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
