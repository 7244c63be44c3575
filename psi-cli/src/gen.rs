//! `psi gen`: realistic test tables with a known overlap.

use std::path::PathBuf;

use clap::Args;

use crate::error::CliError;

/// Arguments of `psi gen`.
#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    /// Rows of party A's table.
    #[arg(long, default_value_t = 10_000)]
    pub rows_a: u64,
    /// Rows of party B's table.
    #[arg(long, default_value_t = 10_000)]
    pub rows_b: u64,
    /// People present in both tables.
    #[arg(long, default_value_t = 5_000)]
    pub overlap: u64,
    /// Random seed (same seed, same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fraction of shared rows whose copy in B carries a realistic typo or format change.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Add a non-negative integer `spend` column.
    #[arg(long)]
    pub with_value: bool,
    /// Output file of party A.
    #[arg(long, value_name = "FILE")]
    pub out_a: PathBuf,
    /// Output file of party B.
    #[arg(long, value_name = "FILE")]
    pub out_b: PathBuf,
}

/// Writes the two tables.
pub fn gen(args: GenArgs) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&args.noise) {
        return Err(CliError::Usage(format!(
            "--noise must be between 0 and 1, got {}",
            args.noise
        )));
    }
    let config = psi_datasets::GenConfig {
        rows_a: args.rows_a,
        rows_b: args.rows_b,
        overlap: args.overlap,
        seed: args.seed,
        noise: args.noise,
        with_value: args.with_value,
    };
    let summary = psi_datasets::generate_files(&config, &args.out_a, &args.out_b)?;
    println!(
        "wrote {} rows to {} and {} rows to {}; {} people are in both",
        summary.rows_a,
        args.out_a.display(),
        summary.rows_b,
        args.out_b.display(),
        summary.overlap
    );
    Ok(())
}
