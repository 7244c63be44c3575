//! `psi-bench buckets`: a bucketed run (`psi serve --state-dir`, `psi run
//! --state-dir`) on generated tables of n rows each (50 % overlap), against
//! an in-memory CLI run at 2^ref scaled by n / 2^ref, in one run: seconds,
//! peak RSS of both processes, disk used, bytes on the wire.

use std::process::Command;
use std::time::Instant;

use crate::procs::{assert_success, du, psi_binary, tables, work_dir, CliPair, Report, Server};
use crate::{flag_value, machine, mb};

/// `--n N` (default 10^6), `--protocol kkrt|ecdh` (`cardinality|sum`:
/// [`crate::pjc_disk`]), `--ref-log2 L` (default
/// 20), `--bucket-items N`, `--dir DIR` (keeps the generated tables).
pub fn run(args: &[String]) {
    if let Some("cardinality" | "sum") = flag_value(args, "--protocol").as_deref() {
        return crate::pjc_disk::run(args);
    }
    println!("{}", machine());
    let psi = psi_binary();
    let n: u64 = flag_value(args, "--n").map_or(1_000_000, |v| v.parse().unwrap());
    let protocol = flag_value(args, "--protocol").unwrap_or_else(|| "kkrt".into());
    let ref_log2: u32 = flag_value(args, "--ref-log2").map_or(20, |v| v.parse().unwrap());
    let bucket_items =
        flag_value(args, "--bucket-items").unwrap_or_else(|| (1u64 << 20).to_string());
    let (_tmp, dir) = work_dir(args);
    let (a, b) = tables(&psi, &dir, n);
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
    let server = Server::start(
        Command::new(&psi)
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
            .arg(&server_state),
    );
    let (output, report) = (dir.join("out.csv"), dir.join("ra.json"));
    let run = Command::new(&psi)
        .args([
            "run",
            "--quiet",
            "--peer",
            &server.url,
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
    let server_rss = server.peak_rss();
    let server_disk = du(&server_state);
    server.kill();
    assert_success(&run);
    let ra = Report::read(&report);
    assert_eq!(
        ra["matched_rows"].as_u64().unwrap(),
        n / 2,
        "wrong intersection"
    );
    let total = ra.total();
    let client_rss = ra.peak_rss();
    let wire = ra.wire();
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
        ra.phases(1)
    );
    let limit = 1u64 << 30;
    println!(
        "ratio: bucketed {total:.1} s / ((n / 2^{ref_log2}) x in-memory 2^{ref_log2} {:.2} s = {scaled:.1} s) = {:.2} (goal: at most 1.5); peak RSS {} 1 GiB per party",
        pair.total(),
        total / scaled,
        if client_rss.max(server_rss) <= limit { "within" } else { "ABOVE" }
    );
}
