//! Record linkage over a waterfall of keys ([`LinkageSpec`]): reading all the
//! keys of a table in one pass ([`LinkageTable`]), and a plaintext evaluator
//! ([`waterfall_match_plain`]) that says what the waterfall would link, so
//! that profiles and key choices can be measured honestly on labelled data
//! (FEBRL) without any cryptography.
//!
//! # The waterfall, exactly
//! Keys are tried in priority order. At each key, only rows not yet linked
//! by an earlier key take part, on both sides. A key value links a pair of
//! rows only if it occurs on exactly one taking-part row on each side: a
//! value that occurs on two or more remaining rows of either side is
//! *ambiguous* and skipped (counted), never resolved by guessing. So the
//! result is one-to-one, and a row's link comes from the first key that
//! identifies it uniquely. Because ambiguity is judged among the remaining
//! rows, a value ambiguous at one key can become usable on a later key once
//! its other rows have been linked.
//!
//! The same rule can be run under PSI, step by step: each party offers, per
//! key, the keys of its still-unlinked rows that are unique on its side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use psi_core::Item;

use crate::rejects::csv_field;
use crate::{read_keys, write_atomically, Error, KeyedTable, LinkageSpec, Reject, NO_KEY};

/// A table read with every key of a [`LinkageSpec`] in one streaming pass.
#[derive(Debug, Clone)]
pub struct LinkageTable {
    path: PathBuf,
    spec: LinkageSpec,
    keys: Vec<KeyedTable>,
}

impl LinkageTable {
    /// Reads `path` once, normalising and encoding each key of `spec`.
    pub fn read(path: &Path, spec: &LinkageSpec) -> Result<Self, Error> {
        let keys = read_keys(path, spec.keys())?;
        Ok(LinkageTable {
            path: path.to_path_buf(),
            spec: spec.clone(),
            keys,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The spec it was read with.
    pub fn spec(&self) -> &LinkageSpec {
        &self.spec
    }

    /// One keyed table per key of the spec, in priority order (each with its
    /// own items, counts and rejections).
    pub fn keys(&self) -> &[KeyedTable] {
        &self.keys
    }

    /// Data rows.
    pub fn rows(&self) -> usize {
        self.keys.first().map_or(0, |k| k.row_items.len())
    }

    /// Every key's rejects as (key index, reject), by line, then key.
    pub fn rejects(&self) -> Vec<(usize, &Reject)> {
        let mut all: Vec<(usize, &Reject)> = self
            .keys
            .iter()
            .enumerate()
            .flat_map(|(k, t)| t.rejects().iter().map(move |r| (k, r)))
            .collect();
        all.sort_by_key(|(k, r)| (r.line, *k));
        all
    }

    /// Writes every key's rejects to `output` as CSV `line,key,column,reason`
    /// (keys numbered from 1), atomically; returns how many.
    pub fn write_rejects(&self, output: &Path) -> Result<u64, Error> {
        let all = self.rejects();
        let mut text = String::from("line,key,column,reason\n");
        for (k, r) in &all {
            text.push_str(&format!(
                "{},{},{},{}\n",
                r.line,
                k + 1,
                csv_field(&r.column),
                csv_field(r.reason)
            ));
        }
        write_atomically(output, text.as_bytes())?;
        Ok(all.len() as u64)
    }
}

/// One linked pair of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkedPair {
    /// 0-based data row in table A.
    pub a_row: usize,
    /// 0-based data row in table B.
    pub b_row: usize,
    /// Index of the key that linked them.
    pub key: usize,
}

/// What one key of the waterfall did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Pairs linked by this key.
    pub linked: u64,
    /// Distinct key values skipped because several remaining rows of A
    /// carry them (and B has the value).
    pub ambiguous_a: u64,
    /// Distinct key values skipped because several remaining rows of B
    /// carry them (and A has the value).
    pub ambiguous_b: u64,
}

/// The result of a waterfall linkage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linkage {
    /// The pairs, in the order they were linked (by key, then by A row).
    pub pairs: Vec<LinkedPair>,
    /// Per key of the spec.
    pub steps: Vec<StepStats>,
}

