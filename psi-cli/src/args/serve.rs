//! The arguments of `psi serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{OutputArgs, RoleArg, ServeSecurityArgs, TableArgs};

/// Arguments of `psi serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Stop after the first session (with `--state-dir`: the first bucketed
    /// run, when its client closes it) ends.
    #[arg(long)]
    pub once: bool,
    /// Most sessions served at the same time.
    #[arg(long, default_value_t = 16)]
    pub max_sessions: usize,
    /// Seconds without progress after which a session is dropped.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Items per chunk on the wire (tests cross chunk boundaries with small
    /// sets this way).
    #[arg(long, hide = true, value_name = "N")]
    pub chunk_items: Option<usize>,
    /// Where to write the JSON report (rewritten after every session).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// `--mode sum`: the column of non-negative integers to sum (at most
    /// 2^32 − 1 per key; rows repeating a key add their values).
    #[arg(long, value_name = "COLUMN")]
    pub value: Option<String>,
    /// Where to write this party's side of a shared result (`psi run
    /// --share-result` or `--align`): `{linkage}` in the name is replaced by
    /// the linkage id; otherwise, unless `--once`, the id is added before the
    /// extension (`b.csv` → `b-<id>.csv`), one file per linkage.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How the output is written.
    #[command(flatten)]
    pub output_options: OutputArgs,
    /// Largest set a client may announce (distinct keys).
    #[arg(long, default_value_t = 1 << 28, value_name = "N")]
    pub max_set_size: u64,
    /// Keep the table on disk (`--mode intersection`, one key): serve
    /// bucketed runs only (`psi run --state-dir`), partitioning the table for
    /// each run into DIR, where the key of this server's run nonces is kept
    /// so that clients resume runs across restarts. With `--mode cardinality`
    /// or `sum`: run each session in external memory and keep it in
    /// DIR/pjc-sessions (its secrets included, owner-only files) until it
    /// completes or expires, so that its client resumes it across a restart
    /// of this server (with the same input and options).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// With `--state-dir`, `--mode cardinality|sum`: seconds a session kept
    /// on disk waits for its client after it was last active (longer than
    /// `--idle-timeout`, which drops it from memory only); then its files,
    /// secrets included, are removed (at start-up and while serving).
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    pub session_retention: u64,
    /// With `--state-dir`: the key of this server's run nonces (64 hex
    /// digits) instead of `DIR/run-key`: give every server worker of a
    /// sharded run the same one (a Kubernetes Secret).
    #[arg(long, value_name = "FILE")]
    pub run_key_file: Option<PathBuf>,
    /// With `--state-dir`: serve runs whose seed is that of the cut
    /// `psi partition --run-key-file` made in DIR from it, without hashing
    /// or cutting the table again (other runs are cut as usual).
    #[arg(long, value_name = "DIR", requires = "state_dir")]
    pub partitioned: Option<PathBuf>,
    /// With `--state-dir`: serve bucketed linkages as shard worker I of W
    /// (0-based), for the client worker `psi run --shard I/W`: only the
    /// buckets `b` with `b mod W = I`, meeting this party's other workers
    /// in `--shard-dir` after each step. (Intersections need no server
    /// shard: a server worker serves whichever buckets its client runs.)
    #[arg(long, value_name = "I/W", requires_all = ["state_dir", "shard_dir"])]
    pub shard: Option<String>,
    /// With `--shard`: the directory this party's server workers share,
    /// as `psi run --shard-dir` (each party its own).
    #[arg(long, value_name = "DIR", requires = "shard")]
    pub shard_dir: Option<PathBuf>,
    /// With `--shard-dir`: the most seconds to wait for the other workers
    /// at each step.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub shard_timeout: u64,
    #[command(flatten)]
    pub security: ServeSecurityArgs,
    /// What this server is: a PSI party (`exact`) or a fuzzy linkage unit.
    #[arg(long, value_enum, default_value_t = RoleArg::Exact)]
    pub role: RoleArg,
    /// Linkage unit: the owners' identities (token names or certificate
    /// subjects), comma-separated, in owner order.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub owners: Vec<String>,
    /// Linkage unit: link rows whose Dice similarity is at least this.
    #[arg(long, value_name = "T")]
    pub threshold: Option<f64>,
    /// No progress bar or progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}
