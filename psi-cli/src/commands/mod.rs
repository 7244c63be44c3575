//! The commands: each executes a validated plan ([`crate::plan`]) and never
//! sees the command line.

mod audit;
mod bucketed;
mod bucketed_link;
mod cut;
mod demo;
mod disk;
mod fuzzy;
mod gen;
mod link_meet;
mod link_meta;
mod link_resume;
mod link_shard;
#[cfg(test)]
mod link_shard_tests;
mod link_spill;
#[cfg(test)]
mod link_tests;
mod partition;
mod pjc_disk;
mod progress;
mod release;
mod retry;
mod run;
mod serve;
mod serve_link;
mod state;
mod table;
mod token;
mod unit;

pub use serve::serve_until;
pub use unit::serve_unit_until;

use crate::error::CliError;
use crate::plan::Plan;

/// Executes `plan`.
pub async fn execute(plan: Plan) -> Result<(), CliError> {
    match plan {
        Plan::Serve(plan) => serve::serve(*plan).await,
        Plan::Run(plan) => run::run(*plan).await,
        Plan::Demo(plan) => demo::demo(plan).await,
        Plan::Gen(plan) => gen::gen(plan),
        Plan::TokenAdd(plan) => token::add(plan),
        Plan::Encode(plan) => fuzzy::encode(plan),
        Plan::Match(plan) => fuzzy::match_(plan),
        Plan::Unit(plan) => unit::serve_unit(plan).await,
        Plan::Submit(plan) => unit::submit(plan).await,
        Plan::Partition(plan) => cut::cut(plan).await,
    }
}
