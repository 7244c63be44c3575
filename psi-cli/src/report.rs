//! The JSON run report.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::CliError;

/// Counts about one party's input.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// The input file.
    pub path: String,
    /// The key columns.
    pub key: Vec<String>,
    /// Data rows read.
    pub rows: u64,
    /// Rows with an empty key component (never matched).
    pub empty_key_rows: u64,
    /// Rows whose key repeats an earlier row's key.
    pub duplicate_key_rows: u64,
    /// Distinct non-empty keys: the set size the peer learns.
    pub distinct_keys: u64,
    /// Rows whose key has a value its profile rejects (never matched).
    pub invalid_key_rows: u64,
    /// Empty and invalid values per key column.
    pub columns: Vec<ColumnReport>,
    /// With several keys (a waterfall): the same counts per key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyReport>,
}

/// Empty and invalid values of one key column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnReport {
    /// The column.
    pub column: String,
    /// Empty values.
    pub empty: u64,
    /// Values the column's profile rejected.
    pub invalid: u64,
}

/// Counts for one key of a waterfall.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    /// The key's canonical spec.
    pub key: String,
    /// Rows with an empty value in the key.
    pub empty_key_rows: u64,
    /// Rows with an invalid value in the key.
    pub invalid_key_rows: u64,
    /// Rows repeating another row's value of this key.
    pub duplicate_key_rows: u64,
    /// Distinct values of this key.
    pub distinct_keys: u64,
    /// Per column.
    pub columns: Vec<ColumnReport>,
}

fn column_reports(s: &psi_table::TableStats) -> Vec<ColumnReport> {
    s.columns
        .iter()
        .map(|c| ColumnReport {
            column: c.name.clone(),
            empty: c.empty,
            invalid: c.invalid,
        })
        .collect()
}

impl InputReport {
    /// From a table that was read.
    pub fn new(table: &psi_table::KeyedTable, key: &psi_table::KeySpec) -> Self {
        let s = table.stats();
        InputReport {
            path: table.path().display().to_string(),
            key: key.columns().to_vec(),
            rows: s.rows,
            empty_key_rows: s.empty_key_rows,
            duplicate_key_rows: s.duplicate_key_rows,
            distinct_keys: s.distinct_keys,
            invalid_key_rows: s.invalid_key_rows,
            columns: column_reports(s),
            keys: Vec::new(),
        }
    }

    /// From a table read with every key of a waterfall: the first key's
    /// counts at the top, then every key's.
    pub fn linkage(table: &psi_table::LinkageTable) -> Self {
        let first = &table.keys()[0];
        let mut report = Self::new(first, first.spec());
        report.key = table.spec().keys().iter().map(|k| k.canonical()).collect();
        if table.keys().len() > 1 {
            report.keys = table
                .keys()
                .iter()
                .map(|t| {
                    let s = t.stats();
                    KeyReport {
                        key: t.spec().canonical(),
                        empty_key_rows: s.empty_key_rows,
                        invalid_key_rows: s.invalid_key_rows,
                        duplicate_key_rows: s.duplicate_key_rows,
                        distinct_keys: s.distinct_keys,
                        columns: column_reports(s),
                    }
                })
                .collect();
        }
        report
    }
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

/// The report of `psi run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Always "client".
    pub role: &'static str,
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// Session token.
    pub session: String,
    /// Our input.
    pub input: InputReport,
    /// Distinct keys the peer holds (what we learn of it besides the intersection).
    pub peer_set_size: u64,
    /// Distinct keys in the intersection.
    pub matched_keys: u64,
    /// Rows of our input written to the output (all rows carrying a matched key).
    pub matched_rows: u64,
    /// The output file.
    pub output: String,
    /// Bytes we sent.
    pub bytes_sent: u64,
    /// Bytes we received.
    pub bytes_received: u64,
    /// KKRT: cuckoo-hash seeds rejected before one fit (each retry is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuckoo_retries: Option<u32>,
    /// Seconds per phase, in order, then "total".
    pub seconds: Vec<(String, f64)>,
    /// Build and machine.
    pub environment: Environment,
}

/// The report of `psi run --mode cardinality|sum`.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateReport {
    /// Always "client".
    pub role: &'static str,
    /// Protocol name.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// Session token.
    pub session: String,
    /// Our input.
    pub input: InputReport,
    /// Distinct keys the peer holds.
    pub peer_set_size: u64,
    /// What we learned.
    pub released: crate::aggregate::Released,
    /// Bytes we sent.
    pub bytes_sent: u64,
    /// Bytes we received.
    pub bytes_received: u64,
    /// Seconds per phase, in order, then "total".
    pub seconds: Vec<(String, f64)>,
    /// Build and machine.
    pub environment: Environment,
}

/// One ended session, in the report of `psi serve`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// Session token.
    pub session: String,
    /// The protocol the client chose.
    pub protocol: &'static str,
    /// Distinct keys the client holds (all the server learns).
    pub client_set_size: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Duration.
    pub seconds: f64,
    /// "ok" or the error.
    pub outcome: String,
    /// `--mode sum --sum-to server`: what the server learned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<crate::aggregate::Released>,
}

/// The report of `psi serve`, rewritten after every session.
#[derive(Debug, Clone, Serialize)]
pub struct ServeReport {
    /// Always "server".
    pub role: &'static str,
    /// The protocols this server offers (each session names the one its client chose).
    pub protocols: Vec<&'static str>,
    /// Where we listened.
    pub listen: String,
    /// Our input.
    pub input: InputReport,
    /// Seconds to read the input.
    pub read_input_seconds: f64,
    /// Sessions that ended (linkage steps are reported under `linkages`).
    pub sessions: Vec<SessionReport>,
    /// Linkages that ended.
    pub linkages: Vec<crate::serve::ServerLinkageReport>,
    /// Build and machine.
    pub environment: Environment,
}

/// Seconds as a float with millisecond precision.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
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

/// Peak resident set size (`VmHWM`) of this process, on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
