//! Validation: the parsed command line ([`crate::args`]) becomes a plan of
//! plain, checked data — output paths checked, keys parsed, mode, protocol
//! and join resolved to `psi-core` and `psi-server` types. Every usage error
//! is made here, once, before any data moves (ripgrep's low args → high
//! args); the commands execute plans and never see clap types.
//!
//! What can only be known from the data (a repeated key value, a value that
//! is not a number) is checked by the commands as they read it.

mod demo;
mod fuzzy;
mod partition;
mod release;
mod run;
mod security;
mod serve;
mod shared;
mod unit;

use crate::args::{Cli, Command, RoleArg, TokenCommand};
use crate::error::CliError;

pub use demo::{DemoPlan, GenPlan};
pub use fuzzy::{BlockingPlan, EncodePlan, MatchPlan};
pub use partition::{CutNonces, PartitionPlan};
/// The noise part of a [`ReleasePlan`] (named by the commands' tests).
#[cfg(test)]
pub use release::Dp;
pub use release::ReleasePlan;
pub use run::{AggregatePlan, BucketPlan, ClientPlan, IntersectPlan, LinkPlan, RunPlan, RunTask};
pub use security::TokenAddPlan;
pub use serve::{OnDiskLinkage, ServePlan, ServeTask, SharedOutput};
pub use shared::InputPlan;
pub use unit::{SubmitPlan, UnitPlan};

/// The validated command line.
#[derive(Debug)]
pub struct Invocation {
    /// What to do.
    pub plan: Plan,
    /// The default filter of the log on stderr (`RUST_LOG` overrides it):
    /// `warn`; `info` for a server or with `-v`; `debug` with `-vv`.
    pub log_filter: &'static str,
}

impl Invocation {
    /// Validates the parsed command line; the error is the first usage
    /// error found. `PSI_GROUP_BACKEND` (psi-group's backend override for
    /// measurements) is checked here too: an unknown value, or a backend
    /// this CPU cannot run, is a usage error naming the variable and the
    /// value, never a silent fallback to another backend.
    pub fn from_args(cli: Cli) -> Result<Self, CliError> {
        psi_group::Backend::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
        let serving = matches!(cli.command, Command::Serve(_));
        let log_filter = match (cli.verbose, serving) {
            (0, false) => "warn",
            (0, true) | (1, _) => "info",
            _ => "debug",
        };
        Ok(Invocation {
            plan: Plan::from_args(cli.command)?,
            log_filter,
        })
    }

    /// Parses and validates a command line given as words, without the
    /// program name (`["run", "--peer", URL, ...]`), as the binary would; a
    /// clap error is a usage error with clap's message.
    pub fn from_words(words: &[String]) -> Result<Self, CliError> {
        Self::from_args(crate::args::try_parse(words).map_err(CliError::Usage)?)
    }
}

/// What `psi` was asked to do, validated.
#[derive(Debug)]
pub enum Plan {
    /// `psi serve`.
    Serve(Box<ServePlan>),
    /// `psi run`.
    Run(Box<RunPlan>),
    /// `psi demo`.
    Demo(DemoPlan),
    /// `psi gen`.
    Gen(GenPlan),
    /// `psi token add`.
    TokenAdd(TokenAddPlan),
    /// `psi encode`.
    Encode(EncodePlan),
    /// `psi match`.
    Match(MatchPlan),
    /// `psi serve --role linkage-unit`.
    Unit(UnitPlan),
    /// `psi submit`.
    Submit(SubmitPlan),
    /// `psi partition`.
    Partition(PartitionPlan),
}

impl Plan {
    /// Validates a parsed command.
    fn from_args(command: Command) -> Result<Self, CliError> {
        Ok(match command {
            Command::Serve(args) if args.role == RoleArg::LinkageUnit => {
                Plan::Unit(UnitPlan::from_args(args)?)
            }
            Command::Serve(args) => {
                if !args.owners.is_empty() || args.threshold.is_some() {
                    return Err(CliError::Usage(
                        "--owners and --threshold are for --role linkage-unit".into(),
                    ));
                }
                Plan::Serve(Box::new(ServePlan::from_args(args)?))
            }
            Command::Run(args) => Plan::Run(Box::new(RunPlan::from_args(args)?)),
            Command::Demo(args) => Plan::Demo(DemoPlan::from_args(args)?),
            Command::Gen(args) => Plan::Gen(GenPlan::from_args(args)?),
            Command::Token(TokenCommand::Add(args)) => {
                Plan::TokenAdd(TokenAddPlan::from_args(args)?)
            }
            Command::Encode(args) => Plan::Encode(EncodePlan::from_args(args)?),
            Command::Match(args) => Plan::Match(MatchPlan::from_args(args)?),
            Command::Submit(args) => Plan::Submit(SubmitPlan::from_args(args)?),
            Command::Partition(args) => Plan::Partition(PartitionPlan::from_args(args)?),
        })
    }
}
