//! One synthetic person, a pure function of `(seed, index)`.

use std::fmt::Write as _;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::names::{
    push_ascii_folded, EMAIL_DOMAINS, GIVEN_NAMES, INWARD_LETTERS, LETTERED_DISTRICT_AREAS,
    POSTCODE_AREAS, SURNAMES,
};
use crate::permutation::{derive, Permutation};

/// Purpose tags for subkeys derived from the seed.
pub(crate) mod tag {
    /// The ChaCha key of the per-person streams.
    pub(crate) const PERSON: u64 = 1;
    /// The ChaCha key of the per-person noise streams.
    pub(crate) const NOISE: u64 = 2;
    /// The row order of party A.
    pub(crate) const ORDER_A: u64 = 3;
    /// The row order of party B.
    pub(crate) const ORDER_B: u64 = 4;
    /// Which shared persons get noise.
    pub(crate) const NOISE_SELECTION: u64 = 5;
    /// The phone-number permutation.
    pub(crate) const PHONE: u64 = 6;
    /// The number at the end of an email's local part.
    pub(crate) const EMAIL_NUMBER: u64 = 7;
}

/// Distinct phone numbers available: `+44 7d` with `d` one of 8 digits,
/// followed by 8 more digits.
pub const PHONE_CAPACITY: u64 = 8 * 100_000_000;

/// Digits that follow `+44 7` in UK mobile numbers (070 is personal
/// numbering and 076 is pagers, so those are left out).
const MOBILE_SECOND_DIGITS: &[u8] = b"12345789";

/// A synthetic person. Every field is a deterministic function of the seed
/// and the person's global index; both parties see the same `Person` for the
/// same index (before noise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Person {
    /// The global person index. It is *not* written to the tables: the `id`
    /// column holds a per-party row id instead.
    pub id: u64,
    /// Given name, possibly with diacritics or a hyphen ("Zoë", "Mary-Jane").
    pub given_name: String,
    /// Surname, possibly with diacritics, an apostrophe or a hyphen.
    pub surname: String,
    /// Lower-case email address, unique per index: the local part ends in a
    /// number that is a keyed bijection of the index (with as many digits as
    /// the index) and contains no other digit.
    pub email: String,
    /// UK mobile number in the form `+44 7700 900123`, unique per index below
    /// [`PHONE_CAPACITY`].
    pub phone: String,
    /// Date of birth `YYYY-MM-DD`, between 1930-01-01 and 2008-12-31.
    pub date_of_birth: String,
    /// UK-style postcode such as `SW1A 2AA` or `LS6 3QT`.
    pub postcode: String,
    /// A non-negative amount in pence (cents), for PSI-sum tests.
    pub spend: u64,
}

/// Everything derived from the seed that person generation needs, computed
/// once per table rather than once per row.
#[derive(Clone, Debug)]
pub(crate) struct PersonKeys {
    /// ChaCha8 keyed from the seed, at stream 0; a person uses stream `index`.
    rng: ChaCha8Rng,
    phone: Permutation,
    email_numbers: EmailNumbers,
}

impl PersonKeys {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: chacha_for(seed, tag::PERSON),
            phone: Permutation::new(PHONE_CAPACITY, derive(seed, tag::PHONE)),
            email_numbers: EmailNumbers::new(derive(seed, tag::EMAIL_NUMBER)),
        }
    }
}

/// A keyed bijection of `u64` that keeps the number of decimal digits: it
/// permutes `[0, 10)`, each `[10^k, 10^(k+1))` and `[10^19, u64::MAX]` within
/// itself. Emails end with the image of the person's index, so they stay
/// unique without revealing the index (which would reveal who is shared).
#[derive(Clone, Debug)]
pub(crate) struct EmailNumbers {
    /// `decades[k]` permutes the numbers with `k + 1` digits.
    decades: Vec<Permutation>,
}

impl EmailNumbers {
    fn new(key: u64) -> Self {
        let decades = (0..20u32)
            .map(|k| {
                let (low, high) = Self::decade(k);
                Permutation::new(high - low + 1, derive(key, u64::from(k)))
            })
            .collect();
        Self { decades }
    }

    /// The inclusive range of the numbers with `k + 1` decimal digits.
    fn decade(k: u32) -> (u64, u64) {
        let low = if k == 0 { 0 } else { 10u64.pow(k) };
        let high = 10u64.checked_pow(k + 1).map_or(u64::MAX, |h| h - 1);
        (low, high)
    }

    pub(crate) fn apply(&self, index: u64) -> u64 {
        let k = index.checked_ilog10().unwrap_or(0);
        let (low, _) = Self::decade(k);
        low + self.decades[k as usize].apply(index - low)
    }
}

