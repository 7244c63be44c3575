//! `psi-bench link-buckets`: a two-key linkage (email, then phone; a
//! `--join` and `--align` of choice) through the CLI on generated tables of n
//! rows each (50 % overlap), in memory and bucketed (`--state-dir` on both
//! sides), in one run: seconds, peak RSS of both processes, bytes on the
//! wire, the largest disk use of both state directories (sampled), and the
//! ratio of the two times. Both runs must link the same number of rows.
//!
//! `--protocol ecdh|kkrt|both` picks the bucket sessions' protocol (default
//! ECDH; the in-memory linkage runs ECDH, the only protocol it has); `both`
//! runs the bucketed linkage on each, back to back, and prints KKRT's
//! ratios to ECDH. `--no-memory` leaves the in-memory linkage out.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::{assert_success, psi_binary, tables, work_dir, Report, Sampler, Server};
use crate::{flag_value, machine, mb};

/// One linkage: `psi serve --once` and `psi run`, with `extra` on both.
struct Linkage {
    seconds: f64,
    client_rss: u64,
    server_rss: u64,
    wire: u64,
    disk: u64,
    linked: u64,
    written: u64,
    phases: String,
}

#[allow(clippy::too_many_arguments)]
fn linkage(
    psi: &Path,
    dir: &Path,
    a: &Path,
    b: &Path,
    n: u64,
    tag: &str,
    join: &[&str],
    buckets: Option<(&str, &str)>,
) -> Linkage {
    let (server_state, client_state) = (
        dir.join(format!("{tag}-server-state")),
        dir.join(format!("{tag}-client-state")),
    );
    let (rb, ra) = (
        dir.join(format!("{tag}-rb.json")),
        dir.join(format!("{tag}-ra.json")),
    );
    let mut serve = Command::new(psi);
    serve
        .args(["serve", "--once", "--listen", "127.0.0.1:0"])
        .args(["--key", "email", "--key", "phone:phone"])
        .args(["--max-set-size", &(4 * n).to_string()])
        .arg("--input")
        .arg(b)
        .arg("--report")
        .arg(&rb)
        .arg("--output")
        .arg(dir.join(format!("{tag}-b.csv")));
    if buckets.is_some() {
        serve.arg("--state-dir").arg(&server_state);
    }
    let t = Instant::now();
    let server = Server::start(&mut serve);

    // The largest disk use of both state directories, and the server's peak
    // RSS (its report is written before its linkages), sampled.
    let sampler = Sampler::start(
        vec![server_state.clone(), client_state.clone()],
        Some(server.status_file()),
        Duration::from_millis(500),
    );
    let mut run = Command::new(psi);
    run.args(["run", "--quiet", "--peer", &server.url])
        .args(["--key", "email", "--key", "phone:phone", "--share-result"])
        .args(join)
        .arg("--input")
        .arg(a)
        .arg("--output")
        .arg(dir.join(format!("{tag}-a.csv")))
        .arg("--report")
        .arg(&ra);
    if let Some((items, protocol)) = buckets {
        run.arg("--state-dir").arg(&client_state).args([
            "--bucket-items",
            items,
            "--protocol",
            protocol,
        ]);
    }
    let out = run.output().unwrap();
    // The server's last sample before it exits (VmHWM is a high-water mark).
    std::thread::sleep(Duration::from_millis(600));
    assert_success(&out);
    server.wait_success();
    let seconds = t.elapsed().as_secs_f64();
    let (disk, server_peak) = sampler.finish();
    let (ra, rb) = (Report::read(&ra), Report::read(&rb));
    Linkage {
        seconds,
        client_rss: ra.peak_rss(),
        server_rss: server_peak.max(rb.peak_rss()),
        wire: ra.wire(),
        disk,
        linked: ra["linkage"]["linked_rows"].as_u64().unwrap(),
        written: ra["linkage"]["rows_written"].as_u64().unwrap(),
        phases: ra.phases(1),
    }
}

/// `--n N` (default 10^6), `--join inner|left|right|full`, `--align`,
/// `--bucket-items N` (default 2^20), `--protocol ecdh|kkrt|both`,
/// `--no-memory`, `--dir DIR` (keeps the tables).
pub fn run(args: &[String]) {
    println!("{}", machine());
    let psi = psi_binary();
    let n: u64 = flag_value(args, "--n").map_or(1_000_000, |v| v.parse().unwrap());
    let bucket_items =
        flag_value(args, "--bucket-items").unwrap_or_else(|| (1u64 << 20).to_string());
    let join_name = flag_value(args, "--join").unwrap_or_else(|| "inner".into());
    let mut join = vec!["--join", join_name.as_str()];
    if args.iter().any(|a| a == "--align") {
        join.push("--align");
    }
    let protocols: &[&str] = match flag_value(args, "--protocol").as_deref() {
        None | Some("ecdh") => &["ecdh"],
        Some("kkrt") => &["kkrt"],
        Some("both") => &["ecdh", "kkrt"],
        Some(other) => panic!("--protocol {other}: expected ecdh, kkrt or both"),
    };
    let memory = !args.iter().any(|a| a == "--no-memory");
    let (_tmp, dir) = work_dir(args);
    let (a, b) = tables(&psi, &dir, n);
    let what = format!(
        "linkage email;phone {}, n={n} x {n}, 50% overlap",
        join.join(" ")
    );
    let mut cases: Vec<(String, Option<(&str, &str)>)> = Vec::new();
    if memory {
        cases.push(("memory (ecdh)".into(), None));
    }
    for p in protocols {
        cases.push((format!("bucketed {p}"), Some((bucket_items.as_str(), *p))));
    }
    let mut results = Vec::new();
    for (tag, buckets) in &cases {
        let file_tag = tag.replace([' ', '(', ')'], "-");
        let r = linkage(&psi, &dir, &a, &b, n, &file_tag, &join, *buckets);
        println!(
            "{what}, {tag}: {:.1} s (both processes, from the server's start), {} rows linked, {} written, {:.1} MB on the wire, peak RSS run {:.0} MB / serve {:.0} MB, largest disk use of both state directories {:.0} MB\n    run phases: {}",
            r.seconds,
            r.linked,
            r.written,
            mb(r.wire),
            mb(r.client_rss),
            mb(r.server_rss),
            mb(r.disk),
            r.phases
        );
        results.push(r);
    }
    for r in &results[1..] {
        assert_eq!(
            results[0].linked, r.linked,
            "every linkage links the same rows"
        );
        assert_eq!(
            results[0].written, r.written,
            "every linkage writes the same number of rows"
        );
    }
    let ratio = |x: &Linkage, y: &Linkage, what: &str| {
        println!(
            "ratio {what}: time {:.2}, peak RSS run {:.2} / serve {:.2}, wire {:.2}",
            x.seconds / y.seconds,
            x.client_rss as f64 / y.client_rss.max(1) as f64,
            x.server_rss as f64 / y.server_rss.max(1) as f64,
            x.wire as f64 / y.wire.max(1) as f64
        );
    };
    let first_bucketed = usize::from(memory);
    if memory {
        for (i, p) in protocols.iter().enumerate() {
            ratio(
                &results[first_bucketed + i],
                &results[0],
                &format!("bucketed {p} / in memory"),
            );
        }
    }
    if protocols.len() == 2 {
        ratio(
            &results[first_bucketed + 1],
            &results[first_bucketed],
            "bucketed kkrt / bucketed ecdh",
        );
    }
}
