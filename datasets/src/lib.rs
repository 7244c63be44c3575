#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod names;
mod noise;
mod permutation;
mod person;

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;

use crate::permutation::{derive, Permutation};
use crate::person::{chacha_for, stream, tag, PersonKeys};

pub use crate::person::{person, Person, PHONE_CAPACITY};

/// The columns of every table, in order.
pub const COLUMNS: [&str; 7] = [
    "id",
    "given_name",
    "surname",
    "email",
    "phone",
    "date_of_birth",
    "postcode",
];

/// The extra last column written when [`GenConfig::with_value`] is set.
pub const VALUE_COLUMN: &str = "spend";

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Rows of party A.
    pub rows_a: u64,
    /// Rows of party B.
    pub rows_b: u64,
    /// Persons present in both tables; at most `min(rows_a, rows_b)`.
    pub overlap: u64,
    /// Seed of everything: the same config gives byte-identical tables.
    pub seed: u64,
    /// Fraction in `[0, 1]` of the shared persons whose row in B differs from
    /// their row in A by a realistic typo or formatting change. `0.0` makes
    /// shared rows identical on both sides (apart from `id`).
    pub noise: f64,
    /// Adds the column `spend`, a non-negative amount in pence, for PSI-sum.
    pub with_value: bool,
}

impl GenConfig {
    /// Distinct persons over both tables, `rows_a + rows_b - overlap`
    /// (saturating; meaningful once the config is valid).
    pub fn persons(&self) -> u64 {
        self.rows_a
            .saturating_add(self.rows_b)
            .saturating_sub(self.overlap)
    }

    /// Global index of the first person of B; B holds
    /// `first_person_b()..first_person_b() + rows_b`.
    fn first_person_b(&self) -> u64 {
        self.rows_a - self.overlap
    }

    fn validate(&self) -> Result<(), Error> {
        if self.overlap > self.rows_a.min(self.rows_b) {
            return Err(Error::OverlapExceedsRows {
                overlap: self.overlap,
                rows_a: self.rows_a,
                rows_b: self.rows_b,
            });
        }
        if !(0.0..=1.0).contains(&self.noise) {
            return Err(Error::InvalidNoise { noise: self.noise });
        }
        if self.persons() > PHONE_CAPACITY {
            return Err(Error::TooManyPersons {
                persons: self.persons(),
                capacity: PHONE_CAPACITY,
            });
        }
        Ok(())
    }

    /// Shared persons that get noise: `round(noise * overlap)`.
    fn noisy_rows(&self) -> u64 {
        // Exact for every overlap below 2^53, and the product is in [0, overlap].
        ((self.noise * self.overlap as f64).round() as u64).min(self.overlap)
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenSummary {
    /// Data rows written for party A (the header not counted).
    pub rows_a: u64,
    /// Data rows written for party B.
    pub rows_b: u64,
    /// Persons present in both tables.
    pub overlap: u64,
}

/// One of the two parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// The first table; its row ids start with `A-`.
    A,
    /// The second table; its row ids start with `B-`.
    B,
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::A => "A",
            Party::B => "B",
        })
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config asks for more shared persons than one side has rows.
    #[error("overlap {overlap} exceeds the rows of a side (rows_a = {rows_a}, rows_b = {rows_b})")]
    OverlapExceedsRows {
        /// The requested overlap.
        overlap: u64,
        /// Rows of party A.
        rows_a: u64,
        /// Rows of party B.
        rows_b: u64,
    },
    /// The noise fraction is not a number in `[0, 1]`.
    #[error("noise must be a fraction between 0 and 1, got {noise}")]
    InvalidNoise {
        /// The requested noise.
        noise: f64,
    },
    /// More distinct persons than there are unique phone numbers.
    #[error("the config needs {persons} distinct persons; at most {capacity} are supported")]
    TooManyPersons {
        /// `rows_a + rows_b - overlap`.
        persons: u64,
        /// [`PHONE_CAPACITY`].
        capacity: u64,
    },
    /// An output file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Writing a table to a file failed.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause (an I/O error inside).
        source: csv::Error,
    },
    /// Writing a table to a caller's writer failed.
    #[error("cannot write the table of party {party}: {source}")]
    Write {
        /// Whose table.
        party: Party,
        /// The cause (an I/O error inside).
        source: csv::Error,
    },
}

