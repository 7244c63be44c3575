//! The plan of `psi run` (party A).

use std::path::{Path, PathBuf};
use std::time::Duration;

use psi_core::codec::Protocol;
use psi_core::linkage::{Duplicates, LinkageFinish, Side};
use psi_core::pjc;
use psi_server::{ClientConfig, ServeMode};
use psi_table::{KeySpec, LinkageSpec};

use super::release::{self, ReleasePlan};
use super::security;
use super::shared::{
    bucketed_input, duplicates, input, input_path, join, linkage_spec, output_options, protocol,
    serve_mode, single_key, writable, InputPlan, OutputPlan,
};
use crate::args::{JoinArg, ModeArg, ProtocolArg, RunArgs};
use crate::error::CliError;

/// `psi run`: who to run against, with what, and which task.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The peer, our input and the report.
    pub client: ClientPlan,
    /// What the run computes.
    pub task: RunTask,
}

/// What every run needs.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// The serving peer's address.
    pub peer: String,
    /// Timeouts and our key declaration.
    pub config: ClientConfig,
    /// Our table.
    pub input: InputPlan,
    /// Where the JSON report goes (checked).
    pub report: Option<PathBuf>,
    /// No progress output.
    pub quiet: bool,
}

/// A bucketed run: bounded memory, resumable.
#[derive(Debug, Clone)]
pub struct BucketPlan {
    /// Where the spill and the progress are kept.
    pub state_dir: PathBuf,
    /// Keys per bucket aimed at.
    pub bucket_items: u64,
    /// `(I, W)`: this worker runs the buckets `b` with `b mod W = I`.
    pub shard: (u16, u16),
    /// The run's client nonce, from `--run-nonce-file`.
    pub nonce: Option<[u8; 32]>,
    /// `--partitioned`: our keys, cut by `psi partition` for this run.
    pub partitioned: Option<PathBuf>,
    /// `--shard-dir`: a sharded linkage's meeting place for this party's
    /// workers ([`crate::commands`]' `link_shard`).
    pub shard_dir: Option<PathBuf>,
    /// `--shard-timeout`.
    pub shard_timeout: Duration,
}

/// Inputs above this size run bucketed unless `--in-memory`.
const AUTO_BUCKETS_BYTES: u64 = 1 << 30;

/// What a run computes.
#[derive(Debug, Clone)]
pub enum RunTask {
    /// Our rows whose (single) key the peer also holds.
    Intersect(IntersectPlan),
    /// A linkage: several keys, a join, or a shared or aligned result.
    Link(LinkPlan),
    /// Only the count, or the count and a sum, over the shared keys.
    Aggregate(AggregatePlan),
}

/// `--mode intersection` with one key.
#[derive(Debug, Clone)]
pub struct IntersectPlan {
    /// [`Protocol::EcdhIntersection`] or [`Protocol::Kkrt`].
    pub protocol: Protocol,
    /// The key.
    pub key: KeySpec,
    /// [`Duplicates::First`]: only the first row carrying a matched key is
    /// written; [`Duplicates::All`]: every such row.
    pub duplicates: Duplicates,
    /// Where the rows go.
    pub output: OutputPlan,
    /// Bucket by bucket with a state directory, or all in memory (`None`).
    pub buckets: Option<BucketPlan>,
}

/// A linkage over PSI steps ([`psi_core::linkage`]).
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// Each step's (or bucket's) protocol: [`Protocol::EcdhIntersection`],
    /// or [`Protocol::Kkrt`] for a bucketed linkage.
    pub protocol: Protocol,
    /// The join, alignment and sharing asked of the server (the row counts
    /// are filled in by the run).
    pub finish: LinkageFinish,
    /// The protocol's policy for repeated key values.
    pub duplicates: Duplicates,
    /// Where our side goes.
    pub output: OutputPlan,
    /// Bucket by bucket with a state directory ([`psi_core::linkage::bucketed`]),
    /// or all in memory (`None`).
    pub buckets: Option<BucketPlan>,
}

/// `--mode cardinality|sum`.
#[derive(Debug, Clone)]
pub struct AggregatePlan {
    /// The key.
    pub key: KeySpec,
    /// The protocol and the threshold it decides on the exact count (ours,
    /// or 0 when we add noise).
    pub params: pjc::Params,
    /// Our threshold and noise on what we release.
    pub release: ReleasePlan,
    /// External memory (`--state-dir`, or a large input): where the
    /// state and temporary files go; `None` holds the sets in memory.
    pub disk: Option<PathBuf>,
    /// With `disk`: the least time between two checkpoints of a download.
    pub checkpoint_every: Duration,
}

