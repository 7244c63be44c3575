//! `psi-bench`: benchmarks that print n, seconds, bytes on the wire, peak RSS,
//! backend and threads, and ratios to peer systems measured in the same run.
//!
//! ```text
//! cargo build --release -p psi-cli -p psi-benches
//! target/release/psi-bench ecdh [--log2 16,20] [--no-cli] [--spu PATH/spu_psi_bench.py]
//! target/release/psi-bench kkrt [--log2 16,20,22] [--no-cli] [--spu PATH/spu_psi_bench.py]
//! target/release/psi-bench pjc [--log2 16,20] [--no-cli] [--openmined PATH/openmined_psi_bench.py]
//! target/release/psi-bench link-buckets [--n 1000000] [--join full] [--align] [--protocol both] [--no-memory]
//! target/release/psi-bench primitives
//! PSI_GROUP_BACKEND=avx2 target/release/psi-bench ecdh ...   # force a group backend
//! target/release/psi-bench fuzzy-speed [--anonlink benches/fuzzy/anonlink_speed.py]
//! target/release/psi-bench fuzzy-scale [--n 100000,1000000]
//! target/release/psi-bench fuzzy-quality [--febrl DIR]
//! ```
//! Every case runs in a child process of its own so that its peak RSS is its own.
#![allow(clippy::unwrap_used)] // a benchmark program: a failure should stop it loudly

mod buckets;
mod fuzzy;
mod link_buckets;
mod pjc_disk;
mod primitives;
mod procs;
mod profiles;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use procs::CliPair;
use psi_core::{driver, Item, Limits};
use rand::RngCore;
use rand_core::SeedableRng;

fn usage() -> ! {
    eprintln!(
        "usage: psi-bench ecdh|kkrt [--log2 16,20] [--no-cli] [--spu PATH]\n       psi-bench pjc [--log2 16,20] [--no-cli] [--openmined PATH]\n       psi-bench buckets [--n 1000000] [--protocol kkrt|ecdh] [--ref-log2 20] [--bucket-items N] [--dir DIR]\n       psi-bench buckets --protocol cardinality|sum [--n 1000000] [--ref-n N] [--kill-at SECONDS] [--dir DIR]\n       psi-bench link-buckets [--n 1000000] [--join inner|left|right|full] [--align] [--bucket-items N] [--protocol ecdh|kkrt|both] [--no-memory] [--dir DIR]\n       psi-bench primitives\n       psi-bench profiles [--n 50000]\n       psi-bench fuzzy-speed [--anonlink PATH]\n       psi-bench fuzzy-scale [--n 100000,1000000]\n       psi-bench fuzzy-quality [--febrl DIR]"
    );
    std::process::exit(2)
}

fn main() {
    // PSI_GROUP_BACKEND forces a psi-group backend (for timing each one);
    // a bad value stops the benchmark instead of timing another backend.
    if let Err(e) = psi_group::Backend::from_env() {
        eprintln!("psi-bench: {e}");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ecdh") => protocol(Proto::Ecdh, &args[1..]),
        Some("kkrt") => protocol(Proto::Kkrt, &args[1..]),
        Some("primitives") => primitives::run(),
        Some("profiles") => profiles::run(&args[1..]),
        Some("inmem-child") => inmem_child(args[1].parse().unwrap()),
        Some("kkrt-inmem-child") => kkrt_inmem_child(args[1].parse().unwrap()),
        Some("pjc") => pjc(&args[1..]),
        Some("pjc-child") => pjc_child(&args[1], args[2].parse().unwrap()),
        Some("buckets") => buckets::run(&args[1..]),
        Some("link-buckets") => link_buckets::run(&args[1..]),
        Some("fuzzy-speed") => fuzzy::speed(&args[1..]),
        Some("fuzzy-scale") => fuzzy::scale(&args[1..]),
        Some("fuzzy-scale-child") => fuzzy::scale_child(args[1].parse().unwrap()),
        Some("fuzzy-quality") => fuzzy::quality(&args[1..]),
        _ => usage(),
    }
}

