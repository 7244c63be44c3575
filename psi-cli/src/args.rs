//! The command line as clap parses it: plain data, checked only as far as
//! clap checks it. [`crate::plan`] validates it into plans; nothing else in
//! the crate sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod fuzzy;
mod serve;

pub use fuzzy::{BlockingArg, EncodeArgs, MatchArgs, SubmitArgs};
pub use serve::ServeArgs;

/// Parses the command line; on a clap error (or `--help`, `--version`)
/// prints it and exits.
pub fn parse() -> Cli {
    Cli::parse()
}

/// Parses `words` (the command line without the program name) without
/// exiting: a clap error, `--help` or `--version` comes back as its first line.
pub fn try_parse(words: &[String]) -> Result<Cli, String> {
    let argv = std::iter::once("psi").chain(words.iter().map(String::as_str));
    Cli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        first.strip_prefix("error: ").unwrap_or(first).to_string()
    })
}

/// Private set intersection: find the rows two organisations share without
/// showing each other anything else.
#[derive(Debug, Parser)]
#[command(name = "psi", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve this party's table to peers (party B). B learns only the size of each peer's set.
    Serve(ServeArgs),
    /// Run the protocol against a serving peer (party A) and write A's matching rows.
    Run(RunArgs),
    /// Run both parties on this machine on generated data and check the result.
    Demo(DemoArgs),
    /// Generate two realistic test tables with a known overlap.
    Gen(GenArgs),
    /// Manage partner tokens (`psi serve --tokens`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Cut a table's keys once into the buckets of one sharded run, for every
    /// worker of this party (`psi run|serve --partitioned DIR`).
    Partition(PartitionArgs),
    /// Fuzzy linkage, data owner: encode each row as a keyed Bloom filter
    /// for a linkage unit (which never gets the secret).
    Encode(EncodeArgs),
    /// Fuzzy linkage, data owner: upload encodings to a linkage unit
    /// (`psi serve --role linkage-unit`) and fetch this owner's links.
    Submit(SubmitArgs),
    /// Fuzzy linkage, linkage unit: link the owners' encodings by Dice
    /// similarity, one to one (two inputs) or in groups (more).
    Match(MatchArgs),
}

/// What `psi serve` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A PSI party serving its table (`--input`, `--key`).
    Exact,
    /// A linkage unit of fuzzy linkage: takes the owners' encodings (`psi
    /// submit`), links them, gives each owner its links. Needs `--owners`,
    /// `--threshold` and identities (`--tokens` or `--client-ca`).
    LinkageUnit,
}

/// `psi token ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Make a random token for a partner: prints it once, and stores only its
    /// SHA-256 in the token file (created if missing).
    Add(TokenAddArgs),
}

/// Arguments of `psi token add`.
#[derive(Debug, Clone, Args)]
pub struct TokenAddArgs {
    /// The token file `psi serve --tokens` reads.
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
    /// The partner's name (its identity in logs and reports): letters,
    /// digits, `.`, `_`, `-`, `@`.
    #[arg(long, value_name = "PARTNER")]
    pub name: String,
}

