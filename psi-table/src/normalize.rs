//! Normalisation profiles: named, versioned rules that turn a key value into
//! its canonical form before it is encoded and hashed, applied identically on
//! both sides.
//!
//! Parse, don't validate: each profile's result is a type ([`Email`],
//! [`Phone`], [`Name`], [`Date`], [`Postcode`], [`Zip`], [`Digits`], [`Text`],
//! [`Raw`]) that only its `parse` function makes, and [`Normalised`] holds one
//! of them; the normalised text is produced once, while reading. A value its
//! profile rejects is an [`Invalid`] reason: the row is not matched on that
//! key, and the reason (never the value) is counted and listed.
//!
//! | profile | version | what it does | option |
//! |---|---|---|---|
//! | `raw` | 1 | trim white space: what a bare column name has always meant | — |
//! | `text` | 1 | trim, Unicode NFKC | — |
//! | `digits` | 1 | NFKC, keep the ASCII digits; none is invalid | — |
//! | `email` | 1 | trim, NFKC, lowercase; exactly one `@`, a non-empty local part, a dotted domain (a final `.` is dropped), no white space or `",;:<>()[]\` | `gmail`: for gmail.com and googlemail.com drop dots and `+tag` from the local part and write gmail.com |
//! | `phone` | 1 | E.164 `+<digits>`, see below | default region, an ISO 3166 code: `phone:GB` |
//! | `name` | 1 | NFKC, lowercase (`ß` → `ss`), apostrophes dropped (`O'Brien` → `obrien`), other punctuation (`.`, `,`, `-`, …) read as a space, titles and suffixes ([`NAME_TITLES`]) dropped as whole words, spaces collapsed; nothing left is invalid | `ascii`: strip accents (NFD, drop combining marks, fold `ø æ œ ł đ ð þ ı`); `nospace`: drop the spaces too; both: `ascii+nospace` |
//! | `date` | 1 | `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD`, `DD/MM/YYYY`, `DD-MM-YYYY`, `DD.MM.YYYY` (day and month of one or two digits in the separated forms) → `YYYY-MM-DD`; a real calendar date, year in [`MIN_YEAR`]`..=`[`MAX_YEAR`] | `dmy` (default) or `mdy`: `MM/DD/YYYY` and `MM-DD-YYYY` (dotted dates are always day first) |
//! | `postcode` | 1 | NFKC, upper case, all white space removed; letters, digits and `-` only | — |
//! | `zip` | 1 | a US ZIP: `12345`, `123456789`, `12345-6789` (white space ignored), digits only | `zip5` (default): the first 5 digits; `zip3`: the first 3 |
//!
//! Hyphens split a name into words (`Smith-Jones` = `smith jones`) while
//! apostrophes join (`O'Brien` = `OBrien` = `obrien`): a hyphenated name is
//! often written with a space, a name with an apostrophe almost never is.
//!
//! **Phone numbers** are checked first by their shape: no letters, only digits,
//! white space and `-` `.` `(` `)` `/`, and a `+` only in front; a leading `00`
//! is read as `+`; 7 to 15 digits. They are then parsed and validated with
//! libphonenumber's metadata (the [`phonenumber`] crate: about 25 s extra to
//! build from scratch on two cores, debug or release), which knows every
//! region's country code and national trunk prefix (`020 7946 0018` with
//! `GB` is `+442079460018`; `+44 (0)20 …` drops the `(0)`), and rejects
//! numbers that cannot exist in their region. A number without `+` or `00`
//! needs a default region.
//!
//! The empty value is not a profile's business: a value that is empty after
//! trimming is an *empty* key component before any profile runs.
//!
//! A profile's version changes whenever it would normalise some value
//! differently; both go into [`crate::KeySpec::canonical`], so two parties
//! with different rules see the difference instead of silently matching less.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Why a profile rejected a value. The reason never contains the value itself
/// (a rejects file must not leak the data it is about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Invalid {
    /// Nothing is left after normalisation (only punctuation, only titles…).
    NothingLeft,
    /// The value is longer than any value of its kind can be.
    TooLong,
    /// An email address without exactly one `@` and text on both sides.
    EmailShape,
    /// An email address with a character that cannot be in one.
    EmailCharacter,
    /// An email domain that is not `label.label…`.
    EmailDomain,
    /// A phone number with letters in it.
    PhoneLetters,
    /// A phone number with a character other than digits, white space,
    /// `-` `.` `(` `)` `/` and a leading `+`.
    PhoneCharacter,
    /// Fewer than 7 digits.
    PhoneTooShort,
    /// More than 15 digits (the E.164 maximum).
    PhoneTooLong,
    /// A national phone number and no default region to place it.
    PhoneNeedsRegion,
    /// libphonenumber cannot parse it.
    PhoneUnparsable,
    /// Parses, but is not a valid number for its region.
    PhoneInvalid,
    /// A date in none of the accepted formats.
    DateFormat,
    /// A month or day that does not exist (e.g. 29 February 2023).
    DateNotInCalendar,
    /// A year outside [`MIN_YEAR`]`..=`[`MAX_YEAR`].
    DateYear,
    /// A postcode with a character other than letters, digits and `-`.
    PostcodeCharacter,
    /// Not a US ZIP code (`12345`, `123456789` or `12345-6789`).
    ZipShape,
    /// No digit at all.
    NoDigits,
}

