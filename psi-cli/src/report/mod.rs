//! The JSON reports: one shape for every command ([`Report`]), with what the
//! command did as its body, and one shape for each session or linkage a
//! server saw end ([`Ended`]). Bytes and phase times are `psi-server`'s
//! [`Traffic`] and [`Phases`], so both parties count them the same way.
//!
//! This module only describes and writes reports; it knows nothing of the
//! commands that fill them.

mod fuzzy;
mod input;
mod linkage;
mod released;

use std::path::Path;
use std::time::Duration;

use psi_server::{Phases, Traffic};
use serde::Serialize;

use crate::error::CliError;

pub use fuzzy::{BlockingReport, EncodeReport, MatchInput, MatchReport, ThresholdScore};
pub use input::InputReport;
pub use linkage::{LinkageReport, StepReport};
pub use released::{NoiseReport, Released, ThresholdOn};

/// Which party wrote a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `psi run` (party A).
    Client,
    /// `psi serve` (party B).
    Server,
}

/// The report of one command: who wrote it, its input, what it did (the
/// command's `body`, whose fields sit at the top level), what a run cost,
/// and the build and machine.
#[derive(Debug, Clone, Serialize)]
pub struct Report<B> {
    /// `client` or `server`.
    pub role: Role,
    /// What this party read.
    pub input: InputReport,
    /// What the command did.
    #[serde(flatten)]
    pub body: B,
    /// A run's bytes and seconds; `None` for a server, whose sessions and
    /// linkages each carry their own.
    #[serde(flatten)]
    pub cost: Option<Cost>,
    /// Build and machine.
    pub environment: Environment,
}

impl<B> Report<B> {
    /// A client's report of one run.
    pub fn client(input: InputReport, body: B, traffic: Traffic, seconds: Phases) -> Self {
        Report {
            role: Role::Client,
            input,
            body,
            cost: Some(Cost { traffic, seconds }),
            environment: Environment::now(),
        }
    }

    /// A server's report (rewritten as sessions end).
    pub fn server(input: InputReport, body: B) -> Self {
        Report {
            role: Role::Server,
            input,
            body,
            cost: None,
            environment: Environment::now(),
        }
    }
}

/// What a run cost.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// `bytes_sent` and `bytes_received`.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// Seconds per phase, in order, `read_input` first and `total` last.
    pub seconds: Phases,
}

/// One session or linkage that ended, in a server's report: what it was
/// (`body`), the server's bytes each way, its duration and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Ended<B> {
    /// What it was.
    #[serde(flatten)]
    pub body: B,
    /// `bytes_sent` and `bytes_received`, from the server's side.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// Seconds from the first message to the end.
    pub seconds: f64,
    /// `ok` or what went wrong.
    pub outcome: String,
}

/// The body of `psi run --mode intersection` with one key.
#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// Session token.
    pub session: String,
    /// Distinct keys the peer holds (what we learn of it besides the intersection).
    pub peer_set_size: u64,
    /// Distinct keys in the intersection.
    pub matched_keys: u64,
    /// Rows of our input written to the output (all rows carrying a matched key).
    pub matched_rows: u64,
    /// The output file.
    pub output: String,
    /// KKRT: cuckoo-hash seeds rejected before one fit (each retry is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuckoo_retries: Option<u32>,
    /// A bucketed run (`--state-dir`): how it was cut and resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<BucketsReport>,
}

/// How a bucketed run went.
#[derive(Debug, Clone, Serialize)]
pub struct BucketsReport {
    /// Buckets in the run.
    pub count: u64,
    /// `I/W`: this worker ran the buckets `b` with `b mod W = I`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Buckets run by this invocation.
    pub run: u64,
    /// Buckets a previous, interrupted invocation had finished.
    #[serde(rename = "buckets_resumed")]
    pub resumed: u64,
    /// The size each of our buckets was padded to (what the peer sees).
    pub padded_size: u64,
    /// The size each of the peer's buckets was padded to.
    pub peer_padded_size: u64,
    /// Bytes the state directory held at the end (spill and results).
    pub state_dir_bytes: u64,
}

/// The body of `psi run --mode cardinality|sum`.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregated {
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// Session token.
    pub session: String,
    /// Distinct keys the peer holds.
    pub peer_set_size: u64,
    /// What we learned.
    pub released: Released,
    /// An external-memory run (`--state-dir`): what it kept on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalReport>,
}

/// How an external-memory cardinality or sum run used the disk.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalReport {
    /// Bytes of our keys spilled to disk (deduplicated by hash partition).
    pub spill_bytes: u64,
    /// The most bytes the protocol's temporary files held at once.
    pub scratch_bytes: u64,
    /// Prefix files the count went through, one in memory at a time.
    pub prefix_files: u64,
    /// Whether this run resumed a session an earlier one started.
    pub resumed: bool,
}

