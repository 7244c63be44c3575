//! What the end-to-end tests share: the `psi serve` child process, a free
//! port, two-key tables and a linkage run over them, and waiting on a
//! child's progress.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

pub mod pjc;

/// The binary under test.
pub const PSI: &str = env!("CARGO_BIN_EXE_psi");

/// A `psi serve` child process on a free port; killed on drop.
pub struct Server {
    pub child: Child,
    /// What it printed after `listening on `.
    pub url: String,
}

impl Server {
    /// `psi serve --listen 127.0.0.1:0 ARGS`; reads the address it prints.
    pub fn spawn(args: &[OsString]) -> Server {
        Self::spawn_at("127.0.0.1:0", args)
    }

    /// `psi serve --listen LISTEN ARGS`; reads the address it prints.
    pub fn spawn_at(listen: &str, args: &[OsString]) -> Server {
        let mut child = Command::new(PSI)
            .args(["serve", "--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, url }
    }

    /// Waits (bounded) for a `--once` server to exit by itself.
    pub fn wait_exit(mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts a command succeeded, showing its stderr if not.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Two tables with two keys (email, then phone) drawn with `seed`: A's
/// `id,email,phone` and B's `phone,email,note` (1.5 times as many rows),
/// with ambiguous values on both sides, empty values, and rows that share a
/// key.
pub fn two_key_tables(dir: &Path, rows: usize, seed: u64) -> (PathBuf, PathBuf) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut value = |prefix: &str, range: usize| match rng.random_range(0..10) {
        0 => String::new(),
        _ => format!("{prefix}{}", rng.random_range(0..range)),
    };
    let mut a = String::from("id,email,phone\n");
    for i in 0..rows {
        let (e, p) = (value("e", rows * 2), value("p", rows));
        a.push_str(&format!("a{i},{e},{p}\n"));
    }
    let mut b = String::from("phone,email,note\n");
    for i in 0..rows * 3 / 2 {
        let (e, p) = (value("e", rows * 2), value("p", rows));
        b.push_str(&format!("{p},{e},b{i}\n"));
    }
    let (pa, pb) = (dir.join("a.csv"), dir.join("b.csv"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    (pa, pb)
}

/// `psi run` of a linkage on the keys of [`two_key_tables`] (email, then
/// phone) against `url`, from `input` to `out`, with `extra` arguments.
pub fn link_two_keys(url: &str, input: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(PSI)
        .args(["run", "--peer", url, "--key", "email", "--key", "phone"])
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Waits, at most `limit`, until `reached()` or until `child` ends.
pub fn wait_for(child: &mut Child, limit: Duration, mut reached: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !reached() {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Spawns `cmd` (stderr discarded), waits as [`wait_for`] does, then kills
/// it (SIGKILL) and reaps it.
pub fn run_then_kill(mut cmd: Command, limit: Duration, reached: impl FnMut() -> bool) {
    let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
    wait_for(&mut child, limit, reached);
    let _ = child.kill();
    child.wait().unwrap();
}
