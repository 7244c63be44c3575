#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Rows of party A.
    pub rows_a: u64,
    /// Rows of party B.
    pub rows_b: u64,
    /// People present in both tables (at most `min(rows_a, rows_b)`).
    pub overlap: u64,
    /// Seed: same seed, same bytes.
    pub seed: u64,
    /// Fraction (0..=1) of shared people whose copy in B carries a realistic change.
    pub noise: f64,
    /// Add a `spend` column.
    pub with_value: bool,
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenSummary {
    /// Rows written for A.
    pub rows_a: u64,
    /// Rows written for B.
    pub rows_b: u64,
    /// People in both.
    pub overlap: u64,
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is impossible.
    #[error("invalid dataset configuration: {0}")]
    Config(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file ("party A output" / "party B output" for writers).
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One generated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Global person number.
    pub id: u64,
    /// Given name.
    pub given_name: String,
    /// Surname.
    pub surname: String,
    /// Unique email address.
    pub email: String,
    /// Unique phone number, `+44 7xxx xxxxxx`.
    pub phone: String,
    /// `YYYY-MM-DD`, 1930–2008.
    pub date_of_birth: String,
    /// UK-style postcode.
    pub postcode: String,
    /// Spend in cents, `0 ..= 10^7`.
    pub spend: u64,
}

const GIVEN: &[&str] = &[
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Florence",
    "Willow",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theodore",
    "Freddie",
    "Jack",
    "Charlie",
    "Theo",
    "Alfie",
    "Jacob",
    "Thomas",
    "Finley",
    "Arlo",
    "James",
    "William",
    "Lucas",
    "Edward",
    "Joshua",
    "Samuel",
    "Daniel",
    "Benjamin",
    "Max",
    "Ethan",
    "José",
    "Zoë",
    "Chloé",
    "Siân",
    "Seán",
    "Niamh",
    "Aoife",
    "Eoin",
    "Ciarán",
    "Dáithí",
    "Mary-Jane",
    "Anne-Marie",
    "Jean-Paul",
    "Priya",
    "Aarav",
    "Fatima",
    "Aisha",
    "Omar",
    "Yusuf",
    "Hannah",
    "Sarah",
    "Rebecca",
    "Laura",
    "Emma",
    "Katie",
    "Sophie",
    "Jessica",
    "Lucy",
    "Megan",
    "Michael",
    "David",
    "John",
    "Paul",
    "Mark",
    "Andrew",
    "Richard",
    "Peter",
    "Stephen",
    "Robert",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Björn",
    "Søren",
    "Łukasz",
    "Zoltán",
    "François",
    "Renée",
];

const SURNAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Powell",
    "Webb",
    "Rogers",
    "O'Brien",
    "O'Connor",
    "McDonald",
    "MacLeod",
    "Smith-Jones",
    "Ashworth-Lee",
    "Müller",
    "Schröder",
    "García",
    "Fernández",
    "Núñez",
    "Çelik",
    "Dvořák",
    "Nowak",
    "Kowalski",
    "Nguyen",
    "Wang",
    "Chen",
    "Kim",
    "Ali",
    "Ahmed",
    "Hussain",
    "Rahman",
    "Okafor",
    "Mensah",
    "Van der Berg",
    "De Souza",
];

const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "icloud.com",
    "btinternet.com",
    "proton.me",
    "example.org",
];

const AREAS: &[&str] = &[
    "SW", "SE", "N", "NW", "E", "EC", "W", "WC", "B", "M", "L", "LS", "G", "EH", "CF", "BS", "OX",
    "CB", "NE", "S", "NG", "LE", "BT", "AB",
];

/// A stream of random numbers that depends only on `(seed, index, stream)`.
fn rng_for(seed: u64, index: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed0f_da7a);
    rng.set_stream(stream);
    // 64 words per person leaves room for every draw below.
    rng.set_word_pos(u128::from(index) * 64);
    rng
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ó' | 'ö' | 'ø' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ñ' | 'ń' => Some('n'),
            'ç' => Some('c'),
            'ł' => Some('l'),
            'ř' => Some('r'),
            'Ø' => Some('o'),
            '\'' | ' ' => None,
            c if c.is_ascii_alphanumeric() || c == '-' => Some(c.to_ascii_lowercase()),
            c if c.is_alphabetic() => Some('x'),
            _ => None,
        })
        .collect()
}

