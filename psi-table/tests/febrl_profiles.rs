//! FEBRL 4 (`febrl4a.csv`, `febrl4b.csv`): both files read with the `name`
//! and `date` profiles, and the exact matches among the true pairs
//! (`rec-<n>-org` in A is `rec-<n>-dup-0` in B) on the normalised key against
//! the raw key. The files are found in `$PSI_FEBRL_DIR`, else in
//! `../../shared/data` from this crate; without them the test prints
//! `SKIPPED` and passes.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use psi_core::Item;
use psi_table::{KeySpec, KeyedTable};

fn febrl_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PSI_FEBRL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    (dir.join("febrl4a.csv").is_file() && dir.join("febrl4b.csv").is_file()).then_some(dir)
}

/// The person number of each data row (`rec-1070-org` → `1070`).
fn person_ids(path: &Path) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .unwrap();
    let col = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "rec_id")
        .unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            r[col].split('-').nth(1).unwrap().to_string()
        })
        .collect()
}

/// The key item of each data row (`None` for an empty or invalid key).
fn row_keys(t: &KeyedTable) -> Vec<Option<Item>> {
    (0..t.stats().rows as usize)
        .map(|row| t.row_item(row).map(|i| t.items()[i]))
        .collect()
}

/// How many true pairs carry the same key on both sides.
fn true_pairs_matching(a: &Path, b: &Path, spec: &str) -> (usize, usize, KeyedTable, KeyedTable) {
    let spec = KeySpec::parse(spec).unwrap();
    let (ta, tb) = (
        KeyedTable::read(a, &spec).unwrap(),
        KeyedTable::read(b, &spec).unwrap(),
    );
    let (ka, kb) = (row_keys(&ta), row_keys(&tb));
    let (ia, ib) = (person_ids(a), person_ids(b));
    let b_row: HashMap<&str, usize> = ib
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let mut pairs = 0;
    let mut matching = 0;
    for (row, person) in ia.iter().enumerate() {
        if let Some(&other) = b_row.get(person.as_str()) {
            pairs += 1;
            if ka[row].is_some() && ka[row] == kb[other] {
                matching += 1;
            }
        }
    }
    (pairs, matching, ta, tb)
}

#[test]
fn febrl_normalised_key_matches_at_least_as_many_true_pairs_as_raw() {
    let Some(dir) = febrl_dir() else {
        println!("SKIPPED: FEBRL files not found (set PSI_FEBRL_DIR to the directory of febrl4a.csv and febrl4b.csv)");
        return;
    };
    let (a, b) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    let (pairs, raw, ..) = true_pairs_matching(&a, &b, "given_name,surname,date_of_birth");
    let (pairs_n, normalised, ta, tb) =
        true_pairs_matching(&a, &b, "given_name:name,surname:name,date_of_birth:date");
    assert_eq!(pairs, pairs_n);
    for t in [&ta, &tb] {
        let s = t.stats();
        println!(
            "{}: {} rows, {} empty, {} invalid, {} distinct; per column {:?}; {} rejects",
            t.path().display(),
            s.rows,
            s.empty_key_rows,
            s.invalid_key_rows,
            s.distinct_keys,
            s.columns
                .iter()
                .map(|c| (c.name.as_str(), c.empty, c.invalid))
                .collect::<Vec<_>>(),
            t.rejects().len()
        );
    }
    println!(
        "FEBRL 4: {pairs} true pairs; exact matches on given_name,surname,date_of_birth: raw {raw}, normalised (name, name, date) {normalised}"
    );
    assert!(pairs > 0);
    assert!(normalised >= raw, "normalised {normalised} < raw {raw}");
}
