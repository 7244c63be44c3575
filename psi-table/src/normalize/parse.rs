//! The parse functions of the profiles' types: each turns a raw value into
//! its canonical form or says why it cannot ([`Invalid`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::{
    Date, DateOptions, DateOrder, Digits, Email, EmailOptions, Invalid, Name, NameOptions, Phone,
    PhoneOptions, Postcode, Raw, Text, Zip, ZipDigits,
};

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