pub(crate) fn machine() -> String {
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

/// This process's peak RSS.
fn peak_rss() -> u64 {
    procs::vm_hwm("/proc/self/status")
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Ecdh,
    Kkrt,
}

impl Proto {
    fn arg(self) -> &'static str {
        match self {
            Proto::Ecdh => "ecdh",
            Proto::Kkrt => "kkrt",
        }
    }
}

/// Runs one in-memory child process; returns its JSON line.
fn child(me: &Path, what: &str, log2: u32) -> serde_json::Value {
    serde_json::from_str(&child_output(me, what, u64::from(log2))).unwrap()
}

/// Runs `me what n` (a case in a process of its own, so that its peak RSS
/// is its own) and returns what it printed; stops loudly if it failed.
fn child_output(me: &Path, what: &str, n: u64) -> String {
    let out = Command::new(me)
        .args([what, &n.to_string()])
        .output()
        .unwrap();
    procs::assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn protocol(proto: Proto, args: &[String]) {
    println!("{}", machine());
    let threads = rayon::current_num_threads() as f64;
    let me = std::env::current_exe().unwrap();
    let psi = me.with_file_name("psi");
    let with_cli = !args.iter().any(|a| a == "--no-cli");
    let mut cli_seconds = Vec::new();
    for log2 in parse_log2(args) {
        let n = 1u64 << log2;
        match proto {
            Proto::Ecdh => {
                let v = child(&me, "inmem-child", log2);
                let seconds = v["seconds"].as_f64().unwrap();
                // Four variable-base scalar multiplications per item pair (2 per party).
                let mults = 4.0 * n as f64;
                println!(
                    "ecdh in-memory   n=2^{log2} ({n}) x {n}, 50% overlap: {seconds:.2} s, {:.1} MB on the wire, peak RSS {:.0} MB, {:.0} scalar mults/s/core",
                    mb(v["bytes"].as_u64().unwrap()),
                    mb(v["peak_rss"].as_u64().unwrap()),
                    mults / seconds / threads
                );
            }
            Proto::Kkrt => {
                let v = child(&me, "kkrt-inmem-child", log2);
                let phases: Vec<String> = v["phases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| format!("{} {:.2}", p[0].as_str().unwrap(), p[1].as_f64().unwrap()))
                    .collect();
                let (up, down) = (v["up"].as_u64().unwrap(), v["down"].as_u64().unwrap());
                println!(
                    "kkrt in-memory   n=2^{log2} ({n}) x {n}, 50% overlap: {:.2} s, receiver->sender {:.1} MB, sender->receiver {:.1} MB ({:.0} bits/item), peak RSS {:.0} MB\n                 phases: {}",
                    v["seconds"].as_f64().unwrap(),
                    mb(up),
                    mb(down),
                    (up + down) as f64 * 8.0 / n as f64,
                    mb(v["peak_rss"].as_u64().unwrap()),
                    phases.join(", ")
                );
            }
        }
        if with_cli {
            assert!(
                psi.exists(),
                "build the CLI first: cargo build --release -p psi-cli"
            );
            cli_seconds.push((log2, cli_run(&psi, proto, n, log2)));
        }
    }
    if let Some(spu) = flag_value(args, "--spu") {
        for (log2, (ours, wall)) in &cli_seconds {
            if let Some((theirs, curve)) = spu_seconds(Path::new(&spu), proto, 1u64 << log2) {
                let name = match proto {
                    Proto::Ecdh => format!("ECDH-{curve} (its faster curve here)"),
                    Proto::Kkrt => "KKRT".to_string(),
                };
                println!(
                    "ratio n=2^{log2}: psi {} CLI-over-HTTP {ours:.2} s (wall incl. both processes' start and B's CSV {wall:.2} s) / SecretFlow SPU {name} {theirs:.2} s = {:.2} (wall: {:.2}; below 1 means we are faster)",
                    proto.arg(),
                    ours / theirs,
                    wall / theirs
                );
            }
        }
    }
}

/// One in-memory KKRT run at 2^log2 (in its own process), stepping both roles
/// by hand to time each phase: prints one JSON line.
fn kkrt_inmem_child(log2: u32) {
    use psi_core::codec::Codec;
    use psi_core::kkrt;
    let n = 1usize << log2;
    let (client, server) = sets(n, 1);
    let server: std::sync::Arc<[Item]> = server.into();
    let limits = Limits::default();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let (mut up, mut down) = (0u64, 0u64);
    let mut phases = Vec::new();
    let start = Instant::now();

    let t = Instant::now();
    let (expect_hello, hello) = kkrt::Receiver::start(&mut rng, client, &limits).unwrap();
    phases.push(("cuckoo", t.elapsed().as_secs_f64()));
    up += hello.to_bytes().len() as u64;
    let t = Instant::now();
    let (sender_hello, mut expect_matrix) =
        kkrt::Sender::accept(&mut rng, server, &hello, &limits).unwrap();
    down += sender_hello.to_bytes().len() as u64;
    let mut matrix = expect_hello.receive(sender_hello).unwrap();
    phases.push(("base-ot", t.elapsed().as_secs_f64()));

    // OT extension: the receiver computes and sends U, the sender derives Q.
    let t = Instant::now();
    while let Some(chunk) = matrix.next_chunk() {
        let bytes = chunk.to_bytes();
        up += bytes.len() as u64 + 4;
        expect_matrix
            .receive(kkrt::MatrixChunk::from_bytes(&bytes).unwrap())
            .unwrap();
    }
    let mut expect_values = matrix.finish().unwrap();
    let mut values = expect_matrix.finish().unwrap();
    phases.push(("extension", t.elapsed().as_secs_f64()));

    // The sender's OPRF values (computed chunk by chunk), and the receiver's lookups.
    let (mut oprf, mut compare) = (0.0, 0.0);
    loop {
        let t = Instant::now();
        let Some(chunk) = values.next_chunk() else {
            break;
        };
        let bytes = chunk.to_bytes();
        oprf += t.elapsed().as_secs_f64();
        down += bytes.len() as u64 + 4;
        let t = Instant::now();
        expect_values
            .receive(kkrt::OprfChunk::from_bytes(&bytes).unwrap())
            .unwrap();
        compare += t.elapsed().as_secs_f64();
    }
    let output = expect_values.finish().unwrap();
    phases.push(("oprf", oprf));
    phases.push(("comparison", compare));
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(output.matched.len(), n / 2, "wrong intersection");
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "up": up,
            "down": down,
            "phases": phases,
            "peak_rss": peak_rss(),
        })
    );
}

