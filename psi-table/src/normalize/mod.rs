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

mod parse;

#[cfg(test)]
mod tests;
