//! `psi encode` and `psi match` through the real binary: the links equal a
//! naive all-pairs Dice computation on the encodings the binary wrote,
//! groups for three owners, empty inputs, and every refusal names what is
//! wrong and leaves no output behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::PSI;
use psi_fuzzy::{at_least, intersection_portable, Encodings, Threshold};

const SPEC: &str = r#"{"fields": [
    {"column": "given_name", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "surname", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "date_of_birth", "profile": "digits", "comparator": "digits", "weight": 2},
    {"column": "postcode", "profile": "postcode", "comparator": "ngram2"}],
  "bits_per_feature": 9}"#;

fn psi(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(PSI)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "psi failed: {stderr}");
    stderr
}

fn fails(out: Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let d = Dir {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::write(d.p("spec.json"), SPEC).unwrap();
        std::fs::write(d.p("secret"), "0123456789abcdef0123456789abcdef\n").unwrap();
        d
    }

    fn p(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn gen(&self, rows: u32, overlap: u32) {
        ok(psi(&[
            &"gen",
            &"--rows-a",
            &rows.to_string(),
            &"--rows-b",
            &rows.to_string(),
            &"--overlap",
            &overlap.to_string(),
            &"--noise",
            &"0.5",
            &"--out-a",
            &self.p("a.csv"),
            &"--out-b",
            &self.p("b.csv"),
        ]));
    }

    fn encode(&self, input: &str, output: &str) -> Output {
        psi(&[
            &"encode",
            &"--spec",
            &self.p("spec.json"),
            &"--secret-file",
            &self.p("secret"),
            &"--input",
            &self.p(input),
            &"--output",
            &self.p(output),
        ])
    }
}

/// The naive answer: every pair's Dice on the files' bits, then greedy one
/// to one (best first, ties to lower rows).
fn naive_links(a: &Encodings, b: &Encodings, t: f64) -> Vec<(u32, u32)> {
    let th = Threshold::new(t);
    let mut pairs = Vec::new();
    for i in 0..a.len() {
        for j in 0..b.len() {
            let (pa, pb) = (a.popcounts()[i], b.popcounts()[j]);
            let inter = intersection_portable(a.row(i), b.row(j));
            if pa > 0 && pb > 0 && at_least(inter, pa + pb, th) {
                pairs.push((inter, pa + pb, i as u32, j as u32));
            }
        }
    }
    pairs.sort_by(|x, y| {
        (u64::from(y.0) * u64::from(x.1))
            .cmp(&(u64::from(x.0) * u64::from(y.1)))
            .then((x.2, x.3).cmp(&(y.2, y.3)))
    });
    let (mut ta, mut tb) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let mut out = Vec::new();
    for (_, _, i, j) in pairs {
        if !ta.contains(&i) && !tb.contains(&j) {
            ta.insert(i);
            tb.insert(j);
            out.push((i, j));
        }
    }
    out.sort();
    out
}

fn read_links(path: &Path) -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("a_row,b_row,similarity"));
    let mut out: Vec<(u32, u32)> = lines
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn links_equal_the_naive_answer() {
    let d = Dir::new();
    d.gen(400, 250);
    ok(d.encode("a.csv", "a.enc"));
    ok(d.encode("b.csv", "b.enc"));
    let a = Encodings::read(&d.p("a.enc")).unwrap();
    let b = Encodings::read(&d.p("b.enc")).unwrap();
    assert_eq!((a.len(), b.len()), (400, 400));
    for (t, blocking) in [(0.8, "none"), (0.9, "auto"), (0.7, "none"), (1.0, "none")] {
        ok(psi(&[
            &"match",
            &"--threshold",
            &t.to_string(),
            &d.p("a.enc"),
            &d.p("b.enc"),
            &"--blocking",
            &blocking,
            &"--output",
            &d.p("links.csv"),
        ]));
        let got = read_links(&d.p("links.csv"));
        assert_eq!(got, naive_links(&a, &b, t), "threshold {t}");
        if t == 0.8 {
            // 250 shared people, half with a typo or format change: most are found.
            assert!(got.len() >= 225 && got.len() <= 260, "{}", got.len());
        }
    }
}