/// Links rows of `a` and `b` by the waterfall `spec`, in plaintext (see the
/// module doc for the rule). Both tables must have been read with a spec of
/// the same fingerprint as `spec` (column names may differ); otherwise the
/// error explains the difference.
pub fn waterfall_match_plain(
    a: &LinkageTable,
    b: &LinkageTable,
    spec: &LinkageSpec,
) -> Result<Linkage, Error> {
    for t in [a, b] {
        if t.spec.fingerprint() != spec.fingerprint() {
            return Err(Error::SpecMismatch {
                path: t.path.clone(),
                differences: spec.explain_difference(&t.spec).join("; "),
            });
        }
    }
    let mut a_free = vec![true; a.rows()];
    let mut b_free = vec![true; b.rows()];
    let mut out = Linkage::default();
    for (k, (ka, kb)) in a.keys.iter().zip(&b.keys).enumerate() {
        let mut step = StepStats::default();
        // Per distinct item of B: (remaining rows carrying it, last such row).
        let b_rows = remaining_rows(kb, &b_free);
        let b_by_item: HashMap<Item, (u32, usize)> = kb
            .items
            .iter()
            .zip(&b_rows)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(item, &(n, row))| (*item, (n, row)))
            .collect();
        let a_rows = remaining_rows(ka, &a_free);
        for (item, &(n, a_row)) in ka.items.iter().zip(&a_rows) {
            if n == 0 {
                continue;
            }
            let Some(&(m, b_row)) = b_by_item.get(item) else {
                continue;
            };
            if n > 1 {
                step.ambiguous_a += 1;
            }
            if m > 1 {
                step.ambiguous_b += 1;
            }
            if n == 1 && m == 1 {
                a_free[a_row] = false;
                b_free[b_row] = false;
                out.pairs.push(LinkedPair {
                    a_row,
                    b_row,
                    key: k,
                });
                step.linked += 1;
            }
        }
        out.steps.push(step);
    }
    Ok(out)
}

/// For each item of `t`: how many rows still free carry it, and the last one.
fn remaining_rows(t: &KeyedTable, free: &[bool]) -> Vec<(u32, usize)> {
    let mut counts = vec![(0u32, 0usize); t.items.len()];
    for (row, &item) in t.row_items.iter().enumerate() {
        if item != NO_KEY && free[row] {
            let c = &mut counts[item as usize];
            c.0 += 1;
            c.1 = row;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &Path, name: &str, text: &str, spec: &LinkageSpec) -> LinkageTable {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        LinkageTable::read(&path, spec).unwrap()
    }

    #[test]
    fn waterfall_is_one_to_one_and_skips_ambiguous_values() {
        let dir = tempfile::tempdir().unwrap();
        let spec = LinkageSpec::parse("email:email;name:name,dob:date").unwrap();
        let a = table(
            dir.path(),
            "a.csv",
            "email,name,dob\n\
             ANN@x.com,Ann Lee,19500101\n\
             ,Bob Ray,19600101\n\
             c@x.com,Cy Dee,19700101\n\
             d@x.com,Cy Dee,19700101\n\
             e@x.com,Eve Fox,19800101\n",
            &spec,
        );
        let bspec = LinkageSpec::parse("mail:email;full_name:name,birth:date").unwrap();
        let b = table(
            dir.path(),
            "b.csv",
            "mail,full_name,birth\n\
             zz@x.com,Cy Dee,01/01/1970\n\
             ann@x.com,Someone Else,19500101\n\
             b@x.com,Dr Bob Ray,1960-01-01\n\
             y@x.com,Eve Fox,1980-01-01\n\
             e@x.com,Eve Fox,1980-01-01\n",
            &bspec,
        );
        let l = waterfall_match_plain(&a, &b, &spec).unwrap();
        let pairs: Vec<(usize, usize, usize)> =
            l.pairs.iter().map(|p| (p.a_row, p.b_row, p.key)).collect();
        // Ann by email; Eve by email (so her second B row is not offered
        // again and "Eve Fox" is unambiguous on key 2, but A's Eve is gone);
        // Bob by name+dob; Cy Dee is ambiguous in A.
        assert_eq!(pairs, [(0, 1, 0), (4, 4, 0), (1, 2, 1)]);
        assert_eq!(l.steps[0].linked, 2);
        assert_eq!(l.steps[1].linked, 1);
        assert_eq!(l.steps[1].ambiguous_a, 1);
        let mut seen_a = std::collections::HashSet::new();
        let mut seen_b = std::collections::HashSet::new();
        assert!(l
            .pairs
            .iter()
            .all(|p| seen_a.insert(p.a_row) && seen_b.insert(p.b_row)));

        let out = dir.path().join("rejects.csv");
        assert_eq!(a.write_rejects(&out).unwrap(), 0);
        assert_eq!(a.keys()[0].stats().columns[0].empty, 1);
        assert_eq!(b.write_rejects(&out).unwrap(), 0);
        let c = table(
            dir.path(),
            "c.csv",
            "email,name,dob\nnot-an-email,Ann,19500230\n",
            &spec,
        );
        assert_eq!(c.rejects().len(), 2);
        assert_eq!(c.write_rejects(&out).unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "line,key,column,reason\n\
             2,1,email,email needs exactly one @ with text on both sides\n\
             2,2,dob,date does not exist in the calendar\n"
        );

        let other = LinkageSpec::parse("email:email;name:text,dob:date").unwrap();
        let e = waterfall_match_plain(&a, &b, &other).unwrap_err();
        assert!(
            e.to_string()
                .contains("key 2 column name: profile text v1 vs name v1"),
            "{e}"
        );
    }
}
