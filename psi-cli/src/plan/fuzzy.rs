//! `psi encode` and `psi match`: the spec is read and checked, the secret's
//! length checked, the threshold and blocking options validated, outputs
//! checked writable, before any row is read.

use std::path::PathBuf;

use psi_fuzzy::{Secret, Spec};

use super::shared::writable;
use crate::args::{BlockingArg, EncodeArgs, MatchArgs};
use crate::error::CliError;

/// A validated `psi encode`.
pub struct EncodePlan {
    /// The spec.
    pub spec: Spec,
    /// The owners' secret.
    pub secret: Secret,
    /// The table.
    pub input: PathBuf,
    /// The encodings file.
    pub output: PathBuf,
    /// The JSON report, if asked.
    pub report: Option<PathBuf>,
}

impl std::fmt::Debug for EncodePlan {
    /// Never shows the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodePlan")
            .field("spec", &self.spec)
            .field("input", &self.input)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl EncodePlan {
    /// Validates `psi encode`'s arguments.
    pub fn from_args(args: EncodeArgs) -> Result<Self, CliError> {
        let spec = Spec::read(&args.spec)?;
        let secret = Secret::read(&args.secret_file)?;
        writable(&args.output, &[&args.input, &args.spec, &args.secret_file])?;
        if let Some(report) = &args.report {
            writable(report, &[&args.input, &args.output])?;
        }
        Ok(EncodePlan {
            spec,
            secret,
            input: args.input,
            output: args.output,
            report: args.report,
        })
    }
}

/// How candidate pairs are found, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingPlan {
    /// Decided from the data.
    Auto,
    /// Every pair.
    None,
    /// LSH; parameters not given are decided from the data.
    Lsh {
        /// Tables.
        tables: Option<u32>,
        /// Bits per table.
        bits: Option<u32>,
    },
}

/// A validated `psi match`.
#[derive(Debug)]
pub struct MatchPlan {
    /// The similarity threshold.
    pub threshold: f64,
    /// The encodings files, in owner order.
    pub inputs: Vec<PathBuf>,
    /// The links file.
    pub output: PathBuf,
    /// Blocking.
    pub blocking: BlockingPlan,
    /// Print the best-similarity histogram.
    pub histogram: bool,
    /// A labelled sample to score thresholds on.
    pub labels: Option<PathBuf>,
    /// The JSON report, if asked.
    pub report: Option<PathBuf>,
}

/// Most inputs `psi match` links at once.
pub const MAX_OWNERS: usize = 64;

impl MatchPlan {
    /// Validates `psi match`'s arguments.
    pub fn from_args(args: MatchArgs) -> Result<Self, CliError> {
        let usage = |m: String| Err(CliError::Usage(m));
        if !(args.threshold > 0.0 && args.threshold <= 1.0) {
            return usage(format!(
                "--threshold {}: must be above 0 and at most 1 (a Dice similarity)",
                args.threshold
            ));
        }
        if args.inputs.len() > MAX_OWNERS {
            return usage(format!("at most {MAX_OWNERS} encodings files at once"));
        }
        if args.labels.is_some() && args.inputs.len() != 2 {
            return usage("--labels scores pairs: give exactly two encodings files".into());
        }
        if let Some(bits) = args.lsh_bits {
            if !(1..=32).contains(&bits) {
                return usage(format!("--lsh-bits {bits}: must be 1 to 32"));
            }
        }
        if args.lsh_tables == Some(0) || args.lsh_tables.is_some_and(|t| t > 10_000) {
            return usage("--lsh-tables: must be 1 to 10000".into());
        }
        let lsh_given = args.lsh_bits.is_some() || args.lsh_tables.is_some();
        let blocking = match args.blocking {
            BlockingArg::Lsh => BlockingPlan::Lsh {
                tables: args.lsh_tables,
                bits: args.lsh_bits,
            },
            BlockingArg::Auto if lsh_given => BlockingPlan::Lsh {
                tables: args.lsh_tables,
                bits: args.lsh_bits,
            },
            _ if lsh_given => {
                return usage("--lsh-tables and --lsh-bits need --blocking lsh".into())
            }
            BlockingArg::Auto => BlockingPlan::Auto,
            BlockingArg::None => BlockingPlan::None,
        };
        let inputs: Vec<&std::path::Path> = args.inputs.iter().map(|p| p.as_path()).collect();
        writable(&args.output, &inputs)?;
        if let Some(report) = &args.report {
            writable(report, &inputs)?;
        }
        Ok(MatchPlan {
            threshold: args.threshold,
            inputs: args.inputs,
            output: args.output,
            blocking,
            histogram: args.histogram,
            labels: args.labels,
            report: args.report,
        })
    }
}
