//! Normalisation profiles: a named, versioned rule that turns a key value into
//! its canonical form before it is encoded and hashed, applied identically on
//! both sides.
//!
//! Parse, don't validate: each profile's result is a type ([`Email`],
//! [`Phone`], [`Name`], [`Date`], [`Postcode`], [`Digits`], [`Text`], [`Raw`])
//! that can only be made by its `parse` function, and [`Normalised`] holds one
//! of them. A value that its profile rejects is an [`Invalid`] reason: the row
//! is not matched on that key, and the reason is counted and can be listed.
//!
//! | profile | version | what it does | options |
//! |---|---|---|---|
//! | `raw` | 1 | trim white space (the behaviour of a bare column name) | — |
//! | `text` | 1 | trim, Unicode NFKC | — |
//! | `digits` | 1 | NFKC, keep ASCII digits only | — |
//! | `email` | 1 | trim, NFKC, lowercase, check `local@domain.tld` | `gmail`: for gmail.com / googlemail.com drop dots and `+tag` from the local part and use gmail.com |
//! | `phone` | 1 | parse and validate with libphonenumber's metadata, write E.164 | a default region (`GB`, `US`, …) for numbers without `+`; without it a number must start with `+` |
//! | `name` | 1 | NFKC, lowercase (`ß` → `ss`), drop apostrophes, other punctuation to spaces, drop titles and suffixes, collapse spaces | `ascii`: strip accents; `nospace`: drop spaces too (`van der berg` = `vanderberg`); combine as `ascii+nospace` |
//! | `date` | 1 | `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY`, `D.M.YYYY` → `YYYY-MM-DD`, a real calendar date, year in 1880..=this year | `dmy` (default) or `mdy`: the order of `../../....` |
//! | `postcode` | 1 | NFKC, upper case, no white space; letters, digits and `-` only | `zip5` / `zip3`: a US ZIP (`12345` or `12345-6789`) cut to its first 5 / 3 digits |
//! | `zip` | — | the same as `postcode:zip5` (or `postcode:zip3` with option `zip3`) | |
//!
//! The empty value is not a profile's business: a value that is empty after
//! trimming is an *empty* key component before any profile runs.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Why a profile rejected a value. The reason never contains the value itself
/// (a rejects file must not leak the data it is about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// Nothing is left after normalisation (only punctuation, only titles…).
    #[error("nothing left after normalisation")]
    NothingLeft,
    /// The value is longer than any value of its kind can be.
    #[error("too long")]
    TooLong,
    /// An email address without exactly one `@` and text on both sides.
    #[error("not an email address (needs one @ with text on both sides)")]
    EmailShape,
    /// An email address with a character that cannot be in one.
    #[error("email address contains white space or a forbidden character")]
    EmailCharacter,
    /// An email domain that is not `label.label…`.
    #[error("email domain is not a dotted domain name")]
    EmailDomain,
    /// Not a phone number at all.
    #[error("phone number does not parse")]
    PhoneUnparsable,
    /// A national phone number and no default region to place it.
    #[error("phone number has no +country code and the profile has no default region")]
    PhoneNeedsRegion,
    /// Parses, but is not a valid number for its region.
    #[error("phone number is not a valid number for its region")]
    PhoneInvalid,
    /// A date in none of the accepted formats.
    #[error("date is not in an accepted format (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, D.M.YYYY)")]
    DateFormat,
    /// A month or day that does not exist (e.g. 29 February 2023).
    #[error("date does not exist in the calendar")]
    DateNotInCalendar,
    /// A year outside the plausible range.
    #[error("year outside 1880..=this year")]
    DateYear,
    /// A postcode with a character other than letters, digits and `-`.
    #[error("postcode contains a character other than letters, digits and -")]
    PostcodeCharacter,
    /// Not a US ZIP code (`12345` or `12345-6789`).
    #[error("not a US ZIP code (12345 or 12345-6789)")]
    ZipShape,
    /// No digit at all.
    #[error("contains no digit")]
    NoDigits,
}