impl RunPlan {
    /// Validates `psi run`.
    pub(super) fn from_args(args: RunArgs) -> Result<Self, CliError> {
        let spec = linkage_spec(&args.table)?;
        let (task, refuse_duplicates) = match args.table.mode {
            ModeArg::Intersection => intersection(&args, &spec)?,
            // The protocol runs on distinct keys; how many rows carry each is not asked.
            ModeArg::Cardinality | ModeArg::Sum => (aggregate(&args, &spec)?, false),
        };
        let outputs: Vec<&Path> = match &task {
            RunTask::Intersect(t) => vec![t.output.path.as_path()],
            RunTask::Link(t) => vec![t.output.path.as_path()],
            RunTask::Aggregate(_) => Vec::new(),
        };
        if let Some(report) = &args.report {
            let mut protected = vec![input_path(&args.table)?];
            protected.extend_from_slice(&outputs);
            writable(report, &protected)?;
        }
        let security = security::client(&args.security, &args.peer)?;
        let client = ClientPlan {
            config: ClientConfig {
                connect_timeout: Duration::from_secs(args.connect_timeout),
                idle_timeout: Duration::from_secs(args.idle_timeout),
                key_spec: Some(spec.declaration()),
                tls: security.tls,
                token: security.token,
                chunk_items: args
                    .chunk_items
                    .unwrap_or(psi_core::codec::DEFAULT_CHUNK_ITEMS),
                ..ClientConfig::default()
            },
            input: input(&args.table, spec, refuse_duplicates, &outputs)?,
            peer: args.peer,
            report: args.report,
            quiet: args.quiet,
        };
        Ok(RunPlan { client, task })
    }
}

/// `--mode intersection`: one key and the rows, or a linkage; and whether
/// a table with repeated key values is refused.
fn intersection(args: &RunArgs, spec: &LinkageSpec) -> Result<(RunTask, bool), CliError> {
    let linkage =
        spec.keys().len() > 1 || args.share_result || args.align || args.join != JoinArg::Inner;
    release::plan(Side::Client, ServeMode::Intersection, &args.table)?;
    if args.align && args.join == JoinArg::Difference {
        return Err(CliError::Usage(
            "--align pairs rows; --join difference has no pairs to align".into(),
        ));
    }
    let Some(path) = args.output.clone() else {
        return Err(CliError::Usage(format!(
            "--mode intersection needs --output FILE for the {} rows",
            if linkage { "result" } else { "matching" }
        )));
    };
    writable(&path, &[input_path(&args.table)?])?;
    let output = OutputPlan {
        path,
        options: output_options(&args.output_options)?,
    };
    let (duplicates, refuse) = duplicates(&args.table, spec.keys().len())?;
    let buckets = bucket_plan(args, &output.path)?;
    if !linkage {
        if args.shard_dir.is_some() {
            return Err(CliError::Usage(
                "--shard-dir is where a sharded linkage's workers meet after each step; a single-key intersection's shard workers need no meeting: drop it".into(),
            ));
        }
        let task = RunTask::Intersect(IntersectPlan {
            protocol: protocol(args.protocol),
            key: single_key(spec)?,
            duplicates,
            output,
            buckets,
        });
        return Ok((task, refuse));
    }
    if let Some(b) = &buckets {
        if b.partitioned.is_some() {
            return Err(CliError::Usage(
                "--partitioned reads a cut of one key; a linkage (several keys, a join, or a shared or aligned result) spills every key itself: drop it".into(),
            ));
        }
        if b.shard.1 > 1 && b.shard_dir.is_none() {
            return Err(CliError::Usage(
                "--shard on a linkage needs --shard-dir DIR, a directory all of this party's workers share: after each step the workers meet there (the next step offers only rows no worker linked)".into(),
            ));
        }
    }
    if buckets.is_none() && args.protocol != ProtocolArg::Ecdh {
        return Err(CliError::Usage(
            "several keys, --join, --share-result and --align run on --protocol kkrt only bucket by bucket: add --state-dir DIR (in memory a linkage runs on --protocol ecdh, whose masked elements give its link ids)"
                .into(),
        ));
    }
    let task = RunTask::Link(LinkPlan {
        protocol: protocol(args.protocol),
        finish: LinkageFinish {
            join: join(args.join),
            align: args.align,
            share_result: args.share_result || args.align,
            client_rows: 0,
            client_unlinked_rows: 0,
        },
        duplicates,
        output,
        buckets,
    });
    Ok((task, refuse))
}