impl Invalid {
    /// The reason in a few words (what rejects files and reports show).
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::NothingLeft => "nothing left after normalisation",
            Invalid::TooLong => "too long",
            Invalid::EmailShape => "email needs exactly one @ with text on both sides",
            Invalid::EmailCharacter => "email contains white space or a forbidden character",
            Invalid::EmailDomain => "email domain is not a dotted domain name",
            Invalid::PhoneLetters => "phone number contains letters",
            Invalid::PhoneCharacter => {
                "phone number contains a character other than digits, space, -.()/ and a leading +"
            }
            Invalid::PhoneTooShort => "phone number has fewer than 7 digits",
            Invalid::PhoneTooLong => "phone number has more than 15 digits",
            Invalid::PhoneNeedsRegion => {
                "phone number has no + or 00 and the profile has no default region"
            }
            Invalid::PhoneUnparsable => "phone number does not parse",
            Invalid::PhoneInvalid => "phone number is not a valid number for its region",
            Invalid::DateFormat => "date is not in an accepted format",
            Invalid::DateNotInCalendar => "date does not exist in the calendar",
            Invalid::DateYear => "year outside 1880..=2100",
            Invalid::PostcodeCharacter => {
                "postcode contains a character other than letters, digits and -"
            }
            Invalid::ZipShape => "not a US ZIP code (12345, 123456789 or 12345-6789)",
            Invalid::NoDigits => "contains no digit",
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Invalid {}

/// Longest input any profile other than `raw` looks at; longer values are
/// [`Invalid::TooLong`] (`raw` keeps its old behaviour and takes any length).
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
    /// Region of numbers written without `+` or `00`.
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

/// Day/month order of `../../....` and `..-..-....` dates.
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
    /// How to read `../../....` and `..-..-....`.
    pub order: DateOrder,
}

/// How many digits the `zip` profile keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ZipDigits {
    /// The 5-digit ZIP (the default).
    #[default]
    Five,
    /// The first 3 digits (the sectional centre).
    Three,
}

/// A normalisation profile with its options. Made by [`Profile::parse`]; shown
/// (by `Display`) in the canonical `name@version[:option]` form.
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
    /// Postcodes.
    Postcode,
    /// US ZIP codes.
    Zip(ZipDigits),
}

/// The profile names [`Profile::parse`] accepts.
pub const PROFILE_NAMES: &str = "raw, text, digits, email, phone, name, date, postcode, zip";