/// Longest input any profile looks at; longer values are [`Invalid::TooLong`].
pub const MAX_VALUE_LEN: usize = 1024;

/// Options of the `email` profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EmailOptions {
    /// Gmail rules: drop dots and `+tag` in the local part of gmail.com and
    /// googlemail.com addresses, and write the domain as gmail.com.
    pub gmail: bool,
}

/// Options of the `phone` profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PhoneOptions {
    /// Region of numbers written without `+country code`.
    pub region: Option<phonenumber::country::Id>,
}

/// Options of the `name` profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NameOptions {
    /// Strip accents (`José` = `jose`, `Øre` = `ore`).
    pub ascii: bool,
    /// Drop the spaces between words too.
    pub nospace: bool,
}

/// Day/month order of `../../....` dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `DD/MM/YYYY` (the default).
    #[default]
    DayMonth,
    /// `MM/DD/YYYY`.
    MonthDay,
}

/// Options of the `date` profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DateOptions {
    /// How to read `../../....`.
    pub order: DateOrder,
}

/// What the `postcode` profile keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PostcodeMode {
    /// The whole postcode, upper case, without white space.
    #[default]
    Whole,
    /// A US ZIP code cut to 5 digits.
    Zip5,
    /// A US ZIP code cut to 3 digits (the sectional centre).
    Zip3,
}

/// A normalisation profile with its options. Made by [`Profile::parse`]; shown
/// (by `Display`) in the canonical `name[:option]` form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// Trim only: what a bare column name has always meant.
    #[default]
    Raw,
    /// Trim and NFKC.
    Text,
    /// Digits only.
    Digits,
    /// Email addresses.
    Email(EmailOptions),
    /// Phone numbers to E.164.
    Phone(PhoneOptions),
    /// Person names.
    Name(NameOptions),
    /// Dates to `YYYY-MM-DD`.
    Date(DateOptions),
    /// Postcodes and ZIP codes.
    Postcode(PostcodeMode),
}

/// The profile names [`Profile::parse`] accepts.
pub const PROFILE_NAMES: &str = "raw, text, digits, email, phone, name, date, postcode, zip";

