//! Key specifications: which columns form a key and how each is normalised
//! ([`KeySpec`]), and a waterfall of keys tried in priority order
//! ([`LinkageSpec`]) with a fingerprint two parties can compare.
//!
//! Syntax of one key: `COL[:PROFILE[:OPTION]][,COL[:PROFILE[:OPTION]]...]`,
//! e.g. `given_name:name,surname:name,date_of_birth:date` or `phone:phone:GB`.
//! A bare `COL` means profile `raw` (trim only), so keys written before
//! profiles existed read exactly as before. A column name that itself contains
//! `:` can no longer be named bare: `a:b` now means column `a`, profile `b`
//! (and is refused unless `b` is a profile).
//!
//! A waterfall is several keys separated by `;` (or given one per `--key`):
//! `email:email;given_name:name,surname:name,date_of_birth:date`.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::profile::Profile;
use crate::Error;

/// Version of the key encoding (length-prefixed components of profile
/// output); covered by [`LinkageSpec::fingerprint`].
pub const KEY_ENCODING_VERSION: u32 = 1;

/// Most keys a waterfall may have.
pub const MAX_KEYS: usize = 64;

/// Which columns form the key, and the profile of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    columns: Vec<String>,
    profiles: Vec<Profile>,
}

impl KeySpec {
    /// Parses `col` or `col1,col2,...`, each column optionally followed by
    /// `:profile` and `:option` (names trimmed; a bare column is `raw`).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::BadKeySpec {
            spec: spec.to_string(),
            reason,
        };
        let mut columns = Vec::new();
        let mut profiles = Vec::new();
        for part in spec.split(',') {
            let mut pieces = part.splitn(3, ':');
            let column = pieces.next().unwrap_or_default().trim().to_string();
            let profile = match (pieces.next(), pieces.next()) {
                (None, _) => Profile::Raw,
                (Some(name), option) => {
                    if option.is_some_and(|o| o.contains(':')) {
                        return Err(bad("too many ':' in one column (COL:PROFILE:OPTION)"));
                    }
                    Profile::parse(name, option).map_err(bad)?
                }
            };
            if column.is_empty() {
                return Err(bad("a column name is empty"));
            }
            columns.push(column);
            profiles.push(profile);
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(bad("a column is named twice"));
            }
        }
        Ok(KeySpec { columns, profiles })
    }

    /// A key of the given columns and profiles.
    pub fn new(fields: Vec<(String, Profile)>) -> Result<Self, Error> {
        let text = fields
            .iter()
            .map(|(c, p)| format!("{c}:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let bad = |reason| Error::BadKeySpec {
            spec: text.clone(),
            reason,
        };
        if fields.is_empty() {
            return Err(bad("a key needs at least one column"));
        }
        let (columns, profiles): (Vec<String>, Vec<Profile>) = fields
            .into_iter()
            .map(|(c, p)| (c.trim().to_string(), p))
            .unzip();
        if columns.iter().any(|c| c.is_empty()) {
            return Err(bad("a column name is empty"));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(bad("a column is named twice"));
            }
        }
        Ok(KeySpec { columns, profiles })
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The profile of each column, in [`Self::columns`] order.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// (column, profile) pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Profile)> {
        self.columns.iter().map(String::as_str).zip(&self.profiles)
    }
}

impl fmt::Display for KeySpec {
    /// The canonical text: every column with its profile (`email:email`,
    /// `id:raw`), so that `KeySpec::parse` of it gives the same spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (c, p)) in self.fields().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}:{p}")?;
        }
        Ok(())
    }
}

/// A waterfall of keys in priority order: a row matched on an earlier key is
/// not offered on a later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageSpec {
    keys: Vec<KeySpec>,
}

impl LinkageSpec {
    /// A waterfall of these keys, first = highest priority.
    pub fn new(keys: Vec<KeySpec>) -> Result<Self, Error> {
        if keys.is_empty() {
            return Err(Error::BadKeySpec {
                spec: String::new(),
                reason: "a linkage spec needs at least one key",
            });
        }
        if keys.len() > MAX_KEYS {
            return Err(Error::BadKeySpec {
                spec: format!("{} keys", keys.len()),
                reason: "too many keys in one linkage spec (at most 64)",
            });
        }
        Ok(LinkageSpec { keys })
    }

