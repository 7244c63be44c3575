//! `psi-bench`: benchmarks that print n, seconds, bytes on the wire, peak RSS,
//! backend and threads, and ratios to peer systems measured in the same run.
//!
//! ```text
//! cargo build --release -p psi-cli -p psi-benches
//! target/release/psi-bench ecdh [--log2 16,20] [--no-cli] [--spu PATH/spu_psi_bench.py]
//! target/release/psi-bench primitives
//! ```
//! Every case runs in a child process of its own so that its peak RSS is its own.
#![allow(clippy::unwrap_used)] // a benchmark program: a failure should stop it loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use psi_core::{driver, Item, Limits};
use rand::RngCore;
use rand_core::SeedableRng;

fn usage() -> ! {
    eprintln!(
        "usage: psi-bench ecdh [--log2 16,20] [--no-cli] [--spu PATH]\n       psi-bench primitives"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ecdh") => ecdh(&args[1..]),
        Some("primitives") => primitives(),
        Some("inmem-child") => inmem_child(args[1].parse().unwrap()),
        _ => usage(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "machine: {cpu}; {} hardware threads; rayon threads {}; crypto backend {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        rayon::current_num_threads(),
        psi_core::crypto_backend()
    )
}

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
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

/// Random distinct items with 50 % overlap: client and server each hold n.
fn sets(n: usize, seed: u64) -> (Vec<Item>, Vec<Item>) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut item = || {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Item::from_digest(b)
    };
    let shared: Vec<Item> = (0..n / 2).map(|_| item()).collect();
    let mut client = shared.clone();
    client.extend((0..n - n / 2).map(|_| item()));
    let mut server = shared;
    server.extend((0..n - n / 2).map(|_| item()));
    (client, server)
}

/// One in-memory ECDH run at 2^log2 (in its own process): prints one JSON line.
fn inmem_child(log2: u32) {
    let n = 1usize << log2;
    let (client, server) = sets(n, 1);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let t = Instant::now();
    let run = driver::run_ecdh(&mut rng, client, server, &Limits::default()).unwrap();
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(run.output.matched.len(), n / 2, "wrong intersection");
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "bytes": run.client_to_server + run.server_to_client,
            "peak_rss": peak_rss(),
        })
    );
}