impl Profile {
    /// Parses a profile name (case-insensitive) and its option, if any; several
    /// options are joined with `+` (`name:ascii+nospace`). The error is a reason
    /// for [`crate::Error::BadKeySpec`].
    pub fn parse(name: &str, option: Option<&str>) -> Result<Self, &'static str> {
        let name = name.trim().to_ascii_lowercase();
        let options: Vec<String> = match option {
            None => Vec::new(),
            Some(o) => o.split('+').map(|o| o.trim().to_string()).collect(),
        };
        if options.iter().any(String::is_empty) {
            return Err("an option is empty");
        }
        let no_options = |p: Profile| {
            if options.is_empty() {
                Ok(p)
            } else {
                Err("this profile takes no option")
            }
        };
        let single = || -> Result<Option<String>, &'static str> {
            match options.as_slice() {
                [] => Ok(None),
                [o] => Ok(Some(o.to_ascii_lowercase())),
                _ => Err("this profile takes one option"),
            }
        };
        match name.as_str() {
            "raw" => no_options(Profile::Raw),
            "text" => no_options(Profile::Text),
            "digits" => no_options(Profile::Digits),
            "email" => match single()?.as_deref() {
                None => Ok(Profile::Email(EmailOptions { gmail: false })),
                Some("gmail") => Ok(Profile::Email(EmailOptions { gmail: true })),
                Some(_) => Err("unknown option for email (expected gmail)"),
            },
            "phone" => match single()? {
                None => Ok(Profile::Phone(PhoneOptions { region: None })),
                Some(r) => r
                    .to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map(|id| Profile::Phone(PhoneOptions { region: Some(id) }))
                    .map_err(|_| "unknown phone region (expected a two-letter code such as GB)"),
            },
            "name" => {
                let mut o = NameOptions::default();
                for opt in &options {
                    match opt.to_ascii_lowercase().as_str() {
                        "ascii" => o.ascii = true,
                        "nospace" => o.nospace = true,
                        _ => return Err("unknown option for name (expected ascii, nospace)"),
                    }
                }
                Ok(Profile::Name(o))
            }
            "date" => match single()?.as_deref() {
                None | Some("dmy") => Ok(Profile::Date(DateOptions {
                    order: DateOrder::DayMonth,
                })),
                Some("mdy") => Ok(Profile::Date(DateOptions {
                    order: DateOrder::MonthDay,
                })),
                Some(_) => Err("unknown option for date (expected dmy or mdy)"),
            },
            "postcode" | "zip" => match (name.as_str(), single()?.as_deref()) {
                ("postcode", None) => Ok(Profile::Postcode(PostcodeMode::Whole)),
                (_, Some("zip5")) | ("zip", None) => Ok(Profile::Postcode(PostcodeMode::Zip5)),
                (_, Some("zip3")) => Ok(Profile::Postcode(PostcodeMode::Zip3)),
                _ => Err("unknown option for postcode (expected zip5 or zip3)"),
            },
            _ => Err("unknown profile (expected raw, text, digits, email, phone, name, date, postcode or zip)"),
        }
    }

    /// The canonical profile name (`zip` is written `postcode`).
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Raw => "raw",
            Profile::Text => "text",
            Profile::Digits => "digits",
            Profile::Email(_) => "email",
            Profile::Phone(_) => "phone",
            Profile::Name(_) => "name",
            Profile::Date(_) => "date",
            Profile::Postcode(_) => "postcode",
        }
    }

    /// The profile's version: it changes whenever the profile would normalise
    /// some value differently, so that two parties can tell.
    pub fn version(&self) -> u32 {
        1
    }

    /// The options in canonical form and order (what the fingerprint covers).
    pub fn options(&self) -> Vec<String> {
        match self {
            Profile::Raw | Profile::Text | Profile::Digits => Vec::new(),
            Profile::Email(o) => o.gmail.then(|| "gmail".to_string()).into_iter().collect(),
            Profile::Phone(o) => o
                .region
                .map(|r| r.as_ref().to_string())
                .into_iter()
                .collect(),
            Profile::Name(o) => {
                let mut v = Vec::new();
                if o.ascii {
                    v.push("ascii".to_string());
                }
                if o.nospace {
                    v.push("nospace".to_string());
                }
                v
            }
            Profile::Date(o) => vec![match o.order {
                DateOrder::DayMonth => "dmy".to_string(),
                DateOrder::MonthDay => "mdy".to_string(),
            }],
            Profile::Postcode(m) => match m {
                PostcodeMode::Whole => Vec::new(),
                PostcodeMode::Zip5 => vec!["zip5".to_string()],
                PostcodeMode::Zip3 => vec!["zip3".to_string()],
            },
        }
    }

    /// Normalises one (already trimmed, non-empty) value.
    pub fn normalise(&self, value: &str) -> Result<Normalised, Invalid> {
        if value.len() > MAX_VALUE_LEN {
            return Err(Invalid::TooLong);
        }
        Ok(match self {
            Profile::Raw => Normalised::Raw(Raw::parse(value)?),
            Profile::Text => Normalised::Text(Text::parse(value)?),
            Profile::Digits => Normalised::Digits(Digits::parse(value)?),
            Profile::Email(o) => Normalised::Email(Email::parse(value, *o)?),
            Profile::Phone(o) => Normalised::Phone(Phone::parse(value, *o)?),
            Profile::Name(o) => Normalised::Name(Name::parse(value, *o)?),
            Profile::Date(o) => Normalised::Date(Date::parse(value, *o)?),
            Profile::Postcode(m) => Normalised::Postcode(Postcode::parse(value, *m)?),
        })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let options = self.options();
        if !options.is_empty() {
            write!(f, ":{}", options.join("+"))?;
        }
        Ok(())
    }
}

