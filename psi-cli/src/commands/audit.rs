//! `psi serve --audit-log`: one JSON line per ended session and linkage,
//! appended: when, from where, who, what, how big, how it ended. Never keys,
//! tokens or session secrets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use psi_server::{LinkageEvent, ServeMode, SessionEvent};

use crate::error::CliError;

/// The audit log of a server.
#[derive(Debug, Clone)]
pub struct Audit {
    path: PathBuf,
    mode: &'static str,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

fn mode_name(mode: ServeMode) -> &'static str {
    match mode {
        ServeMode::Intersection => "intersection",
        ServeMode::Cardinality => "cardinality",
        ServeMode::SumToServer => "sum-to-server",
        ServeMode::SumToClient => "sum-to-client",
    }
}

fn outcome(o: &Result<(), String>) -> String {
    match o {
        Ok(()) => "ok".into(),
        Err(e) => e.clone(),
    }
}

impl Audit {
    /// Opens (creates) the log for appending; fails now, not at the first session.
    pub fn open(path: &Path, mode: ServeMode) -> Result<Audit, CliError> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                CliError::Usage(format!("cannot open the audit log {}: {e}", path.display()))
            })?;
        Ok(Audit {
            path: path.to_path_buf(),
            mode: mode_name(mode),
        })
    }

    /// The line of an ended session.
    pub fn session_line(&self, e: &SessionEvent) -> serde_json::Value {
        serde_json::json!({
            "time_unix": now(),
            "kind": "session",
            "peer": e.peer.to_string(),
            "partner": e.partner,
            "protocol": e.protocol.name(),
            "mode": self.mode,
            "client_set_size": e.client_set_size,
            "server_set_size": e.server_set_size,
            "bytes_sent": e.traffic.bytes_sent,
            "bytes_received": e.traffic.bytes_received,
            "seconds": (e.seconds * 1000.0).round() / 1000.0,
            "outcome": outcome(&e.outcome),
        })
    }

    /// The line of an ended linkage.
    pub fn linkage_line(&self, e: &LinkageEvent) -> serde_json::Value {
        serde_json::json!({
            "time_unix": now(),
            "kind": "linkage",
            "partner": e.partner,
            "protocol": "linkage",
            "mode": self.mode,
            "steps": e.summaries.len(),
            "client_offered": e.client_offered,
            "server_rows": e.links.len(),
            "bytes_sent": e.traffic.bytes_sent,
            "bytes_received": e.traffic.bytes_received,
            "seconds": (e.seconds * 1000.0).round() / 1000.0,
            "outcome": outcome(&e.outcome),
        })
    }

    /// Appends one line (call off the async threads).
    pub fn append(&self, line: &serde_json::Value) {
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::error!(
                "cannot append to the audit log {}: {e}",
                self.path.display()
            );
        }
    }
}