impl Profile {
    /// Parses a profile name (case-insensitive), optionally with its version
    /// (`name@1`, which must be this build's version), and its option, if
    /// any; several options are joined with `+` (`name:ascii+nospace`). The
    /// error is a reason for [`crate::Error::BadKeySpec`].
    pub fn parse(name: &str, option: Option<&str>) -> Result<Self, &'static str> {
        let (name, version) = match name.split_once('@') {
            Some((n, v)) => (n, Some(v.trim())),
            None => (name, None),
        };
        let name = name.trim().to_ascii_lowercase();
        let options: Vec<String> = match option {
            None => Vec::new(),
            Some(o) => o
                .split('+')
                .map(|o| o.trim().to_ascii_lowercase())
                .collect(),
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
        let single = || -> Result<Option<&str>, &'static str> {
            match options.as_slice() {
                [] => Ok(None),
                [o] => Ok(Some(o.as_str())),
                _ => Err("this profile takes one option"),
            }
        };
        let profile = match name.as_str() {
            "raw" => no_options(Profile::Raw),
            "text" => no_options(Profile::Text),
            "digits" => no_options(Profile::Digits),
            "postcode" => no_options(Profile::Postcode),
            "email" => match single()? {
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
                    .map_err(|_| {
                        "unknown phone region (expected an ISO 3166 code such as GB or US)"
                    }),
            },
            "name" => {
                let mut o = NameOptions::default();
                for opt in &options {
                    match opt.as_str() {
                        "ascii" => o.ascii = true,
                        "nospace" => o.nospace = true,
                        _ => return Err("unknown option for name (expected ascii, nospace)"),
                    }
                }
                Ok(Profile::Name(o))
            }
            "date" => match single()? {
                None | Some("dmy") => Ok(Profile::Date(DateOptions {
                    order: DateOrder::DayMonth,
                })),
                Some("mdy") => Ok(Profile::Date(DateOptions {
                    order: DateOrder::MonthDay,
                })),
                Some(_) => Err("unknown option for date (expected dmy or mdy)"),
            },
            "zip" => match single()? {
                None | Some("zip5") => Ok(Profile::Zip(ZipDigits::Five)),
                Some("zip3") => Ok(Profile::Zip(ZipDigits::Three)),
                Some(_) => Err("unknown option for zip (expected zip5 or zip3)"),
            },
            _ => Err("unknown profile (the profiles are: raw, text, digits, email, phone, name, date, postcode, zip)"),
        }?;
        match version {
            None => Ok(profile),
            Some(v) if v.parse::<u32>().ok() == Some(profile.version()) => Ok(profile),
            Some(_) => {
                Err("unsupported profile version (this build has version 1 of every profile)")
            }
        }
    }

    /// The profile name.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Raw => "raw",
            Profile::Text => "text",
            Profile::Digits => "digits",
            Profile::Email(_) => "email",
            Profile::Phone(_) => "phone",
            Profile::Name(_) => "name",
            Profile::Date(_) => "date",
            Profile::Postcode => "postcode",
            Profile::Zip(_) => "zip",
        }
    }

    /// The profile's version: it changes whenever the profile would normalise
    /// some value differently, so that two parties can tell.
    pub fn version(&self) -> u32 {
        match self {
            Profile::Raw
            | Profile::Text
            | Profile::Digits
            | Profile::Email(_)
            | Profile::Phone(_)
            | Profile::Name(_)
            | Profile::Date(_)
            | Profile::Postcode
            | Profile::Zip(_) => 1,
        }
    }

    /// The options in canonical form and order; defaults that have a name
    /// (`dmy`, `zip5`) are written out.
    pub fn options(&self) -> Vec<String> {
        match self {
            Profile::Raw | Profile::Text | Profile::Digits | Profile::Postcode => Vec::new(),
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
            Profile::Zip(d) => vec![match d {
                ZipDigits::Five => "zip5".to_string(),
                ZipDigits::Three => "zip3".to_string(),
            }],
        }
    }

    /// Normalises one value (trimmed here too; the caller has already treated
    /// an empty value as empty).
    pub fn normalise(&self, value: &str) -> Result<Normalised, Invalid> {
        if *self == Profile::Raw {
            return Raw::parse(value).map(Normalised::Raw);
        }
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
            Profile::Postcode => Normalised::Postcode(Postcode::parse(value)?),
            Profile::Zip(d) => Normalised::Zip(Zip::parse(value, *d)?),
        })
    }
}

