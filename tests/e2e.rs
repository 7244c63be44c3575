//! End-to-end tests of the real `psi` binary: real processes, a real server on
//! a free loopback port, temporary CSV files.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;

use common::{Server, PSI};

fn psi(args: &[&str]) -> Output {
    Command::new(PSI).args(args).output().unwrap()
}

/// `psi serve --key KEY --input INPUT EXTRA` on a free port.
fn serve(input: &Path, key: &str, extra: &[&str]) -> Server {
    let mut args: Vec<OsString> = vec!["--key".into(), key.into(), "--input".into()];
    args.push(input.into());
    args.extend(extra.iter().map(Into::into));
    Server::spawn(&args)
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Rows of `file` (header excluded) as string records.
fn rows(file: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(file).unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn column(file: &Path, name: &str) -> usize {
    let mut r = csv::Reader::from_path(file).unwrap();
    r.headers()
        .unwrap()
        .iter()
        .position(|h| h.trim() == name)
        .unwrap()
}

fn run_against(url: &str, input: &Path, key: &str, out: &Path, report: &Path) -> Output {
    run_protocol(url, "ecdh", input, key, out, report)
}

fn run_protocol(
    url: &str,
    protocol: &str,
    input: &Path,
    key: &str,
    out: &Path,
    report: &Path,
) -> Output {
    Command::new(PSI)
        .args(["run", "--protocol", protocol, "--peer", url, "--key", key])
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn generated_tables_match_the_plaintext_intersection() {
    generated_tables_match("ecdh", "ecdh-ristretto255");
}

#[test]
fn kkrt_generated_tables_match_the_plaintext_intersection() {
    generated_tables_match("kkrt", "kkrt-ot");
}

fn generated_tables_match(protocol: &str, protocol_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    let g = Command::new(PSI)
        .args([
            "gen",
            "--rows-a",
            "2500",
            "--rows-b",
            "5000",
            "--overlap",
            "900",
            "--seed",
            "7",
        ])
        .arg("--out-a")
        .arg(&a)
        .arg("--out-b")
        .arg(&b)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", stderr(&g));

    let serve_report = dir.path().join("serve.json");
    let serve_report_arg = serve_report.display().to_string();
    let server = serve(&b, "email", &["--once", "--report", &serve_report_arg]);
    let out = dir.path().join("matched.csv");
    let report = dir.path().join("report.json");
    let o = run_protocol(&server.url, protocol, &a, "email", &out, &report);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        server.wait_exit(),
        "`serve --once` did not exit after the session"
    );

    // Plaintext answer.
    let (ea, eb) = (column(&a, "email"), column(&b, "email"));
    let b_emails: HashSet<String> = rows(&b).into_iter().map(|r| r[eb].clone()).collect();
    let expected: Vec<Vec<String>> = rows(&a)
        .into_iter()
        .filter(|r| b_emails.contains(&r[ea]))
        .collect();
    assert_eq!(expected.len(), 900);
    assert_eq!(
        rows(&out),
        expected,
        "output must be A's matching rows in A's order"
    );

    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["input"]["rows"], 2500);
    assert_eq!(r["matched_rows"], 900);
    assert_eq!(r["peer_set_size"], 5000);
    assert_eq!(r["protocol"], protocol_name);
    let sr: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&serve_report).unwrap()).unwrap();
    assert_eq!(sr["sessions"][0]["protocol"], protocol_name);
    assert_eq!(sr["sessions"][0]["client_set_size"], 2500);
    assert_eq!(sr["sessions"][0]["outcome"], "ok");
    assert!(r["bytes_sent"].as_u64().unwrap() >= 2500 * 32);
    // ECDH: a 32-byte point per item; KKRT: three tags of at least 8 bytes.
    assert!(r["bytes_received"].as_u64().unwrap() >= 5000 * 24);
    assert!(r["environment"]["psi_version"].is_string());
    let phases: Vec<&str> = r["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        phases.contains(&"read_input") && phases.contains(&"total"),
        "{phases:?}"
    );
}

