//! The encoding spec: which columns go into a record's Bloom filter, how each
//! is normalised and cut into features, how many bits each feature sets, and
//! the optional hardening. Written by the data owners together, as JSON:
//!
//! ```json
//! {"filter_bits": 1024, "bits_per_feature": 12,
//!  "fields": [{"column": "given_name", "profile": "name", "comparator": "ngram2", "weight": 2},
//!             {"column": "date_of_birth", "profile": "digits", "comparator": "digits"}],
//!  "hardening": {"balance": false, "xor_fold": false, "flip_probability": 0.0}}
//! ```
//!
//! Only `fields` (with `column` in each) is required. Unknown keys are refused
//! (a misspelt option must not silently do nothing). Both sides must use the
//! same spec: its [`Spec::fingerprint`] (SHA-256 of [`Spec::canonical`]) goes
//! into every encodings file, and files with different fingerprints are never
//! compared.

use std::path::Path;

use psi_table::Profile;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::features::Comparator;
use crate::Error;

/// The default filter length in bits.
pub const DEFAULT_FILTER_BITS: u32 = 1024;
/// The default number of bits a feature sets at weight 1.
pub const DEFAULT_BITS_PER_FEATURE: f64 = 10.0;
/// Most fields a spec may have.
pub const MAX_FIELDS: usize = 64;
/// Longest filter (before balancing doubles it).
pub const MAX_FILTER_BITS: u32 = 1 << 16;
/// Most bits one feature may set.
pub const MAX_HASHES: u32 = 256;

/// A validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The fields, in spec order.
    pub fields: Vec<Field>,
    /// Filter length before hardening changes it.
    pub filter_bits: u32,
    /// Bits per feature at weight 1 (each field's `hashes` derive from it).
    pub bits_per_feature: f64,
    /// Optional hardening.
    pub hardening: Hardening,
}

/// One field of the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The column it reads (trimmed, as in the header).
    pub column: String,
    /// The normalisation profile (as in exact linkage).
    pub profile: Profile,
    /// How the normalised value is cut into features.
    pub comparator: Comparator,
    /// The weight as written.
    pub weight: f64,
    /// Bits each feature of this field sets: `round(weight × bits_per_feature)`, at least 1.
    pub hashes: u32,
    /// The index (into `fields`) of the field whose value salts this one's
    /// features, if any.
    pub salt_with: Option<usize>,
    /// Fields with the same key group share one hashing key, so that a value
    /// written in the other field (given name and surname swapped) still
    /// sets the same bits. By default each field has its own key.
    pub key_group: Option<String>,
}

/// Hardening against frequency and pattern attacks (see the crate doc for
/// what each costs in precision and recall).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hardening {
    /// Append the complement and permute (Schnell & Borgs 2016): every
    /// encoding has exactly half its bits set; the length doubles.
    pub balance: bool,
    /// XOR the two halves (Schnell, Borgs & Encarnação 2016): the length halves.
    pub xor_fold: bool,
    /// Flip each bit independently with this probability (BLIP, Schnell &
    /// Borgs 2016), from fresh randomness on every encoding.
    pub flip_probability: f64,
}