/// A ChaCha8 generator whose 256-bit key is derived from `(seed, tag)`.
pub(crate) fn chacha_for(seed: u64, tag: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    for (i, chunk) in (0u64..).zip(key.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&derive(seed, tag.wrapping_mul(16).wrapping_add(i)).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// The generator of stream `index` under the key of `template`.
pub(crate) fn stream(template: &ChaCha8Rng, index: u64) -> ChaCha8Rng {
    let mut rng = template.clone();
    rng.set_stream(index);
    rng
}

/// A uniform draw from `[0, n)` (Lemire's multiply-shift; the bias is below
/// `n / 2^64`, irrelevant for test data). Integer-only, so tables are
/// byte-identical on every platform.
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    let wide = u128::from(rng.next_u64()) * u128::from(n);
    // The high half of a 64x64-bit product is below n.
    (wide >> 64) as u64
}

/// An index into a list of length `len`, biased towards the front: the
/// smaller of two uniform draws, density `2(1 - x)`.
pub(crate) fn skewed(rng: &mut impl RngCore, len: usize) -> usize {
    let n = len as u64;
    let i = below(rng, n).min(below(rng, n));
    // i < len, so it fits.
    i as usize
}

/// Picks from a list with the front-biased distribution.
pub(crate) fn pick<'a, T: ?Sized>(rng: &mut impl RngCore, list: &[&'a T]) -> &'a T {
    list[skewed(rng, list.len())]
}

/// Picks uniformly from a list.
pub(crate) fn pick_uniform<T: Copy>(rng: &mut impl RngCore, list: &[T]) -> T {
    list[below(rng, list.len() as u64) as usize]
}

/// Days from 1970-01-01 to 1930-01-01.
const DOB_FIRST_DAY: i64 = days_from_civil(1930, 1, 1);
/// Days from 1970-01-01 to 2008-12-31.
const DOB_LAST_DAY: i64 = days_from_civil(2008, 12, 31);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms").
pub(crate) const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01; inverse of
/// [`days_from_civil`].
pub(crate) const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The person with global index `index` under `seed`.
///
/// Deterministic: the same `(seed, index)` always gives the same person, on
/// every platform, which lets tests compute the true intersection of two
/// generated tables without storing them.
///
/// Emails are unique for every `u64` index; phone numbers are unique for indices
/// below [`PHONE_CAPACITY`] (and wrap around above it).
pub fn person(seed: u64, index: u64) -> Person {
    let mut p = Person::default();
    p.fill(&PersonKeys::new(seed), index);
    p
}

impl Person {
    /// Overwrites `self` with person `index`, reusing the string buffers.
    pub(crate) fn fill(&mut self, keys: &PersonKeys, index: u64) {
        let mut rng = stream(&keys.rng, index);
        let rng = &mut rng;
        self.id = index;

        let given = pick(rng, GIVEN_NAMES);
        let surname = pick(rng, SURNAMES);
        self.given_name.clear();
        self.given_name.push_str(given);
        self.surname.clear();
        self.surname.push_str(surname);

        // Email: a name-based local part without digits, then a decimal
        // number that is a bijective function of the index. The number is
        // the maximal run of trailing digits of the local part, so two
        // indices never share an address whatever the names.
        let e = &mut self.email;
        e.clear();
        // The first letter of the folded name (an ASCII letter, one byte).
        let initial = |e: &mut String, name: &str| {
            let start = e.len();
            push_ascii_folded(e, name);
            e.truncate(start + 1);
        };
        match below(rng, 8) {
            0 | 1 => {
                push_ascii_folded(e, given);
                e.push('.');
                push_ascii_folded(e, surname);
            }
            2 => {
                push_ascii_folded(e, given);
                push_ascii_folded(e, surname);
            }
            3 => {
                initial(e, given);
                push_ascii_folded(e, surname);
            }
            4 => {
                push_ascii_folded(e, given);
                e.push('_');
                push_ascii_folded(e, surname);
            }
            5 => {
                push_ascii_folded(e, surname);
                e.push('.');
                push_ascii_folded(e, given);
            }
            6 => {
                push_ascii_folded(e, given);
                e.push('.');
                initial(e, surname);
            }
            _ => push_ascii_folded(e, given),
        }
        let domain = pick(rng, EMAIL_DOMAINS);
        // Writing to a String cannot fail.
        let _ = write!(e, "{}@{domain}", keys.email_numbers.apply(index));

        // Phone: a keyed permutation of the index, so numbers look random but
        // never repeat.
        let n = keys.phone.apply(index % PHONE_CAPACITY);
        let second = char::from(MOBILE_SECOND_DIGITS[(n / 100_000_000) as usize]);
        let rest = n % 100_000_000;
        self.phone.clear();
        let _ = write!(
            self.phone,
            "+44 7{second}{:02} {:06}",
            rest / 1_000_000,
            rest % 1_000_000
        );

        let span = (DOB_LAST_DAY - DOB_FIRST_DAY + 1) as u64;
        let day = DOB_FIRST_DAY + below(rng, span) as i64;
        let (y, m, d) = civil_from_days(day);
        self.date_of_birth.clear();
        let _ = write!(self.date_of_birth, "{y:04}-{m:02}-{d:02}");

        let area = pick(rng, POSTCODE_AREAS);
        let district = 1 + below(rng, 20);
        let lettered =
            district < 10 && LETTERED_DISTRICT_AREAS.contains(&area) && below(rng, 4) == 0;
        let pc = &mut self.postcode;
        pc.clear();
        let _ = write!(pc, "{area}{district}");
        if lettered {
            pc.push(char::from(pick_uniform(rng, b"ABCHMNPRVWXY")));
        }
        pc.push(' ');
        pc.push(char::from(b'0' + below(rng, 10) as u8));
        pc.push(char::from(pick_uniform(rng, INWARD_LETTERS)));
        pc.push(char::from(pick_uniform(rng, INWARD_LETTERS)));

        // Spend: zero for about 1 in 12; otherwise a log-scale amount from
        // £1 to £9,999.99, mostly in the tens and hundreds of pounds.
        self.spend = if below(rng, 12) == 0 {
            0
        } else {
            let decade = match below(rng, 100) {
                0..30 => 100,
                30..70 => 1_000,
                70..92 => 10_000,
                _ => 100_000,
            };
            decade + below(rng, 9 * decade)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(DOB_FIRST_DAY), (1930, 1, 1));
        assert_eq!(civil_from_days(DOB_LAST_DAY), (2008, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
        for d in DOB_FIRST_DAY..=DOB_LAST_DAY {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(day)), d);
        }
    }