/// Whether and where an intersection runs bucketed: `--state-dir`, or an
/// input above [`AUTO_BUCKETS_BYTES`] (state beside the output) unless
/// `--in-memory`.
fn bucket_plan(args: &RunArgs, output: &Path) -> Result<Option<BucketPlan>, CliError> {
    if args.bucket_items == 0 {
        return Err(CliError::Usage("--bucket-items must be at least 1".into()));
    }
    let large =
        std::fs::metadata(input_path(&args.table)?).is_ok_and(|m| m.len() > AUTO_BUCKETS_BYTES);
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None if large && !args.in_memory => {
            let mut name = output.as_os_str().to_owned();
            name.push(".psi-state");
            PathBuf::from(name)
        }
        None => return Ok(None),
    };
    bucketed_input(input_path(&args.table)?)?;
    if args.table.rejects.is_some() {
        return Err(CliError::Usage(
            "--rejects lists rejected rows of a run held in memory; a bucketed run (--state-dir) counts them in its report".into(),
        ));
    }
    let shard = match &args.shard {
        None => (0, 1),
        Some(text) => parse_shard(text)?,
    };
    let nonce = match &args.run_nonce_file {
        Some(path) => Some(read_hex32(path, "--run-nonce-file")?),
        None if shard.1 > 1 && args.partitioned.is_none() => {
            return Err(CliError::Usage(
                "--shard needs --run-nonce-file (or --partitioned): every worker of a run must cut the sets alike (make one with `openssl rand -hex 32`)".into(),
            ))
        }
        None => None,
    };
    Ok(Some(BucketPlan {
        state_dir,
        bucket_items: args.bucket_items,
        shard,
        nonce,
        partitioned: args.partitioned.clone(),
        shard_dir: args.shard_dir.clone(),
        shard_timeout: Duration::from_secs(args.shard_timeout),
    }))
}

/// `I/W` with `I < W`, `W` at least 1.
pub(super) fn parse_shard(text: &str) -> Result<(u16, u16), CliError> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, w)| Some((i.trim().parse::<u16>().ok()?, w.trim().parse::<u16>().ok()?)));
    match parsed {
        Some((i, w)) if w >= 1 && i < w => Ok((i, w)),
        _ => Err(CliError::Usage(format!(
            "--shard {text:?}: expected I/W, worker I (from 0) of W, e.g. 0/3"
        ))),
    }
}

/// 32 bytes as 64 hex digits (surrounding white space allowed) from `path`.
pub(super) fn read_hex32(path: &Path, flag: &str) -> Result<[u8; 32], CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("{flag} {}: cannot read it: {e}", path.display())))?;
    crate::hex::unhex32(text.trim()).ok_or_else(|| {
        CliError::Usage(format!(
            "{flag} {}: expected 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`",
            path.display()
        ))
    })
}

/// `--mode cardinality|sum`: the count (and sum), never the rows.
fn aggregate(args: &RunArgs, spec: &LinkageSpec) -> Result<RunTask, CliError> {
    let key = single_key(spec)?;
    if args.shard.is_some() || args.run_nonce_file.is_some() {
        return Err(CliError::Usage(
            "--shard and --run-nonce-file split intersections into buckets; cardinality and sum run as one session (per-bucket counts would tell the counting party more than the total)".into(),
        ));
    }
    if args.share_result || args.align || args.join != JoinArg::Inner {
        return Err(CliError::Usage(
            "--join, --share-result and --align apply to --mode intersection".into(),
        ));
    }
    if let Some(out) = &args.output {
        let mode = match args.table.mode {
            ModeArg::Sum => "sum",
            _ => "cardinality",
        };
        return Err(CliError::Usage(format!(
            "--mode {mode} learns no rows, so it writes no --output ({}); drop it",
            out.display()
        )));
    }
    if args.protocol != ProtocolArg::Ecdh {
        return Err(CliError::Usage(
            "--protocol applies to --mode intersection; cardinality and sum run on ristretto255 ECDH"
                .into(),
        ));
    }
    let mode = serve_mode(args.table.mode, args.table.sum_to);
    let release = release::plan(Side::Client, mode, &args.table)?;
    Ok(RunTask::Aggregate(AggregatePlan {
        key,
        params: pjc::Params::new(aggregate_protocol(mode), release.protocol_threshold()),
        release,
        disk: aggregate_disk(args)?,
        checkpoint_every: Duration::try_from_secs_f64(args.checkpoint_seconds).map_err(|_| {
            CliError::Usage("--checkpoint-seconds must be a number of seconds".into())
        })?,
    }))
}

/// Whether and where cardinality or sum runs in external memory:
/// `--state-dir`, or an input above [`AUTO_BUCKETS_BYTES`] (temporary files
/// in `INPUT.psi-state`) unless `--in-memory`.
fn aggregate_disk(args: &RunArgs) -> Result<Option<PathBuf>, CliError> {
    let path = input_path(&args.table)?;
    let large = std::fs::metadata(path).is_ok_and(|m| m.len() > AUTO_BUCKETS_BYTES);
    let dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None if large && !args.in_memory => {
            let mut name = path.as_os_str().to_owned();
            name.push(".psi-state");
            PathBuf::from(name)
        }
        None => return Ok(None),
    };
    bucketed_input(path)?;
    if args.table.rejects.is_some() {
        return Err(CliError::Usage(
            "--rejects lists rejected rows of a run held in memory; an external-memory run (--state-dir) counts them in its report".into(),
        ));
    }
    Ok(Some(dir))
}

/// The protocol a client runs for a mode other than intersection.
fn aggregate_protocol(mode: ServeMode) -> Protocol {
    match mode {
        ServeMode::Cardinality | ServeMode::Intersection => Protocol::Cardinality,
        ServeMode::SumToServer => Protocol::SumToValueHolder,
        ServeMode::SumToClient => Protocol::SumToKeyHolder,
    }
}