/// A value in its profile's canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Normalised {
    /// From `raw`.
    Raw(Raw),
    /// From `text`.
    Text(Text),
    /// From `digits`.
    Digits(Digits),
    /// From `email`.
    Email(Email),
    /// From `phone`.
    Phone(Phone),
    /// From `name`.
    Name(Name),
    /// From `date`.
    Date(Date),
    /// From `postcode`.
    Postcode(Postcode),
}

impl Normalised {
    /// The canonical text, which is what gets encoded into the key.
    pub fn as_str(&self) -> &str {
        match self {
            Normalised::Raw(v) => v.as_str(),
            Normalised::Text(v) => v.as_str(),
            Normalised::Digits(v) => v.as_str(),
            Normalised::Email(v) => v.as_str(),
            Normalised::Phone(v) => v.as_str(),
            Normalised::Name(v) => v.as_str(),
            Normalised::Date(v) => v.as_str(),
            Normalised::Postcode(v) => v.as_str(),
        }
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The canonical text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A value trimmed of white space and otherwise untouched.
    Raw
);
text_type!(
    /// Trimmed, Unicode NFKC text.
    Text
);
text_type!(
    /// ASCII digits only, at least one.
    Digits
);
text_type!(
    /// A lowercase `local@domain.tld` address.
    Email
);
text_type!(
    /// A valid phone number in E.164 (`+442079460018`).
    Phone
);
text_type!(
    /// A person name: lowercase words separated by single spaces (or none).
    Name
);
text_type!(
    /// A real calendar date, `YYYY-MM-DD`.
    Date
);
text_type!(
    /// An upper-case postcode without white space, or a 5- or 3-digit ZIP.
    Postcode
);

fn nothing_left(s: String) -> Result<String, Invalid> {
    if s.is_empty() {
        Err(Invalid::NothingLeft)
    } else {
        Ok(s)
    }
}

impl Raw {
    /// Trims white space.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        nothing_left(value.trim().to_string()).map(Raw)
    }
}

impl Text {
    /// Trims white space and applies NFKC.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let nfkc: String = value.nfkc().collect();
        nothing_left(nfkc.trim().to_string()).map(Text)
    }
}

impl Digits {
    /// Keeps the ASCII digits (after NFKC, so full-width digits count).
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let digits: String = value.nfkc().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            Err(Invalid::NoDigits)
        } else {
            Ok(Digits(digits))
        }
    }
}

impl Email {
    /// Trims, applies NFKC, lowercases and checks the shape
    /// `local@label.label…`; with `gmail`, applies Gmail's equivalences.
    pub fn parse(value: &str, options: EmailOptions) -> Result<Self, Invalid> {
        let s: String = value.trim().nfkc().flat_map(char::to_lowercase).collect();
        if s.len() > 254 {
            return Err(Invalid::TooLong);
        }
        let forbidden =
            |c: char| c.is_whitespace() || c.is_control() || "\",;:<>()[]\\".contains(c);
        if s.chars().any(forbidden) {
            return Err(Invalid::EmailCharacter);
        }
        let (local, domain) = match s.split_once('@') {
            Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => (l, d),
            _ => return Err(Invalid::EmailShape),
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        {
            return Err(Invalid::EmailDomain);
        }
        if options.gmail && (domain == "gmail.com" || domain == "googlemail.com") {
            let local = local.split('+').next().unwrap_or_default();
            let local: String = local.chars().filter(|&c| c != '.').collect();
            if local.is_empty() {
                return Err(Invalid::EmailShape);
            }
            return Ok(Email(format!("{local}@gmail.com")));
        }
        Ok(Email(format!("{local}@{domain}")))
    }
}

impl Phone {
    /// Parses with libphonenumber's metadata (the `phonenumber` crate), checks
    /// that the number is valid for its region, and writes it in E.164.
    pub fn parse(value: &str, options: PhoneOptions) -> Result<Self, Invalid> {
        let s: String = value.trim().nfkc().collect();
        if s.len() > 64 {
            return Err(Invalid::TooLong);
        }
        let international = s.starts_with('+');
        if !international && options.region.is_none() {
            return Err(Invalid::PhoneNeedsRegion);
        }
        if !s.chars().any(|c| c.is_ascii_digit()) {
            return Err(Invalid::PhoneUnparsable);
        }
        // The parser is third-party code run on untrusted input: a panic in it
        // must be a rejected value, not a crashed run.
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            let number = phonenumber::parse(options.region, &s).ok()?;
            let valid = phonenumber::is_valid(&number);
            Some((
                valid,
                number.format().mode(phonenumber::Mode::E164).to_string(),
            ))
        }));
        match parsed {
            Ok(Some((true, e164))) => Ok(Phone(e164)),
            Ok(Some((false, _))) => Err(Invalid::PhoneInvalid),
            Ok(None) | Err(_) => Err(Invalid::PhoneUnparsable),
        }
    }
}

