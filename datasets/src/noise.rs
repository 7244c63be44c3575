//! Realistic data-entry differences applied to party B's copy of a shared
//! person, for record-linkage tests.
//!
//! Every change keeps the person recognisable to a human: a typo in a name,
//! different letter case in the email, another way of writing the same phone
//! number, date or postcode. Each noisy row gets one change, and one in four
//! a second one; every change is guaranteed to alter the bytes.

use std::fmt::Write as _;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use crate::names::fold_char;
use crate::person::{below, Person};

/// Applies one or two changes to `p`, drawn from `rng`.
pub(crate) fn perturb(p: &mut Person, rng: &mut ChaCha8Rng) {
    let first = below(rng, 5);
    apply(p, first, rng);
    if below(rng, 4) == 0 {
        let second = (first + 1 + below(rng, 4)) % 5;
        apply(p, second, rng);
    }
}

fn apply(p: &mut Person, kind: u64, rng: &mut ChaCha8Rng) {
    match kind {
        0 => {
            let field = if below(rng, 2) == 0 {
                &mut p.given_name
            } else {
                &mut p.surname
            };
            typo(field, rng);
        }
        1 => email_case(&mut p.email, rng),
        2 => phone_format(&mut p.phone, rng),
        3 => date_format(&mut p.date_of_birth, rng),
        _ => postcode_format(&mut p.postcode, rng),
    }
}

/// A typing error or a keyboard/encoding habit in a name.
fn typo(name: &mut String, rng: &mut impl RngCore) {
    let original = name.clone();
    let mut chars: Vec<char> = name.chars().collect();
    let n = chars.len() as u64;
    match below(rng, 6) {
        // Swap two neighbours: "Jones" -> "Jnoes".
        0 if n >= 2 => {
            let i = below(rng, n - 1) as usize;
            chars.swap(i, i + 1);
        }
        // Drop a letter: "Matthew" -> "Mathew".
        1 if n >= 3 => {
            chars.remove(below(rng, n) as usize);
        }
        // Strip diacritics: "Zoë" -> "Zoe" (keeping case).
        2 if !name.is_ascii() => {
            chars = strip_diacritics(&chars);
        }
        // Shouting: "MÜLLER".
        3 => chars = name.to_uppercase().chars().collect(),
        // All lower case: "o'brien".
        4 => chars = name.to_lowercase().chars().collect(),
        // Double a letter: "Smith" -> "Smmith" (also the fallback).
        _ => {
            let i = below(rng, n) as usize;
            chars.insert(i, chars[i]);
        }
    }
    name.clear();
    name.extend(chars);
    if *name == original {
        // A swap of equal letters or a case change that did nothing.
        if let Some(last) = original.chars().last() {
            name.push(last);
        }
    }
}

fn strip_diacritics(chars: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len());
    for &c in chars {
        let folded = fold_char(c);
        if c.is_ascii() || folded.is_empty() {
            out.push(c);
        } else if c.is_uppercase() {
            out.extend(folded.chars().map(|f| f.to_ascii_uppercase()));
        } else {
            out.extend(folded.chars());
        }
    }
    out
}

/// Upper-cases part of an email; the generated address is all lower case,
/// so the result always differs.
fn email_case(email: &mut String, rng: &mut impl RngCore) {
    let Some(at) = email.find('@') else {
        email.make_ascii_uppercase();
        return;
    };
    match below(rng, 3) {
        0 => email.make_ascii_uppercase(),
        1 => email[..at].make_ascii_uppercase(),
        _ => {
            // Capitalise each dot-separated word of the local part, or failing
            // that (a local part starting with a digit) the domain.
            let mut capital = true;
            let local: String = email[..at]
                .chars()
                .map(|c| {
                    let out = if capital { c.to_ascii_uppercase() } else { c };
                    capital = matches!(c, '.' | '_' | '-');
                    out
                })
                .collect();
            if local == email[..at] {
                email[at..].make_ascii_uppercase();
            } else {
                email.replace_range(..at, &local);
            }
        }
    }
}

/// Writes `+44 7700 900123` another way.
fn phone_format(phone: &mut String, rng: &mut impl RngCore) {
    // The national significant number, "7700900123".
    let digits: String = phone.chars().filter(char::is_ascii_digit).skip(2).collect();
    if digits.len() != 10 {
        phone.push(' ');
        return;
    }
    let (head, tail) = digits.split_at(4);
    let formatted = match below(rng, 7) {
        0 => format!("0{head} {tail}"),
        1 => format!("0{digits}"),
        2 => format!("+44{digits}"),
        3 => format!("+44 (0){head} {tail}"),
        4 => format!("0{head}-{}-{}", &tail[..3], &tail[3..]),
        5 => format!("(0{head}) {tail}"),
        _ => format!("0044 {head} {tail}"),
    };
    *phone = formatted;
}

/// Writes `1985-03-07` another way.
fn date_format(date: &mut String, rng: &mut impl RngCore) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parse = |s: &str| s.parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (
        date.get(..4).and_then(parse),
        date.get(5..7).and_then(parse),
        date.get(8..10).and_then(parse),
    ) else {
        date.push(' ');
        return;
    };
    let month_name = MONTHS[(m.clamp(1, 12) - 1) as usize];
    date.clear();
    let _ = match below(rng, 6) {
        0 => write!(date, "{d:02}/{m:02}/{y}"),
        1 => write!(date, "{d}/{m}/{y}"),
        2 => write!(date, "{y}/{m:02}/{d:02}"),
        3 => write!(date, "{y}{m:02}{d:02}"),
        4 => write!(date, "{d:02}.{m:02}.{y}"),
        _ => write!(date, "{d} {month_name} {y}"),
    };
}

/// Drops the space or lower-cases a postcode: "SW1A 2AA" -> "SW1A2AA".
fn postcode_format(postcode: &mut String, rng: &mut impl RngCore) {
    match below(rng, 3) {
        0 => postcode.retain(|c| c != ' '),
        1 => postcode.make_ascii_lowercase(),
        _ => {
            postcode.retain(|c| c != ' ');
            postcode.make_ascii_lowercase();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::{chacha_for, person, stream};

    #[test]
    fn every_change_alters_the_row() {
        let template = chacha_for(5, 99);
        for i in 0..5_000 {
            let clean = person(5, i);
            for kind in 0..5 {
                let mut noisy = clean.clone();
                apply(&mut noisy, kind, &mut stream(&template, i));
                assert_ne!(noisy, clean, "kind {kind} left person {i} unchanged");
                assert_eq!(noisy.id, clean.id);
            }
        }
    }

    #[test]
    fn formats_are_recognisable() {
        let mut rng = chacha_for(1, 2);
        let mut p = String::from("+44 7700 900123");
        phone_format(&mut p, &mut rng);
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        assert!(digits.ends_with("7700900123"), "{p}");
        let mut d = String::from("1985-03-07");
        date_format(&mut d, &mut rng);
        assert!(d.contains("1985") && d != "1985-03-07", "{d}");
        let chars: Vec<char> = "Zoë Ångström".chars().collect();
        assert_eq!(
            strip_diacritics(&chars).into_iter().collect::<String>(),
            "Zoe Angstrom"
        );
    }
}