impl Spec {
    /// Reads and validates a spec file.
    pub fn read(path: &Path) -> Result<Spec, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "cannot read the encoding spec",
            path: path.to_path_buf(),
            source,
        })?;
        Spec::parse(&text).map_err(|e| match e {
            Error::SpecJson { message, .. } => Error::SpecJson {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates spec JSON.
    pub fn parse(json: &str) -> Result<Spec, Error> {
        let raw: RawSpec = serde_json::from_str(json).map_err(|e| Error::SpecJson {
            path: "the spec".into(),
            message: e.to_string(),
        })?;
        raw.validate()
    }

    /// The output length in bits, after hardening.
    pub fn output_bits(&self) -> u32 {
        let mut bits = self.filter_bits;
        if self.hardening.balance {
            bits *= 2;
        }
        if self.hardening.xor_fold {
            bits /= 2;
        }
        bits
    }

    /// The distinct columns the spec reads, in first-use order.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.fields {
            if !out.contains(&f.column.as_str()) {
                out.push(&f.column);
            }
        }
        out
    }

    /// A text that determines the encoding completely (given the secret):
    /// two specs with the same canonical text encode alike.
    pub fn canonical(&self) -> String {
        let mut s = format!(
            "psi-fuzzy-spec/1\nfilter_bits={}\nbalance={}\nxor_fold={}\nflip={:e}\n",
            self.filter_bits,
            self.hardening.balance,
            self.hardening.xor_fold,
            self.hardening.flip_probability
        );
        for (i, f) in self.fields.iter().enumerate() {
            s.push_str(&format!(
                "field {i}: column={:?} profile={} comparator={} hashes={} salt_with={} key={:?}\n",
                f.column,
                f.profile,
                f.comparator.name(),
                f.hashes,
                f.salt_with.map_or("-".to_string(), |j| j.to_string()),
                self.key_label(i)
            ));
        }
        s
    }

    /// The label field `i`'s hashing key is derived under: its key group, or
    /// its own position.
    pub fn key_label(&self, i: usize) -> String {
        match &self.fields[i].key_group {
            Some(g) => format!("group:{g}"),
            None => format!("field:{i}"),
        }
    }

    /// SHA-256 of [`Self::canonical`].
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.canonical().as_bytes()).into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    fields: Vec<RawField>,
    #[serde(default)]
    filter_bits: Option<u32>,
    #[serde(default)]
    bits_per_feature: Option<f64>,
    #[serde(default)]
    hardening: Option<RawHardening>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    column: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    comparator: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    salt_with: Option<String>,
    #[serde(default)]
    key_group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHardening {
    #[serde(default)]
    balance: bool,
    #[serde(default)]
    xor_fold: bool,
    #[serde(default)]
    flip_probability: f64,
}

fn bad(at: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::BadSpec {
        at: at.into(),
        reason: reason.into(),
    }
}