/// Person `index` of the population of `seed`.
pub fn person(seed: u64, index: u64) -> Person {
    let mut rng = rng_for(seed, index, 0);
    let given = GIVEN[rng.random_range(0..GIVEN.len())];
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    // The person number in base 36 makes the email unique.
    let tag = base36(index);
    let email = match rng.random_range(0..3) {
        0 => format!(
            "{}.{}.{tag}@{domain}",
            ascii_fold(given),
            ascii_fold(surname)
        ),
        1 => format!(
            "{}{}{tag}@{domain}",
            &ascii_fold(given)[..1],
            ascii_fold(surname)
        ),
        _ => format!("{}_{tag}@{domain}", ascii_fold(given)),
    };
    // 07xxx xxxxxx: 10 digits after the 0, unique per person below 10^9 people.
    let digits = 7_000_000_000u64 + (index % 1_000_000_000);
    let phone = format!(
        "+44 {} {}",
        digits / 1_000_000,
        format_args!("{:06}", digits % 1_000_000)
    );
    let year = rng.random_range(1930..=2008);
    let month = rng.random_range(1..=12u32);
    let day = rng.random_range(1..=28u32);
    let area = AREAS[rng.random_range(0..AREAS.len())];
    let postcode = format!(
        "{area}{} {}{}{}",
        rng.random_range(1..=20),
        rng.random_range(0..10),
        char::from(b'A' + rng.random_range(0..26u8)),
        char::from(b'A' + rng.random_range(0..26u8)),
    );
    let spend = rng.random_range(0..=10_000_000);
    Person {
        id: index,
        given_name: given.to_string(),
        surname: surname.to_string(),
        email,
        phone,
        date_of_birth: format!("{year:04}-{month:02}-{day:02}"),
        postcode,
        spend,
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A keyed pseudorandom permutation of `0..n`: a four-round Feistel network over
/// the next even power of two, with cycle walking back into range.
#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    /// The permutation of `0..n` for `key`.
    pub fn new(n: u64, key: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        Permutation {
            n,
            half_bits,
            keys: [rng.random(), rng.random(), rng.random(), rng.random()],
        }
    }

    fn round(&self, x: u64, key: u64) -> u64 {
        // A few multiply-xorshift steps: a fast keyed mixing function.
        let mut z = x ^ key;
        z = (z ^ (z >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 32)
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            let next = l ^ (self.round(r, k) & mask);
            l = r;
            r = next;
        }
        (l << self.half_bits) | r
    }

    /// The image of `x` (`x < n`).
    pub fn apply(&self, x: u64) -> u64 {
        let mut y = self.feistel(x);
        while y >= self.n {
            y = self.feistel(y);
        }
        y
    }
}

/// Applies B's noise to a shared person's copy.
fn add_noise(p: &mut Person, seed: u64) {
    let mut rng = rng_for(seed, p.id, 1);
    match rng.random_range(0..5) {
        0 => {
            // A typo in the surname: swap two neighbouring letters or drop one.
            let mut chars: Vec<char> = p.surname.chars().collect();
            if chars.len() > 2 {
                let i = rng.random_range(0..chars.len() - 1);
                if rng.random_bool(0.5) {
                    chars.swap(i, i + 1);
                } else {
                    chars.remove(i);
                }
            }
            p.surname = chars.into_iter().collect();
        }
        1 => p.email = p.email.to_uppercase(),
        2 => {
            let digits: String = p.phone.chars().filter(char::is_ascii_digit).collect();
            p.phone = format!("0{}", &digits[2..]);
        }
        3 => {
            let parts: Vec<&str> = p.date_of_birth.split('-').collect();
            if let [y, m, d] = parts[..] {
                p.date_of_birth = format!("{d}/{m}/{y}");
            }
        }
        _ => p.given_name = format!("  {}", p.given_name.to_uppercase()),
    }
}

fn write_side<W: Write>(
    config: &GenConfig,
    out: W,
    side: char,
    rows: u64,
    first_person: u64,
    name: &str,
) -> Result<(), Error> {
    let err = |source: std::io::Error| Error::Write {
        path: name.to_string(),
        source,
    };
    let csv_err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => err(io),
        other => err(std::io::Error::other(format!("{other:?}"))),
    };
    let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, out));
    let mut header = vec![
        "id",
        "given_name",
        "surname",
        "email",
        "phone",
        "date_of_birth",
        "postcode",
    ];
    if config.with_value {
        header.push("spend");
    }
    w.write_record(&header).map_err(csv_err)?;
    let perm = Permutation::new(rows, config.seed ^ u64::from(side as u32).rotate_left(40));
    // Shared people: global numbers rows_a - overlap .. rows_a.
    let shared = config.rows_a - config.overlap..config.rows_a;
    for r in 0..rows {
        let index = first_person + perm.apply(r);
        let mut p = person(config.seed, index);
        if side == 'B' && config.noise > 0.0 && shared.contains(&index) {
            let mut rng = rng_for(config.seed, index, 2);
            if rng.random_bool(config.noise.clamp(0.0, 1.0)) {
                add_noise(&mut p, config.seed);
            }
        }
        let id = format!("{side}-{r:07}");
        let spend = p.spend.to_string();
        let mut record = vec![
            id.as_str(),
            &p.given_name,
            &p.surname,
            &p.email,
            &p.phone,
            &p.date_of_birth,
            &p.postcode,
        ];
        if config.with_value {
            record.push(&spend);
        }
        w.write_record(&record).map_err(csv_err)?;
    }
    let buffered = w
        .into_inner()
        .map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let mut inner = buffered
        .into_inner()
        .map_err(|e| err(std::io::Error::other(e.to_string())))?;
    inner.flush().map_err(err)
}

