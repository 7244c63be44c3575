//! End-to-end tests of who may talk to `psi serve`: TLS, mutual TLS and
//! partner tokens through the real binaries, with a throwaway PKI made in
//! the test, on a free loopback port.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../psi-server/tests/pki/mod.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{Server, PSI};

/// `psi serve --listen 127.0.0.1:0 ARGS` on a free port.
fn serve(args: &[&str]) -> Server {
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    Server::spawn(&args)
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn run(url: &str, f: &Files, extra: &[&str]) -> Output {
    let out = f.path("out.csv");
    let _ = std::fs::remove_file(&out);
    Command::new(PSI)
        .args(["run", "--peer", url, "--key", "email", "--input"])
        .arg(f.path("a.csv"))
        .arg("--output")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn mutual_tls_and_tokens_let_in_partners_only() {
    let f = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    f.write("a.csv", "id,email\n1,ann@x.org\n2,bob@x.org\n3,cy@x.org\n");
    f.write("b.csv", "id,email\n7,bob@x.org\n8,cy@x.org\n9,dee@x.org\n");
    let ca = pki::Ca::new("partners");
    let other = pki::Ca::new("strangers");
    let server = ca.server();
    let partner = ca.client("partner-a");
    let stranger = other.client("partner-a");
    let server_cert = f.write("server.pem", &server.cert);
    let server_key = f.write("server.key", &server.key);
    let ca_pem = f.write("ca.pem", &ca.pem());
    let client_cert = f.write("client.pem", &partner.cert);
    let client_key = f.write("client.key", &partner.key);
    let stranger_cert = f.write("stranger.pem", &stranger.cert);
    let stranger_key = f.write("stranger.key", &stranger.key);

    // A token for partner-a: printed once, stored as a digest.
    let tokens = f.path("tokens.txt");
    let added = Command::new(PSI)
        .args(["token", "add", "--name", "partner-a", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", stderr(&added));
    let token = String::from_utf8(added.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("psi_"));
    assert!(!text(&tokens).contains(&token[4..]));
    let again = Command::new(PSI)
        .args(["token", "add", "--name", "partner-a", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already has a token"),
        "{}",
        stderr(&again)
    );
    let token_file = f.write("token.txt", &format!("{token}\n"));
    let wrong_token = f.write("wrong.txt", "psi_0123\n");

    let tokens = tokens.to_string_lossy().into_owned();
    let b = f.path("b.csv").to_string_lossy().into_owned();
    let s = serve(&[
        "--input",
        &b,
        "--key",
        "email",
        "--tls-cert",
        &server_cert,
        "--tls-key",
        &server_key,
        "--client-ca",
        &ca_pem,
        "--tokens",
        &tokens,
    ]);
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let url = s.url.replace("127.0.0.1", "localhost");
    let partner_args = [
        "--tls-ca",
        &ca_pem,
        "--tls-cert",
        &client_cert,
        "--tls-key",
        &client_key,
        "--token-file",
        &token_file,
    ];
    let ok = run(&url, &f, &partner_args);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let written = text(&f.path("out.csv"));
    assert!(
        written.contains("bob@x.org") && written.contains("cy@x.org"),
        "{written}"
    );
    assert!(!written.contains("ann@x.org"));

    // Refused: no client certificate, one from another CA, no token, a wrong
    // token. No output file is left behind.
    let no_cert = ["--tls-ca", &ca_pem, "--token-file", &token_file];
    let foreign = [
        "--tls-ca",
        &ca_pem,
        "--tls-cert",
        &stranger_cert,
        "--tls-key",
        &stranger_key,
        "--token-file",
        &token_file,
    ];
    let no_token = [
        "--tls-ca",
        &ca_pem,
        "--tls-cert",
        &client_cert,
        "--tls-key",
        &client_key,
    ];
    let bad_token = [
        "--tls-ca",
        &ca_pem,
        "--tls-cert",
        &client_cert,
        "--tls-key",
        &client_key,
        "--token-file",
        &wrong_token,
    ];
    for (args, says) in [
        (&no_cert[..], "TLS"),
        (&foreign[..], "TLS"),
        (&no_token[..], "unauthorized"),
        (&bad_token[..], "unauthorized"),
    ] {
        let o = run(&url, &f, args);
        assert!(!o.status.success(), "{args:?} was let in");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!f.path("out.csv").exists());
    }
    // Plain HTTP to it is no PSI exchange either.
    let plain = url.replace("https://", "http://");
    assert!(!run(&plain, &f, &["--token-file", &token_file])
        .status
        .success());
}

#[test]
fn plain_text_beyond_loopback_is_refused_and_bad_files_are_named() {
    let f = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    let b = f.write("b.csv", "id,email\n7,bob@x.org\n");
    let o = Command::new(PSI)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--key",
            "email",
            "--input",
            &b,
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--tls-cert"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--insecure-plaintext"),
        "{}",
        stderr(&o)
    );

    let junk = f.write("junk.pem", "not a certificate");
    let o = Command::new(PSI)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "email",
            "--input",
            &b,
        ])
        .args(["--tls-cert", &junk, "--tls-key", &junk])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("junk.pem"), "{}", stderr(&o));

    let tokens = f.write("tokens.txt", "partner-a sha256:1234\n");
    let o = Command::new(PSI)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "email",
            "--input",
            &b,
        ])
        .args(["--tokens", &tokens])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("tokens.txt") && stderr(&o).contains("line 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn quotas_and_the_audit_log() {
    let f = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    f.write("a.csv", "id,email\n1,ann@x.org\n2,bob@x.org\n3,cy@x.org\n");
    let b = f.write("b.csv", "id,email\n7,bob@x.org\n8,cy@x.org\n9,dee@x.org\n");
    let tokens = f.path("tokens.txt");
    let added = Command::new(PSI)
        .args(["token", "add", "--name", "partner-a", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    let token = String::from_utf8(added.stdout).unwrap().trim().to_string();
    let token_file = f.write("token.txt", &token);
    let audit = f.path("audit.jsonl");
    let (tokens, audit_arg) = (
        tokens.to_string_lossy().into_owned(),
        audit.to_string_lossy().into_owned(),
    );
    let s = serve(&[
        "--input",
        &b,
        "--key",
        "email",
        "--tokens",
        &tokens,
        "--max-items-per-day",
        "4",
        "--audit-log",
        &audit_arg,
    ]);
    let ok = run(&s.url, &f, &["--token-file", &token_file]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // Three more items would pass the four a day.
    let refused = run(&s.url, &f, &["--token-file", &token_file]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("quota_exceeded") && stderr(&refused).contains("items per day"),
        "{}",
        stderr(&refused)
    );
    // The audit log has the session, with who and how much, and no token.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = String::new();
    while std::time::Instant::now() < deadline {
        log = std::fs::read_to_string(&audit).unwrap_or_default();
        if !log.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = &lines[0];
    assert_eq!(line["partner"], "token partner-a");
    assert_eq!(line["kind"], "session");
    assert_eq!(line["mode"], "intersection");
    assert_eq!(line["client_set_size"], 3);
    assert_eq!(line["server_set_size"], 3);
    assert_eq!(line["outcome"], "ok");
    assert!(line["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(line["bytes_received"].as_u64().unwrap() > 0);
    assert!(!log.contains(&token[4..]));
}
