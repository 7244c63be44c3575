//! Fuzzy privacy-preserving record linkage with keyed Bloom-filter
//! encodings, for records whose names and dates carry typos (patients across
//! hospitals).
//!
//! # Roles
//! Data owners share a secret among themselves (never with the linkage
//! unit). Each encodes its rows locally ([`Encoder`], `psi encode`): every
//! row becomes one bit vector, a cryptographic long-term key (CLK; Schnell,
//! Bachteler & Reiher 2011), in which similar records set similar bits. The
//! linkage unit receives only the encodings; it compares them by
//! Sørensen–Dice similarity ([`dice`]), finds the pairs above a threshold
//! ([`search`], optionally blocked by locality-sensitive hashing) and
//! resolves them one to one ([`solve`]): pairs for two owners, groups for
//! more (as anonlink's greedy solver).
//!
//! # What this mode protects, and what it does not
//! This is weaker than exact PSI. The linkage unit sees every owner's
//! encodings and the similarities between them. Bloom-filter encodings are
//! open to frequency and pattern-mining attacks (Kuzu et al. 2011;
//! Niedermeyer et al. 2014; Christen et al. 2017–2018): someone who knows the
//! distribution of names in the population can, with enough encodings,
//! recover frequent bigrams and names without the secret. Hence: encode
//! several fields into one filter (never one field alone), use one fresh
//! secret per project and never give it to the linkage unit, and consider the
//! hardening of [`spec::Hardening`] (balancing, XOR-folding, salting a field
//! with another, random bit flips), whose cost in precision and recall is
//! measured by `psi-bench fuzzy-quality`. An owner who knows the secret can
//! encode guessed records and test them against another owner's encodings
//! if the linkage unit shows them to it: the linkage unit returns to each
//! owner only its own rows' results.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod dice;
#[cfg(feature = "encode")]
mod encoder;
mod error;
mod evaluate;
#[cfg(feature = "encode")]
mod features;
mod file;
#[cfg(feature = "encode")]
mod harden;
pub mod link;
pub mod search;
#[cfg(feature = "encode")]
mod secret;
pub mod solve;
#[cfg(feature = "encode")]
pub mod spec;
#[cfg(feature = "encode")]
mod table;

pub use dice::{at_least, dice_portable, intersection_portable, Kernel, Threshold};
#[cfg(feature = "encode")]
pub use encoder::{Encoder, FieldOutcome};
pub use error::Error;
pub use evaluate::{best_similarity_histogram, sweep, Labels, Score};
#[cfg(feature = "encode")]
pub use features::Comparator;
pub use file::{Encodings, EncodingsWriter, FORMAT_VERSION};
pub use link::{resolve, search_all, Found, Links};
pub use search::{auto_blocking, search, Blocking, Candidate, SearchStats};
#[cfg(feature = "encode")]
pub use secret::{Secret, MIN_SECRET_BYTES};
pub use solve::{greedy_groups, greedy_pairs, Edge, Group};
#[cfg(feature = "encode")]
pub use spec::Spec;
#[cfg(feature = "encode")]
pub use table::{encode_table, encode_table_in_memory, EncodeSummary, FieldSummary};