/// The body of a linkage run (several keys, a join, a shared or aligned result).
#[derive(Debug, Clone, Serialize)]
pub struct Linked {
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// What the linkage did.
    pub linkage: LinkageReport,
    /// A bucketed linkage: its (step, bucket) pairs (`count`: steps times
    /// buckets), run and resumed; the padded sizes are the largest of any step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<BucketsReport>,
}

/// The body of `psi serve`.
#[derive(Debug, Clone, Serialize)]
pub struct Serving {
    /// The protocols this server offers (each session names the one its client chose).
    pub protocols: Vec<&'static str>,
    /// Where we listened.
    pub listen: String,
    /// Seconds to read the input.
    pub read_input_seconds: f64,
    /// Sessions that ended (linkage steps are reported under `linkages`).
    pub sessions: Vec<Ended<Session>>,
    /// Linkages that ended.
    pub linkages: Vec<Ended<Linkage>>,
}

/// One session a server saw end.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Session token.
    pub session: String,
    /// The protocol the client chose.
    pub protocol: &'static str,
    /// Distinct keys the client holds (all the server learns).
    pub client_set_size: u64,
    /// `--mode sum --sum-to server`: what the server learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<Released>,
}

/// One linkage a server saw end.
#[derive(Debug, Clone, Serialize)]
pub struct Linkage {
    /// What it did on the server's side.
    pub linkage: LinkageReport,
}

/// Facts about the machine and build, in every report.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// `psi` version.
    pub psi_version: &'static str,
    /// Wire format version.
    pub wire_version: u8,
    /// curve25519-dalek backend in use.
    pub crypto_backend: &'static str,
    /// Threads used for cryptography.
    pub threads: usize,
    /// Peak resident memory of this process so far, in bytes (Linux only).
    pub peak_rss_bytes: Option<u64>,
}

impl Environment {
    /// Reads the current values.
    pub fn now() -> Self {
        Environment {
            psi_version: env!("CARGO_PKG_VERSION"),
            wire_version: psi_core::codec::WIRE_VERSION,
            crypto_backend: psi_core::crypto_backend(),
            threads: rayon::current_num_threads(),
            peak_rss_bytes: peak_rss_bytes(),
        }
    }
}

/// Peak resident set size (`VmHWM`) of this process, on Linux.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A duration in seconds with millisecond precision, as [`Phases`] records
/// phases.
pub fn seconds(d: Duration) -> f64 {
    round_seconds(d.as_secs_f64())
}

/// Seconds rounded to milliseconds.
pub fn round_seconds(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Writes a report as pretty JSON, atomically.
pub fn write<T: Serialize>(path: &Path, report: &T) -> Result<(), CliError> {
    let mut json = serde_json::to_vec_pretty(report).map_err(|e| CliError::Io {
        what: "serialising the report",
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    psi_table::write_atomically(path, &json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names the README, the end-to-end tests and the benches read.
    #[test]
    fn field_names_stay_put() {
        let mut seconds = Phases::new();
        seconds.push("read_input", Duration::from_millis(5));
        seconds.push("total", Duration::from_millis(7));
        let traffic = Traffic {
            bytes_sent: 3,
            bytes_received: 4,
        };
        let body = Matched {
            protocol: "ecdh-ristretto255",
            peer: "http://x".into(),
            session: "s".into(),
            peer_set_size: 9,
            matched_keys: 2,
            matched_rows: 3,
            output: "o.csv".into(),
            cuckoo_retries: None,
            buckets: None,
        };
        let r = Report::client(InputReport::default(), body, traffic, seconds);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["role"], "client");
        assert_eq!(v["bytes_sent"], 3);
        assert_eq!(v["bytes_received"], 4);
        assert_eq!(v["matched_rows"], 3);
        assert_eq!(v["seconds"][0][0], "read_input");
        assert_eq!(v["seconds"][1][1], 0.007);
        assert!(v["input"]["rows"].is_u64());
        assert!(v["environment"]["psi_version"].is_string());
        assert!(v.get("cuckoo_retries").is_none());

        let session = Ended {
            body: Session {
                session: "s".into(),
                protocol: "pjc-cardinality-ristretto255",
                client_set_size: 5,
                released: None,
            },
            traffic,
            seconds: 0.5,
            outcome: "ok".into(),
        };
        let serving = Serving {
            protocols: vec!["ecdh-ristretto255"],
            listen: "127.0.0.1:1".into(),
            read_input_seconds: 0.1,
            sessions: vec![session],
            linkages: Vec::new(),
        };
        let v = serde_json::to_value(Report::server(InputReport::default(), serving)).unwrap();
        assert_eq!(v["role"], "server");
        assert!(v.get("bytes_sent").is_none() && v.get("seconds").is_none());
        assert_eq!(v["sessions"][0]["bytes_received"], 4);
        assert_eq!(v["sessions"][0]["seconds"], 0.5);
        assert_eq!(v["sessions"][0]["client_set_size"], 5);
        assert_eq!(v["linkages"], serde_json::json!([]));
    }
}
