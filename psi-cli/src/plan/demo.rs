//! The plans of `psi demo` (with the plans of its two parties) and `psi gen`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use psi_core::codec::Protocol;
use psi_core::linkage::Duplicates;
use psi_datasets::GenConfig;
use psi_server::{ClientConfig, ServeMode, ServerConfig};
use psi_table::{KeySpec, LinkageSpec};

use super::run::{ClientPlan, IntersectPlan};
use super::serve::{ServePlan, ServeTask};
use super::shared::{protocol, InputPlan, OutputPlan};
use crate::args::{DemoArgs, GenArgs};
use crate::error::CliError;

/// `psi demo`: both parties on this machine, on generated data.
#[derive(Debug, Clone)]
pub struct DemoPlan {
    /// The two tables to generate.
    pub data: GenConfig,
    /// The key as given (for the banner).
    pub key_text: String,
    /// The key.
    pub key: KeySpec,
    /// The protocol party A runs.
    pub protocol: Protocol,
    /// Where the files stay (default: a temporary directory).
    pub dir: Option<PathBuf>,
}

/// `psi gen`: two test tables.
#[derive(Debug, Clone)]
pub struct GenPlan {
    /// What to generate.
    pub config: GenConfig,
    /// Party A's file.
    pub out_a: PathBuf,
    /// Party B's file.
    pub out_b: PathBuf,
}

impl DemoPlan {
    pub(super) fn from_args(args: DemoArgs) -> Result<Self, CliError> {
        Ok(DemoPlan {
            data: GenConfig {
                rows_a: args.rows_a,
                rows_b: args.rows_b,
                overlap: args.overlap,
                seed: args.seed,
                noise: 0.0,
                with_value: false,
            },
            key: KeySpec::parse(&args.key)?,
            key_text: args.key,
            protocol: protocol(args.protocol),
            dir: args.dir,
        })
    }

    /// Party B: `psi serve --once` of the demo table `input` on a free
    /// loopback port.
    pub fn party_b(&self, input: PathBuf) -> Result<ServePlan, CliError> {
        let input = self.input(input)?;
        let config = ServerConfig {
            max_sessions: 1,
            idle_timeout: Duration::from_secs(60),
            max_completed_sessions: Some(1),
            mode: ServeMode::Intersection,
            min_intersection: 1,
            key_spec: Some(input.spec.declaration()),
            ..ServerConfig::default()
        };
        Ok(ServePlan {
            input,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            report: None,
            audit_log: None,
            quiet: true,
            task: ServeTask::Intersection {
                duplicates: Duplicates::All,
                output: None,
            },
        })
    }

    /// Party A: `psi run` of the demo table `input` against `peer`, writing
    /// `output` and the report.
    pub fn party_a(
        &self,
        peer: String,
        input: PathBuf,
        output: PathBuf,
        report: PathBuf,
    ) -> Result<(ClientPlan, IntersectPlan), CliError> {
        let input = self.input(input)?;
        let client = ClientPlan {
            peer,
            config: ClientConfig {
                connect_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                key_spec: Some(input.spec.declaration()),
                ..ClientConfig::default()
            },
            input,
            report: Some(report),
            quiet: true,
        };
        let task = IntersectPlan {
            protocol: self.protocol,
            key: self.key.clone(),
            duplicates: Duplicates::All,
            output: OutputPlan {
                path: output,
                options: Default::default(),
            },
            buckets: None,
        };
        Ok((client, task))
    }

    /// The input of one party: every row of a demo table may match.
    fn input(&self, path: PathBuf) -> Result<InputPlan, CliError> {
        Ok(InputPlan {
            path,
            spec: LinkageSpec::new(vec![self.key.clone()])?,
            rejects: None,
            refuse_duplicates: false,
        })
    }
}

impl GenPlan {
    pub(super) fn from_args(args: GenArgs) -> Result<Self, CliError> {
        if !(0.0..=1.0).contains(&args.noise) {
            return Err(CliError::Usage(format!(
                "--noise must be between 0 and 1, got {}",
                args.noise
            )));
        }
        Ok(GenPlan {
            config: GenConfig {
                rows_a: args.rows_a,
                rows_b: args.rows_b,
                overlap: args.overlap,
                seed: args.seed,
                noise: args.noise,
                with_value: args.with_value,
            },
            out_a: args.out_a,
            out_b: args.out_b,
        })
    }
}