    #[test]
    fn email_numbers_are_a_digit_count_preserving_bijection() {
        let numbers = EmailNumbers::new(3);
        let mut seen = HashSet::new();
        for i in 0..100_000 {
            let n = numbers.apply(i);
            assert_eq!(n.to_string().len(), i.to_string().len(), "{i} -> {n}");
            assert!(seen.insert(n), "{n} twice");
        }
        assert_ne!(numbers.apply(12_345), 12_345);
        for i in [
            9,
            10,
            10u64.pow(19) - 1,
            10u64.pow(19),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let n = numbers.apply(i);
            assert_eq!(n.checked_ilog10(), i.checked_ilog10(), "{i} -> {n}");
        }
    }

    #[test]
    fn person_is_deterministic_and_seed_dependent() {
        assert_eq!(person(1, 42), person(1, 42));
        assert_ne!(person(1, 42), person(2, 42));
        assert_ne!(person(1, 42), person(1, 43));
        let keys = PersonKeys::new(1);
        let mut reused = person(1, 7);
        reused.fill(&keys, 42);
        assert_eq!(reused, person(1, 42));
    }

    #[test]
    fn fields_are_well_formed_and_unique() {
        let mut emails = HashSet::new();
        let mut phones = HashSet::new();
        for i in 0..20_000 {
            let p = person(9, i);
            assert_eq!(p.id, i);
            assert!(emails.insert(p.email.clone()), "duplicate {}", p.email);
            assert!(phones.insert(p.phone.clone()), "duplicate {}", p.phone);
            let (local, domain) = p.email.split_once('@').expect("has @");
            let digits = local.trim_start_matches(|c: char| !c.is_ascii_digit());
            assert_eq!(digits.len(), i.to_string().len(), "{}", p.email);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", p.email);
            assert!(EMAIL_DOMAINS.contains(&domain));
            let b = p.phone.as_bytes();
            assert_eq!(p.phone.len(), 15, "{}", p.phone);
            assert!(p.phone.starts_with("+44 7") && b[8] == b' ', "{}", p.phone);
            let dob = &p.date_of_birth;
            assert!(
                ("1930-01-01"..="2008-12-31").contains(&dob.as_str()),
                "{dob}"
            );
            assert_eq!(dob.len(), 10);
            let (outward, inward) = p.postcode.split_once(' ').expect("has a space");
            assert!((2..=4).contains(&outward.len()), "{}", p.postcode);
            assert_eq!(inward.len(), 3, "{}", p.postcode);
            assert!(p.spend < 1_000_000);
        }
    }

    #[test]
    fn names_and_spend_are_varied() {
        let people: Vec<_> = (0..5_000).map(|i| person(3, i)).collect();
        let given: HashSet<_> = people.iter().map(|p| &p.given_name).collect();
        let surnames: HashSet<_> = people.iter().map(|p| &p.surname).collect();
        assert!(given.len() > 200 && surnames.len() > 200);
        assert!(people.iter().any(|p| !p.surname.is_ascii()));
        assert!(people.iter().any(|p| p.spend == 0));
        assert!(people.iter().any(|p| p.spend > 100_000));
    }
}
