//! Choosing a threshold with evidence rather than by guessing: the
//! distribution of each row's best similarity, and, on a labelled sample the
//! owners agree to share with the linkage unit, precision and recall per
//! threshold.
//!
//! A labels file is CSV with the header `a_row,b_row`: each line names a
//! row of the first input that is in the sample and its true partner in the
//! second input, or an empty `b_row` if it has none. Precision is measured
//! over the matches whose first row is in the sample; recall over the
//! sample's true pairs.

use std::collections::HashMap;
use std::path::Path;

use crate::search::Candidate;
use crate::solve::greedy_pairs;
use crate::Error;

/// A labelled sample: first-input row → its true partner, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(HashMap<u32, Option<u32>>);

impl Labels {
    /// From pairs (for tests and benchmarks).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, Option<u32>)>) -> Labels {
        Labels(pairs.into_iter().collect())
    }

    /// Reads a labels file.
    pub fn read(path: &Path) -> Result<Labels, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "cannot read the labels file",
            path: path.to_path_buf(),
            source,
        })?;
        Labels::parse(&text, path)
    }

    /// Parses the text of a labels file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Labels, Error> {
        let bad = |line: u64, reason: String| Error::BadLabels {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.replace(' ', "") == "a_row,b_row" => {}
            _ => return Err(bad(1, "the header must be `a_row,b_row`".into())),
        }
        let mut map = HashMap::new();
        for (i, line) in lines {
            let n = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let (a, b) = line
                .split_once(',')
                .ok_or_else(|| bad(n, "expected two fields, a_row,b_row".into()))?;
            let a: u32 = a
                .trim()
                .parse()
                .map_err(|_| bad(n, format!("a_row {:?} is not a row number", a.trim())))?;
            let b = match b.trim() {
                "" => None,
                b => Some(
                    b.parse()
                        .map_err(|_| bad(n, format!("b_row {b:?} is not a row number")))?,
                ),
            };
            if map.insert(a, b).is_some() {
                return Err(bad(n, format!("a_row {a} is labelled twice")));
            }
        }
        Ok(Labels(map))
    }

    /// Precision and recall of `matches` on this sample: (true positives,
    /// matches in the sample, true pairs in the sample).
    pub fn score(&self, matches: &[Candidate]) -> Score {
        let mut s = Score {
            true_positives: 0,
            matched: 0,
            true_pairs: self.0.values().filter(|b| b.is_some()).count() as u64,
        };
        for m in matches {
            if let Some(truth) = self.0.get(&m.a) {
                s.matched += 1;
                if *truth == Some(m.b) {
                    s.true_positives += 1;
                }
            }
        }
        s
    }
}

/// Counts behind precision and recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Matches that are true pairs.
    pub true_positives: u64,
    /// Matches whose first row is in the sample.
    pub matched: u64,
    /// True pairs in the sample.
    pub true_pairs: u64,
}

impl Score {
    /// Share of matches that are right (1 when there are none).
    pub fn precision(&self) -> f64 {
        if self.matched == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.matched as f64
        }
    }

    /// Share of true pairs found (1 when there are none).
    pub fn recall(&self) -> f64 {
        if self.true_pairs == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.true_pairs as f64
        }
    }

    /// Harmonic mean of the two.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// For each threshold, the greedy one-to-one result of the candidates at or
/// above it, scored on `labels`. `candidates` must hold every pair at or
/// above the lowest threshold.
pub fn sweep(candidates: &[Candidate], thresholds: &[f64], labels: &Labels) -> Vec<(f64, Score)> {
    thresholds
        .iter()
        .map(|&t| {
            let th = crate::dice::Threshold::new(t);
            let kept: Vec<Candidate> = candidates
                .iter()
                .copied()
                .filter(|c| crate::dice::at_least(c.inter, c.sum, th))
                .collect();
            (t, labels.score(&greedy_pairs(kept)))
        })
        .collect()
}

/// How many first-input rows have their best similarity in each bin of
/// width `1 / bins` from `floor` up to 1 (rows with no candidate at or above
/// `floor` are not counted). Returns `(bin start, rows)`.
pub fn best_similarity_histogram(
    candidates: &[Candidate],
    floor: f64,
    bins: usize,
) -> Vec<(f64, u64)> {
    let mut best: HashMap<u32, f64> = HashMap::new();
    for c in candidates {
        let s = c.similarity();
        let e = best.entry(c.a).or_insert(s);
        if s > *e {
            *e = s;
        }
    }
    let width = (1.0 - floor) / bins as f64;
    let mut counts = vec![0u64; bins];
    for &s in best.values() {
        if s >= floor {
            let i = (((s - floor) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (floor + i as f64 * width, n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: u32, b: u32, inter: u32) -> Candidate {
        Candidate {
            a,
            b,
            inter,
            sum: 100,
        }
    }

    #[test]
    fn precision_and_recall_per_threshold() {
        let labels = Labels::from_pairs([(0, Some(0)), (1, Some(1)), (2, None)]);
        // (0,0) at 0.9 right; (1,2) at 0.8 wrong; (2,3) at 0.7 wrong.
        let cands = vec![c(0, 0, 45), c(1, 2, 40), c(2, 3, 35), c(5, 5, 49)];
        let s = sweep(&cands, &[0.7, 0.85], &labels);
        assert_eq!(s[0].1.true_positives, 1);
        assert_eq!(s[0].1.matched, 3);
        assert!((s[0].1.recall() - 0.5).abs() < 1e-12);
        assert_eq!(s[1].1.precision(), 1.0);
        let h = best_similarity_histogram(&cands, 0.5, 5);
        assert_eq!(h.iter().map(|x| x.1).sum::<u64>(), 4);
        assert_eq!(h[4].1, 2); // 0.9 and 0.98
    }

    #[test]
    fn labels_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        std::fs::write(&p, "a_row,b_row\n0,1\n1,\n2,x\n").unwrap();
        let err = Labels::read(&p).unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains("\"x\""), "{err}");
        std::fs::write(&p, "a_row,b_row\n0,1\n1,\n").unwrap();
        assert_eq!(
            Labels::read(&p).unwrap(),
            Labels::from_pairs([(0, Some(1)), (1, None)])
        );
    }
}
