//! Resumed PSI-cardinality and PSI-sum in external memory through the real
//! binaries (`psi run --state-dir` against `psi serve --state-dir`, chunks
//! of 16 items, a checkpoint after every chunk): a client killed (SIGKILL)
//! again and again, in the upload, in each download and at random points,
//! ends with the plaintext count and sum (which an uninterrupted run gives:
//! `e2e_pjc_disk.rs`), its state directory removed, and a report that says
//! it resumed; a changed input or option between runs is refused, naming it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::pjc::{run_cmd, serve_args, session, tables, MODES};
use common::Server;
use rand::{Rng, SeedableRng};

/// When to kill the client, judged from its session state.
type KillPoint = Box<dyn Fn(&serde_json::Value) -> bool>;

/// Kill points: in the upload, in the answers' download, in the set's
/// download (one more, at a random time, is added by the test).
fn kill_points() -> Vec<KillPoint> {
    vec![
        Box::new(|s| s["token"].is_string() && s["uploaded"] == false),
        Box::new(|s| {
            s["tags"]["received"].as_u64().unwrap_or(0) > 0 && s["tags"]["stored"] == false
        }),
        Box::new(|s| s["set"]["received"].as_u64().unwrap_or(0) > 0 && s["set"]["stored"] == false),
    ]
}

#[test]
fn killed_cardinality_and_sum_runs_resume_to_the_plaintext_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, count, sum) = tables(dir.path(), 3000, 5);
    assert!(count > 100, "{count}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for (m, (server_mode, client_mode)) in MODES.into_iter().enumerate() {
        let s_state = dir.path().join(format!("s-state-{m}"));
        let c_state = dir.path().join(format!("c-state-{m}"));
        let report = dir.path().join(format!("r-{m}.json"));
        let s_report = dir.path().join(format!("s-{m}.json"));
        // Not `--once`: a run of the loop that ends before its kill point
        // (a phase too short to catch) must leave the server up.
        let args = serve_args(&b, &s_state, &s_report, server_mode);
        let server = Server::spawn(&args);
        let (mut kills, mut ended_early) = (0, false);
        let mut points = kill_points();
        // One kill at a random time besides the three phases.
        points.push(Box::new(|_| true));
        for (k, point) in points.iter().enumerate() {
            let mut child = run_cmd(&server.url, &a, &c_state, &report, client_mode)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let extra = Duration::from_millis(rng.random_range(0..150));
            common::wait_for(&mut child, Duration::from_secs(120), || {
                session(&c_state).is_some_and(|s| point(&s))
            });
            std::thread::sleep(extra);
            if child.try_wait().unwrap().is_none() {
                kills += 1;
            } else {
                ended_early = true;
            }
            let _ = child.kill();
            child.wait().unwrap();
            if k == 1 {
                // A changed input or option is refused, naming it; the
                // state stays for the same command.
                let changed = dir.path().join("a2.csv");
                let mut text = std::fs::read_to_string(&a).unwrap();
                text.push_str("99999,k1\n");
                std::fs::write(&changed, text).unwrap();
                let o = run_cmd(&server.url, &changed, &c_state, &report, client_mode)
                    .output()
                    .unwrap();
                let e = String::from_utf8_lossy(&o.stderr);
                assert!(
                    !o.status.success() && e.contains("the input changed"),
                    "{e}"
                );
                let mut other = client_mode.to_vec();
                other.extend(["--min-intersection", "3"]);
                let o = run_cmd(&server.url, &a, &c_state, &report, &other)
                    .output()
                    .unwrap();
                let e = String::from_utf8_lossy(&o.stderr);
                assert!(
                    !o.status.success()
                        && e.contains("the options changed")
                        && e.contains("threshold"),
                    "{e}"
                );
            }
        }
        assert!(
            kills >= 3,
            "mode {m}: only {kills} runs were killed before they ended"
        );
        let o = run_cmd(&server.url, &a, &c_state, &report, client_mode)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!c_state.exists(), "the client's state directory is removed");
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["released"]["count"], count, "mode {m}: {r}");
        assert!(r["external"]["resumed"] == true || ended_early, "{r}");
        if client_mode.contains(&"sum") {
            let s: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&s_report).unwrap()).unwrap();
            let got = if client_mode.contains(&"client") {
                r["released"]["sum"].clone()
            } else {
                let sessions = s["sessions"].as_array().unwrap();
                let done = sessions.iter().rev().find(|x| x["released"].is_object());
                done.unwrap()["released"]["sum"].clone()
            };
            assert_eq!(got, sum, "mode {m}: {r} {s}");
        }
    }
}
