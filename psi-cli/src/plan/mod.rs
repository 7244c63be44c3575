//! Validation: the parsed command line ([`crate::args`]) becomes a plan of
//! plain, checked data — output paths checked, keys parsed, mode, protocol
//! and join resolved to `psi-core` and `psi-server` types. Every usage error
//! is made here, once, before any data moves (ripgrep's low args → high
//! args); the commands execute plans and never see clap types.
//!
//! What can only be known from the data (a repeated key value, a value that
//! is not a number) is checked by the commands as they read it.

mod demo;
mod run;
mod serve;
mod shared;

use crate::args::Command;
use crate::error::CliError;

pub use demo::{DemoPlan, GenPlan};
pub use run::{AggregatePlan, ClientPlan, IntersectPlan, LinkPlan, RunPlan, RunTask};
pub use serve::{ServePlan, ServeTask, SharedOutput};
pub use shared::{Dp, InputPlan};

/// What `psi` was asked to do, validated.
#[derive(Debug)]
pub enum Plan {
    /// `psi serve`.
    Serve(ServePlan),
    /// `psi run`.
    Run(RunPlan),
    /// `psi demo`.
    Demo(DemoPlan),
    /// `psi gen`.
    Gen(GenPlan),
}

impl Plan {
    /// Validates a parsed command; the error is the first usage error found.
    pub fn from_args(command: Command) -> Result<Self, CliError> {
        Ok(match command {
            Command::Serve(args) => Plan::Serve(ServePlan::from_args(args)?),
            Command::Run(args) => Plan::Run(RunPlan::from_args(args)?),
            Command::Demo(args) => Plan::Demo(DemoPlan::from_args(args)?),
            Command::Gen(args) => Plan::Gen(GenPlan::from_args(args)?),
        })
    }
}