/// The full intersection path; returns `psi run`'s seconds and the wall time.
fn cli_run(psi: &Path, proto: Proto, n: u64, log2: u32) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.csv");
    let out = out.to_str().unwrap();
    let pair = CliPair::run(psi, n, &[], &["--protocol", proto.arg(), "--output", out]);
    assert_eq!(
        pair.ra["matched_rows"].as_u64().unwrap(),
        n / 2,
        "wrong intersection"
    );
    pair.print(&format!("{} 2^{log2}", proto.arg()), n);
    (pair.total(), pair.wall)
}

/// PSI-cardinality and PSI-sum: in memory and through the CLI at 2^log2, and
/// OpenMined's PSI-cardinality at 10^5 against ours on the same n.
fn pjc(args: &[String]) {
    println!("{}", machine());
    let me = std::env::current_exe().unwrap();
    let psi = me.with_file_name("psi");
    let with_cli = !args.iter().any(|a| a == "--no-cli");
    for log2 in parse_log2(args) {
        let n = 1u64 << log2;
        let mut card = 0.0;
        for mode in ["cardinality", "sum-to-server", "sum-to-client"] {
            let out = Command::new(&me)
                .args(["pjc-child", mode, &log2.to_string()])
                .output()
                .unwrap();
            procs::assert_success(&out);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let secs = v["seconds"].as_f64().unwrap();
            if mode == "cardinality" {
                card = secs;
            }
            println!(
                "{mode:<13} in-memory n=2^{log2} ({n}) x {n}, 50% overlap: {secs:.2} s ({:.2}x cardinality), key holder->value holder {:.1} MB, back {:.1} MB, peak RSS {:.0} MB",
                secs / card,
                mb(v["up"].as_u64().unwrap()),
                mb(v["down"].as_u64().unwrap()),
                mb(v["peak_rss"].as_u64().unwrap()),
            );
        }
        if with_cli {
            for (mode, serve, run) in [
                (
                    "cardinality",
                    vec!["--mode", "cardinality"],
                    vec!["--mode", "cardinality"],
                ),
                (
                    "sum-to-client",
                    vec!["--mode", "sum", "--sum-to", "client", "--value", "spend"],
                    vec!["--mode", "sum", "--sum-to", "client"],
                ),
            ] {
                let pair = CliPair::run(&psi, n, &serve, &run);
                assert_eq!(pair.ra["released"]["count"].as_u64(), Some(n / 2));
                pair.print(&format!("{mode} 2^{log2}"), n);
            }
        }
    }
    if let Some(script) = flag_value(args, "--openmined") {
        let n = 100_000u64;
        let pair = CliPair::run(
            &psi,
            n,
            &["--mode", "cardinality"],
            &["--mode", "cardinality"],
        );
        assert_eq!(pair.ra["released"]["count"].as_u64(), Some(n / 2));
        pair.print("cardinality", n);
        let out = Command::new("python3")
            .arg(&script)
            .arg(n.to_string())
            .args(["--mode", "cardinality", "--ds", "raw", "--reps", "1"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("peer=openmined-psi")) else {
            println!(
                "OpenMined PSI did not run: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        };
        println!("{line}");
        let theirs: f64 = field(line, "seconds").unwrap();
        println!(
            "ratio n=10^5 cardinality: OpenMined PSI {theirs:.2} s / psi CLI-over-HTTP {:.2} s = {:.1}x faster (wall incl. both processes and CSV {:.2} s: {:.1}x)",
            pair.total(),
            theirs / pair.total(),
            pair.wall,
            theirs / pair.wall
        );
    }
}

/// One in-memory PSI-cardinality or PSI-sum run (in its own process).
fn pjc_child(mode: &str, log2: u32) {
    use psi_core::codec::Protocol;
    use psi_core::pjc::{Outcome, Params};
    let n = 1usize << log2;
    let (x, y) = sets(n, 1);
    // Values below 2^19, so that the total of 2^20 of them stays below 2^40.
    let values: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % (1 << 19)).collect();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let limits = Limits::default();
    let t = Instant::now();
    let (count, up, down) = match mode {
        "cardinality" => {
            let r = driver::run_cardinality(&mut rng, x, y, 0, &limits).unwrap();
            let Outcome::Released(c) = r.output else {
                panic!("threshold 0")
            };
            (c, r.counter_to_responder, r.responder_to_counter)
        }
        _ => {
            let protocol = if mode == "sum-to-server" {
                Protocol::SumToValueHolder
            } else {
                Protocol::SumToKeyHolder
            };
            let r = driver::run_sum(&mut rng, x, y, values, &Params::new(protocol, 0), &limits)
                .unwrap();
            let Outcome::Released(o) = r.output else {
                panic!("threshold 0")
            };
            (
                o.count,
                r.key_holder_to_value_holder,
                r.value_holder_to_key_holder,
            )
        }
    };
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(count, n as u64 / 2, "wrong count");
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "up": up,
            "down": down,
            "peak_rss": peak_rss(),
        })
    );
}

/// Runs SecretFlow's SPU ECDH or KKRT through the shared peer script; for
/// ECDH on each of its curves Curve25519 and FourQ (which is faster differs
/// by CPU), returning the faster.
fn spu_seconds(script: &Path, proto: Proto, n: u64) -> Option<(f64, &'static str)> {
    let curves: &[&'static str] = match proto {
        Proto::Ecdh => &["25519", "FOURQ"],
        Proto::Kkrt => &[""],
    };
    let mut best: Option<(f64, &'static str)> = None;
    for &curve in curves {
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(n.to_string())
            .args(["--protocol", proto.arg(), "--reps", "1"]);
        if !curve.is_empty() {
            cmd.args(["--curve", curve]);
        }
        let Ok(out) = cmd.output() else { continue };
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("peer=spu-psi")) else {
            continue;
        };
        println!("{line}");
        if let Some(secs) = field(line, "seconds") {
            if best.is_none_or(|(b, _)| secs < b) {
                best = Some((secs, curve));
            }
        }
    }
    best
}

/// The number after `key=` in a peer script's `key=value ...` result line.
fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}