impl RawSpec {
    fn validate(self) -> Result<Spec, Error> {
        if self.fields.is_empty() {
            return Err(bad("fields", "at least one field is needed"));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(bad("fields", format!("at most {MAX_FIELDS} fields")));
        }
        let hardening = match self.hardening {
            None => Hardening::default(),
            Some(h) => {
                if !(0.0..0.5).contains(&h.flip_probability) {
                    return Err(bad(
                        "hardening.flip_probability",
                        "must be at least 0 and below 0.5",
                    ));
                }
                Hardening {
                    balance: h.balance,
                    xor_fold: h.xor_fold,
                    flip_probability: h.flip_probability,
                }
            }
        };
        let filter_bits = self.filter_bits.unwrap_or(DEFAULT_FILTER_BITS);
        let unit = if hardening.xor_fold && !hardening.balance {
            128
        } else {
            64
        };
        if filter_bits == 0 || !filter_bits.is_multiple_of(unit) || filter_bits > MAX_FILTER_BITS {
            return Err(bad(
                "filter_bits",
                format!("must be a multiple of {unit} from {unit} to {MAX_FILTER_BITS}"),
            ));
        }
        let bits_per_feature = self.bits_per_feature.unwrap_or(DEFAULT_BITS_PER_FEATURE);
        if !(bits_per_feature.is_finite() && bits_per_feature > 0.0) {
            return Err(bad("bits_per_feature", "must be a positive number"));
        }
        let columns: Vec<String> = self
            .fields
            .iter()
            .map(|f| f.column.trim().to_string())
            .collect();
        let mut fields = Vec::with_capacity(self.fields.len());
        for (i, f) in self.fields.into_iter().enumerate() {
            let at = |key: &str| format!("fields[{i}].{key}");
            let column = f.column.trim().to_string();
            if column.is_empty() {
                return Err(bad(at("column"), "is empty"));
            }
            let profile_text = f.profile.as_deref().unwrap_or("text");
            let (name, option) = match profile_text.split_once(':') {
                Some((n, o)) => (n, Some(o)),
                None => (profile_text, None),
            };
            let profile = Profile::parse(name, option)
                .map_err(|reason| bad(at("profile"), format!("{profile_text:?}: {reason}")))?;
            let comparator = match f.comparator.as_deref() {
                None => Comparator::Ngram2,
                Some(c) => Comparator::parse(c).ok_or_else(|| {
                    bad(
                        at("comparator"),
                        format!("{c:?} is not one of ngram2, digits, exact"),
                    )
                })?,
            };
            let weight = f.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0) {
                return Err(bad(at("weight"), "must be a positive number"));
            }
            let hashes = (weight * bits_per_feature).round().max(1.0);
            if hashes > f64::from(MAX_HASHES) {
                return Err(bad(
                    at("weight"),
                    format!(
                        "weight × bits_per_feature = {hashes} bits per feature; at most {MAX_HASHES}"
                    ),
                ));
            }
            let salt_with = match f.salt_with {
                None => None,
                Some(s) => {
                    let s = s.trim();
                    let j = columns.iter().position(|c| c == s).ok_or_else(|| {
                        bad(
                            at("salt_with"),
                            format!("{s:?} is not the column of a field of this spec"),
                        )
                    })?;
                    if j == i {
                        return Err(bad(at("salt_with"), "a field cannot salt itself"));
                    }
                    Some(j)
                }
            };
            let key_group = match f.key_group {
                Some(g) if g.trim().is_empty() => return Err(bad(at("key_group"), "is empty")),
                Some(g) => Some(g.trim().to_string()),
                None => None,
            };
            fields.push(Field {
                column,
                profile,
                comparator,
                weight,
                hashes: hashes as u32,
                salt_with,
                key_group,
            });
        }
        Ok(Spec {
            fields,
            filter_bits,
            bits_per_feature,
            hardening,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Spec::parse(json).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_fingerprint() {
        let s = Spec::parse(r#"{"fields": [{"column": " given_name "}]}"#).unwrap();
        assert_eq!(s.filter_bits, 1024);
        assert_eq!(s.output_bits(), 1024);
        assert_eq!(s.fields[0].column, "given_name");
        assert_eq!(s.fields[0].comparator, Comparator::Ngram2);
        assert_eq!(s.fields[0].hashes, 10);
        let t = Spec::parse(
            r#"{"fields": [{"column": "given_name", "profile": "text", "comparator": "ngram2", "weight": 1}], "filter_bits": 1024}"#,
        )
        .unwrap();
        assert_eq!(s.fingerprint(), t.fingerprint());
        let u = Spec::parse(r#"{"fields": [{"column": "given_name", "weight": 2}]}"#).unwrap();
        assert_ne!(s.fingerprint(), u.fingerprint());
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err(r#"{"fields": []}"#).contains("at least one field"));
        assert!(
            err(r#"{"fields": [{"column": "a", "comparator": "soundex"}]}"#)
                .contains("fields[0].comparator")
        );
        assert!(err(r#"{"fields": [{"column": "a", "profile": "nope"}]}"#)
            .contains("fields[0].profile"));
        assert!(err(r#"{"fields": [{"column": "a", "weight": -1}]}"#).contains("fields[0].weight"));
        assert!(
            err(r#"{"fields": [{"column": "a"}], "filter_bits": 1000}"#).contains("filter_bits")
        );
        assert!(err(r#"{"fields": [{"column": "a", "colour": "red"}]}"#).contains("colour"));
        assert!(err(r#"{"fields": [{"column": "a", "salt_with": "b"}]}"#)
            .contains("fields[0].salt_with"));
        assert!(
            err(r#"{"fields": [{"column": "a"}], "hardening": {"flip_probability": 0.5}}"#)
                .contains("flip_probability")
        );
        assert!(err("{").contains("not a valid encoding spec"));
    }

    #[test]
    fn key_groups_share_a_key_label() {
        let s = Spec::parse(
            r#"{"fields": [{"column": "a", "key_group": "name"}, {"column": "b", "key_group": "name"}, {"column": "c"}]}"#,
        )
        .unwrap();
        assert_eq!(s.key_label(0), s.key_label(1));
        assert_ne!(s.key_label(0), s.key_label(2));
        assert!(err(r#"{"fields": [{"column": "a", "key_group": " "}]}"#).contains("key_group"));
    }

    #[test]
    fn hardening_changes_the_length() {
        let s = Spec::parse(
            r#"{"fields": [{"column": "a"}], "hardening": {"balance": true, "xor_fold": true}}"#,
        )
        .unwrap();
        assert_eq!(s.output_bits(), 1024);
        let s = Spec::parse(r#"{"fields": [{"column": "a"}], "hardening": {"xor_fold": true}}"#)
            .unwrap();
        assert_eq!(s.output_bits(), 512);
    }
}