#[test]
fn composite_keys_trimmed_headers_empty_and_duplicate_keys() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        b"rec_id, given_name, surname, dob\n\
          a1, ann, lee, 1990\n\
          a2, bob, ray, 1980\n\
          a3, , ray, 1980\n\
          a4, ann, lee, 1991\n\
          a5, bob, ray, 1970\n\
          a6, abc, d, 1\n",
    );
    let b = write(
        dir.path(),
        "b.csv",
        b"id,given_name,surname\nb1,ann,lee\nb2,bob,ray\nb3,ab,cd\nb4,,ray\n",
    );
    let server = serve(&b, "given_name, surname", &["--once"]);
    let out = dir.path().join("m.csv");
    let report = dir.path().join("r.json");
    // By default a repeated key is an error naming its lines, before any data moves.
    let o = run_against(&server.url, &a, "given_name,surname", &out, &report);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("line 5 repeats line 2, line 6 repeats line 3"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists() && !report.exists());
    // --duplicates first: only the first row of each key can match.
    let first = dir.path().join("first.csv");
    let o = Command::new(PSI)
        .args(["run", "--peer", &server.url, "--key", "given_name,surname"])
        .args(["--duplicates", "first", "--input"])
        .arg(&a)
        .arg("--output")
        .arg(&first)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<String> = rows(&first).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, ["a1", "a2"]);
    let server = serve(&b, "given_name, surname", &["--once"]);
    let o = Command::new(PSI)
        .args(["run", "--peer", &server.url, "--key", "given_name,surname"])
        .args(["--duplicates", "all", "--input"])
        .arg(&a)
        .arg("--output")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<String> = rows(&out).into_iter().map(|r| r[0].clone()).collect();
    // a3 has an empty key; "abc"+"d" must not collide with "ab"+"cd".
    assert_eq!(ids, ["a1", "a2", "a4", "a5"]);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["input"]["empty_key_rows"], 1);
    assert_eq!(r["input"]["duplicate_key_rows"], 2);
    assert_eq!(r["input"]["distinct_keys"], 3);
    assert_eq!(r["matched_keys"], 2);
    assert_eq!(r["matched_rows"], 4);
    // B's set: (ann,lee), (bob,ray), (ab,cd); b4 has an empty key.
    assert_eq!(r["peer_set_size"], 3);
}

/// Runs `psi run` on `input` against `url`; asserts a one-line error containing
/// `needle`, a non-zero exit and no output file.
fn assert_fails(url: &str, input: &Path, key: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let report = dir.path().join("report.json");
    let o = run_against(url, input, key, &out, &report);
    let err = stderr(&o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr {err:?} should mention {needle:?}"
    );
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one clear error line: {err:?}");
    assert!(!out.exists(), "no output file after a failure");
    assert!(!report.exists(), "no report after a failure");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

#[test]
fn bad_local_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = write(dir.path(), "b.csv", b"email\nx@y.z\n");
    let server = serve(&b, "email", &[]);
    let url = server.url.clone();

    assert_fails(
        &url,
        &dir.path().join("missing.csv"),
        "email",
        "missing.csv",
    );
    let f = write(dir.path(), "cols.csv", b"id, mail ,name\n1,x,y\n");
    assert_fails(&url, &f, "email", "the columns are: id, mail, name");
    let f = write(dir.path(), "ragged.csv", b"id,email\n1,a@b.c\n2,b@c.d\n3\n");
    assert_fails(&url, &f, "email", "line 4");
    let f = write(dir.path(), "utf8.csv", b"id,email\n1,a@b.c\n2,\xff\xfe@x\n");
    assert_fails(
        &url,
        &f,
        "email",
        "line 3, column \"email\": value is not valid UTF-8",
    );
    let f = write(dir.path(), "empty.csv", b"");
    assert_fails(&url, &f, "email", "is empty");
    let f = write(dir.path(), "header.csv", b"id,email\n");
    assert_fails(&url, &f, "email", "no data rows");
    let f = write(dir.path(), "ok.csv", b"id,email\n1,x@y.z\n");
    assert_fails(&url, &f, "email,,id", "column name is empty");
}

