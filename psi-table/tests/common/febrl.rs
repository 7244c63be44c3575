//! FEBRL 4 evaluation shared by `tests/febrl.rs` and `examples/febrl_linkage.rs`:
//! finding the files, the ground truth (`rec-<n>-org` in A is `rec-<n>-dup-0`
//! in B), seeded random halves, and precision / recall per waterfall step.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use psi_table::{waterfall_match_plain, Linkage, LinkageSpec, LinkageTable};

/// The waterfall evaluated on FEBRL 4, in priority order (no `soc_sec_id`).
pub const WATERFALL: &[&str] = &[
    "given_name:name,surname:name,date_of_birth:date",
    "surname:name,date_of_birth:date,postcode",
    "given_name:name,date_of_birth:date,postcode",
    "given_name:name,surname:name,postcode",
    "date_of_birth:date,postcode,street_number:digits",
    "given_name:name,surname:name,suburb:text",
    "given_name:name,date_of_birth:date,suburb:text",
    "surname:name,date_of_birth:date,suburb:text",
    "date_of_birth:date,address_1:text,suburb:text",
    "surname:name,postcode,address_1:text",
    "given_name:name,postcode,address_1:text",
    "given_name:name,surname:name,address_1:text",
    "date_of_birth:date,street_number:digits,address_1:text",
    "given_name:name,surname:name,street_number:digits",
    "surname:name,street_number:digits,postcode",
    "given_name:name,street_number:digits,postcode",
    "date_of_birth:date,suburb:text,street_number:digits",
];

/// The FEBRL directory: `$PSI_FEBRL_DIR`, else `../../shared/data` from the
/// crate; `None` (with the reason) when the files are not there.
pub fn febrl_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("PSI_FEBRL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.join("febrl4a.csv").exists() && dir.join("febrl4b.csv").exists() {
        Ok(dir)
    } else {
        Err(format!(
            "FEBRL files not found in {} (set PSI_FEBRL_DIR)",
            dir.display()
        ))
    }
}

/// The person number of each data row (`rec-1070-org` and `rec-1070-dup-0`
/// are both person 1070).
pub fn person_ids(path: &Path) -> Vec<String> {
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
            let id = r.unwrap()[col].to_string();
            id.split('-').nth(1).unwrap_or_default().to_string()
        })
        .collect()
}

/// Writes the rows of `path` flagged in `keep` (header kept) to `out`.
pub fn write_subset(path: &Path, keep: &[bool], out: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut s = String::new();
    s.push_str(lines.next().unwrap());
    s.push('\n');
    for (line, &k) in lines.zip(keep) {
        if k {
            s.push_str(line);
            s.push('\n');
        }
    }
    std::fs::write(out, s).unwrap();
}

/// A seeded random half of `n` rows (splitmix64 + Fisher–Yates).
pub fn random_half(n: usize, seed: u64) -> Vec<bool> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut keep = vec![false; n];
    for &i in &order[..n / 2] {
        keep[i] = true;
    }
    keep
}

/// Cumulative figures after one waterfall step.
#[derive(Debug, Clone)]
pub struct Step {
    /// The key, as written.
    pub key: String,
    /// Pairs linked by this key.
    pub linked: usize,
    /// Of which true.
    pub correct: usize,
    /// Pairs linked so far.
    pub total_linked: usize,
    /// Of which true.
    pub total_correct: usize,
    /// Precision so far.
    pub precision: f64,
    /// Recall so far.
    pub recall: f64,
}

/// The result of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Rows of A and B.
    pub rows: (usize, usize),
    /// True pairs present in both inputs.
    pub true_pairs: usize,
    /// Per step, cumulative.
    pub steps: Vec<Step>,
}

impl Evaluation {
    /// Final precision.
    pub fn precision(&self) -> f64 {
        self.steps.last().map_or(1.0, |s| s.precision)
    }
    /// Final recall.
    pub fn recall(&self) -> f64 {
        self.steps.last().map_or(0.0, |s| s.recall)
    }
    /// A printable table.
    pub fn report(&self, title: &str) -> String {
        let mut s = format!(
            "{title}: {} x {} rows, {} true pairs\n{:>4} {:>7} {:>7} {:>9} {:>7}  key\n",
            self.rows.0,
            self.rows.1,
            self.true_pairs,
            "step",
            "linked",
            "wrong",
            "precision",
            "recall"
        );
        for (i, st) in self.steps.iter().enumerate() {
            s.push_str(&format!(
                "{:>4} {:>7} {:>7} {:>9.4} {:>7.4}  {}\n",
                i + 1,
                st.linked,
                st.linked - st.correct,
                st.precision,
                st.recall,
                st.key
            ));
        }
        s
    }
}

/// Links `a` with `b` by `keys` and scores the result against the truth.
pub fn evaluate(a: &Path, b: &Path, keys: &[&str]) -> Evaluation {
    let spec = LinkageSpec::parse_keys(keys).unwrap();
    let ta = LinkageTable::read(a, &spec).unwrap();
    let tb = LinkageTable::read(b, &spec).unwrap();
    let linkage: Linkage = waterfall_match_plain(&ta, &tb, &spec).unwrap();
    let (ia, ib) = (person_ids(a), person_ids(b));
    let in_b: HashMap<&str, usize> = ib
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let true_pairs = ia.iter().filter(|p| in_b.contains_key(p.as_str())).count();
    let mut steps = Vec::new();
    let (mut total_linked, mut total_correct) = (0, 0);
    for (k, key) in keys.iter().enumerate() {
        let pairs: Vec<_> = linkage.pairs.iter().filter(|p| p.key == k).collect();
        let correct = pairs.iter().filter(|p| ia[p.a_row] == ib[p.b_row]).count();
        total_linked += pairs.len();
        total_correct += correct;
        steps.push(Step {
            key: key.to_string(),
            linked: pairs.len(),
            correct,
            total_linked,
            total_correct,
            precision: if total_linked == 0 {
                1.0
            } else {
                total_correct as f64 / total_linked as f64
            },
            recall: total_correct as f64 / true_pairs.max(1) as f64,
        });
    }
    Evaluation {
        rows: (ia.len(), ib.len()),
        true_pairs,
        steps,
    }
}