/// Titles and suffixes the `name` profile drops wherever they stand.
pub const NAME_TITLES: &[&str] = &[
    "dr", "mr", "mrs", "ms", "miss", "mx", "prof", "rev", "sir", "jr", "sr", "ii", "iii", "iv",
];

/// Letters that carry no combining accent in Unicode but are read as accented
/// Latin letters, and their plain forms (used by `name:ascii`).
const ASCII_FOLDS: &[(char, &str)] = &[
    ('ø', "o"),
    ('æ', "ae"),
    ('œ', "oe"),
    ('ł', "l"),
    ('đ', "d"),
    ('ð', "d"),
    ('þ', "th"),
    ('ı', "i"),
];

impl Name {
    /// NFKC, lowercase (with `ß` → `ss`), accents stripped if asked, apostrophes
    /// dropped (`O'Brien` = `obrien`), other punctuation read as a space,
    /// titles and suffixes ([`NAME_TITLES`]) dropped, spaces collapsed (or,
    /// with `nospace`, removed).
    pub fn parse(value: &str, options: NameOptions) -> Result<Self, Invalid> {
        let mut lower = String::with_capacity(value.len());
        for c in value.nfkc() {
            if c == 'ß' || c == 'ẞ' {
                lower.push_str("ss");
            } else {
                lower.extend(c.to_lowercase());
            }
        }
        let text: String = if options.ascii {
            let mut out = String::with_capacity(lower.len());
            for c in lower.nfd().filter(|&c| !is_combining_mark(c)) {
                match ASCII_FOLDS.iter().find(|(from, _)| *from == c) {
                    Some((_, to)) => out.push_str(to),
                    None => out.push(c),
                }
            }
            out
        } else {
            lower.nfc().collect()
        };
        let spaced: String = text
            .chars()
            .filter(|c| !matches!(c, '\'' | '’' | '‘' | '`' | 'ʼ'))
            .map(|c| {
                if c.is_alphanumeric() || is_combining_mark(c) {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        let words: Vec<&str> = spaced
            .split_whitespace()
            .filter(|w| !NAME_TITLES.contains(w))
            .collect();
        let joined = words.join(if options.nospace { "" } else { " " });
        nothing_left(joined).map(Name)
    }
}

/// The current year by the system clock (2100 if the clock is before 1970).
pub fn current_year() -> i32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(47_482);
    civil_from_days(days).0
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// First year the `date` profile accepts.
pub const MIN_YEAR: i32 = 1880;

impl Date {
    /// Reads `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY` (or `MM/DD/YYYY` with
    /// `mdy`) and `D.M.YYYY` (days and months of one or two digits in the last
    /// two), and checks that the date exists and its year is in
    /// [`MIN_YEAR`]`..=`[`current_year`].
    pub fn parse(value: &str, options: DateOptions) -> Result<Self, Invalid> {
        Self::parse_until(value, options, current_year())
    }

    /// [`Date::parse`] with the last plausible year given (for tests).
    pub fn parse_until(value: &str, options: DateOptions, max_year: i32) -> Result<Self, Invalid> {
        let s: String = value.trim().nfkc().collect();
        let (y, m, d) = split_date(&s, options.order).ok_or(Invalid::DateFormat)?;
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(Invalid::DateNotInCalendar);
        }
        if !(MIN_YEAR..=max_year).contains(&y) {
            return Err(Invalid::DateYear);
        }
        Ok(Date(format!("{y:04}-{m:02}-{d:02}")))
    }
}

/// Splits a date into (year, month, day) by its shape, without range checks.
fn split_date(s: &str, order: DateOrder) -> Option<(i32, u32, u32)> {
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let num = |p: &str| -> Option<u32> { all_digits(p).then(|| p.parse().ok()).flatten() };
    if s.len() == 8 && all_digits(s) {
        let y = num(&s[..4])?;
        return Some((y as i32, num(&s[4..6])?, num(&s[6..])?));
    }
    let parts = |sep: char| -> Option<(&str, &str, &str)> {
        let mut it = s.split(sep);
        let r = (it.next()?, it.next()?, it.next()?);
        it.next().is_none().then_some(r)
    };
    if let Some((y, m, d)) = parts('-') {
        if y.len() == 4 && m.len() == 2 && d.len() == 2 {
            return Some((num(y)? as i32, num(m)?, num(d)?));
        }
        return None;
    }
    if let Some((a, b, y)) = parts('/').or_else(|| parts('.')) {
        if !(1..=2).contains(&a.len()) || !(1..=2).contains(&b.len()) || y.len() != 4 {
            return None;
        }
        let (a, b, y) = (num(a)?, num(b)?, num(y)? as i32);
        // D.M.YYYY is always day first; the option is for slashes.
        let month_day = order == DateOrder::MonthDay && s.contains('/');
        return Some(if month_day { (y, a, b) } else { (y, b, a) });
    }
    None
}

impl Postcode {
    /// Upper case, white space removed; letters, digits and `-` only. With
    /// `zip5`/`zip3`, a US ZIP (`12345`, `12345-6789` or `123456789`) cut to 5
    /// or 3 digits.
    pub fn parse(value: &str, mode: PostcodeMode) -> Result<Self, Invalid> {
        let s: String = value
            .nfkc()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect();
        if s.len() > 16 {
            return Err(Invalid::TooLong);
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Invalid::PostcodeCharacter);
        }
        let keep = match mode {
            PostcodeMode::Whole => {
                if !s.chars().any(|c| c.is_ascii_alphanumeric()) {
                    return Err(Invalid::NothingLeft);
                }
                return Ok(Postcode(s));
            }
            PostcodeMode::Zip5 => 5,
            PostcodeMode::Zip3 => 3,
        };
        let digits: String = s.chars().filter(|&c| c != '-').collect();
        let shape_ok = digits.bytes().all(|b| b.is_ascii_digit())
            && match s.find('-') {
                None => digits.len() == 5 || digits.len() == 9,
                Some(5) => s.len() == 10,
                Some(_) => false,
            };
        if !shape_ok {
            return Err(Invalid::ZipShape);
        }
        Ok(Postcode(digits[..keep].to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(profile: &str, option: Option<&str>, value: &str) -> Result<String, Invalid> {
        Profile::parse(profile, option)
            .unwrap()
            .normalise(value)
            .map(|n| n.as_str().to_string())
    }

    #[test]
    fn profile_names_options_and_display() {
        assert_eq!(
            Profile::parse("NAME", Some("nospace+ascii"))
                .unwrap()
                .to_string(),
            "name:ascii+nospace"
        );
        assert_eq!(
            Profile::parse("zip", None).unwrap().to_string(),
            "postcode:zip5"
        );
        assert_eq!(
            Profile::parse("phone", Some("gb")).unwrap().to_string(),
            "phone:GB"
        );
        assert_eq!(
            Profile::parse("date", None).unwrap().to_string(),
            "date:dmy"
        );
        assert_eq!(Profile::parse("raw", None).unwrap(), Profile::Raw);
        assert!(Profile::parse("phone", Some("XX")).is_err());
        assert!(Profile::parse("raw", Some("x")).is_err());
        assert!(Profile::parse("email", Some("gmail+x")).is_err());
        assert!(Profile::parse("name", Some("")).is_err());
        assert!(Profile::parse("soundex", None).is_err());
        assert!(Profile::parse("date", Some("ymd")).is_err());
    }

    #[test]
    fn email() {
        let e = |v| norm("email", None, v);
        let g = |v| norm("email", Some("gmail"), v);
        assert_eq!(
            e("  Jane.Doe+News@Example.COM ").unwrap(),
            "jane.doe+news@example.com"
        );
        assert_eq!(
            g("Jane.Doe+News@GoogleMail.com").unwrap(),
            "janedoe@gmail.com"
        );
        assert_eq!(g("j.a.n.e@gmail.com").unwrap(), "jane@gmail.com");
        assert_eq!(
            g("jane.doe+x@example.com").unwrap(),
            "jane.doe+x@example.com"
        );
        assert_eq!(e("ａｂ@example.com").unwrap(), "ab@example.com");
        assert_eq!(e("a@example.com.").unwrap(), "a@example.com");
        assert_eq!(e("no-at-sign"), Err(Invalid::EmailShape));
        assert_eq!(e("a@b@c.com"), Err(Invalid::EmailShape));
        assert_eq!(e("@example.com"), Err(Invalid::EmailShape));
        assert_eq!(e("a b@example.com"), Err(Invalid::EmailCharacter));
        assert_eq!(e("a@localhost"), Err(Invalid::EmailDomain));
        assert_eq!(e("a@x..com"), Err(Invalid::EmailDomain));
        assert_eq!(g("+tag@gmail.com"), Err(Invalid::EmailShape));
    }

    #[test]
    fn phone() {
        let gb = |v| norm("phone", Some("GB"), v);
        assert_eq!(gb("020 7946 0018").unwrap(), "+442079460018");
        assert_eq!(gb("+44 (0)20 7946 0018").unwrap(), "+442079460018");
        assert_eq!(gb("07911 123456").unwrap(), "+447911123456");
        // Ofcom's range for drama is not a real number.
        assert_eq!(gb("07700 900123"), Err(Invalid::PhoneInvalid));
        assert_eq!(
            norm("phone", Some("US"), "(201) 555-0123").unwrap(),
            "+12015550123"
        );
        assert_eq!(
            norm("phone", None, "+1 201-555-0123").unwrap(),
            "+12015550123"
        );
        assert_eq!(
            norm("phone", None, "020 7946 0018"),
            Err(Invalid::PhoneNeedsRegion)
        );
        assert_eq!(gb("not a phone"), Err(Invalid::PhoneUnparsable));
        assert_eq!(gb("12"), Err(Invalid::PhoneInvalid));
        assert_eq!(gb("020 7946 001"), Err(Invalid::PhoneInvalid));
        for weird in [
            "+",
            "++44",
            "+0",
            "tel:",
            "+999999999999999999999",
            "0000000000",
            "+44 20 7946 0018 ext. 12 ext 13",
            "\u{0}\u{1}+1",
        ] {
            assert!(
                gb(weird).is_err() || gb(weird).unwrap().starts_with('+'),
                "{weird}"
            );
        }
    }

    #[test]
    fn name() {
        let n = |v| norm("name", None, v);
        let a = |v| norm("name", Some("ascii"), v);
        assert_eq!(n("  Dr. José  MARÍA  ").unwrap(), "josé maría");
        assert_eq!(a("  Dr. José  MARÍA  ").unwrap(), "jose maria");
        assert_eq!(a("Søren Kierkegaard").unwrap(), "soren kierkegaard");
        assert_eq!(n("Mrs Jane Smith-Jones Jr.").unwrap(), "jane smith jones");
        assert_eq!(n("O'Brien").unwrap(), "obrien");
        assert_eq!(n("O’BRIEN III").unwrap(), "obrien");
        assert_eq!(n("Straße").unwrap(), "strasse");
        assert_eq!(n("ＪＯＨＮ").unwrap(), "john");
        assert_eq!(n("José").unwrap(), n("Jose\u{301}").unwrap());
        assert_eq!(
            norm("name", Some("nospace"), "Van der Berg").unwrap(),
            "vanderberg"
        );
        assert_eq!(n("Dr. Mr."), Err(Invalid::NothingLeft));
        assert_eq!(n("..."), Err(Invalid::NothingLeft));
        assert_eq!(n("Drew Mrsic").unwrap(), "drew mrsic");
        assert_eq!(n("Ιωάννης").unwrap(), "ιωάννης");
    }

    #[test]
    fn date() {
        let d = |v| Date::parse_until(v, DateOptions::default(), 2025).map(|d| d.0);
        let us = |v| {
            Date::parse_until(
                v,
                DateOptions {
                    order: DateOrder::MonthDay,
                },
                2025,
            )
            .map(|d| d.0)
        };
        assert_eq!(d("19560107").unwrap(), "1956-01-07");
        assert_eq!(d(" 1956-01-07 ").unwrap(), "1956-01-07");
        assert_eq!(d("07/01/1956").unwrap(), "1956-01-07");
        assert_eq!(us("01/07/1956").unwrap(), "1956-01-07");
        assert_eq!(d("7.1.1956").unwrap(), "1956-01-07");
        assert_eq!(us("7.1.1956").unwrap(), "1956-01-07");
        assert_eq!(d("29/02/2000").unwrap(), "2000-02-29");
        assert_eq!(d("20240229").unwrap(), "2024-02-29");
        assert_eq!(d("29/02/1900"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("20230229"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19561301"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19560431"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19560100"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("18790101"), Err(Invalid::DateYear));
        assert_eq!(d("20260101"), Err(Invalid::DateYear));
        for bad in [
            "1956-1-7",
            "195601",
            "1956/01/07",
            "07-01-1956",
            "7.1.56",
            "a9560107",
            "+9560107",
            "07/01/1956/1",
            "１９５６０１０７x",
        ] {
            assert_eq!(d(bad), Err(Invalid::DateFormat), "{bad}");
        }
        assert!(Date::parse("19560107", DateOptions::default()).is_ok());
        assert!(current_year() >= 2025);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn postcode_digits_text_raw() {
        assert_eq!(norm("postcode", None, " sw1a 1aa ").unwrap(), "SW1A1AA");
        assert_eq!(norm("postcode", None, "00-950").unwrap(), "00-950");
        assert_eq!(
            norm("postcode", None, "SW1A/1AA"),
            Err(Invalid::PostcodeCharacter)
        );
        assert_eq!(norm("postcode", None, "-"), Err(Invalid::NothingLeft));
        assert_eq!(norm("zip", None, "12345-6789").unwrap(), "12345");
        assert_eq!(norm("zip", None, "123456789").unwrap(), "12345");
        assert_eq!(norm("postcode", Some("zip3"), "12345").unwrap(), "123");
        assert_eq!(norm("zip", None, "1234"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "12345-678"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "ABCDE"), Err(Invalid::ZipShape));
        assert_eq!(
            norm("digits", None, "+44 (20) 7946-0018").unwrap(),
            "442079460018"
        );
        assert_eq!(norm("digits", None, "１２３").unwrap(), "123");
        assert_eq!(norm("digits", None, "n/a"), Err(Invalid::NoDigits));
        assert_eq!(norm("text", None, " ﬁle ").unwrap(), "file");
        assert_eq!(norm("raw", None, " ﬁle ").unwrap(), "ﬁle");
        assert_eq!(norm("raw", None, &"x".repeat(2000)), Err(Invalid::TooLong));
    }
}