#[test]
fn unreachable_peer_is_a_clear_error() {
    // Bind then drop: the port is (very likely) free and nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.csv", b"id,email\n1,x@y.z\n");
    assert_fails(
        &format!("http://127.0.0.1:{port}"),
        &f,
        "email",
        &format!("127.0.0.1:{port}"),
    );
}

/// A fake peer: answers every HTTP request with `status` and `body`.
fn fake_peer(status: &'static str, content_type: &'static str, body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while !buf.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                buf.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&buf).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut req_body = vec![0u8; len];
            let _ = s.read_exact(&mut req_body);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nx-psi-session: 0123abcd\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn peer_of_another_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.csv", b"id,email\n1,x@y.z\n");
    // A server hello whose version byte is 9.
    let mut hello = vec![9u8, 2, 1];
    hello.extend_from_slice(&[0u8; 32]);
    hello.extend_from_slice(&1u64.to_be_bytes());
    let url = fake_peer("201 Created", "application/octet-stream", hello);
    assert_fails(&url, &f, "email", "version 9");
}

#[test]
fn malformed_peer_message_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.csv", b"id,email\n1,x@y.z\n");
    let url = fake_peer(
        "201 Created",
        "application/octet-stream",
        vec![psi_core::codec::WIRE_VERSION, 2, 3],
    );
    assert_fails(&url, &f, "email", "malformed");
}

#[test]
fn peer_error_json_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.csv", b"id,email\n1,x@y.z\n");
    let body = br#"{"error":{"code":"busy","message":"the server is at its session limit"}}"#;
    let url = fake_peer("503 Service Unavailable", "application/json", body.to_vec());
    assert_fails(&url, &f, "email", "session limit");
}

#[test]
fn output_never_overwrites_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", b"id,email\n1,x@y.z\n");
    let o = psi(&[
        "run",
        "--peer",
        "http://127.0.0.1:9",
        "--key",
        "email",
        "--input",
        a.to_str().unwrap(),
        "--output",
        a.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&a).unwrap(), b"id,email\n1,x@y.z\n");
}

