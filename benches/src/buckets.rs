//! `psi-bench buckets`: a bucketed run (`psi serve --state-dir`, `psi run
//! --state-dir`) on generated tables of n rows each (50 % overlap), against
//! an in-memory CLI run at 2^ref scaled by n / 2^ref, in one run: seconds,
//! peak RSS of both processes, disk used, bytes on the wire.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{flag_value, machine, mb, CliPair};

/// Peak RSS of a running process, from `/proc`.
fn peak_rss_of(pid: u32) -> u64 {
    crate::vm_hwm(&format!("/proc/{pid}/status"))
}

fn du(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries.flatten().map(|e| du(&e.path())).sum()
}

/// `--n N` (default 10^6), `--protocol kkrt|ecdh` (`cardinality|sum`:
/// [`crate::pjc_disk`]), `--ref-log2 L` (default
/// 20), `--bucket-items N`, `--dir DIR` (keeps the generated tables).
pub fn run(args: &[String]) {
    if let Some("cardinality" | "sum") = flag_value(args, "--protocol").as_deref() {
        return crate::pjc_disk::run(args);
    }
    println!("{}", machine());
    let me = std::env::current_exe().unwrap();
    let psi = me.with_file_name("psi");
    assert!(
        psi.exists(),
        "build the CLI first: cargo build --release -p psi-cli"
    );
    let n: u64 = flag_value(args, "--n").map_or(1_000_000, |v| v.parse().unwrap());
    let protocol = flag_value(args, "--protocol").unwrap_or_else(|| "kkrt".into());
    let ref_log2: u32 = flag_value(args, "--ref-log2").map_or(20, |v| v.parse().unwrap());
    let bucket_items =
        flag_value(args, "--bucket-items").unwrap_or_else(|| (1u64 << 20).to_string());
    let tmp = tempfile::tempdir().unwrap();
    let dir = flag_value(args, "--dir").map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
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
    let input_bytes = du(&a) + du(&b);

    // The in-memory reference.
    let reference = 1u64 << ref_log2;
    let out = dir.join("ref.csv");
    let pair = CliPair::run(
        &psi,
        reference,
        &[],
        &["--protocol", &protocol, "--output", out.to_str().unwrap()],
    );
    pair.print(&format!("{protocol} 2^{ref_log2} in memory"), reference);
    let scaled = pair.total() * n as f64 / reference as f64;

    // The bucketed run.
    let (server_state, client_state) = (dir.join("server-state"), dir.join("client-state"));
    let _ = std::fs::remove_dir_all(&server_state);
    let _ = std::fs::remove_dir_all(&client_state);
    let t = Instant::now();
    let mut server = Command::new(&psi)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "email",
            "--max-set-size",
        ])
        .arg((4 * n).to_string())
        .arg("--input")
        .arg(&b)
        .arg("--state-dir")
        .arg(&server_state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let (output, report) = (dir.join("out.csv"), dir.join("ra.json"));
    let run = Command::new(&psi)
        .args([
            "run",
            "--quiet",
            "--peer",
            &url,
            "--key",
            "email",
            "--protocol",
            &protocol,
        ])
        .args(["--bucket-items", &bucket_items])
        .arg("--input")
        .arg(&a)
        .arg("--output")
        .arg(&output)
        .arg("--report")
        .arg(&report)
        .arg("--state-dir")
        .arg(&client_state)
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let server_rss = peak_rss_of(server.id());
    let server_disk = du(&server_state);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ra: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
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
        .map(|p| format!("{} {:.1}", p[0].as_str().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let client_rss = ra["environment"]["peak_rss_bytes"].as_u64().unwrap_or(0);
    let wire = ra["bytes_sent"].as_u64().unwrap() + ra["bytes_received"].as_u64().unwrap();
    let bk = &ra["buckets"];
    println!(
        "{protocol} bucketed CLI+HTTP n={n} x {n}, 50% overlap, {} buckets: {total:.1} s in `psi run` (wall {wall:.1} s incl. server start), {:.1} MB on the wire ({:.0} bits/item), peak RSS run {:.0} MB / serve {:.0} MB, disk: inputs {:.0} MB, client state {:.0} MB, server state {:.0} MB\n                 phases: {}",
        bk["count"],
        mb(wire),
        wire as f64 * 8.0 / n as f64,
        mb(client_rss),
        mb(server_rss),
        mb(input_bytes),
        mb(bk["state_dir_bytes"].as_u64().unwrap_or(0)),
        mb(server_disk),
        phases.join(", ")
    );
    let limit = 1u64 << 30;
    println!(
        "ratio: bucketed {total:.1} s / ((n / 2^{ref_log2}) x in-memory 2^{ref_log2} {:.2} s = {scaled:.1} s) = {:.2} (goal: at most 1.5); peak RSS {} 1 GiB per party",
        pair.total(),
        total / scaled,
        if client_rss.max(server_rss) <= limit { "within" } else { "ABOVE" }
    );
}
