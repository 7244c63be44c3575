//! The processes of a CLI benchmark, shared by `buckets`, `link-buckets`,
//! the PJC external-memory runs and the in-memory CLI pairs: the `psi`
//! binary beside this one, the tables it generates, a `psi serve` started in
//! the background (its URL read from its first line), `psi run` against it,
//! peak RSS (`VmHWM`) and disk use sampled while they run, and the fields of
//! the JSON reports.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{flag_value, mb};

/// The `psi` binary beside this one.
pub(crate) fn psi_binary() -> PathBuf {
    let psi = std::env::current_exe().unwrap().with_file_name("psi");
    assert!(
        psi.exists(),
        "build the CLI first: cargo build --release -p psi-cli"
    );
    psi
}

/// The directory for tables and state directories: `--dir DIR` (kept), else
/// a temporary one that lives as long as the guard returned with it.
pub(crate) fn work_dir(args: &[String]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = flag_value(args, "--dir").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    (tmp, dir)
}

/// `psi gen` of two tables of `n` rows with `n / 2` people in both.
pub(crate) fn gen_tables(psi: &Path, n: u64, seed: &str, a: &Path, b: &Path) {
    let st = Command::new(psi)
        .args(["gen", "--with-value", "--seed", seed])
        .args(["--rows-a", &n.to_string(), "--rows-b", &n.to_string()])
        .args(["--overlap", &(n / 2).to_string()])
        .arg("--out-a")
        .arg(a)
        .arg("--out-b")
        .arg(b)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

/// `a-{n}.csv` and `b-{n}.csv` in `dir` ([`gen_tables`], seed 5), made
/// unless both are there already.
pub(crate) fn tables(psi: &Path, dir: &Path, n: u64) -> (PathBuf, PathBuf) {
    let (a, b) = (
        dir.join(format!("a-{n}.csv")),
        dir.join(format!("b-{n}.csv")),
    );
    if !a.exists() || !b.exists() {
        let t = Instant::now();
        gen_tables(psi, n, "5", &a, &b);
        println!(
            "generated {n} + {n} rows in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    (a, b)
}

/// The bytes of the files under `path` (0 if there is nothing).
pub(crate) fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries.flatten().map(|e| du(&e.path())).sum()
}

/// The peak resident set size (`VmHWM`) in a `/proc/…/status` file, in bytes
/// (0 if there is none, as for a process that has been reaped).
pub(crate) fn vm_hwm(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A `psi serve` running in the background.
pub(crate) struct Server {
    child: Child,
    /// Where it listens, from its first line (`listening on URL`).
    pub(crate) url: String,
}

impl Server {
    /// Starts `serve` (a `psi serve … --listen 127.0.0.1:0` command) with its
    /// standard output read and its standard error dropped, and waits for its
    /// URL.
    pub(crate) fn start(serve: &mut Command) -> Server {
        let mut child = serve
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().trim_start_matches("listening on ").to_string();
        Server { child, url }
    }

    /// Its `/proc/…/status` file.
    pub(crate) fn status_file(&self) -> String {
        format!("/proc/{}/status", self.child.id())
    }

    /// Its peak RSS so far.
    pub(crate) fn peak_rss(&self) -> u64 {
        vm_hwm(&self.status_file())
    }

    /// Kills it and reaps it.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: it stops as an operator would stop it (and removes its
    /// table's spill on the way out); waits for it.
    pub(crate) fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Waits for a `--once` server to end; it must end well.
    pub(crate) fn wait_success(mut self) {
        assert!(self.child.wait().unwrap().success());
    }
}

/// Stops the benchmark, with the command's error output, unless `out` is
/// the output of a command that succeeded.
pub(crate) fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Samples, on a thread of its own until [`Sampler::finish`], the bytes
/// under some directories and, if given one, a process's peak RSS, keeping
/// the largest of each.
pub(crate) struct Sampler {
    disk: Arc<AtomicU64>,
    rss: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Sampler {
    /// Samples `dirs` and the process of `status` (a `/proc/…/status` file)
    /// every `every`.
    pub(crate) fn start(dirs: Vec<PathBuf>, status: Option<String>, every: Duration) -> Sampler {
        let (disk, rss, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let thread = {
            let (disk, rss, stop) = (disk.clone(), rss.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let used: u64 = dirs.iter().map(|d| du(d)).sum();
                    disk.fetch_max(used, Ordering::Relaxed);
                    if let Some(status) = &status {
                        rss.fetch_max(vm_hwm(status), Ordering::Relaxed);
                    }
                    std::thread::sleep(every);
                }
            })
        };
        Sampler {
            disk,
            rss,
            stop,
            thread,
        }
    }

    /// Stops sampling: the largest disk use and the peak RSS seen (0 without
    /// a process).
    pub(crate) fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        (
            self.disk.load(Ordering::Relaxed),
            self.rss.load(Ordering::Relaxed),
        )
    }
}

/// A JSON report of `psi run` or `psi serve`.
pub(crate) struct Report(serde_json::Value);

impl Report {
    /// Reads the report at `path`.
    pub(crate) fn read(path: &Path) -> Report {
        Report(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
    }

    fn seconds(&self) -> &[serde_json::Value] {
        self.0["seconds"].as_array().unwrap()
    }

    /// The total seconds.
    pub(crate) fn total(&self) -> f64 {
        self.seconds()
            .iter()
            .find(|p| p[0] == "total")
            .and_then(|p| p[1].as_f64())
            .unwrap()
    }

    /// Every phase as `name seconds` (with `decimals` decimals), joined by
    /// commas.
    pub(crate) fn phases(&self, decimals: usize) -> String {
        let phases: Vec<String> = self
            .seconds()
            .iter()
            .map(|p| {
                let (name, seconds) = (p[0].as_str().unwrap(), p[1].as_f64().unwrap());
                format!("{name} {seconds:.decimals$}")
            })
            .collect();
        phases.join(", ")
    }

    /// Bytes on the wire, both ways.
    pub(crate) fn wire(&self) -> u64 {
        self.0["bytes_sent"].as_u64().unwrap() + self.0["bytes_received"].as_u64().unwrap()
    }

    /// The process's peak RSS as it reported it (0 if it did not).
    pub(crate) fn peak_rss(&self) -> u64 {
        self.0["environment"]["peak_rss_bytes"]
            .as_u64()
            .unwrap_or(0)
    }
}

impl std::ops::Index<&str> for Report {
    type Output = serde_json::Value;

    fn index(&self, field: &str) -> &serde_json::Value {
        &self.0[field]
    }
}

/// One `psi serve --once` / `psi run` pair on generated tables (n rows each,
/// 50 % overlap): the run's report, the server's report, and wall seconds
/// from the server's start to both processes' exit.
pub(crate) struct CliPair {
    pub(crate) ra: Report,
    pub(crate) rb: Report,
    pub(crate) wall: f64,
    /// CPU seconds (user + system) both processes used.
    pub(crate) cpu: f64,
}

/// CPU seconds (user + system) of this process's children that have been
/// waited for: fields 16 and 17 (`cutime`, `cstime`) of `/proc/self/stat`,
/// in clock ticks of 1/100 s (`USER_HZ` on Linux). 0 where it cannot be read.
pub(crate) fn children_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field k is fields[k - 3].
    let ticks = |k: usize| fields.get(k - 3).and_then(|f| f.parse::<f64>().ok());
    match (ticks(16), ticks(17)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => 0.0,
    }
}

impl CliPair {
    pub(crate) fn run(psi: &Path, n: u64, serve_extra: &[&str], run_extra: &[&str]) -> CliPair {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        gen_tables(psi, n, "3", &a, &b);
        let report_b = dir.path().join("rb.json");
        let report_a = dir.path().join("ra.json");
        let t = Instant::now();
        let cpu = children_cpu_seconds();
        let server = Server::start(
            Command::new(psi)
                .args([
                    "serve",
                    "--once",
                    "--listen",
                    "127.0.0.1:0",
                    "--key",
                    "email",
                ])
                .args(serve_extra)
                .arg("--input")
                .arg(&b)
                .arg("--report")
                .arg(&report_b),
        );
        let out = Command::new(psi)
            .args(["run", "--peer", &server.url, "--key", "email"])
            .args(run_extra)
            .arg("--input")
            .arg(&a)
            .arg("--report")
            .arg(&report_a)
            .output()
            .unwrap();
        assert_success(&out);
        server.wait_success();
        let wall = t.elapsed().as_secs_f64();
        CliPair {
            ra: Report::read(&report_a),
            rb: Report::read(&report_b),
            wall,
            cpu: children_cpu_seconds() - cpu,
        }
    }

    /// `psi run`'s total seconds.
    pub(crate) fn total(&self) -> f64 {
        self.ra.total()
    }

    pub(crate) fn print(&self, what: &str, n: u64) {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        println!(
            "{what} CLI+HTTP    n={n} x {n}, 50% overlap: {:.2} s in `psi run` (CSV in, CSV out; wall incl. server start {:.2} s), {:.1} MB on the wire, peak RSS run {:.0} MB / serve {:.0} MB\n                 CPU of both processes {:.2} s ({:.0} % of {cores} hardware threads over the wall time)\n                 phases: {}",
            self.total(),
            self.wall,
            mb(self.ra.wire()),
            mb(self.ra.peak_rss()),
            mb(self.rb.peak_rss()),
            self.cpu,
            100.0 * self.cpu / (self.wall * cores as f64),
            self.ra.phases(2)
        );
    }
}