#[test]
fn demo_runs_and_checks_itself() {
    let o = psi(&[
        "demo",
        "--rows-a",
        "800",
        "--rows-b",
        "1000",
        "--overlap",
        "300",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}\n{}", out, stderr(&o));
    assert!(out.contains("What A learned: 300 of its 800 rows"), "{out}");
    assert!(
        out.contains("What B learned: A holds 800 distinct keys"),
        "{out}"
    );
    assert!(out.contains("is EQUAL to it"), "{out}");

    let o = psi(&[
        "demo",
        "--protocol",
        "kkrt",
        "--rows-a",
        "900",
        "--overlap",
        "400",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}\n{}", out, stderr(&o));
    assert!(out.contains("is EQUAL to it"), "{out}");
    assert!(out.contains("protocol kkrt-ot"), "{out}");
}

#[test]
fn febrl_files_when_available() {
    let dir = std::env::var_os("PSI_FEBRL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let (a, b) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    if !a.exists() || !b.exists() {
        eprintln!(
            "SKIPPED: FEBRL files not found in {} (set PSI_FEBRL_DIR)",
            dir.display()
        );
        return;
    }
    let key = "given_name,surname,date_of_birth";
    let server = serve(&b, key, &["--once"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.csv");
    let report = tmp.path().join("r.json");
    let o = run_against(&server.url, &a, key, &out, &report);
    assert!(o.status.success(), "{}", stderr(&o));
    // Plaintext reference on the same trimmed values.
    let cols = |f: &Path| -> Vec<usize> {
        ["given_name", "surname", "date_of_birth"]
            .iter()
            .map(|c| column(f, c))
            .collect()
    };
    let key_of = |r: &[String], c: &[usize]| -> Option<Vec<String>> {
        let k: Vec<String> = c.iter().map(|&i| r[i].trim().to_string()).collect();
        (!k.iter().any(String::is_empty)).then_some(k)
    };
    let (ca, cb) = (cols(&a), cols(&b));
    let b_keys: HashSet<Vec<String>> = rows(&b).iter().filter_map(|r| key_of(r, &cb)).collect();
    let expected: Vec<Vec<String>> = rows(&a)
        .into_iter()
        .filter(|r| key_of(r, &ca).is_some_and(|k| b_keys.contains(&k)))
        .collect();
    assert_eq!(rows(&out), expected);
    assert!(
        expected.len() > 1000,
        "FEBRL exact matches: {}",
        expected.len()
    );
}

/// Generated tables with a `spend` column; returns (a, b).
fn gen_with_values(dir: &Path, rows_a: u32, rows_b: u32, overlap: u32) -> (PathBuf, PathBuf) {
    let a = dir.join("a.csv");
    let b = dir.join("b.csv");
    let g = Command::new(PSI)
        .args(["gen", "--with-value", "--seed", "11"])
        .args([
            "--rows-a",
            &rows_a.to_string(),
            "--rows-b",
            &rows_b.to_string(),
        ])
        .args(["--overlap", &overlap.to_string()])
        .arg("--out-a")
        .arg(&a)
        .arg("--out-b")
        .arg(&b)
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", stderr(&g));
    (a, b)
}

/// The plaintext answer: distinct shared emails and the sum of B's `spend`
/// over B's rows whose email A also holds.
fn plaintext_count_and_sum(a: &Path, b: &Path) -> (u64, u64) {
    let ea = column(a, "email");
    let (eb, sb) = (column(b, "email"), column(b, "spend"));
    let a_emails: HashSet<String> = rows(a).into_iter().map(|r| r[ea].clone()).collect();
    let mut shared = HashSet::new();
    let mut sum = 0u64;
    for r in rows(b) {
        if a_emails.contains(&r[eb]) {
            shared.insert(r[eb].clone());
            sum += r[sb].parse::<u64>().unwrap();
        }
    }
    (shared.len() as u64, sum)
}

fn run_mode(url: &str, input: &Path, extra: &[&str], report: &Path) -> Output {
    Command::new(PSI)
        .args(["run", "--peer", url, "--key", "email"])
        .args(extra)
        .arg("--input")
        .arg(input)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn cardinality_and_sums_equal_the_plaintext_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = gen_with_values(dir.path(), 1500, 2500, 600);
    let (count, sum) = plaintext_count_and_sum(&a, &b);
    assert_eq!(count, 600);
    let report = dir.path().join("r.json");

    // Cardinality: the count only.
    let server = serve(&b, "email", &["--once", "--mode", "cardinality"]);
    let o = run_mode(&server.url, &a, &["--mode", "cardinality"], &report);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("shared keys: {count}")), "{out}");
    let r = json(&report);
    assert_eq!(r["released"]["count"], count);
    assert_eq!(r["released"]["threshold_met"], true);
    assert!(r["released"]["sum"].is_null());
    assert_eq!(r["protocol"], "pjc-cardinality-ristretto255");
    assert!(server.wait_exit());

    // Sum to the client (the ad-measurement case).
    let server = serve(
        &b,
        "email",
        &[
            "--once", "--mode", "sum", "--sum-to", "client", "--value", "spend",
        ],
    );
    let o = run_mode(
        &server.url,
        &a,
        &["--mode", "sum", "--sum-to", "client"],
        &report,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("sum over them: {sum}")), "{out}");
    assert_eq!(json(&report)["released"]["sum"], sum);
    assert!(server.wait_exit());

    // Sum to the server (Private Join and Compute's direction): the server's
    // report holds the sum, the client learns the count.
    let serve_report = dir.path().join("s.json");
    let serve_report_arg = serve_report.display().to_string();
    let server = serve(
        &b,
        "email",
        &[
            "--once",
            "--mode",
            "sum",
            "--value",
            "spend",
            "--report",
            &serve_report_arg,
        ],
    );
    let o = run_mode(&server.url, &a, &["--mode", "sum"], &report);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&report)["released"]["count"], count);
    assert!(json(&report)["released"]["sum"].is_null());
    assert!(server.wait_exit());
    let s = json(&serve_report);
    assert_eq!(s["sessions"][0]["released"]["sum"], sum, "{s}");
    assert_eq!(s["sessions"][0]["released"]["count"], count, "{s}");
}

