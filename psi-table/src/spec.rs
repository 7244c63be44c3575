//! Key specifications: which columns form a key and how each is normalised
//! ([`KeySpec`]), and a waterfall of keys tried in priority order
//! ([`LinkageSpec`]) with a fingerprint two parties can compare.
//!
//! Syntax of one key: `COL[:PROFILE[:OPTION]][,COL[:PROFILE[:OPTION]]...]`,
//! e.g. `given_name:name,surname:name,date_of_birth:date`, `email:email:gmail`
//! or `phone:phone:GB` (profiles in [`crate::normalize`]). A profile may carry
//! its version, `name@1`, which must be this build's. Column names are
//! trimmed and may contain spaces, but not `:` or `,`. A bare `COL` means
//! profile `raw` (trim only), so keys written before profiles existed read,
//! and encode, exactly as before.
//!
//! [`KeySpec::canonical`] writes every part in full (`email:email@1:gmail`,
//! `id:raw@1`); it is what two parties exchange, and [`KeySpec::fingerprint`]
//! hashes it. [`KeySpec::explain_difference`] says in words how two canonical
//! specs differ.
//!
//! # The profile is part of the key
//! A key whose columns are all `raw` is encoded exactly as before profiles
//! existed: the length-prefixed components. Any other key starts with the
//! marker `FF FF FF FF` (a component length no real value has) and the 32
//! bytes of [`KeySpec::encoding_fingerprint`], then the components. So a
//! `name` key never equals a `raw` or `text` key that happens to hold the same
//! text, nor a key of another profile version or option. The prefix leaves the
//! column names out: two parties may call the same field differently, and the
//! keys must still match when the profiles agree.
//!
//! A waterfall is several keys separated by `;` (or given one per `--key`):
//! `email:email;given_name:name,surname:name,date_of_birth:date`.

use std::fmt;

use psi_core::codec::KeyDeclaration;
use sha2::{Digest, Sha256};

use crate::normalize::Profile;
use crate::Error;

/// Version of the key encoding (length-prefixed components of profile
/// output, with the profile prefix for keys that are not all `raw`);
/// covered by the fingerprints.
pub const KEY_ENCODING_VERSION: u32 = 1;

/// Most keys a waterfall may have.
pub const MAX_KEYS: usize = 64;

