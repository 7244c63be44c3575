//! The arguments of fuzzy linkage: `psi encode`, `psi submit` and `psi match`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::RunSecurityArgs;

/// Arguments of `psi encode`.
#[derive(Debug, Clone, Args)]
pub struct EncodeArgs {
    /// The encoding spec (JSON), the same for every owner: fields, profiles,
    /// comparators, weights, filter length, hardening.
    #[arg(long, value_name = "SPEC.json")]
    pub spec: PathBuf,
    /// The secret shared by the owners only (at least 16 bytes; e.g.
    /// `openssl rand -hex 32 > FILE`). One per project; never give it to the
    /// linkage unit.
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// The table to encode (CSV, or Parquet if the name ends in .parquet).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the encodings (one per data row, in input order).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Arguments of `psi submit`.
#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// The linkage unit, e.g. https://unit.example:7700.
    #[arg(long, value_name = "URL")]
    pub peer: String,
    /// This owner's encodings file (from `psi encode`).
    #[arg(long, value_name = "FILE")]
    pub encodings: PathBuf,
    /// Where to write this owner's links: `row,link_id` CSV (rows numbered
    /// from 0 in input order; a link id is shared by the rows of one pair or
    /// group across owners).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// How long to wait for the other owners and the linkage, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub wait: u64,
    /// Who we are and whom we trust.
    #[command(flatten)]
    pub security: RunSecurityArgs,
}

/// How `psi match` finds candidate pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlockingArg {
    /// `none` up to 2·10^8 pairs, else `lsh` with parameters from the data.
    Auto,
    /// Compare every pair (pruned only where popcounts prove a pair cannot reach the threshold).
    None,
    /// Locality-sensitive hashing on the encodings' bits.
    Lsh,
}

/// Arguments of `psi match`.
#[derive(Debug, Clone, Args)]
pub struct MatchArgs {
    /// Link pairs whose Dice similarity is at least this (0 to 1).
    #[arg(long, value_name = "T")]
    pub threshold: f64,
    /// The owners' encodings files (from `psi encode`), two or more, in owner order.
    #[arg(value_name = "ENCODINGS", required = true, num_args = 2..)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the links: `a_row,b_row,similarity` for two inputs,
    /// `group,owner,row` for more.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// How candidate pairs are found.
    #[arg(long, value_enum, default_value_t = BlockingArg::Auto)]
    pub blocking: BlockingArg,
    /// LSH: number of tables (default: from the threshold and the data).
    #[arg(long, value_name = "N")]
    pub lsh_tables: Option<u32>,
    /// LSH: bits sampled per table, 1 to 32 (default: from the data).
    #[arg(long, value_name = "N")]
    pub lsh_bits: Option<u32>,
    /// Print the distribution of each first-input row's best similarity
    /// (from 0.15 below the threshold up), to choose a threshold.
    #[arg(long)]
    pub histogram: bool,
    /// A labelled sample (`a_row,b_row` CSV: true partners, or an empty
    /// b_row for none): print precision and recall per threshold. Two inputs only.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}