#[test]
fn threshold_noise_and_mode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = gen_with_values(dir.path(), 300, 400, 5);
    let report = dir.path().join("r.json");

    // Below the threshold only "not met" is released.
    let server = serve(&b, "email", &["--once", "--mode", "cardinality"]);
    let o = run_mode(
        &server.url,
        &a,
        &["--mode", "cardinality", "--min-intersection", "10"],
        &report,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("threshold not met"));
    let r = json(&report);
    assert_eq!(r["released"]["threshold_met"], false);
    assert!(r["released"]["count"].is_null());
    assert!(server.wait_exit());

    // Noise is described in the report. (Our threshold is decided on the
    // noisy count: 0 keeps this run from ever withholding the count.)
    let server = serve(&b, "email", &["--once", "--mode", "cardinality"]);
    let o = run_mode(
        &server.url,
        &a,
        &[
            "--mode",
            "cardinality",
            "--dp-epsilon",
            "1.0",
            "--min-intersection",
            "0",
        ],
        &report,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json(&report);
    assert_eq!(r["released"]["noise"][0]["epsilon"], 1.0);
    assert_eq!(r["released"]["noise"][0]["sensitivity"], 1);
    assert!(r["released"]["count"].is_i64());
    assert!(server.wait_exit());

    // A client asking another mode is refused before any data moves.
    let server = serve(&b, "email", &["--mode", "cardinality"]);
    let out = dir.path().join("m.csv");
    let o = run_against(&server.url, &a, "email", &out, &report);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("pjc-cardinality"), "{}", stderr(&o));
    assert!(!out.exists());
    drop(server);

    // A value column that is not a number names the line, column and value.
    let o = psi(&[
        "serve",
        "--mode",
        "sum",
        "--value",
        "given_name",
        "--key",
        "email",
        "--listen",
        "127.0.0.1:0",
        "--input",
        b.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("line 2")
            && e.contains("given_name")
            && e.contains("not a non-negative integer"),
        "{e}"
    );
    // --mode sum without --value.
    let o = psi(&[
        "serve",
        "--mode",
        "sum",
        "--key",
        "email",
        "--input",
        b.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--value"), "{}", stderr(&o));
}

#[test]
fn dp_threshold_is_decided_on_the_noisy_count() {
    // No key is shared, so the exact count is 0. Decided on the exact count,
    // `--min-intersection 1` would say "not met" every time, which says the
    // exact truth (the intersection is empty) whatever the noise. Decided on
    // the noisy count (scale 50), it is met about half the time: here never
    // or always only with probability about 2·10^-6.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = gen_with_values(dir.path(), 200, 200, 0);
    let report = dir.path().join("r.json");
    let server = serve(
        &b,
        "email",
        &["--mode", "cardinality", "--min-intersection", "0"],
    );
    let mut met = 0;
    let runs = 20;
    for _ in 0..runs {
        let o = run_mode(
            &server.url,
            &a,
            &[
                "--mode",
                "cardinality",
                "--dp-epsilon",
                "0.02",
                "--min-intersection",
                "1",
            ],
            &report,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let r = json(&report)["released"].clone();
        assert_eq!(r["threshold_on"], "noisy_count", "{r}");
        assert_eq!(r["noise"][0]["what"], "count", "{r}");
        if r["threshold_met"] == true {
            met += 1;
            assert!(r["count"].as_i64().unwrap() >= 1, "{r}");
        } else {
            assert!(r["count"].is_null(), "{r}");
        }
    }
    assert!(0 < met && met < runs, "met {met} of {runs} runs");
}

#[test]
fn dp_sum_sensitivity_is_a_declared_bound_and_values_are_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = gen_with_values(dir.path(), 300, 400, 120);
    let (count, _) = plaintext_count_and_sum(&a, &b);
    // The plaintext sum with every value clamped to the bound.
    let bound = 50u64;
    let (ea, eb, sb) = (
        column(&a, "email"),
        column(&b, "email"),
        column(&b, "spend"),
    );
    let a_emails: HashSet<String> = rows(&a).into_iter().map(|r| r[ea].clone()).collect();
    let values: Vec<u64> = rows(&b)
        .into_iter()
        .filter(|r| a_emails.contains(&r[eb]))
        .map(|r| r[sb].parse().unwrap())
        .collect();
    assert!(
        values.iter().any(|&v| v > bound) && values.iter().any(|&v| v < bound),
        "the test needs values on both sides of the bound"
    );
    let clamped: u64 = values.iter().map(|&v| v.min(bound)).sum();
    let report = dir.path().join("r.json");

    // The server clamps every value to its --dp-sum-sensitivity (no noise).
    let server = serve(
        &b,
        "email",
        &[
            "--once",
            "--mode",
            "sum",
            "--sum-to",
            "client",
            "--value",
            "spend",
            "--dp-sum-sensitivity",
            "50",
        ],
    );
    let o = run_mode(
        &server.url,
        &a,
        &["--mode", "sum", "--sum-to", "client"],
        &report,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&report)["released"]["sum"], clamped);
    assert_eq!(json(&report)["released"]["count"], count);
    assert!(server.wait_exit());

    // Noise on the server's release: its sensitivity is the declared bound,
    // not the data's largest value, which no report shows.
    let serve_report = dir.path().join("s.json");
    let serve_report_arg = serve_report.display().to_string();
    let largest = rows(&b).iter().map(|r| r[sb].parse::<u64>().unwrap()).max();
    assert_ne!(largest, Some(bound));
    let server = serve(
        &b,
        "email",
        &[
            "--once",
            "--mode",
            "sum",
            "--value",
            "spend",
            "--dp-epsilon",
            "2",
            "--dp-sum-sensitivity",
            "50",
            "--min-intersection",
            "0",
            "--report",
            &serve_report_arg,
        ],
    );
    let o = run_mode(
        &server.url,
        &a,
        &["--mode", "sum", "--min-intersection", "0"],
        &report,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(server.wait_exit());
    let s = json(&serve_report);
    let released = &s["sessions"][0]["released"];
    assert_eq!(released["threshold_on"], "noisy_count", "{s}");
    assert_eq!(released["noise"][0]["sensitivity"], 1, "{s}");
    assert_eq!(released["noise"][1]["what"], "sum", "{s}");
    assert_eq!(released["noise"][1]["sensitivity"], bound, "{s}");
    assert_eq!(released["noise"][1]["epsilon"], 1.0, "{s}");
    for n in released["noise"].as_array().unwrap() {
        assert_ne!(n["sensitivity"].as_u64(), largest, "{s}");
    }

    // Noise on a sum needs the declared bound, on either side.
    let refused = |args: &[&str]| {
        let o = psi(args);
        assert!(!o.status.success());
        stderr(&o)
    };
    let b_arg = b.to_str().unwrap();
    let e = refused(&[
        "serve",
        "--mode",
        "sum",
        "--value",
        "spend",
        "--key",
        "email",
        "--input",
        b_arg,
        "--dp-epsilon",
        "1",
    ]);
    assert!(e.contains("needs --dp-sum-sensitivity"), "{e}");
    let e = refused(&[
        "run",
        "--peer",
        "http://127.0.0.1:9",
        "--mode",
        "sum",
        "--sum-to",
        "client",
        "--key",
        "email",
        "--input",
        b_arg,
        "--dp-epsilon",
        "1",
    ]);
    assert!(e.contains("needs --dp-sum-sensitivity"), "{e}");
}

#[test]
fn dp_epsilon_below_the_floor_is_refused() {
    // The old floating-point sampler released the exact value at a tiny ε;
    // now an ε below 10^-6 is refused before any data moves.
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = gen_with_values(dir.path(), 10, 10, 0);
    for eps in ["0.0000001", "1e-300", "0"] {
        let o = psi(&[
            "run",
            "--peer",
            "http://127.0.0.1:9",
            "--mode",
            "cardinality",
            "--key",
            "email",
            "--input",
            a.to_str().unwrap(),
            "--dp-epsilon",
            eps,
        ]);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(&format!("--dp-epsilon {eps}: ")), "{e}");
        assert!(
            e.contains("below the floor of 0.000001") || eps == "0",
            "{e}"
        );
    }
}

#[path = "../psi-table/tests/common/febrl.rs"]
mod febrl;

/// Runs a private waterfall linkage between `a` (psi run, --align) and `b`
/// (psi serve --once --output); returns both outputs' rows.
fn aligned_linkage(
    a: &Path,
    b: &Path,
    keys: &[&str],
    dir: &Path,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let (out_a, out_b) = (dir.join("a_out.csv"), dir.join("b_out.csv"));
    let mut serve: Vec<OsString> = vec!["--once".into()];
    let mut run: Vec<String> = vec!["run".into(), "--align".into()];
    for k in keys {
        serve.extend(["--key".into(), k.into()]);
        run.extend(["--key".to_string(), k.to_string()]);
    }
    serve.extend([
        "--input".into(),
        b.into(),
        "--output".into(),
        out_b.clone().into(),
    ]);
    let server = Server::spawn(&serve);
    let o = Command::new(PSI)
        .args(&run)
        .args(["--peer", &server.url, "--input"])
        .arg(a)
        .arg("--output")
        .arg(&out_a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(server.wait_exit(), "the server ends after the linkage");
    (rows(&out_a), rows(&out_b))
}

#[test]
fn aligned_outputs_pair_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        b"id,email,phone\na1,Ann@X.com,+44 20 7946 0001\na2,bob@y.org,\na3,cy@z.net,+44 20 7946 0003\na4,dee@w.io,+44 20 7946 0004\n",
    );
    let b = write(
        dir.path(),
        "b.csv",
        b"ref,mail,tel\nb1,dee@w.io,\nb2,zed@q.com,020 7946 0003\nb3,ann@x.com,\n",
    );
    // B calls the columns differently: only the profiles must agree.
    let (ra, rb) = {
        let (out_a, out_b) = (dir.path().join("a_out.csv"), dir.path().join("b_out.csv"));
        let mut serve: Vec<OsString> = ["--once", "--key", "mail:email", "--key", "tel:phone:GB"]
            .iter()
            .map(Into::into)
            .collect();
        serve.extend([
            "--input".into(),
            b.clone().into(),
            "--output".into(),
            out_b.clone().into(),
        ]);
        let server = Server::spawn(&serve);
        // A mismatched profile stops before any data moves, saying what differs.
        let o = Command::new(PSI)
            .args([
                "run",
                "--align",
                "--key",
                "email:text",
                "--key",
                "phone:phone:GB",
                "--peer",
                &server.url,
                "--input",
            ])
            .arg(&a)
            .arg("--output")
            .arg(&out_a)
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("key_spec_mismatch") || stderr(&o).contains("profile"),
            "{}",
            stderr(&o)
        );
        assert!(!out_a.exists());
        let o = Command::new(PSI)
            .args([
                "run",
                "--align",
                "--join",
                "full",
                "--key",
                "email:email",
                "--key",
                "phone:phone:GB",
                "--peer",
                &server.url,
                "--input",
            ])
            .arg(&a)
            .arg("--output")
            .arg(&out_a)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(server.wait_exit());
        (rows(&out_a), rows(&out_b))
    };
    // Full join, aligned: 3 linked pairs (a1-b3 by email, a4-b1 by email,
    // a3-b2 by phone), then a2 (B writes an empty row), then nothing of B's.
    assert_eq!(ra.len(), 4);
    assert_eq!(rb.len(), 4);
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x[0], y[0], "same psi_id on both sides, row by row");
    }
    let pairs: HashSet<(String, String)> = ra
        .iter()
        .zip(&rb)
        .filter(|(x, _)| !x[0].is_empty())
        .map(|(x, y)| (x[1].clone(), y[1].clone()))
        .collect();
    let expect: HashSet<(String, String)> = [("a1", "b3"), ("a4", "b1"), ("a3", "b2")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(pairs, expect);
    assert_eq!(ra[3][1], "a2");
    assert!(
        rb[3].iter().all(String::is_empty),
        "B's placeholder for A's unlinked row"
    );
}

