//! `psi gen`: realistic test tables with a known overlap.

use crate::error::CliError;
use crate::plan::GenPlan;

/// Writes the two tables.
pub fn gen(plan: GenPlan) -> Result<(), CliError> {
    let summary = psi_datasets::generate_files(&plan.config, &plan.out_a, &plan.out_b)?;
    println!(
        "wrote {} rows to {} and {} rows to {}; {} people are in both",
        summary.rows_a,
        plan.out_a.display(),
        summary.rows_b,
        plan.out_b.display(),
        summary.overlap
    );
    Ok(())
}