/// How `psi serve` lets partners in.
#[derive(Debug, Clone, Args)]
pub struct ServeSecurityArgs {
    /// TLS: this server's certificate chain (PEM). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require a client certificate signed by this CA (PEM); the
    /// certificate's subject (CN, or first DNS name) is the partner's identity.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Partner tokens (`psi token add`): every request but the health check
    /// must carry a listed partner's token; its name is the identity.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Listen in plain text on an address other than loopback (anyone on the
    /// path sees and can alter the traffic: only inside a trusted network).
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Sessions (and linkages) one partner may have open at once.
    #[arg(long, value_name = "N")]
    pub max_sessions_per_partner: Option<usize>,
    /// Sessions one partner may open in any hour.
    #[arg(long, value_name = "N")]
    pub max_sessions_per_hour: Option<u32>,
    /// Items (distinct keys) one partner may send per UTC day over all its
    /// sessions: each run reveals membership for every item it sends.
    #[arg(long, value_name = "N")]
    pub max_items_per_day: Option<u64>,
    /// Open connections at once; more are closed as they arrive.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// Open connections at once from one IP address.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_connections_per_address: usize,
    /// Append one JSON line per ended session and linkage to this file: time,
    /// peer address, partner, protocol, mode, both set sizes, bytes, outcome
    /// (no keys, tokens or session secrets).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// How `psi run` reaches a server that lets only partners in.
#[derive(Debug, Clone, Args)]
pub struct RunSecurityArgs {
    /// `https://` peers: trust this CA (PEM) instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Mutual TLS: our client certificate chain (PEM). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Mutual TLS: the private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A file whose first line is our partner token (`psi token add` printed it).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Options shared by `serve` and `run`: the input table and its key.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The CSV file (with a header row), or Parquet. Required (but not
    /// taken by `psi serve --role linkage-unit`).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The key: a column, or comma-separated columns for a composite key, each
    /// with an optional normalisation profile and option
    /// (`email:email:gmail`, `tel:phone:GB`, `given_name:name,dob:date`;
    /// profiles: raw, text, email, phone, name, date, postcode, zip, digits).
    /// Repeat `--key` for a waterfall: keys tried in priority order, each row
    /// linked at most once. Both parties must give the same profiles.
    #[arg(long = "key", value_name = "COL[:PROFILE[:OPTION]][,...]")]
    pub keys: Vec<String>,
    /// A JSON linkage spec instead of `--key`: `{"keys": ["email:email:gmail",
    /// "tel:phone:GB"]}` (keys in priority order).
    #[arg(long, value_name = "FILE", conflicts_with = "keys")]
    pub spec: Option<PathBuf>,
    /// Rows that share a key value (single key): `reject` (default: an error
    /// naming the first repeated keys' lines), `first` (only the first such
    /// row can match) or `all` (every such row matches). With several keys a
    /// value repeated among the rows still unlinked is withheld at that step.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub duplicates: Option<DuplicatesArg>,
    /// Write the rows whose key value failed its profile (line, key, column,
    /// reason; never the value) to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// What the run computes: the shared rows, only their number, or only the
    /// count and total of a value over them. Both parties must give the same.
    #[arg(long, value_enum, default_value_t = ModeArg::Intersection)]
    pub mode: ModeArg,
    /// `--mode sum`: who learns the sum (the server holds the values).
    #[arg(long, value_enum, default_value_t = SumToArg::Server)]
    pub sum_to: SumToArg,
    /// `--mode cardinality|sum`: below this many shared keys the output party
    /// learns only that the threshold was not met (the larger of both
    /// parties' thresholds applies). At least 10 is recommended: a count or sum
    /// over a handful of rows reveals individuals. With `--dp-epsilon` this
    /// party's threshold is decided on the noisy count instead (the peer's
    /// is still decided on the exact count: see the README).
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub min_intersection: u64,
    /// `--mode cardinality|sum`: add discrete-Laplace noise with this total ε to
    /// what this party releases (split evenly between count and sum): a
    /// decimal such as `0.5`, at least 0.000001.
    #[arg(long, value_name = "EPSILON")]
    pub dp_epsilon: Option<String>,
    /// `--mode sum`: the most one key may add to the sum, a public bound both
    /// parties give: the server clamps every key's value to it before the
    /// protocol, and it is the sensitivity of the noise on a released sum.
    /// Needed with `--dp-epsilon` wherever a sum is released.
    #[arg(long, value_name = "N")]
    pub dp_sum_sensitivity: Option<u64>,
}

/// Arguments of `psi run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The serving peer, e.g. http://127.0.0.1:7700.
    #[arg(long, value_name = "URL")]
    pub peer: String,
    #[command(flatten)]
    pub table: TableArgs,
    /// Where to write this party's matching rows (CSV, same header, input
    /// order); `--mode intersection` only.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How the output is written.
    #[command(flatten)]
    pub output_options: OutputArgs,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The protocol: `ecdh` (ECDH-PSI on ristretto255) or `kkrt` (OT-extension
    /// PSI: faster on large sets, more bytes on the wire).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Ecdh)]
    pub protocol: ProtocolArg,
    /// Which rows to write: `inner` (linked rows), `left` (all of ours),
    /// `right` (all of the server's, with `--align`), `full`, or `difference`
    /// (rows without a partner). Needs `--protocol ecdh`.
    #[arg(long, value_enum, default_value_t = JoinArg::Inner)]
    pub join: JoinArg,
    /// The serving party also learns which of its rows were linked and writes
    /// its side (where `psi serve --output` says).
    #[arg(long)]
    pub share_result: bool,
    /// Both parties write their rows in the same order, with a shared
    /// pseudonymous id column (`psi_id`), so row i on one side is row i on the
    /// other (vertical federated learning). Implies `--share-result`.
    #[arg(long)]
    pub align: bool,
    /// Seconds to wait for the peer to accept a connection.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds without progress after which the run fails.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Bounded memory and resume: spill the keys to DIR, run bucket by
    /// bucket (`--mode intersection`) or as one session on disk (`--mode
    /// cardinality|sum`), and keep the progress there; the same command
    /// after a crash resumes. Removed on success. Inputs above
    /// 1 GiB use `OUTPUT.psi-state` unless `--in-memory`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// With `--state-dir`: the keys per bucket the run aims at.
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    pub bucket_items: u64,
    /// With `--state-dir`: run only the buckets `b` with `b mod W = I` (worker
    /// I of W, 0-based); W workers' outputs together are the whole result.
    /// Every worker needs the same `--run-nonce-file`; a linkage also
    /// `--shard-dir`, and `psi serve --shard I/W` as its peer.
    #[arg(long, value_name = "I/W")]
    pub shard: Option<String>,
    /// A sharded linkage (several keys, `--join`, `--share-result` or
    /// `--align`): a directory all of this party's shard workers share (in
    /// Kubernetes, the party's read-write-many claim). After each step each
    /// worker writes there the rows its buckets linked and waits for the
    /// others', since the next step offers only rows no worker linked.
    #[arg(long, value_name = "DIR", requires = "shard")]
    pub shard_dir: Option<PathBuf>,
    /// With `--shard-dir`: the most seconds to wait for the other workers
    /// at each step before failing with the names of the missing ones.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub shard_timeout: u64,
    /// The run's client nonce (64 hex digits), shared by all shard workers so
    /// that they cut the sets alike; by default a fresh one per run.
    #[arg(long, value_name = "FILE")]
    pub run_nonce_file: Option<PathBuf>,
    /// With `--state-dir`: read our keys from the cut `psi partition` made
    /// in DIR for this run instead of cutting the input again (the input is
    /// still read once, at the end, to write the output rows).
    #[arg(long, value_name = "DIR", requires = "state_dir")]
    pub partitioned: Option<PathBuf>,
    /// Hold the whole set in memory even for a large input (no state directory).
    #[arg(long, conflicts_with = "state_dir")]
    pub in_memory: bool,
    /// No progress bar or progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Items per chunk on the wire (tests cross chunk boundaries with small
    /// sets this way).
    #[arg(long, hide = true, value_name = "N")]
    pub chunk_items: Option<usize>,
    /// `--mode cardinality|sum --state-dir`: the least seconds between two
    /// checkpoints of a download (tests take them often).
    #[arg(long, hide = true, default_value_t = 5.0, value_name = "SECS")]
    pub checkpoint_seconds: f64,
    #[command(flatten)]
    pub security: RunSecurityArgs,
}

/// Arguments of `psi partition`.
#[derive(Debug, Clone, Args)]
pub struct PartitionArgs {
    /// The table (CSV with a header row, or Parquet).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The key, as `psi run|serve --key` gives it (one key).
    #[arg(long, value_name = "COL[:PROFILE[:OPTION]][,...]")]
    pub key: String,
    /// The run's client nonce (64 hex digits): the running party's
    /// `--run-nonce-file`, which its workers share.
    #[arg(long, value_name = "FILE")]
    pub run_nonce_file: PathBuf,
    /// Serving party: the key of its run nonces (its workers'
    /// `--run-key-file`). The cut writes the run's server nonce to
    /// `DIR/server-nonce` for the running party.
    #[arg(long, value_name = "FILE", conflicts_with = "server_nonce_file")]
    pub run_key_file: Option<PathBuf>,
    /// Running party: the server nonce the serving party's cut wrote
    /// (`DIR/server-nonce`; not secret).
    #[arg(long, value_name = "FILE", required_unless_present = "run_key_file")]
    pub server_nonce_file: Option<PathBuf>,
    /// The directory to cut into (made if missing; must not hold a cut).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bar or progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `psi demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Rows of party A.
    #[arg(long, default_value_t = 3000)]
    pub rows_a: u64,
    /// Rows of party B.
    #[arg(long, default_value_t = 4000)]
    pub rows_b: u64,
    /// People in both tables.
    #[arg(long, default_value_t = 1200)]
    pub overlap: u64,
    /// Random seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Key column(s) to match on.
    #[arg(long, default_value = "email")]
    pub key: String,
    /// The protocol to run.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Ecdh)]
    pub protocol: ProtocolArg,
    /// Keep the files in this directory (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `psi gen`.
#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    /// Rows of party A's table.
    #[arg(long, default_value_t = 10_000)]
    pub rows_a: u64,
    /// Rows of party B's table.
    #[arg(long, default_value_t = 10_000)]
    pub rows_b: u64,
    /// People present in both tables.
    #[arg(long, default_value_t = 5_000)]
    pub overlap: u64,
    /// Random seed (same seed, same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fraction of shared rows whose copy in B carries a realistic typo or format change.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Add a non-negative integer `spend` column.
    #[arg(long)]
    pub with_value: bool,
    /// Output file of party A.
    #[arg(long, value_name = "FILE")]
    pub out_a: PathBuf,
    /// Output file of party B.
    #[arg(long, value_name = "FILE")]
    pub out_b: PathBuf,
}

/// How the output file is written (`psi run` and `psi serve`). The CSV flags
/// are ignored for Parquet.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Output format [default: parquet for a file name ending in `.parquet`,
    /// else csv].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output_format: Option<FormatArg>,
    /// CSV field delimiter: one ASCII character other than `"` or a line
    /// break; `tab` or `\t` for a tab [default: ,].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Write CSV without the header row [default: with a header row].
    #[arg(long)]
    pub no_header: bool,
    /// CSV quoting [default: necessary].
    #[arg(long, value_enum, value_name = "STYLE")]
    pub quote: Option<QuoteArg>,
    /// What an absent value (a missing id, a placeholder row's fields) is
    /// written as in CSV; an empty input value stays empty [default: empty].
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub null: String,
    /// Which input columns to write, in this order (names are trimmed)
    /// [default: all, in input order].
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
}