/// Writes party A's and party B's tables as CSV, streaming.
pub fn generate(config: &GenConfig, a: impl Write, b: impl Write) -> Result<GenSummary, Error> {
    if config.overlap > config.rows_a.min(config.rows_b) {
        return Err(Error::Config(format!(
            "overlap {} is larger than the smaller table ({} rows)",
            config.overlap,
            config.rows_a.min(config.rows_b)
        )));
    }
    if !(0.0..=1.0).contains(&config.noise) {
        return Err(Error::Config(format!(
            "noise must be between 0 and 1, got {}",
            config.noise
        )));
    }
    write_side(config, a, 'A', config.rows_a, 0, "party A output")?;
    write_side(
        config,
        b,
        'B',
        config.rows_b,
        config.rows_a - config.overlap,
        "party B output",
    )?;
    Ok(GenSummary {
        rows_a: config.rows_a,
        rows_b: config.rows_b,
        overlap: config.overlap,
    })
}

/// Writes the two tables to files.
pub fn generate_files(config: &GenConfig, a: &Path, b: &Path) -> Result<GenSummary, Error> {
    let open = |p: &Path| {
        File::create(p).map_err(|source| Error::Write {
            path: p.display().to_string(),
            source,
        })
    };
    let (fa, fb) = (open(a)?, open(b)?);
    generate(config, fa, fb).map_err(|e| match e {
        Error::Write { path, source } if path == "party A output" => Error::Write {
            path: a.display().to_string(),
            source,
        },
        Error::Write { path, source } if path == "party B output" => Error::Write {
            path: b.display().to_string(),
            source,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [0u64, 1, 2, 3, 1000, 4097] {
            let p = Permutation::new(n, 9);
            let image: HashSet<u64> = (0..n).map(|x| p.apply(x)).collect();
            assert_eq!(image.len() as u64, n);
            assert!(image.iter().all(|&y| y < n));
        }
    }

    fn config(rows_a: u64, rows_b: u64, overlap: u64, seed: u64, noise: f64) -> GenConfig {
        GenConfig {
            rows_a,
            rows_b,
            overlap,
            seed,
            noise,
            with_value: true,
        }
    }

    fn tables(c: &GenConfig) -> (Vec<csv::StringRecord>, Vec<csv::StringRecord>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        generate(c, &mut a, &mut b).unwrap();
        let read = |bytes: &[u8]| {
            csv::Reader::from_reader(bytes)
                .records()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>()
        };
        (read(&a), read(&b))
    }

    #[test]
    fn overlap_is_exact_and_emails_unique() {
        let c = config(3000, 2000, 700, 5, 0.0);
        let (a, b) = tables(&c);
        assert_eq!((a.len(), b.len()), (3000, 2000));
        let ea: HashSet<String> = a.iter().map(|r| r[3].to_string()).collect();
        let eb: HashSet<String> = b.iter().map(|r| r[3].to_string()).collect();
        assert_eq!((ea.len(), eb.len()), (3000, 2000), "emails unique per side");
        assert_eq!(ea.intersection(&eb).count(), 700);
        let pa: HashSet<String> = a.iter().map(|r| r[4].to_string()).collect();
        assert_eq!(pa.len(), 3000, "phones unique");
        // Shared rows are not bunched at the end of A.
        let first_half_shared = a[..1500].iter().filter(|r| eb.contains(&r[3])).count();
        assert!(
            (200..500).contains(&first_half_shared),
            "{first_half_shared}"
        );
    }

    #[test]
    fn deterministic_in_the_seed() {
        let (mut a1, mut b1, mut a2, mut b2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        generate(&config(500, 500, 100, 1, 0.0), &mut a1, &mut b1).unwrap();
        generate(&config(500, 500, 100, 1, 0.0), &mut a2, &mut b2).unwrap();
        assert_eq!((a1.clone(), b1), (a2, b2));
        let (mut a3, mut b3) = (Vec::new(), Vec::new());
        generate(&config(500, 500, 100, 2, 0.0), &mut a3, &mut b3).unwrap();
        assert_ne!(a1, a3);
    }

    #[test]
    fn bad_config_and_empty_tables() {
        let mut sink = Vec::new();
        let e = generate(&config(10, 5, 6, 1, 0.0), &mut sink, Vec::new()).unwrap_err();
        assert!(e.to_string().contains("overlap 6"), "{e}");
        let (a, b) = tables(&config(0, 0, 0, 1, 0.0));
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn noise_changes_some_shared_rows() {
        let (_, clean) = tables(&config(1000, 1000, 500, 3, 0.0));
        let (_, noisy) = tables(&config(1000, 1000, 500, 3, 0.5));
        let differ = clean.iter().zip(&noisy).filter(|(x, y)| x != y).count();
        assert!((150..350).contains(&differ), "{differ}");
        let ids: HashSet<String> = noisy.iter().map(|r| r[0].to_string()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