/// The first four bytes of every encoded key that is not all `raw`.
pub(crate) const PROFILE_MARKER: [u8; 4] = [0xff; 4];

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
        let bad = |part: &str, reason: &'static str| Error::BadKeySpec {
            spec: spec.to_string(),
            part: part.trim().to_string(),
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
                        return Err(bad(
                            part,
                            "too many ':' in one column (COL:PROFILE:OPTION; a column name cannot contain ':')",
                        ));
                    }
                    Profile::parse(name, option).map_err(|r| bad(part, r))?
                }
            };
            if column.is_empty() {
                return Err(bad(part, "a column name is empty"));
            }
            columns.push(column);
            profiles.push(profile);
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(bad(c, "a column is named twice"));
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
        let bad = |part: &str, reason| Error::BadKeySpec {
            spec: text.clone(),
            part: part.to_string(),
            reason,
        };
        if fields.is_empty() {
            return Err(bad("", "a key needs at least one column"));
        }
        let (columns, profiles): (Vec<String>, Vec<Profile>) = fields
            .into_iter()
            .map(|(c, p)| (c.trim().to_string(), p))
            .unzip();
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() || c.contains([':', ',']) {
                return Err(bad(c, "a column name is empty or contains ':' or ','"));
            }
            if columns[..i].contains(c) {
                return Err(bad(c, "a column is named twice"));
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

    /// Whether every column is `raw` (the key encodes as before profiles).
    pub fn is_raw(&self) -> bool {
        self.profiles.iter().all(|p| *p == Profile::Raw)
    }

    /// Every column with its profile, version and option, comma-separated:
    /// `email:email@1:gmail,phone:phone@1:GB`. [`Self::parse`] of it gives
    /// this spec back.
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// SHA-256 over a domain tag and [`Self::canonical`]: equal exactly when
    /// the canonical specs are equal, column names included.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"psi-table/key-spec/v1\0");
        h.update(self.canonical().as_bytes());
        h.finalize().into()
    }

    /// SHA-256 over a domain tag, [`KEY_ENCODING_VERSION`] and the parts'
    /// profiles (name, version, option) in order, column names left out:
    /// what decides whether two parties' keys can be equal. Non-raw keys
    /// carry it as their prefix (see the module doc).
    pub fn encoding_fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"psi-table/key-encoding\0");
        h.update(KEY_ENCODING_VERSION.to_be_bytes());
        h.update((self.profiles.len() as u32).to_be_bytes());
        for p in &self.profiles {
            let text = p.to_string();
            h.update((text.len() as u32).to_be_bytes());
            h.update(text.as_bytes());
        }
        h.finalize().into()
    }

    /// The bytes every encoded key of this spec starts with: nothing for an
    /// all-`raw` key, else [`PROFILE_MARKER`] and the encoding fingerprint.
    pub(crate) fn key_prefix(&self) -> Vec<u8> {
        if self.is_raw() {
            return Vec::new();
        }
        let mut prefix = PROFILE_MARKER.to_vec();
        prefix.extend_from_slice(&self.encoding_fingerprint());
        prefix
    }

    /// How two canonical specs (ours, the other side's) differ, in words,
    /// `; `-separated, or `None` if they are the same. Each is read back
    /// leniently (a profile or version this build does not know is still
    /// compared by its text), e.g. `key part 2 (surname): profile name@1 vs
    /// text@1` or `the other side's key has 3 parts, ours 2`.
    pub fn explain_difference(ours: &str, theirs: &str) -> Option<String> {
        let (ours, theirs) = (CanonicalParts::read(ours), CanonicalParts::read(theirs));
        if ours == theirs {
            return None;
        }
        let mut out = Vec::new();
        if ours.0.len() != theirs.0.len() {
            out.push(format!(
                "the other side's key has {} part{}, ours {}",
                theirs.0.len(),
                if theirs.0.len() == 1 { "" } else { "s" },
                ours.0.len()
            ));
        }
        for (i, (o, t)) in ours.0.iter().zip(&theirs.0).enumerate() {
            let label = if o.column == t.column {
                format!("key part {} ({})", i + 1, o.column)
            } else {
                format!("key part {} ({}; theirs: {})", i + 1, o.column, t.column)
            };
            if o.profile != t.profile {
                out.push(format!("{label}: profile {} vs {}", o.profile, t.profile));
            } else if o.option != t.option {
                let show = |s: &str| if s.is_empty() { "none" } else { s }.to_string();
                out.push(format!(
                    "{label}: {} option {} vs {}",
                    o.profile,
                    show(&o.option),
                    show(&t.option)
                ));
            } else if o.column != t.column {
                out.push(format!(
                    "{label}: only the column names differ (the keys can still match)"
                ));
            }
        }
        if out.is_empty() {
            // Same parts, but one side's text could not be read the same way.
            out.push("the specs differ in their text".to_string());
        }
        Some(out.join("; "))
    }
}

/// One part of a canonical spec read back as text.
#[derive(Debug, PartialEq, Eq)]
struct CanonicalPart {
    column: String,
    /// `name@version`.
    profile: String,
    option: String,
}

/// A canonical spec read back as text, tolerating profiles and versions this
/// build does not know.
#[derive(Debug, PartialEq, Eq)]
struct CanonicalParts(Vec<CanonicalPart>);