/// `--mode`: what a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The rows both parties hold (written to `--output`).
    Intersection,
    /// Only how many distinct keys both parties hold.
    Cardinality,
    /// Only the count and the total of the server's `--value` column over the shared keys.
    Sum,
}

/// `--sum-to`: who learns the sum in `--mode sum` (the server always holds
/// the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SumToArg {
    /// The value holder (`psi serve`) learns count and sum, as in Private Join
    /// and Compute; the client learns the count.
    Server,
    /// The key holder (`psi run`) learns count and sum; the server learns nothing.
    Client,
}

/// `--protocol`: the protocols `psi run` can run for `--mode intersection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// ECDH-PSI on ristretto255.
    Ecdh,
    /// KKRT OT-extension PSI with cuckoo hashing.
    Kkrt,
}

/// `--join`: which rows each side writes (see the README's table of what
/// each party learns); becomes a [`psi_core::linkage::JoinType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JoinArg {
    /// Linked rows only.
    Inner,
    /// Every row of the running party (A); B's linked rows.
    Left,
    /// A's linked rows; every row of the serving party (B).
    Right,
    /// Every row of both.
    Full,
    /// Each side's rows that were not linked.
    Difference,
}

/// `--duplicates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DuplicatesArg {
    /// A repeated key value is an error that names its lines.
    Reject,
    /// Only the first row with a key value can match.
    First,
    /// Every row with a matched key value is matched.
    All,
}

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Delimited text.
    Csv,
    /// Apache Parquet: every column a nullable UTF-8 string, absent values
    /// real nulls.
    Parquet,
}

/// `--quote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuoteArg {
    /// Only fields holding the delimiter, a quote or a line break.
    Necessary,
    /// Every field.
    Always,
    /// Every field that is not a number (empty fields too).
    NonNumeric,
    /// No field; one that would need quotes is an error.
    Never,
}
