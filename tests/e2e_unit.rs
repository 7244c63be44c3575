//! The linkage unit of fuzzy linkage through the real binaries: `psi serve
//! --role linkage-unit` with partner tokens, two owners `psi submit` their
//! encodings at once, each gets only its own rows, and joined on the link
//! ids their links are exactly `psi match`'s on the same files; a third
//! partner, a second upload and encodings of another spec are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Server, PSI};

const SPEC: &str = r#"{"fields": [
    {"column": "given_name", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "surname", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "date_of_birth", "profile": "digits", "comparator": "digits", "weight": 2}],
  "bits_per_feature": 9}"#;

fn psi<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(PSI).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "psi failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Adds a partner to the token file; writes its token to `NAME.token`.
    fn partner(&self, name: &str) -> PathBuf {
        let token = ok(psi([
            OsString::from("token"),
            "add".into(),
            "--name".into(),
            name.into(),
            "--tokens".into(),
            self.p("tokens.txt").into(),
        ]));
        let path = self.p(&format!("{name}.token"));
        std::fs::write(&path, token.trim()).unwrap();
        path
    }

    fn encode(&self, spec: &str, input: &str, output: &str) {
        let spec_path = self.p("spec.json");
        std::fs::write(&spec_path, spec).unwrap();
        ok(psi([
            OsString::from("encode"),
            "--spec".into(),
            spec_path.into(),
            "--secret-file".into(),
            self.p("secret").into(),
            "--input".into(),
            self.p(input).into(),
            "--output".into(),
            self.p(output).into(),
        ]));
    }

    fn unit(&self, owners: &str) -> Server {
        Server::spawn(&[
            "--role".into(),
            "linkage-unit".into(),
            "--owners".into(),
            owners.into(),
            "--threshold".into(),
            "0.8".into(),
            "--tokens".into(),
            self.p("tokens.txt").into(),
        ])
    }

    fn submit(&self, url: &str, who: &str, encodings: &str, output: &str) -> Command {
        let mut c = Command::new(PSI);
        c.args(["submit", "--peer", url, "--wait", "60", "--encodings"])
            .arg(self.p(encodings))
            .arg("--output")
            .arg(self.p(output))
            .arg("--token-file")
            .arg(self.p(&format!("{who}.token")));
        c
    }
}

/// How many owners have uploaded, as the unit tells `who` while waiting.
fn uploaded(url: &str, token_file: &Path) -> u64 {
    use std::io::{Read, Write};
    let token = std::fs::read_to_string(token_file).unwrap();
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /v1/unit/result HTTP/1.1\r\nHost: {addr}\r\nx-psi-wire-version: 2\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.trim()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["uploaded"].as_u64())
        .unwrap_or(0)
}

fn links(path: &Path) -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,link_id"));
    lines
        .map(|l| {
            let (row, id) = l.split_once(',').unwrap();
            (id.to_string(), row.parse().unwrap())
        })
        .collect()
}

#[test]
fn owners_get_their_own_links_and_they_equal_psi_match() {
    let f = Fixture {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::write(f.p("secret"), "0123456789abcdef0123456789abcdef\n").unwrap();
    ok(psi([
        OsString::from("gen"),
        "--rows-a".into(),
        "300".into(),
        "--rows-b".into(),
        "300".into(),
        "--overlap".into(),
        "200".into(),
        "--noise".into(),
        "0.5".into(),
        "--out-a".into(),
        f.p("a.csv").into(),
        "--out-b".into(),
        f.p("b.csv").into(),
    ]));
    f.encode(SPEC, "a.csv", "a.enc");
    f.encode(SPEC, "b.csv", "b.enc");
    for who in ["alice", "bob", "carol"] {
        f.partner(who);
    }
    let server = f.unit("alice,bob");
    // Both owners at once: each waits for the other.
    let mut alice = f
        .submit(&server.url, "alice", "a.enc", "alice.csv")
        .spawn()
        .unwrap();
    let bob = f
        .submit(&server.url, "bob", "b.enc", "bob.csv")
        .output()
        .unwrap();
    assert!(
        bob.status.success(),
        "{}",
        String::from_utf8_lossy(&bob.stderr)
    );
    assert!(alice.wait().unwrap().success());

    // Joined on the link ids, the two owners' links are psi match's pairs.
    let (la, lb) = (links(&f.p("alice.csv")), links(&f.p("bob.csv")));
    assert_eq!(la.len(), lb.len());
    let mut joined: Vec<(u32, u32)> = la.iter().map(|(id, a)| (*a, lb[id])).collect();
    joined.sort();
    ok(psi([
        OsString::from("match"),
        "--threshold".into(),
        "0.8".into(),
        f.p("a.enc").into(),
        f.p("b.enc").into(),
        "--output".into(),
        f.p("match.csv").into(),
    ]));
    let text = std::fs::read_to_string(f.p("match.csv")).unwrap();
    let want: Vec<(u32, u32)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            (v[0].parse().unwrap(), v[1].parse().unwrap())
        })
        .collect();
    assert_eq!(joined, want);
    assert!(joined.len() >= 150, "{}", joined.len());

    // Someone who is not an owner, and a second upload, are refused.
    let carol = f
        .submit(&server.url, "carol", "a.enc", "carol.csv")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&carol.stderr);
    assert!(
        !carol.status.success() && err.contains("not_an_owner"),
        "{err}"
    );
    let again = f
        .submit(&server.url, "alice", "a.enc", "again.csv")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && err.contains("already"), "{err}");
    assert!(!f.p("carol.csv").exists() && !f.p("again.csv").exists());

    // Encodings of another spec are refused before any comparison.
    let other = f.unit("alice,bob");
    f.encode(
        &SPEC.replace("\"weight\": 2}", "\"weight\": 3}"),
        "b.csv",
        "b2.enc",
    );
    let mut alice = f
        .submit(&other.url, "alice", "a.enc", "a2.csv")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while uploaded(&other.url, &f.p("alice.token")) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's upload never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let bob = f
        .submit(&other.url, "bob", "b2.enc", "b2.csv")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bob.stderr);
    assert!(
        !bob.status.success() && err.contains("another spec"),
        "{err}"
    );
    let _ = alice.kill();
    let _ = alice.wait();
}