#[test]
fn febrl_private_waterfall_is_precise_and_aligned() {
    let Ok(dir) = febrl::febrl_dir() else {
        eprintln!("SKIPPED: FEBRL files not found (set PSI_FEBRL_DIR)");
        return;
    };
    let (a, b) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    let tmp = tempfile::tempdir().unwrap();
    let (na, nb) = (febrl::person_ids(&a).len(), febrl::person_ids(&b).len());
    let (ha, hb) = (tmp.path().join("half_a.csv"), tmp.path().join("half_b.csv"));
    febrl::write_subset(&a, &febrl::random_half(na, 1), &ha);
    febrl::write_subset(&b, &febrl::random_half(nb, 1001), &hb);
    for (fa, fb) in [(&a, &b), (&ha, &hb)] {
        let (ra, rb) = aligned_linkage(fa, fb, febrl::WATERFALL, tmp.path());
        assert_eq!(ra.len(), rb.len(), "aligned outputs have equal length");
        let person = |rec: &str| rec.trim().split('-').nth(1).unwrap_or_default().to_string();
        let mut correct = 0usize;
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x[0], y[0], "same psi_id row by row");
            if person(&x[1]) == person(&y[1]) {
                correct += 1;
            }
        }
        let pa: HashSet<String> = febrl::person_ids(fa).into_iter().collect();
        let true_pairs = febrl::person_ids(fb)
            .into_iter()
            .filter(|p| pa.contains(p))
            .count();
        let precision = correct as f64 / ra.len() as f64;
        let recall = correct as f64 / true_pairs as f64;
        eprintln!(
            "FEBRL private waterfall {}: {} linked, {correct} correct of {true_pairs} true pairs: precision {precision:.4}, recall {recall:.4}",
            fa.display(),
            ra.len()
        );
        assert!(precision >= 0.999, "precision {precision}");
        assert!(recall >= 0.93, "recall {recall}");
    }
}