#[test]
fn three_owners_make_groups() {
    let d = Dir::new();
    d.gen(100, 60);
    ok(d.encode("a.csv", "a.enc"));
    ok(d.encode("b.csv", "b.enc"));
    ok(d.encode("a.csv", "c.enc"));
    ok(psi(&[
        &"match",
        &"--threshold",
        &"0.8",
        &d.p("a.enc"),
        &d.p("b.enc"),
        &d.p("c.enc"),
        &"--output",
        &d.p("groups.csv"),
    ]));
    let text = std::fs::read_to_string(d.p("groups.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("group,owner,row"));
    let rows: Vec<(u32, u32, u32)> = lines
        .map(|l| {
            let f: Vec<u32> = l.split(',').map(|x| x.parse().unwrap()).collect();
            (f[0], f[1], f[2])
        })
        .collect();
    // Owner 2 is a copy of owner 0: every row of owner 0 is grouped with
    // the same row of owner 2, and no group has two rows of one owner.
    let groups = rows.iter().map(|r| r.0).max().unwrap() + 1;
    assert_eq!(groups, 100);
    for g in 0..groups {
        let members: Vec<&(u32, u32, u32)> = rows.iter().filter(|r| r.0 == g).collect();
        let row0 = members.iter().find(|r| r.1 == 0).unwrap().2;
        assert_eq!(members.iter().find(|r| r.1 == 2).unwrap().2, row0);
        let mut owners: Vec<u32> = members.iter().map(|r| r.1).collect();
        owners.dedup();
        assert_eq!(owners.len(), members.len());
    }
    assert!(rows.iter().filter(|r| r.1 == 1).count() >= 55);
}

#[test]
fn empty_tables_link_nothing() {
    let d = Dir::new();
    std::fs::write(
        d.p("empty.csv"),
        "given_name,surname,date_of_birth,postcode\n",
    )
    .unwrap();
    d.gen(20, 10);
    ok(d.encode("empty.csv", "e.enc"));
    ok(d.encode("a.csv", "a.enc"));
    ok(psi(&[
        &"match",
        &"--threshold",
        &"0.8",
        &d.p("e.enc"),
        &d.p("a.enc"),
        &"--output",
        &d.p("links.csv"),
    ]));
    assert_eq!(
        std::fs::read_to_string(d.p("links.csv")).unwrap(),
        "a_row,b_row,similarity\n"
    );
}

#[test]
fn refusals_name_what_is_wrong_and_write_nothing() {
    let d = Dir::new();
    d.gen(30, 10);
    ok(d.encode("a.csv", "a.enc"));
    // Another spec: refused before any comparison.
    std::fs::write(
        d.p("spec.json"),
        SPEC.replace("\"weight\": 2}", "\"weight\": 3}"),
    )
    .unwrap();
    ok(d.encode("b.csv", "b.enc"));
    let err = fails(psi(&[
        &"match",
        &"--threshold",
        &"0.8",
        &d.p("a.enc"),
        &d.p("b.enc"),
        &"--output",
        &d.p("links.csv"),
    ]));
    assert!(
        err.contains("different specs") && err.contains("b.enc"),
        "{err}"
    );
    assert!(!d.p("links.csv").exists());

    // A spec error names the key.
    std::fs::write(
        d.p("spec.json"),
        r#"{"fields": [{"column": "surname", "comparator": "soundex"}]}"#,
    )
    .unwrap();
    let err = fails(d.encode("a.csv", "x.enc"));
    assert!(err.contains("fields[0].comparator"), "{err}");
    // A missing column names the file and the column.
    std::fs::write(d.p("spec.json"), r#"{"fields": [{"column": "nickname"}]}"#).unwrap();
    let err = fails(d.encode("a.csv", "x.enc"));
    assert!(err.contains("nickname") && err.contains("a.csv"), "{err}");
    assert!(!d.p("x.enc").exists());
    // A short secret.
    std::fs::write(d.p("spec.json"), SPEC).unwrap();
    std::fs::write(d.p("secret"), "short\n").unwrap();
    let err = fails(d.encode("a.csv", "x.enc"));
    assert!(err.contains("shorter than 16 bytes"), "{err}");
    // A file that is not an encodings file; a threshold out of range.
    let err = fails(psi(&[
        &"match",
        &"--threshold",
        &"0.8",
        &d.p("a.csv"),
        &d.p("a.enc"),
        &"--output",
        &d.p("links.csv"),
    ]));
    assert!(err.contains("not an encodings file"), "{err}");
    let err = fails(psi(&[
        &"match",
        &"--threshold",
        &"1.5",
        &d.p("a.enc"),
        &d.p("a.enc"),
        &"--output",
        &d.p("links.csv"),
    ]));
    assert!(err.contains("--threshold"), "{err}");
    assert!(!d.p("links.csv").exists());
}
