//! The plan of `psi serve` (party B).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use psi_core::linkage::{Duplicates, Shard, Side};
use psi_server::{ServeMode, ServerConfig};
use psi_table::{KeySpec, OutputOptions};

use super::release::{self, ReleasePlan};
use super::security;
use super::shared::{
    bucketed_input, duplicates, input, input_path, linkage_spec, output_options, serve_mode,
    single_key, writable, InputPlan,
};
use crate::args::ServeArgs;
use crate::error::CliError;

/// `psi serve`: what to read, where to listen, what to answer.
#[derive(Debug, Clone)]
pub struct ServePlan {
    /// Our table.
    pub input: InputPlan,
    /// The listening address (port 0: any free port).
    pub listen: SocketAddr,
    /// Limits, mode, threshold and our key declaration.
    pub config: ServerConfig,
    /// Where the JSON report goes (checked); rewritten after every session.
    pub report: Option<PathBuf>,
    /// Where one JSON line per ended session and linkage is appended.
    pub audit_log: Option<PathBuf>,
    /// What is served.
    pub task: ServeTask,
    /// No progress bar or progress lines.
    pub quiet: bool,
}

/// What a server answers.
#[derive(Debug, Clone)]
pub enum ServeTask {
    /// `--mode intersection`: ECDH and KKRT intersections, and linkages.
    Intersection {
        /// The protocol's policy for repeated key values.
        duplicates: Duplicates,
        /// Where our side of a shared linkage result goes, if anywhere.
        output: Option<SharedOutput>,
    },
    /// `--state-dir`: the table stays on disk; bucketed runs only.
    OnDisk {
        /// The key.
        key: KeySpec,
        /// Where partitions (and, without `run_key`, the run key) are kept.
        state_dir: PathBuf,
        /// `--run-key-file`.
        run_key: Option<[u8; 32]>,
        /// `--partitioned`: our keys, cut by `psi partition` for one run.
        partitioned: Option<PathBuf>,
        /// How bucketed linkages of every key are served.
        linkage: OnDiskLinkage,
    },
    /// `--mode cardinality|sum`.
    Aggregate {
        /// The key.
        key: KeySpec,
        /// `--mode sum`: the column of values.
        value: Option<String>,
        /// `--mode sum --dp-sum-sensitivity`: every key's value is clamped
        /// to this public bound before the protocol.
        value_bound: Option<u64>,
        /// Our threshold, and (`--mode sum --sum-to server`) noise on the
        /// released count and sum.
        release: ReleasePlan,
        /// `--state-dir`: the table stays on disk and every session runs
        /// in external memory, with its temporary files here.
        state_dir: Option<PathBuf>,
    },
}

/// `psi serve --state-dir`: bucketed linkages ([`psi_core::linkage::bucketed`]).
#[derive(Debug, Clone)]
pub struct OnDiskLinkage {
    /// The protocol's policy for repeated key values.
    pub duplicates: Duplicates,
    /// `--duplicates reject` on a single key: a linkage run fails if the
    /// table repeats a key value (known once it is partitioned).
    pub refuse_duplicates: bool,
    /// Where our side of a shared linkage result goes, if anywhere.
    pub output: Option<SharedOutput>,
    /// `--shard I/W --shard-dir DIR`: a sharded linkage's server worker.
    pub shard: Option<LinkShard>,
}

/// `psi serve --shard I/W --shard-dir DIR`: shard worker `I` of `W` of
/// every bucketed linkage this server serves ([`psi_core::linkage::shard`]).
#[derive(Debug, Clone)]
pub struct LinkShard {
    /// This worker.
    pub shard: Shard,
    /// Where this party's workers meet after each step.
    pub dir: PathBuf,
    /// The most time to wait for them at a step.
    pub timeout: Duration,
}

/// `psi serve --output`: where this server writes its side of each linkage
/// whose client shares the result.
#[derive(Debug, Clone)]
pub struct SharedOutput {
    /// The path as given, maybe with `{linkage}` in it.
    pub pattern: PathBuf,
    /// `--once`: there is one linkage, so the path is used as it is.
    pub once: bool,
    /// Format and CSV options.
    pub options: OutputOptions,
}

impl SharedOutput {
    /// The file for one linkage: `{linkage}` in the pattern is replaced by
    /// the linkage id; otherwise, unless the server serves only once, the id
    /// is added before the extension (`out.csv` → `out-<id>.csv`).
    pub fn path(&self, linkage: &str) -> PathBuf {
        let pattern = &self.pattern;
        let text = pattern.to_string_lossy();
        if text.contains("{linkage}") {
            return PathBuf::from(text.replace("{linkage}", linkage));
        }
        if self.once {
            return pattern.clone();
        }
        let stem = pattern
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match pattern.extension() {
            Some(ext) => format!("{stem}-{linkage}.{}", ext.to_string_lossy()),
            None => format!("{stem}-{linkage}"),
        };
        pattern.with_file_name(name)
    }
}