impl fmt::Display for Profile {
    /// `name@version[:option]`, e.g. `email@1:gmail`, `raw@1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name(), self.version())?;
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
    /// From `zip`.
    Zip(Zip),
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
            Normalised::Zip(v) => v.as_str(),
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
    /// An upper-case postcode without white space.
    Postcode
);
text_type!(
    /// The first 5 (or 3) digits of a US ZIP code.
    Zip
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

/// Fewest digits a phone number may have.
pub const MIN_PHONE_DIGITS: usize = 7;
/// Most digits a phone number may have (E.164).
pub const MAX_PHONE_DIGITS: usize = 15;

impl Phone {
    /// Checks the shape (see the module doc), reads a leading `00` as `+`,
    /// then parses and validates with libphonenumber's metadata (the
    /// `phonenumber` crate) and writes E.164.
    pub fn parse(value: &str, options: PhoneOptions) -> Result<Self, Invalid> {
        let s: String = value.nfkc().collect();
        let s = s.trim();
        if s.len() > 64 {
            return Err(Invalid::TooLong);
        }
        let mut digits = 0usize;
        for (i, c) in s.char_indices() {
            match c {
                '0'..='9' => digits += 1,
                '+' if i == 0 => {}
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                c if c.is_alphabetic() => return Err(Invalid::PhoneLetters),
                c if c.is_whitespace() => {}
                _ => return Err(Invalid::PhoneCharacter),
            }
        }
        let international: String;
        let s = match s.strip_prefix("00") {
            Some(rest) => {
                digits -= 2;
                international = format!("+{rest}");
                international.as_str()
            }
            None => s,
        };
        if digits < MIN_PHONE_DIGITS {
            return Err(Invalid::PhoneTooShort);
        }
        if digits > MAX_PHONE_DIGITS {
            return Err(Invalid::PhoneTooLong);
        }
        if !s.starts_with('+') && options.region.is_none() {
            return Err(Invalid::PhoneNeedsRegion);
        }
        // The parser is third-party code run on untrusted input: a panic in it
        // must be a rejected value, not a crashed run.
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            let number = phonenumber::parse(options.region, s).ok()?;
            let valid = phonenumber::is_valid(&number);
            Some((
                valid,
                number.format().mode(phonenumber::Mode::E164).to_string(),
            ))
        }));
        match parsed {
            Ok(Some((true, e164)))
                if e164.starts_with('+')
                    && (2..=MAX_PHONE_DIGITS + 1).contains(&e164.len())
                    && e164[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(Phone(e164))
            }
            Ok(Some(_)) => Err(Invalid::PhoneInvalid),
            Ok(None) | Err(_) => Err(Invalid::PhoneUnparsable),
        }
    }
}

/// Titles and suffixes the `name` profile drops wherever they stand as whole
/// words (so `Drew` and `Mrsic` stay).
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

/// First year the `date` profile accepts.
pub const MIN_YEAR: i32 = 1880;
/// Last year the `date` profile accepts. Fixed rather than "this year", so
/// that both parties normalise alike whatever their clocks say.
pub const MAX_YEAR: i32 = 2100;

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

impl Date {
    /// Reads the formats of the module doc, checks that the date exists and
    /// that its year is in [`MIN_YEAR`]`..=`[`MAX_YEAR`], and writes
    /// `YYYY-MM-DD`.
    pub fn parse(value: &str, options: DateOptions) -> Result<Self, Invalid> {
        let s: String = value.trim().nfkc().collect();
        let (y, m, d) = split_date(&s, options.order).ok_or(Invalid::DateFormat)?;
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(Invalid::DateNotInCalendar);
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
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
        return Some((num(&s[..4])? as i32, num(&s[4..6])?, num(&s[6..])?));
    }
    let sep = ['-', '/', '.'].into_iter().find(|&c| s.contains(c))?;
    let mut it = s.split(sep);
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let short = |p: &str| (1..=2).contains(&p.len());
    if a.len() == 4 && short(b) && short(c) && sep != '.' {
        return Some((num(a)? as i32, num(b)?, num(c)?));
    }
    if short(a) && short(b) && c.len() == 4 {
        let (a, b, y) = (num(a)?, num(b)?, num(c)? as i32);
        // D.M.YYYY is always day first; the option is for slashes and dashes.
        let month_day = order == DateOrder::MonthDay && sep != '.';
        return Some(if month_day { (y, a, b) } else { (y, b, a) });
    }
    None
}

impl Postcode {
    /// Upper case, white space removed; letters, digits and `-` only, and at
    /// least one letter or digit.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
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
        if !s.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(Invalid::NothingLeft);
        }
        Ok(Postcode(s))
    }
}