impl CanonicalParts {
    fn read(text: &str) -> Self {
        // Prefer our own parser, which fills in versions and default options.
        let canonical = KeySpec::parse(text).map(|k| k.canonical());
        let text = canonical.as_deref().unwrap_or(text).trim();
        if text.is_empty() {
            return CanonicalParts(Vec::new());
        }
        CanonicalParts(
            text.split(',')
                .map(|part| {
                    let mut pieces = part.splitn(3, ':').map(str::trim);
                    let column = pieces.next().unwrap_or_default().to_string();
                    let profile = pieces.next().unwrap_or("raw").to_ascii_lowercase();
                    let profile = if profile.contains('@') {
                        profile
                    } else {
                        format!("{profile}@?")
                    };
                    let option = pieces.next().unwrap_or_default().to_string();
                    CanonicalPart {
                        column,
                        profile,
                        option,
                    }
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeySpec {
    /// [`KeySpec::canonical`].
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
                part: String::new(),
                reason: "a linkage spec needs at least one key",
            });
        }
        if keys.len() > MAX_KEYS {
            return Err(Error::BadKeySpec {
                spec: format!("{} keys", keys.len()),
                part: String::new(),
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

    /// What this party declares before any data moves: the canonical text of
    /// the keys (the [`fmt::Display`] form, for messages) and
    /// [`Self::fingerprint`], which decides. A peer whose declaration has
    /// another fingerprint makes keys that can never equal ours.
    pub fn declaration(&self) -> KeyDeclaration {
        KeyDeclaration {
            canonical: self.to_string(),
            fingerprint: self.fingerprint(),
        }
    }

    /// How two linkage specs in text form (ours, the other side's: e.g. the
    /// two canonical texts of a refused [`KeyDeclaration`]) differ, in words,
    /// `; `-separated; `None` if their fingerprints agree (column names may
    /// differ; profiles, versions, options and key order may not). A text
    /// this build cannot parse (a newer profile or version) is compared key
    /// by key as text ([`KeySpec::explain_difference`]).
    pub fn difference_from_texts(ours: &str, theirs: &str) -> Option<String> {
        let (parsed_ours, parsed_theirs) = (LinkageSpec::parse(ours), LinkageSpec::parse(theirs));
        if let (Ok(o), Ok(t)) = (&parsed_ours, &parsed_theirs) {
            if o.fingerprint() == t.fingerprint() {
                return None;
            }
            let diff = o.explain_difference(t);
            return Some(if diff.is_empty() {
                "the key encodings differ".to_string()
            } else {
                diff.join("; ")
            });
        }
        let keys = |text: &str| -> Vec<String> {
            text.split(';')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        };
        let (o, t) = (keys(ours), keys(theirs));
        let mut out = Vec::new();
        if o.len() != t.len() {
            out.push(format!("{} keys vs {} keys", o.len(), t.len()));
        }
        for (k, (a, b)) in o.iter().zip(&t).enumerate() {
            if let Some(d) = KeySpec::explain_difference(a, b) {
                out.push(format!("key {}: {d}", k + 1));
            }
        }
        if out.is_empty() {
            let unreadable = match (parsed_ours, parsed_theirs) {
                (Err(e), _) => format!("our key spec cannot be read: {e}"),
                (_, Err(e)) => format!("the other key spec cannot be read: {e}"),
                (Ok(_), Ok(_)) => "the key specs differ".to_string(),
            };
            out.push(unreadable);
        }
        Some(out.join("; "))
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
        assert!(k.is_raw());
        assert!(k.key_prefix().is_empty());
        assert_eq!(k.canonical(), "given_name:raw@1,surname:raw@1");
        assert_eq!(KeySpec::parse(&k.canonical()).unwrap(), k);
        let spaced = KeySpec::parse(" date of birth : date ").unwrap();
        assert_eq!(spaced.columns(), ["date of birth"]);
        assert_eq!(spaced.canonical(), "date of birth:date@1:dmy");
    }

    #[test]
    fn profiles_and_options() {
        let k = KeySpec::parse("given_name:name:ascii, dob : date, tel:phone:gb").unwrap();
        assert_eq!(
            k.canonical(),
            "given_name:name@1:ascii,dob:date@1:dmy,tel:phone@1:GB"
        );
        assert_eq!(KeySpec::parse(&k.canonical()).unwrap(), k);
        assert!(!k.is_raw());
        assert_eq!(k.key_prefix().len(), 36);
        assert_eq!(
            KeySpec::parse("email:email:gmail,phone:phone:GB")
                .unwrap()
                .canonical(),
            "email:email@1:gmail,phone:phone@1:GB"
        );
        for bad in [
            "a:nope",
            "a:phone:XX",
            "a:raw:x",
            "a:date:dmy:x",
            "a:name@2",
            "a:",
            ":name",
            "a:name,a:text",
            "a,,b",
            "",
        ] {
            assert!(
                matches!(KeySpec::parse(bad), Err(Error::BadKeySpec { .. })),
                "{bad}"
            );
        }
        let e = KeySpec::parse("id, surname:nope").unwrap_err().to_string();
        assert!(e.contains("\"surname:nope\""), "{e}");
        assert!(e.contains("unknown profile"), "{e}");
        assert!(e.contains(crate::PROFILE_NAMES), "{e}");
        let e = KeySpec::parse("tel:phone:XX").unwrap_err().to_string();
        assert!(
            e.contains("\"tel:phone:XX\"") && e.contains("region"),
            "{e}"
        );
    }

    #[test]
    fn fingerprints() {
        let a = KeySpec::parse("email:email:gmail").unwrap();
        let b = KeySpec::parse(" email : EMAIL@1 : GMAIL ").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            KeySpec::parse("email:email").unwrap().fingerprint()
        );
        // The fingerprint covers column names; the key encoding does not.
        let c = KeySpec::parse("mail:email:gmail").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.encoding_fingerprint(), c.encoding_fingerprint());
        assert_eq!(a.key_prefix(), c.key_prefix());
        assert_ne!(
            a.encoding_fingerprint(),
            KeySpec::parse("email:text").unwrap().encoding_fingerprint()
        );
        assert_ne!(
            KeySpec::parse("a:name,b:name")
                .unwrap()
                .encoding_fingerprint(),
            KeySpec::parse("a:name").unwrap().encoding_fingerprint()
        );
    }

    #[test]
    fn explain_difference_in_words() {
        let ex = |a: &str, b: &str| KeySpec::explain_difference(a, b);
        let ours = "given_name:name@1,surname:name@1";
        assert_eq!(ex(ours, ours), None);
        // Bare and defaulted forms read back to the same canonical spec.
        assert_eq!(ex("id", "id:raw@1"), None);
        assert_eq!(ex("d:date", "d:date@1:dmy"), None);
        assert_eq!(
            ex(ours, "given_name:name@1,surname:text@1").as_deref(),
            Some("key part 2 (surname): profile name@1 vs text@1")
        );
        assert_eq!(
            ex(ours, "given_name:name@1,surname:name@1,dob:date@1:dmy").as_deref(),
            Some("the other side's key has 3 parts, ours 2")
        );
        assert_eq!(
            ex("email:email@1", "email:email@1:gmail").as_deref(),
            Some("key part 1 (email): email@1 option none vs gmail")
        );
        assert_eq!(
            ex("email:email@1", "mail:email@1").as_deref(),
            Some("key part 1 (email; theirs: mail): only the column names differ (the keys can still match)")
        );
        // A newer profile version on the other side is still explained.
        assert_eq!(
            ex("n:name@1", "n:name@2").as_deref(),
            Some("key part 1 (n): profile name@1 vs name@2")
        );
        assert_eq!(
            ex("n:name@1", "n:soundex@1,x").as_deref(),
            Some("the other side's key has 2 parts, ours 1; key part 1 (n): profile name@1 vs soundex@1")
        );
        assert_eq!(
            ex("n:name@1", "").as_deref(),
            Some("the other side's key has 0 parts, ours 1")
        );
    }

    #[test]
    fn linkage_fingerprint_covers_profiles_not_column_names() {
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
            "a:raw@1; b:name@1"
        );
    }

    #[test]
    fn declarations_and_differences_from_texts() {
        let a = LinkageSpec::parse_keys(&["email:email:gmail", "tel:phone:GB"]).unwrap();
        let b = LinkageSpec::parse_keys(&["mail:email:gmail", "phone:phone:GB"]).unwrap();
        let c = LinkageSpec::parse_keys(&["mail:email", "phone:phone:GB"]).unwrap();
        let (da, db) = (a.declaration(), b.declaration());
        assert_eq!(da.canonical, "email:email@1:gmail; tel:phone@1:GB");
        assert!(da.agrees_with(&db));
        assert!(!da.agrees_with(&c.declaration()));
        let diff = |x: &str, y: &str| LinkageSpec::difference_from_texts(x, y);
        assert_eq!(diff(&da.canonical, &db.canonical), None);
        let d = diff(&da.canonical, &c.declaration().canonical).unwrap();
        assert!(d.contains("key 1") && d.contains("gmail"), "{d}");
        let e = diff(&da.canonical, "email:email:gmail").unwrap();
        assert!(e.contains("2 keys vs 1 keys"), "{e}");
        // A profile version this build does not know is still explained.
        let f = diff("n:name@1; e:email@1", "n:name@2; e:email@1").unwrap();
        assert_eq!(f, "key 1: key part 1 (n): profile name@1 vs name@2");
        let g = diff("n:name@1", "n:name@1,x:nope@3; e:email").unwrap();
        assert!(g.starts_with("1 keys vs 2 keys; key 1: "), "{g}");
    }
}