/// Writes party A's and party B's tables as CSV to `a` and `b`.
///
/// Streams: memory is O(1) in the row count, so 10^8 rows per side work.
/// The writers get large writes through the `csv` crate's 64 KiB buffer; they
/// need no extra buffering. See the crate docs for the construction.
///
/// # Errors
///
/// An invalid config (overlap larger than a side, noise outside `[0, 1]`,
/// more than [`PHONE_CAPACITY`] persons) is rejected before anything is
/// written; then any write error is returned.
pub fn generate(
    config: &GenConfig,
    a: impl io::Write,
    b: impl io::Write,
) -> Result<GenSummary, Error> {
    config.validate()?;
    let keys = PersonKeys::new(config.seed);
    write_table(Party::A, config, &keys, None, a).map_err(|source| Error::Write {
        party: Party::A,
        source,
    })?;
    let noise = (config.noisy_rows() > 0).then(|| NoisePlan::new(config));
    write_table(Party::B, config, &keys, noise.as_ref(), b).map_err(|source| Error::Write {
        party: Party::B,
        source,
    })?;
    Ok(GenSummary {
        rows_a: config.rows_a,
        rows_b: config.rows_b,
        overlap: config.overlap,
    })
}

/// Like [`generate`], writing to the files `a` and `b` (created or truncated).
///
/// # Errors
///
/// As [`generate`], with the file named in I/O errors.
pub fn generate_files(config: &GenConfig, a: &Path, b: &Path) -> Result<GenSummary, Error> {
    config.validate()?;
    let create = |path: &Path| {
        File::create(path).map_err(|source| Error::CreateFile {
            path: path.to_owned(),
            source,
        })
    };
    let (file_a, file_b) = (create(a)?, create(b)?);
    generate(config, file_a, file_b).map_err(|e| match e {
        Error::Write { party, source } => Error::WriteFile {
            path: match party {
                Party::A => a.to_owned(),
                Party::B => b.to_owned(),
            },
            source,
        },
        other => other,
    })
}

/// Which shared persons get noise in B, and the noise streams.
struct NoisePlan {
    first_shared: u64,
    overlap: u64,
    noisy_rows: u64,
    /// Shared person `first_shared + k` is noisy iff `selection(k) < noisy_rows`,
    /// so exactly `noisy_rows` of them are, spread pseudorandomly.
    selection: Permutation,
    rng: ChaCha8Rng,
}

impl NoisePlan {
    fn new(config: &GenConfig) -> Self {
        Self {
            first_shared: config.first_person_b(),
            overlap: config.overlap,
            noisy_rows: config.noisy_rows(),
            selection: Permutation::new(config.overlap, derive(config.seed, tag::NOISE_SELECTION)),
            rng: chacha_for(config.seed, tag::NOISE),
        }
    }

    fn apply(&self, p: &mut Person) {
        let Some(k) = p.id.checked_sub(self.first_shared) else {
            return;
        };
        if k < self.overlap && self.selection.apply(k) < self.noisy_rows {
            noise::perturb(p, &mut stream(&self.rng, p.id));
        }
    }
}

/// Writes one table: row `r` holds person `first + order(r)`.
fn write_table(
    party: Party,
    config: &GenConfig,
    keys: &PersonKeys,
    noise: Option<&NoisePlan>,
    out: impl io::Write,
) -> Result<(), csv::Error> {
    let (rows, first, order_tag) = match party {
        Party::A => (config.rows_a, 0, tag::ORDER_A),
        Party::B => (config.rows_b, config.first_person_b(), tag::ORDER_B),
    };
    let order = Permutation::new(rows, derive(config.seed, order_tag));
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(out);
    let columns = if config.with_value { 8 } else { 7 };
    let mut header = [VALUE_COLUMN; 8];
    header[..7].copy_from_slice(&COLUMNS);
    w.write_record(&header[..columns])?;

    // Zero-padded so ids sort in row order: A-000000, A-000001, ...
    let width = (rows.saturating_sub(1).checked_ilog10().unwrap_or(0) as usize + 1).max(6);
    let mut p = Person::default();
    let mut id = String::new();
    let mut spend = String::new();
    for r in 0..rows {
        p.fill(keys, first + order.apply(r));
        if let Some(plan) = noise {
            plan.apply(&mut p);
        }
        id.clear();
        spend.clear();
        // Writing to a String cannot fail.
        let _ = write!(id, "{party}-{r:0width$}");
        let _ = write!(spend, "{}", p.spend);
        let record = [
            id.as_str(),
            &p.given_name,
            &p.surname,
            &p.email,
            &p.phone,
            &p.date_of_birth,
            &p.postcode,
            &spend,
        ];
        w.write_record(&record[..columns])?;
    }
    w.flush()?;
    Ok(())
}
