//! Key values that were not usable: counts per column, and a list of rejected
//! rows (`--rejects FILE`) written atomically. The list names line, key,
//! column, profile and reason, never the value itself.

use std::collections::BTreeMap;
use std::path::Path;

use crate::profile::{Invalid, Profile};
use crate::{write_atomically, Error, KeyedTable};

/// What is wrong with one key value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Problem {
    /// Empty after trimming white space.
    Empty,
    /// Rejected by the column's profile, for this reason.
    Invalid(Invalid),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty"),
            Problem::Invalid(reason) => write!(f, "invalid: {reason}"),
        }
    }
}

/// One rejected key value of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rejection {
    /// 1-based line number of the row in the file (the header is line 1).
    pub line: u64,
    /// Index of the column in its key ([`crate::KeySpec::columns`]).
    pub column: usize,
    /// What is wrong.
    pub problem: Problem,
}

/// Empty and invalid counts of one key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStats {
    /// The column name.
    pub column: String,
    /// Its profile.
    pub profile: Profile,
    /// Rows where the value is empty.
    pub empty: u64,
    /// Rows where the profile rejected the value.
    pub invalid: u64,
    /// The invalid rows by reason.
    pub invalid_by_reason: BTreeMap<Invalid, u64>,
}

impl ColumnStats {
    pub(crate) fn new(column: &str, profile: Profile) -> Self {
        ColumnStats {
            column: column.to_string(),
            profile,
            empty: 0,
            invalid: 0,
            invalid_by_reason: BTreeMap::new(),
        }
    }

    pub(crate) fn count(&mut self, problem: Problem) {
        match problem {
            Problem::Empty => self.empty += 1,
            Problem::Invalid(reason) => {
                self.invalid += 1;
                *self.invalid_by_reason.entry(reason).or_default() += 1;
            }
        }
    }
}

/// Writes the rejections of `keys` (key *i* is `keys[i]`, numbered from 1 in
/// the file) as CSV `line,key,column,profile,problem`, sorted by line, to
/// `output`, atomically. Returns the number of rows written.
pub fn write_rejects(output: &Path, keys: &[&KeyedTable]) -> Result<u64, Error> {
    let mut all: Vec<(u64, usize, usize, Problem)> = keys
        .iter()
        .enumerate()
        .flat_map(|(k, t)| {
            t.rejections()
                .iter()
                .map(move |r| (r.line, k, r.column, r.problem))
        })
        .collect();
    all.sort_unstable();
    let mut text = String::from("line,key,column,profile,problem\n");
    for &(line, k, c, problem) in &all {
        let spec = keys[k].spec();
        let column = spec.columns().get(c).map(String::as_str).unwrap_or("?");
        let profile = spec.profiles().get(c).copied().unwrap_or_default();
        text.push_str(&format!(
            "{line},{},{},{},{}\n",
            k + 1,
            csv_field(column),
            csv_field(&profile.to_string()),
            csv_field(&problem.to_string())
        ));
    }
    write_atomically(output, text.as_bytes())?;
    Ok(all.len() as u64)
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeySpec, TableStats};

    #[test]
    fn counts_and_lists_empty_and_invalid_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "id,name,dob\n1,Dr. Ann,19560107\n2,,20230229\n3,ann,1956-01-07\n4,Mr,1956\n5,\"a, b\",\n",
        )
        .unwrap();
        let t = KeyedTable::read(&path, &KeySpec::parse("name:name,dob:date").unwrap()).unwrap();
        assert_eq!(
            t.stats(),
            &TableStats {
                rows: 5,
                empty_key_rows: 2,
                invalid_key_rows: 1,
                duplicate_key_rows: 1,
                distinct_keys: 1,
            }
        );
        let c = t.column_stats();
        assert_eq!((c[0].empty, c[0].invalid), (1, 1));
        assert_eq!((c[1].empty, c[1].invalid), (1, 2));
        assert_eq!(c[1].invalid_by_reason[&Invalid::DateNotInCalendar], 1);
        assert_eq!(c[1].invalid_by_reason[&Invalid::DateFormat], 1);
        assert_eq!(t.row_item(0), Some(0));
        assert_eq!(t.row_item(1), None);
        assert_eq!(t.row_item(2), Some(0));

        let out = dir.path().join("rejects.csv");
        let other = KeyedTable::read(&path, &KeySpec::parse("id:digits").unwrap()).unwrap();
        assert_eq!(write_rejects(&out, &[&t, &other]).unwrap(), 5);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "line,key,column,profile,problem\n\
             3,1,name,name,empty\n\
             3,1,dob,date:dmy,invalid: date does not exist in the calendar\n\
             5,1,name,name,invalid: nothing left after normalisation\n\
             5,1,dob,date:dmy,\"invalid: date is not in an accepted format (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, D.M.YYYY)\"\n\
             6,1,dob,date:dmy,empty\n"
        );
    }
}
