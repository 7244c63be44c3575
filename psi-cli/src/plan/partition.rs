//! `psi partition`: which table, which key, and which nonces fix the cut.

use std::path::PathBuf;

use psi_table::{KeySpec, LinkageSpec};

use super::run::read_hex32;
use super::shared::bucketed_input;
use crate::args::PartitionArgs;
use crate::error::CliError;

/// Where the run's server nonce comes from.
#[derive(Debug, Clone)]
pub enum CutNonces {
    /// The serving party derives it from its run key.
    Serving {
        /// The key of its run nonces.
        run_key: [u8; 32],
    },
    /// The running party has it from the serving party's cut.
    Running {
        /// The serving party's nonce for this run.
        server_nonce: [u8; 32],
    },
}

/// A validated `psi partition`.
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    /// The table.
    pub input: PathBuf,
    /// Its key.
    pub key: KeySpec,
    /// The run's client nonce.
    pub client_nonce: [u8; 32],
    /// The other half of the seed.
    pub nonces: CutNonces,
    /// Where the cut goes.
    pub out: PathBuf,
    /// No progress output.
    pub quiet: bool,
}

impl PartitionPlan {
    /// Checks the arguments.
    pub(super) fn from_args(args: PartitionArgs) -> Result<Self, CliError> {
        bucketed_input(&args.input)?;
        let spec = LinkageSpec::parse_keys(std::slice::from_ref(&args.key))?;
        let key = match spec.keys() {
            [key] => key.clone(),
            _ => {
                return Err(CliError::Usage(
                    "psi partition cuts one key (a bucketed run takes one)".into(),
                ))
            }
        };
        let nonces =
            match (&args.run_key_file, &args.server_nonce_file) {
                (Some(k), None) => CutNonces::Serving {
                    run_key: read_hex32(k, "--run-key-file")?,
                },
                (None, Some(n)) => CutNonces::Running {
                    server_nonce: read_hex32(n, "--server-nonce-file")?,
                },
                _ => return Err(CliError::Usage(
                    "give --run-key-file (serving party) or --server-nonce-file (running party)"
                        .into(),
                )),
            };
        Ok(PartitionPlan {
            client_nonce: read_hex32(&args.run_nonce_file, "--run-nonce-file")?,
            input: args.input,
            key,
            nonces,
            out: args.out,
            quiet: args.quiet,
        })
    }
}