impl ServePlan {
    /// Validates `psi serve`.
    pub(super) fn from_args(args: ServeArgs) -> Result<Self, CliError> {
        let table = &args.table;
        let spec = linkage_spec(table)?;
        let path = input_path(table)?;
        if let Some(r) = &args.report {
            writable(r, &[path])?;
        }
        if let Some(a) = &args.security.audit_log {
            writable(a, &[path])?;
        }
        let output = match &args.output {
            Some(o) => {
                writable(o, &[path])?;
                Some(SharedOutput {
                    pattern: o.clone(),
                    once: args.once,
                    options: output_options(&args.output_options)?,
                })
            }
            None => None,
        };
        let mode = serve_mode(table.mode, table.sum_to);
        let key = match mode {
            ServeMode::Intersection => None,
            _ => Some(single_key(&spec)?),
        };
        match (&args.value, mode.needs_values()) {
            (None, true) => {
                return Err(CliError::Usage(
                    "--mode sum needs --value COLUMN: the column to sum".into(),
                ))
            }
            (Some(_), false) => {
                return Err(CliError::Usage("--value is for --mode sum only".into()))
            }
            _ => {}
        }
        let release = release::plan(Side::Server, mode, table)?;
        let (task, refuse_duplicates) = match (key, &args.state_dir) {
            (None, Some(state_dir)) => {
                bucketed_input(path)?;
                // Single-key runs use the first key; linkages every key.
                let key = spec.keys()[0].clone();
                let (duplicates, refuse) = duplicates(table, spec.keys().len())?;
                let run_key = match &args.run_key_file {
                    Some(p) => Some(super::run::read_hex32(p, "--run-key-file")?),
                    None => None,
                };
                let shard = match (&args.shard, &args.shard_dir) {
                    (Some(text), Some(dir)) => {
                        let (i, w) = super::run::parse_shard(text)?;
                        if w > 1 && args.run_key_file.is_none() {
                            return Err(CliError::Usage(
                                "--shard needs --run-key-file: every server worker of a run must derive the same seed (give them all the same key, e.g. a Kubernetes Secret)".into(),
                            ));
                        }
                        Shard::new(i, w).map(|shard| LinkShard {
                            shard,
                            dir: dir.clone(),
                            timeout: Duration::from_secs(args.shard_timeout),
                        })
                    }
                    _ => None,
                };
                (
                    ServeTask::OnDisk {
                        key,
                        state_dir: state_dir.clone(),
                        run_key,
                        partitioned: args.partitioned.clone(),
                        linkage: OnDiskLinkage {
                            duplicates,
                            refuse_duplicates: refuse,
                            output,
                            shard,
                        },
                    },
                    false,
                )
            }
            (None, None) => {
                let (duplicates, refuse) = duplicates(table, spec.keys().len())?;
                (ServeTask::Intersection { duplicates, output }, refuse)
            }
            (Some(key), state_dir) => {
                if args.shard.is_some() {
                    return Err(CliError::Usage(
                        "--shard splits bucketed linkages; --mode cardinality and sum run as one session".into(),
                    ));
                }
                if state_dir.is_some() {
                    bucketed_input(path)?;
                }
                let task = ServeTask::Aggregate {
                    key,
                    value: args.value.clone(),
                    value_bound: table.dp_sum_sensitivity,
                    release,
                    state_dir: state_dir.clone(),
                };
                (task, false)
            }
        };
        let outputs: Vec<&Path> = args.output.iter().map(PathBuf::as_path).collect();
        let security = security::server(&args.security, args.listen)?;
        if args.max_set_size == 0 {
            return Err(CliError::Usage("--max-set-size must be at least 1".into()));
        }
        let config = ServerConfig {
            limits: psi_core::Limits {
                max_set_size: args.max_set_size,
            },
            tls: security.tls,
            tokens: security.tokens,
            quotas: security.quotas,
            max_connections: args.security.max_connections,
            max_connections_per_address: args.security.max_connections_per_address,
            max_sessions: args.max_sessions.max(1),
            idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
            session_retention: Duration::from_secs(args.session_retention.max(1)),
            max_completed_sessions: args.once.then_some(1),
            mode,
            min_intersection: release.protocol_threshold(),
            key_spec: Some(spec.declaration()),
            chunk_items: args
                .chunk_items
                .unwrap_or(psi_core::codec::DEFAULT_CHUNK_ITEMS),
            ..ServerConfig::default()
        };
        Ok(ServePlan {
            input: input(table, spec, refuse_duplicates, &outputs)?,
            listen: args.listen,
            config,
            report: args.report.clone(),
            audit_log: args.security.audit_log.clone(),
            quiet: args.quiet,
            task,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_per_linkage() {
        let output = |pattern: &str, once| SharedOutput {
            pattern: pattern.into(),
            once,
            options: OutputOptions::default(),
        };
        let p = "out/b.csv";
        assert_eq!(output(p, true).path("abc"), Path::new("out/b.csv"));
        assert_eq!(output(p, false).path("abc"), Path::new("out/b-abc.csv"));
        assert_eq!(
            output("out/{linkage}.parquet", false).path("abc"),
            Path::new("out/abc.parquet")
        );
    }
}