fn parse_log2(args: &[String]) -> Vec<u32> {
    args.iter()
        .position(|a| a == "--log2")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![16, 20])
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ecdh(args: &[String]) {
    println!("{}", machine());
    let threads = rayon::current_num_threads() as f64;
    let me = std::env::current_exe().unwrap();
    let psi = me.with_file_name("psi");
    let with_cli = !args.iter().any(|a| a == "--no-cli");
    let mut cli_seconds = Vec::new();
    for log2 in parse_log2(args) {
        let n = 1u64 << log2;
        let out = Command::new(&me)
            .args(["inmem-child", &log2.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let seconds = v["seconds"].as_f64().unwrap();
        // Four variable-base scalar multiplications per item pair (2 per party).
        let mults = 4.0 * n as f64;
        println!(
            "ecdh in-memory   n=2^{log2} ({n}) x {n}, 50% overlap: {seconds:.2} s, {:.1} MB on the wire, peak RSS {:.0} MB, {:.0} scalar mults/s/core",
            mb(v["bytes"].as_u64().unwrap()),
            mb(v["peak_rss"].as_u64().unwrap()),
            mults / seconds / threads
        );
        if with_cli {
            assert!(
                psi.exists(),
                "build the CLI first: cargo build --release -p psi-cli"
            );
            let s = cli_run(&psi, n, log2);
            cli_seconds.push((log2, s));
        }
    }
    if let Some(spu) = flag_value(args, "--spu") {
        for (log2, ours) in &cli_seconds {
            if let Some(theirs) = spu_seconds(Path::new(&spu), 1u64 << log2) {
                println!(
                    "ratio n=2^{log2}: psi CLI-over-HTTP {ours:.2} s / SecretFlow SPU ECDH-25519 {theirs:.2} s = {:.2} (below 1 means we are faster)",
                    ours / theirs
                );
            }
        }
    }
}

/// The full path: `psi gen`, `psi serve --once`, `psi run`; returns seconds of the run.
fn cli_run(psi: &Path, n: u64, log2: u32) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let st = Command::new(psi)
        .args([
            "gen",
            "--rows-a",
            &n.to_string(),
            "--rows-b",
            &n.to_string(),
        ])
        .args(["--overlap", &(n / 2).to_string(), "--seed", "3"])
        .arg("--out-a")
        .arg(&a)
        .arg("--out-b")
        .arg(&b)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let report_b = dir.path().join("rb.json");
    let report_a = dir.path().join("ra.json");
    let t = Instant::now();
    let mut server = Command::new(psi)
        .args([
            "serve",
            "--once",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "email",
            "--input",
        ])
        .arg(&b)
        .arg("--report")
        .arg(&report_b)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let out = Command::new(psi)
        .args(["run", "--peer", &url, "--key", "email", "--input"])
        .arg(&a)
        .arg("--output")
        .arg(dir.path().join("m.csv"))
        .arg("--report")
        .arg(&report_a)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = server.wait().unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(status.success());
    let read = |p: &PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (ra, rb) = (read(&report_a), read(&report_b));
    assert_eq!(
        ra["matched_rows"].as_u64().unwrap(),
        n / 2,
        "wrong intersection"
    );
    let total = ra["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "total")
        .and_then(|p| p[1].as_f64())
        .unwrap();
    let phases: Vec<String> = ra["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {:.2}", p[0].as_str().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    println!(
        "ecdh CLI+HTTP    n=2^{log2} ({n}) x {n}, 50% overlap: {total:.2} s in `psi run` (CSV in, CSV out; wall incl. server start {wall:.2} s), {:.1} MB on the wire, peak RSS run {:.0} MB / serve {:.0} MB\n                 phases: {}",
        mb(ra["bytes_sent"].as_u64().unwrap() + ra["bytes_received"].as_u64().unwrap()),
        mb(ra["environment"]["peak_rss_bytes"].as_u64().unwrap_or(0)),
        mb(rb["environment"]["peak_rss_bytes"].as_u64().unwrap_or(0)),
        phases.join(", ")
    );
    total
}

/// Runs SecretFlow's SPU ECDH (Curve25519) through the shared peer script.
fn spu_seconds(script: &Path, n: u64) -> Option<f64> {
    let out = Command::new("python3")
        .arg(script)
        .arg(n.to_string())
        .args(["--protocol", "ecdh", "--curve", "25519", "--reps", "1"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("peer=spu-psi"))?;
    println!("{line}");
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("seconds="))
        .and_then(|v| v.parse().ok())
}

/// Per-operation cost of the group operations on this machine and backend.
fn primitives() {
    println!("{}", machine());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let n = 20_000;
    let mut wide = [0u8; 64];
    let inputs: Vec<[u8; 64]> = (0..n)
        .map(|_| {
            rng.fill_bytes(&mut wide);
            wide
        })
        .collect();
    let time = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        println!(
            "{name:<36} {:>7.2} µs/op (one core)",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    };
    let mut points = Vec::new();
    time("from_uniform_bytes (hash to group)", &mut || {
        points = inputs
            .iter()
            .map(RistrettoPoint::from_uniform_bytes)
            .collect();
    });
    let s = Scalar::from_bytes_mod_order_wide(&inputs[0]);
    let mut multiplied = Vec::new();
    time("variable-base scalar mult", &mut || {
        multiplied = points.iter().map(|p| p * s).collect();
    });
    let mut compressed = Vec::new();
    time("compress", &mut || {
        compressed = multiplied.iter().map(|p| p.compress()).collect();
    });
    time("double_and_compress_batch (per point)", &mut || {
        compressed = RistrettoPoint::double_and_compress_batch(&multiplied);
    });
    time("decompress", &mut || {
        let ok = compressed
            .iter()
            .filter(|c| c.decompress().is_some())
            .count();
        assert_eq!(ok, n);
    });
}