    /// Parses keys separated by `;` (each as [`KeySpec::parse`]).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let keys = spec
            .split(';')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(KeySpec::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// Parses one key per string (e.g. repeated `--key` arguments).
    pub fn parse_keys<S: AsRef<str>>(keys: &[S]) -> Result<Self, Error> {
        let keys = keys
            .iter()
            .map(|k| KeySpec::parse(k.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The keys, first = highest priority.
    pub fn keys(&self) -> &[KeySpec] {
        &self.keys
    }

    /// SHA-256 over the key order, and per key the order, profile names,
    /// versions and options of its columns, plus [`KEY_ENCODING_VERSION`].
    /// Column *names* are left out: the two parties' tables may call the same
    /// field differently, and what must agree is how values become keys.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut put = |bytes: &[u8]| {
            h.update((bytes.len() as u32).to_be_bytes());
            h.update(bytes);
        };
        put(b"psi-table linkage spec");
        put(&KEY_ENCODING_VERSION.to_be_bytes());
        put(&(self.keys.len() as u32).to_be_bytes());
        for key in &self.keys {
            put(&(key.profiles.len() as u32).to_be_bytes());
            for p in &key.profiles {
                put(p.name().as_bytes());
                put(&p.version().to_be_bytes());
                let options = p.options();
                put(&(options.len() as u32).to_be_bytes());
                for o in &options {
                    put(o.as_bytes());
                }
            }
        }
        h.finalize().into()
    }

    /// [`Self::fingerprint`] in lowercase hex.
    pub fn fingerprint_hex(&self) -> String {
        self.fingerprint()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The differences that make the fingerprints differ, in words, one per
    /// line (`key 2 column surname: profile name v1 vs text v1`); empty when
    /// the fingerprints agree. `self` is "ours", `other` "theirs".
    pub fn explain_difference(&self, other: &LinkageSpec) -> Vec<String> {
        let mut out = Vec::new();
        if self.keys.len() != other.keys.len() {
            out.push(format!(
                "{} keys vs {} keys",
                self.keys.len(),
                other.keys.len()
            ));
        }
        for (k, (ours, theirs)) in self.keys.iter().zip(&other.keys).enumerate() {
            let k = k + 1;
            if ours.profiles.len() != theirs.profiles.len() {
                out.push(format!(
                    "key {k}: {} columns ({ours}) vs {} columns ({theirs})",
                    ours.profiles.len(),
                    theirs.profiles.len()
                ));
                continue;
            }
            for ((col, p), (their_col, q)) in ours.fields().zip(theirs.fields()) {
                if p.name() != q.name() || p.version() != q.version() {
                    out.push(format!(
                        "key {k} column {}: profile {} v{} vs {} v{}",
                        column_pair(col, their_col),
                        p.name(),
                        p.version(),
                        q.name(),
                        q.version()
                    ));
                } else if p.options() != q.options() {
                    let show = |o: Vec<String>| {
                        if o.is_empty() {
                            "none".to_string()
                        } else {
                            o.join("+")
                        }
                    };
                    out.push(format!(
                        "key {k} column {}: profile {} options {} vs {}",
                        column_pair(col, their_col),
                        p.name(),
                        show(p.options()),
                        show(q.options())
                    ));
                }
            }
        }
        out
    }
}

fn column_pair(ours: &str, theirs: &str) -> String {
    if ours == theirs {
        ours.to_string()
    } else {
        format!("{ours} (theirs: {theirs})")
    }
}

impl fmt::Display for LinkageSpec {
    /// The keys in canonical form, separated by `; `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_columns_are_raw() {
        let k = KeySpec::parse(" given_name , surname ").unwrap();
        assert_eq!(k.columns(), ["given_name", "surname"]);
        assert_eq!(k.profiles(), [Profile::Raw, Profile::Raw]);
        assert_eq!(k.to_string(), "given_name:raw,surname:raw");
        assert_eq!(KeySpec::parse(&k.to_string()).unwrap(), k);
    }

    #[test]
    fn profiles_and_options() {
        let k = KeySpec::parse("given_name:name:ascii, dob : date, tel:phone:gb").unwrap();
        assert_eq!(
            k.to_string(),
            "given_name:name:ascii,dob:date:dmy,tel:phone:GB"
        );
        assert_eq!(KeySpec::parse(&k.to_string()).unwrap(), k);
        for bad in [
            "a:nope",
            "a:phone:XX",
            "a:raw:x",
            "a:date:dmy:x",
            ":name",
            "a:name,a:text",
            "a,,b",
            "",
        ] {
            assert!(KeySpec::parse(bad).is_err(), "{bad}");
        }
        let e = KeySpec::parse("a:nope").unwrap_err();
        assert!(e.to_string().contains("unknown profile"), "{e}");
    }

    #[test]
    fn fingerprint_covers_profiles_not_column_names() {
        let a = LinkageSpec::parse("email:email; given_name:name,surname:name,dob:date").unwrap();
        let b = LinkageSpec::parse("mail:email;first:name,last:name,birth:date:dmy").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.explain_difference(&b).is_empty());
        assert_eq!(a.fingerprint_hex().len(), 64);

        let c =
            LinkageSpec::parse("email:email;given_name:name,surname:text,dob:date:mdy").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(
            a.explain_difference(&c),
            [
                "key 2 column surname: profile name v1 vs text v1",
                "key 2 column dob: profile date options dmy vs mdy"
            ]
        );
        let d = LinkageSpec::parse("email:email:gmail").unwrap();
        assert_eq!(
            a.explain_difference(&d),
            [
                "2 keys vs 1 keys",
                "key 1 column email: profile email options none vs gmail"
            ]
        );
        let e = LinkageSpec::parse("email:email;given_name:name,surname:name").unwrap();
        assert_eq!(e.explain_difference(&a).len(), 1);
        assert_ne!(e.fingerprint(), a.fingerprint());
        // Key order matters.
        let f = LinkageSpec::parse("given_name:name,surname:name,dob:date;email:email").unwrap();
        assert_ne!(f.fingerprint(), a.fingerprint());
        assert!(LinkageSpec::parse(" ; ").is_err());
        assert_eq!(
            LinkageSpec::parse_keys(&["a", "b:name"])
                .unwrap()
                .to_string(),
            "a:raw; b:name"
        );
    }
}
