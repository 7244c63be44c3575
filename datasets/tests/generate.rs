//! End-to-end tests of `generate`: read the CSV back and compare it with the
//! plaintext answer computed from `person`.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::io;

use psi_datasets::{generate, generate_files, person, Error, GenConfig, COLUMNS, PHONE_CAPACITY};

const HEADER: &str = "id,given_name,surname,email,phone,date_of_birth,postcode";

fn config(rows_a: u64, rows_b: u64, overlap: u64, seed: u64) -> GenConfig {
    GenConfig {
        rows_a,
        rows_b,
        overlap,
        seed,
        noise: 0.0,
        with_value: false,
    }
}

fn tables(config: &GenConfig) -> (Vec<u8>, Vec<u8>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let summary = generate(config, &mut a, &mut b).unwrap();
    assert_eq!(
        (summary.rows_a, summary.rows_b, summary.overlap),
        (config.rows_a, config.rows_b, config.overlap)
    );
    (a, b)
}

/// Header and records of a table, read back with the csv crate.
fn read(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

fn emails(bytes: &[u8]) -> Vec<String> {
    let (header, rows) = read(bytes);
    let e = column(&header, "email");
    rows.into_iter().map(|mut r| r.swap_remove(e)).collect()
}

#[test]
fn header_and_row_counts() {
    for (rows_a, rows_b, overlap) in [
        (0, 0, 0),
        (1, 0, 0),
        (0, 5, 0),
        (10, 7, 7),
        (1_000, 2_500, 300),
    ] {
        let (a, b) = tables(&config(rows_a, rows_b, overlap, 1));
        for (bytes, rows, prefix) in [(&a, rows_a, "A-"), (&b, rows_b, "B-")] {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(text.starts_with(&format!("{HEADER}\n")), "{text:.100}");
            assert_eq!(text.lines().count() as u64, 1 + rows);
            let (header, records) = read(bytes);
            assert_eq!(header, COLUMNS);
            assert!(records
                .iter()
                .all(|r| r.len() == 7 && r[0].starts_with(prefix)));
            let ids: HashSet<_> = records.iter().map(|r| &r[0]).collect();
            assert_eq!(ids.len() as u64, rows, "ids are unique");
        }
    }
}

#[test]
fn zero_rows_write_just_the_header() {
    let (a, b) = tables(&config(0, 0, 0, 9));
    assert_eq!(a, format!("{HEADER}\n").into_bytes());
    assert_eq!(b, a);
    let mut with_value = config(0, 0, 0, 9);
    with_value.with_value = true;
    let (a, _) = tables(&with_value);
    assert_eq!(a, format!("{HEADER},spend\n").into_bytes());
}

#[test]
fn emails_are_unique_and_exactly_overlap_are_shared() {
    for (rows_a, rows_b, overlap, seed) in [
        (2_000, 3_000, 700, 1),
        (3_000, 2_000, 0, 2),
        (1_500, 1_500, 1_500, 3),
        (1, 4_000, 1, 4),
        (4_000, 1, 1, 5),
    ] {
        let (a, b) = tables(&config(rows_a, rows_b, overlap, seed));
        let ea: HashSet<_> = emails(&a).into_iter().collect();
        let eb: HashSet<_> = emails(&b).into_iter().collect();
        assert_eq!(ea.len() as u64, rows_a, "A's emails are unique");
        assert_eq!(eb.len() as u64, rows_b, "B's emails are unique");
        let shared: HashSet<_> = ea.intersection(&eb).cloned().collect();
        assert_eq!(shared.len() as u64, overlap);
        // And they are exactly the persons rows_a - overlap .. rows_a.
        let expected: HashSet<_> = (rows_a - overlap..rows_a)
            .map(|i| person(seed, i).email)
            .collect();
        assert_eq!(shared, expected);
    }
}

#[test]
fn rows_match_person_and_are_shuffled() {
    let mut c = config(4_000, 3_000, 1_000, 11);
    c.with_value = true;
    let (a, b) = tables(&c);
    let (header, rows_a) = read(&a);
    assert_eq!(header.last().unwrap(), "spend");
    let email = column(&header, "email");
    let by_email: HashMap<_, _> = (0..5_000)
        .map(|i| person(11, i))
        .map(|p| (p.email.clone(), p))
        .collect();
    let mut shared_positions = Vec::new();
    for (r, row) in rows_a.iter().enumerate() {
        let p = &by_email[&row[email]];
        let expected = [
            p.given_name.clone(),
            p.surname.clone(),
            p.email.clone(),
            p.phone.clone(),
            p.date_of_birth.clone(),
            p.postcode.clone(),
            p.spend.to_string(),
        ];
        assert_eq!(&row[1..], expected);
        if p.id >= 3_000 {
            shared_positions.push(r);
        }
    }
    // Shared rows are spread over A, not bunched at its end.
    assert_eq!(shared_positions.len(), 1_000);
    let in_first_half = shared_positions.iter().filter(|&&r| r < 2_000).count();
    assert!((400..600).contains(&in_first_half), "{in_first_half}");

    // A shared person's row is identical in B apart from the id, and the ids
    // do not line up.
    let (_, rows_b) = read(&b);
    let b_by_email: HashMap<_, _> = rows_b.iter().map(|r| (&r[email], r)).collect();
    let mut same_row_number = 0;
    for row in &rows_a {
        if let Some(other) = b_by_email.get(&row[email]) {
            assert_eq!(row[1..], other[1..]);
            same_row_number += usize::from(row[0][2..] == other[0][2..]);
        }
    }
    assert!(same_row_number < 10, "{same_row_number}");
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let c = config(500, 600, 200, 77);
    assert_eq!(tables(&c), tables(&c));
    let (a1, b1) = tables(&c);
    let (a2, b2) = tables(&config(500, 600, 200, 78));
    assert_ne!(a1, a2);
    assert_ne!(b1, b2);
}

#[test]
fn invalid_configs_are_errors_and_write_nothing() {
    let cases = [
        (config(10, 5, 6, 0), "overlap"),
        (config(5, 10, 6, 0), "overlap"),
        (config(0, 0, 1, 0), "overlap"),
        (config(u64::MAX, u64::MAX, 0, 0), "persons"),
        (config(PHONE_CAPACITY, 1, 0, 0), "persons"),
        (
            GenConfig {
                noise: 1.5,
                ..config(10, 10, 5, 0)
            },
            "noise",
        ),
        (
            GenConfig {
                noise: f64::NAN,
                ..config(10, 10, 5, 0)
            },
            "noise",
        ),
    ];
    for (c, word) in cases {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let err = generate(&c, &mut a, &mut b).unwrap_err();
        assert!(err.to_string().contains(word), "{err}");
        assert!(a.is_empty() && b.is_empty());
    }
    let err = generate(&config(10, 5, 6, 0), io::sink(), io::sink()).unwrap_err();
    assert!(matches!(
        err,
        Error::OverlapExceedsRows {
            overlap: 6,
            rows_a: 10,
            rows_b: 5
        }
    ));
}

#[test]
fn noise_changes_exactly_the_chosen_shared_rows_of_b() {
    let clean = config(3_000, 2_000, 1_000, 5);
    let (a0, b0) = tables(&clean);
    for noise in [0.001, 0.3, 1.0] {
        let (a1, b1) = tables(&GenConfig {
            noise,
            ..clean.clone()
        });
        assert_eq!(a0, a1, "A never gets noise");
        let (header, rows0) = read(&b0);
        let (_, rows1) = read(&b1);
        assert_eq!(rows0.len(), rows1.len());
        let shared: HashSet<_> = (2_000..3_000).map(|i| person(5, i).email).collect();
        let email = column(&header, "email");
        let mut changed = 0;
        for (r0, r1) in rows0.iter().zip(&rows1) {
            assert_eq!(r0[0], r1[0], "ids and row order are unchanged");
            if r0 != r1 {
                changed += 1;
                assert!(shared.contains(&r0[email]), "only shared rows change");
            }
        }
        assert_eq!(
            changed,
            (noise * 1_000.0_f64).round() as usize,
            "noise {noise}"
        );
        let ids: HashSet<_> = rows1.iter().map(|r| &r[0]).collect();
        assert_eq!(ids.len(), 2_000);
        let emails: HashSet<_> = rows1.iter().map(|r| &r[email]).collect();
        assert_eq!(emails.len(), 2_000, "emails stay unique under noise");
    }
}

#[test]
fn noise_covers_every_kind_of_change() {
    let c = GenConfig {
        noise: 1.0,
        ..config(2_000, 2_000, 2_000, 8)
    };
    let (a, b) = tables(&c);
    let (header, rows_a) = read(&a);
    let (_, rows_b) = read(&b);
    // Match rows by the index at the end of the email's local part, which
    // survives case changes.
    let key = |r: &Vec<String>| {
        let e = r[column(&header, "email")].to_lowercase();
        e.split_once('@').unwrap().0.to_owned()
    };
    let a_by_key: HashMap<_, _> = rows_a.iter().map(|r| (key(r), r)).collect();
    let mut changed_columns = [0usize; 7];
    for rb in &rows_b {
        let ra = a_by_key[&key(rb)];
        assert_ne!(ra[1..], rb[1..]);
        for (c, slot) in changed_columns.iter_mut().enumerate().skip(1) {
            *slot += usize::from(ra[c] != rb[c]);
        }
    }
    assert!(
        changed_columns[1..].iter().all(|&n| n > 50),
        "{changed_columns:?}"
    );
}

#[test]
fn generate_files_writes_both_files_and_names_bad_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let c = config(100, 120, 30, 3);
    let summary = generate_files(&c, &pa, &pb).unwrap();
    assert_eq!(summary.overlap, 30);
    let (a, b) = tables(&c);
    assert_eq!(std::fs::read(&pa).unwrap(), a);
    assert_eq!(std::fs::read(&pb).unwrap(), b);

    let missing = dir.path().join("no-such-dir").join("a.csv");
    let err = generate_files(&c, &missing, &pb).unwrap_err();
    assert!(matches!(err, Error::CreateFile { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

/// A writer that fails after `budget` bytes.
struct Failing {
    budget: usize,
}

impl io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::other("disk full"));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_name_the_party() {
    let c = config(10_000, 10_000, 10, 1);
    let err = generate(&c, Vec::new(), Failing { budget: 100_000 }).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Write {
                party: psi_datasets::Party::B,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("disk full"), "{err}");
}

/// `cargo test --release -p psi-datasets --test generate -- --ignored --nocapture`
#[test]
#[ignore = "timing; run in release"]
fn throughput() {
    let rows = 2_000_000;
    let c = GenConfig {
        with_value: true,
        ..config(rows, rows, rows / 2, 1)
    };
    let report = |what: &str, start: std::time::Instant| {
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{what}: 2 x {rows} rows in {secs:.2} s = {:.2} M rows/s (sides are written one after the other)",
            2.0 * rows as f64 / secs / 1e6
        );
    };
    let start = std::time::Instant::now();
    generate(&c, io::sink(), io::sink()).unwrap();
    report("to io::sink", start);

    let noisy = GenConfig {
        noise: 0.2,
        ..c.clone()
    };
    let start = std::time::Instant::now();
    generate(&noisy, io::sink(), io::sink()).unwrap();
    report("noise 0.2, to io::sink", start);

    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let start = std::time::Instant::now();
    generate_files(&c, &pa, &pb).unwrap();
    report("to files", start);
    let bytes = std::fs::metadata(&pa).unwrap().len();
    println!("{:.1} bytes per row", bytes as f64 / rows as f64);
}

/// Known answers: the output is a published function of the seed, so any
/// change to it must be deliberate (update these lines and say so in the
/// commit message).
#[test]
fn known_answer() {
    let (a, b) = tables(&GenConfig {
        noise: 0.5,
        with_value: true,
        ..config(4, 3, 2, 1)
    });
    let a = String::from_utf8(a).unwrap();
    let b = String::from_utf8(b).unwrap();
    assert_eq!(
        a,
        "id,given_name,surname,email,phone,date_of_birth,postcode,spend\n\
         A-000000,Morag,Lawrence,lawrence.morag2@mail.example,+44 7402 752791,1958-06-29,NR12 0BJ,749967\n\
         A-000001,Samuel,Graham,samuel.graham9@example.net,+44 7189 236692,1967-03-31,IP12 9GN,231\n\
         A-000002,Harper,Griffiths,harper.griffiths8@inbox.example,+44 7582 830859,1988-01-24,B5 2UJ,2771\n\
         A-000003,Isla,Martin,imartin5@example.org,+44 7709 933485,1944-06-08,GU14 5RF,98892\n"
    );
    assert_eq!(
        b,
        "id,given_name,surname,email,phone,date_of_birth,postcode,spend\n\
         B-000000,Harper,Griffiths,harper.griffiths8@inbox.example,+44 7582 830859,1988-01-24,B5 2UJ,2771\n\
         B-000001,Samuel,Graham,samuel.graham9@example.net,0044 7189 236692,1967-03-31,IP12 9GN,231\n\
         B-000002,Harry,Atkinson,hatkinson6@example.com,+44 7417 403441,1997-06-20,E4 4EU,76638\n"
    );
}