/// A client's reported count of unlinked rows is a claim: an aligned left
/// join makes the server write that many placeholder rows, so the server
/// refuses a count above its set-size limit (here 3) before writing any.
#[test]
fn a_client_reporting_more_unlinked_rows_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Six of A's rows carry the same values (ambiguous at both steps, never
    // offered), so A announces one item per step but has six unlinked rows.
    let mut a = b"id,email,name\na1,ann@x.com,Ann\n".to_vec();
    for i in 2..8 {
        a.extend_from_slice(format!("a{i},dup@x.com,Dup\n").as_bytes());
    }
    let a = write(dir.path(), "a.csv", &a);
    let b = write(
        dir.path(),
        "b.csv",
        b"ref,email,name\nb1,ann@x.com,Ann\nb2,bo@y.org,Bo\n",
    );
    let (out_a, out_b) = (dir.path().join("a_out.csv"), dir.path().join("b_out.csv"));
    let serve: Vec<OsString> = [
        "--once",
        "--max-set-size",
        "3",
        "--key",
        "email:email",
        "--key",
        "name:text",
        "--output",
    ]
    .iter()
    .map(Into::into)
    .chain([out_b.clone().into(), "--input".into(), b.into()])
    .collect();
    let server = Server::spawn(&serve);
    let o = Command::new(PSI)
        .args(["run", "--align", "--join", "left"])
        .args(["--key", "email:email", "--key", "name:text"])
        .args(["--peer", &server.url, "--input"])
        .arg(&a)
        .arg("--output")
        .arg(&out_a)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "the server must refuse: {err}");
    assert!(
        err.contains("6 unlinked rows") && err.contains("limit of 3"),
        "the refusal names the count and the limit: {err}"
    );
    assert!(
        !out_a.exists() && !out_b.exists(),
        "no output on either side"
    );
}