impl Zip {
    /// A US ZIP (`12345`, `123456789` or `12345-6789`, white space ignored)
    /// cut to its first 5 or 3 digits.
    pub fn parse(value: &str, keep: ZipDigits) -> Result<Self, Invalid> {
        let s: String = value.nfkc().filter(|c| !c.is_whitespace()).collect();
        let digits: String = s.chars().filter(|&c| c != '-').collect();
        let shape_ok = digits.bytes().all(|b| b.is_ascii_digit())
            && match s.find('-') {
                None => digits.len() == 5 || digits.len() == 9,
                Some(5) => s.len() == 10 && digits.len() == 9,
                Some(_) => false,
            };
        if !shape_ok {
            return Err(Invalid::ZipShape);
        }
        let keep = match keep {
            ZipDigits::Five => 5,
            ZipDigits::Three => 3,
        };
        Ok(Zip(digits[..keep].to_string()))
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
    fn profile_names_versions_options_and_display() {
        assert_eq!(
            Profile::parse("NAME", Some("nospace+ascii"))
                .unwrap()
                .to_string(),
            "name@1:ascii+nospace"
        );
        assert_eq!(
            Profile::parse("zip", None).unwrap().to_string(),
            "zip@1:zip5"
        );
        assert_eq!(
            Profile::parse("phone", Some("gb")).unwrap().to_string(),
            "phone@1:GB"
        );
        assert_eq!(
            Profile::parse("date", None).unwrap().to_string(),
            "date@1:dmy"
        );
        assert_eq!(Profile::parse("raw", None).unwrap().to_string(), "raw@1");
        assert_eq!(Profile::parse("raw@1", None).unwrap(), Profile::Raw);
        assert_eq!(
            Profile::parse("email@1", Some("gmail")).unwrap(),
            Profile::Email(EmailOptions { gmail: true })
        );
        assert!(Profile::parse("email@2", None)
            .unwrap_err()
            .contains("version"));
        assert!(Profile::parse("email@x", None).is_err());
        assert!(Profile::parse("phone", Some("XX")).is_err());
        assert!(Profile::parse("raw", Some("x")).is_err());
        assert!(Profile::parse("postcode", Some("zip5")).is_err());
        assert!(Profile::parse("email", Some("gmail+x")).is_err());
        assert!(Profile::parse("name", Some("")).is_err());
        assert!(Profile::parse("soundex", None)
            .unwrap_err()
            .contains("raw, text, digits, email, phone, name, date, postcode, zip"));
        assert!(Profile::parse("date", Some("ymd")).is_err());
        assert!(Profile::parse("zip", Some("zip4")).is_err());
    }

    #[test]
    fn email() {
        let e = |v| norm("email", None, v);
        let g = |v| norm("email", Some("gmail"), v);
        assert_eq!(
            e("  Jane.Doe+News@Example.COM ").unwrap(),
            "jane.doe+news@example.com"
        );
        assert_eq!(e("JANE@EXAMPLE.ORG").unwrap(), "jane@example.org");
        assert_eq!(
            g("Jane.Doe+News@GoogleMail.com").unwrap(),
            "janedoe@gmail.com"
        );
        assert_eq!(g("j.a.n.e@gmail.com").unwrap(), "jane@gmail.com");
        assert_eq!(g("J.A.N.E+spam+more@Gmail.COM").unwrap(), "jane@gmail.com");
        // Without the option, Gmail addresses are ordinary addresses.
        assert_eq!(e("j.a.n.e@gmail.com").unwrap(), "j.a.n.e@gmail.com");
        assert_eq!(
            g("jane.doe+x@example.com").unwrap(),
            "jane.doe+x@example.com"
        );
        assert_eq!(e("ａｂ@example.com").unwrap(), "ab@example.com");
        assert_eq!(e("a@example.com.").unwrap(), "a@example.com");
        assert_eq!(e("no-at-sign"), Err(Invalid::EmailShape));
        assert_eq!(e("a@b@c.com"), Err(Invalid::EmailShape));
        assert_eq!(e("@example.com"), Err(Invalid::EmailShape));
        assert_eq!(e("a@"), Err(Invalid::EmailShape));
        assert_eq!(e("a b@example.com"), Err(Invalid::EmailCharacter));
        assert_eq!(e("a@localhost"), Err(Invalid::EmailDomain));
        assert_eq!(e("a@x..com"), Err(Invalid::EmailDomain));
        assert_eq!(g("+tag@gmail.com"), Err(Invalid::EmailShape));
        assert_eq!(g("...@gmail.com"), Err(Invalid::EmailShape));
    }

    #[test]
    fn phone() {
        let gb = |v| norm("phone", Some("GB"), v);
        let us = |v| norm("phone", Some("US"), v);
        assert_eq!(gb("020 7946 0018").unwrap(), "+442079460018");
        assert_eq!(gb("+44 (0)20 7946 0018").unwrap(), "+442079460018");
        assert_eq!(gb("0044 20 7946 0018").unwrap(), "+442079460018");
        assert_eq!(gb("(020) 7946-0018").unwrap(), "+442079460018");
        assert_eq!(gb("07911 123456").unwrap(), "+447911123456");
        assert_eq!(gb("07911.123.456").unwrap(), "+447911123456");
        // Ofcom's range for drama is not a real number.
        assert_eq!(gb("07700 900123"), Err(Invalid::PhoneInvalid));
        assert_eq!(us("(201) 555-0123").unwrap(), "+12015550123");
        assert_eq!(us("1 201 555 0123").unwrap(), "+12015550123");
        assert_eq!(us("1-201-555-0123").unwrap(), "+12015550123");
        assert_eq!(us("+1 (201) 555-0123").unwrap(), "+12015550123");
        // 00 means international whatever the region's own exit code is.
        assert_eq!(us("0044 20 7946 0018").unwrap(), "+442079460018");
        // Another country's number written internationally keeps its code.
        assert_eq!(gb("+1 201-555-0123").unwrap(), "+12015550123");
        assert_eq!(
            norm("phone", Some("DE"), "030 123456").unwrap(),
            "+4930123456"
        );
        assert_eq!(
            norm("phone", None, "+1 201-555-0123").unwrap(),
            "+12015550123"
        );
        assert_eq!(
            norm("phone", None, "020 7946 0018"),
            Err(Invalid::PhoneNeedsRegion)
        );
        assert_eq!(gb("not a phone"), Err(Invalid::PhoneLetters));
        assert_eq!(gb("1-800-FLOWERS"), Err(Invalid::PhoneLetters));
        assert_eq!(gb("+44 20 7946 0018 ext. 12"), Err(Invalid::PhoneLetters));
        assert_eq!(gb("020#7946#0018"), Err(Invalid::PhoneCharacter));
        assert_eq!(gb("44+20"), Err(Invalid::PhoneCharacter));
        assert_eq!(gb("12"), Err(Invalid::PhoneTooShort));
        assert_eq!(gb("+44 123"), Err(Invalid::PhoneTooShort));
        assert_eq!(gb("+999999999999999999999"), Err(Invalid::PhoneTooLong));
        assert_eq!(gb("020 7946 001"), Err(Invalid::PhoneInvalid));
        for weird in [
            "+",
            "++44",
            "+0",
            "00",
            "0000000000",
            "+0000000",
            "\u{0}\u{1}+1",
            "(((((((",
            "0",
            "+ - . ( ) /",
        ] {
            assert!(gb(weird).is_err(), "{weird}");
        }
    }

    #[test]
    fn name() {
        let n = |v| norm("name", None, v);
        let a = |v| norm("name", Some("ascii"), v);
        assert_eq!(n("  Dr. José  MARÍA  ").unwrap(), "josé maría");
        assert_eq!(a("  Dr. José  MARÍA  ").unwrap(), "jose maria");
        assert_eq!(a("Søren Kierkegaard").unwrap(), "soren kierkegaard");
        assert_eq!(a("François Müller").unwrap(), "francois muller");
        assert_eq!(n("Mrs Jane Smith-Jones Jr.").unwrap(), "jane smith jones");
        assert_eq!(n("smith jones").unwrap(), n("Smith-Jones").unwrap());
        assert_eq!(n("O'Brien").unwrap(), "obrien");
        assert_eq!(n("O’BRIEN III").unwrap(), "obrien");
        assert_eq!(n("Martin Luther King, Jr.").unwrap(), "martin luther king");
        assert_eq!(n("Prof. Sir Ian Ii").unwrap(), "ian");
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
        let d = |v| norm("date", None, v);
        let us = |v| norm("date", Some("mdy"), v);
        assert_eq!(d("19560107").unwrap(), "1956-01-07");
        assert_eq!(d(" 1956-01-07 ").unwrap(), "1956-01-07");
        assert_eq!(d("1956/01/07").unwrap(), "1956-01-07");
        assert_eq!(d("1956-1-7").unwrap(), "1956-01-07");
        assert_eq!(d("07/01/1956").unwrap(), "1956-01-07");
        assert_eq!(d("07-01-1956").unwrap(), "1956-01-07");
        assert_eq!(d("07.01.1956").unwrap(), "1956-01-07");
        assert_eq!(d("7.1.1956").unwrap(), "1956-01-07");
        assert_eq!(us("01/07/1956").unwrap(), "1956-01-07");
        assert_eq!(us("01-07-1956").unwrap(), "1956-01-07");
        assert_eq!(us("7.1.1956").unwrap(), "1956-01-07");
        assert_eq!(us("1956-01-07").unwrap(), "1956-01-07");
        assert_eq!(us("13/01/1956"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("29/02/2000").unwrap(), "2000-02-29");
        assert_eq!(d("20240229").unwrap(), "2024-02-29");
        assert_eq!(d("29/02/1900"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("20230229"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19561301"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19560431"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("19560100"), Err(Invalid::DateNotInCalendar));
        assert_eq!(d("18790101"), Err(Invalid::DateYear));
        assert_eq!(d("18800101").unwrap(), "1880-01-01");
        assert_eq!(d("21001231").unwrap(), "2100-12-31");
        assert_eq!(d("21010101"), Err(Invalid::DateYear));
        assert_eq!(d("00000000"), Err(Invalid::DateNotInCalendar));
        for bad in [
            "195601",
            "1956.01.07",
            "07/01/56",
            "7.1.56",
            "a9560107",
            "+9560107",
            "07/01/1956/1",
            "07/01-1956",
            "１９５６０１０７x",
            "1956-001-07",
            "-1-1956",
            "//",
        ] {
            assert_eq!(d(bad), Err(Invalid::DateFormat), "{bad}");
        }
    }

    #[test]
    fn postcode_zip_digits_text_raw() {
        assert_eq!(norm("postcode", None, " sw1a 1aa ").unwrap(), "SW1A1AA");
        assert_eq!(norm("postcode", None, "sw1a\t1aa").unwrap(), "SW1A1AA");
        assert_eq!(norm("postcode", None, "00-950").unwrap(), "00-950");
        assert_eq!(
            norm("postcode", None, "SW1A/1AA"),
            Err(Invalid::PostcodeCharacter)
        );
        assert_eq!(norm("postcode", None, "-"), Err(Invalid::NothingLeft));
        assert_eq!(norm("zip", None, "12345-6789").unwrap(), "12345");
        assert_eq!(norm("zip", None, "123456789").unwrap(), "12345");
        assert_eq!(norm("zip", Some("zip5"), " 12345 ").unwrap(), "12345");
        assert_eq!(norm("zip", Some("zip3"), "12345").unwrap(), "123");
        assert_eq!(norm("zip", Some("zip3"), "12345-6789").unwrap(), "123");
        assert_eq!(norm("zip", None, "1234"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "123456"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "12345-678"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "1234-56789"), Err(Invalid::ZipShape));
        assert_eq!(norm("zip", None, "ABCDE"), Err(Invalid::ZipShape));
        assert_eq!(
            norm("digits", None, "+44 (20) 7946-0018").unwrap(),
            "442079460018"
        );
        assert_eq!(norm("digits", None, "１２３").unwrap(), "123");
        assert_eq!(norm("digits", None, "n/a"), Err(Invalid::NoDigits));
        assert_eq!(norm("text", None, " ﬁle ").unwrap(), "file");
        assert_eq!(norm("raw", None, " ﬁle ").unwrap(), "ﬁle");
        // raw keeps today's behaviour: any length.
        assert_eq!(norm("raw", None, &"x".repeat(2000)).unwrap().len(), 2000);
        assert_eq!(norm("text", None, &"x".repeat(2000)), Err(Invalid::TooLong));
    }
}
