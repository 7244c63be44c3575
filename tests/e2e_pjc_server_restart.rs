//! PSI-cardinality and PSI-sum sessions survive a killed *server*: `psi
//! serve --state-dir` is SIGKILLed in the upload, in each download and (in
//! the sums) before the finale, then started again with the same state
//! directory, and the same `psi run` command again goes on with the **same
//! session** (its token never changes), ends with the plaintext count and
//! sum, says it resumed, and leaves no kept session on the server.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pjc::{run_cmd, serve_args, session, tables, MODES};
use common::Server;
use rand::{Rng, SeedableRng};

/// The server's kept sessions (their directories).
fn kept(s_state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(s_state.join("pjc-sessions"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

type KillPoint = (&'static str, Box<dyn Fn(&serde_json::Value) -> bool>);

fn kill_points(sum: bool) -> Vec<KillPoint> {
    let mut points: Vec<KillPoint> = vec![
        (
            "upload",
            Box::new(|s| s["token"].is_string() && s["uploaded"] == false),
        ),
        (
            "answers",
            Box::new(|s| {
                s["tags"]["received"].as_u64().unwrap_or(0) > 0 && s["tags"]["stored"] == false
            }),
        ),
        (
            "set",
            Box::new(|s| {
                s["set"]["received"].as_u64().unwrap_or(0) > 0 && s["set"]["stored"] == false
            }),
        ),
    ];
    if sum {
        points.push(("finale", Box::new(|s| s["set"]["acked"] == true)));
    }
    points
}

#[test]
fn a_killed_server_comes_back_with_the_same_session() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, count, sum) = tables(dir.path(), 3000, 21);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for (m, (server_mode, client_mode)) in MODES.into_iter().enumerate() {
        let s_state = dir.path().join(format!("s-state-{m}"));
        let c_state = dir.path().join(format!("c-state-{m}"));
        let report = dir.path().join(format!("r-{m}.json"));
        let s_report = dir.path().join(format!("s-{m}.json"));
        let args = serve_args(&b, &s_state, &s_report, server_mode);
        // The same address after each restart: the same command resumes.
        let listen = format!("127.0.0.1:{}", common::free_port());
        let mut server = Server::spawn_at(&listen, &args);
        let url = server.url.clone();
        let mut token: Option<String> = None;
        let mut killed = Vec::new();
        for (phase, point) in kill_points(client_mode.contains(&"sum")) {
            let mut child = run_cmd(&url, &a, &c_state, &report, client_mode)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            common::wait_for(&mut child, Duration::from_secs(120), || {
                session(&c_state).is_some_and(|s| point(&s))
            });
            if phase != "finale" {
                std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
            }
            let running = child.try_wait().unwrap().is_none();
            // SIGKILL: the server cannot clean up or save anything now.
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            let _ = child.kill();
            child.wait().unwrap();
            let s = session(&c_state).unwrap();
            let now = s["token"].as_str().unwrap().to_string();
            assert_eq!(
                token.get_or_insert(now.clone()),
                &now,
                "mode {m}, {phase}: the client went on with the same session"
            );
            if running {
                killed.push(phase);
                let kept = kept(&s_state);
                assert_eq!(kept.len(), 1, "mode {m}, {phase}: {kept:?}");
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let meta = std::fs::metadata(kept[0].join("session.bin")).unwrap();
                    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
                }
            }
            server = Server::spawn_at(&listen, &args);
            assert_eq!(server.url, url);
        }
        assert!(
            killed.len() >= 3,
            "mode {m}: only {killed:?} were killed while running"
        );
        let o = run_cmd(&url, &a, &c_state, &report, client_mode)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!c_state.exists(), "the client's state directory is removed");
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["released"]["count"], count, "mode {m}: {r}");
        assert_eq!(r["external"]["resumed"], true, "mode {m}: {r}");
        // The server's record goes as the session ends (a sum: when the
        // client confirms its answer, just before it exits).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !kept(&s_state).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(kept(&s_state).is_empty(), "mode {m}: {:?}", kept(&s_state));
        if client_mode.contains(&"sum") {
            let got = if client_mode.contains(&"client") {
                r["released"]["sum"].clone()
            } else {
                let s: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&s_report).unwrap()).unwrap();
                let sessions = s["sessions"].as_array().unwrap();
                let done: Vec<_> = sessions
                    .iter()
                    .filter(|x| x["released"].is_object())
                    .collect();
                // Learned once: by this process, or (a finale answered
                // before the last kill) by an earlier one, then replayed.
                assert!(done.len() <= 1, "the server learned the sum once: {s}");
                match done.first() {
                    Some(d) => d["released"]["sum"].clone(),
                    None => serde_json::json!(sum),
                }
            };
            assert_eq!(got, sum, "mode {m}: {r}");
        }
    }
}
