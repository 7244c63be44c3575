//! The private waterfall ([`psi_core::linkage`] through the in-memory driver)
//! against a naive plaintext waterfall on random tables: same pairs, ids that
//! agree on both sides, one-to-one. Includes empty tables, full overlap and
//! single keys with each duplicate policy.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use psi_core::driver::run_linkage;
use psi_core::linkage::{Duplicates, KeyColumn, Waterfall, NO_KEY};
use psi_core::{Item, Limits};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Rows × keys of values (0 = no key).
type Table = Vec<Vec<u32>>;

fn columns(t: &Table, keys: usize) -> Vec<KeyColumn> {
    (0..keys)
        .map(|k| {
            let mut col = KeyColumn::default();
            let mut index: HashMap<u32, u32> = HashMap::new();
            for row in t {
                let v = row[k];
                if v == 0 {
                    col.row_items.push(NO_KEY);
                    continue;
                }
                let next = col.items.len() as u32;
                let i = *index.entry(v).or_insert(next);
                if i == next {
                    let mut key = vec![k as u8];
                    key.extend_from_slice(&v.to_be_bytes());
                    col.items.push(Item::from_key(&key));
                }
                col.row_items.push(i);
            }
            col
        })
        .collect()
}

/// The plaintext rule: per key, values unique among free rows on both sides link.
fn naive(a: &Table, b: &Table, keys: usize) -> Vec<(usize, usize, usize)> {
    let mut a_free = vec![true; a.len()];
    let mut b_free = vec![true; b.len()];
    let mut pairs = Vec::new();
    for k in 0..keys {
        let count = |t: &Table, free: &[bool]| {
            let mut m: HashMap<u32, Vec<usize>> = HashMap::new();
            for (r, row) in t.iter().enumerate() {
                if free[r] && row[k] != 0 {
                    m.entry(row[k]).or_default().push(r);
                }
            }
            m
        };
        let (ca, cb) = (count(a, &a_free), count(b, &b_free));
        for (v, ra) in &ca {
            if let Some(rb) = cb.get(v) {
                if ra.len() == 1 && rb.len() == 1 {
                    a_free[ra[0]] = false;
                    b_free[rb[0]] = false;
                    pairs.push((ra[0], rb[0], k));
                }
            }
        }
    }
    pairs.sort();
    pairs
}

fn private(a: &Table, b: &Table, keys: usize, seed: u64) -> Vec<(usize, usize, usize)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let wa = Waterfall::new(columns(a, keys), Duplicates::Unique).unwrap();
    let wb = Waterfall::new(columns(b, keys), Duplicates::Unique).unwrap();
    let (wa, wb, _, _) = run_linkage(&mut rng, wa, wb, &Limits::default()).unwrap();
    let b_by_id: HashMap<[u8; 16], usize> = wb
        .links()
        .iter()
        .enumerate()
        .filter_map(|(r, l)| l.map(|l| (l.id, r)))
        .collect();
    assert_eq!(b_by_id.len() as u64, wb.linked_rows(), "ids are distinct");
    let mut pairs: Vec<(usize, usize, usize)> = wa
        .links()
        .iter()
        .enumerate()
        .filter_map(|(r, l)| {
            let l = (*l)?;
            let other = *b_by_id
                .get(&l.id)
                .expect("every A link has a B row with its id");
            Some((r, other, usize::from(l.step)))
        })
        .collect();
    assert_eq!(pairs.len() as u64, wb.linked_rows(), "one-to-one");
    pairs.sort();
    pairs
}

fn random_table(rng: &mut ChaCha20Rng, rows: usize, keys: usize, range: u32) -> Table {
    (0..rows)
        .map(|_| {
            (0..keys)
                .map(|_| {
                    if rng.random_bool(0.05) {
                        0
                    } else {
                        rng.random_range(1..=range)
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn private_waterfall_equals_plaintext_waterfall() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for (rows_a, rows_b, keys, range) in [
        (0, 0, 2, 10),
        (0, 20, 3, 10),
        (50, 60, 1, 40),
        (200, 150, 3, 120),
        (300, 300, 4, 400),
    ] {
        let a = random_table(&mut rng, rows_a, keys, range);
        let b = random_table(&mut rng, rows_b, keys, range);
        assert_eq!(
            private(&a, &b, keys, rows_a as u64),
            naive(&a, &b, keys),
            "{rows_a} x {rows_b} rows, {keys} keys"
        );
    }
}

#[test]
fn full_overlap_links_every_row_at_the_first_key() {
    let a: Table = (1..=500).map(|v| vec![v, v + 1000]).collect();
    let mut b = a.clone();
    b.reverse();
    let pairs = private(&a, &b, 2, 1);
    assert_eq!(pairs.len(), 500);
    assert!(pairs.iter().all(|&(ra, rb, k)| k == 0 && ra + rb == 499));
}

#[test]
fn single_key_policies_through_the_protocol() {
    let a: Table = vec![vec![5], vec![5], vec![6], vec![0]];
    let b: Table = vec![vec![5], vec![6], vec![8]];
    for (policy, expect) in [
        (Duplicates::All, vec![true, true, true, false]),
        (Duplicates::First, vec![true, false, true, false]),
        (Duplicates::Unique, vec![false, false, true, false]),
    ] {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let wa = Waterfall::new(columns(&a, 1), policy).unwrap();
        let wb = Waterfall::new(columns(&b, 1), Duplicates::Unique).unwrap();
        let (wa, wb, _, _) = run_linkage(&mut rng, wa, wb, &Limits::default()).unwrap();
        let got: Vec<bool> = wa.links().iter().map(Option::is_some).collect();
        assert_eq!(got, expect, "{policy:?}");
        let b_linked: Vec<bool> = wb.links().iter().map(Option::is_some).collect();
        let expect_b = if policy == Duplicates::Unique {
            vec![false, true, false]
        } else {
            vec![true, true, false]
        };
        assert_eq!(b_linked, expect_b, "{policy:?}");
    }
}
