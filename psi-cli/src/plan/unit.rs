//! `psi serve --role linkage-unit` and `psi submit`: the linkage unit of
//! fuzzy linkage and an owner's upload, validated.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use psi_server::{ClientConfig, ServerConfig, UnitConfig};

use super::security;
use super::shared::writable;
use crate::args::{ServeArgs, SubmitArgs};
use crate::error::CliError;

/// A validated linkage unit.
#[derive(Debug)]
pub struct UnitPlan {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS, tokens, limits.
    pub config: ServerConfig,
    /// Owners and threshold.
    pub unit: UnitConfig,
}

/// Largest encodings file a unit takes by default: 2^28 rows of 1,024 bits
/// would be 32 GiB; 4 GiB is 2^25 rows.
const MAX_ENCODINGS_BYTES: usize = 4 << 30;

impl UnitPlan {
    /// Validates `psi serve --role linkage-unit`.
    pub fn from_args(args: ServeArgs) -> Result<Self, CliError> {
        let usage = |m: &str| Err(CliError::Usage(m.into()));
        if args.table.input.is_some() || !args.table.keys.is_empty() || args.table.spec.is_some() {
            return usage(
                "--input, --key and --spec are for a PSI party; a linkage unit holds no table",
            );
        }
        if args.owners.len() < 2 {
            return usage("--owners NAME,NAME[,...]: a linkage unit needs at least two owners (their token names or certificate subjects)");
        }
        let mut sorted = args.owners.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != args.owners.len() || sorted.iter().any(|o| o.trim().is_empty()) {
            return usage("--owners: each owner once, none empty");
        }
        let Some(threshold) = args.threshold else {
            return usage(
                "--threshold T is required: the Dice similarity at or above which rows are linked",
            );
        };
        if !(threshold > 0.0 && threshold <= 1.0) {
            return usage("--threshold: must be above 0 and at most 1");
        }
        let security = security::server(&args.security, args.listen)?;
        if security.tokens.is_none() && args.security.client_ca.is_none() {
            return usage("a linkage unit gives each owner only its own links, so it must know who is asking: give --tokens FILE (psi token add) or --client-ca FILE");
        }
        Ok(UnitPlan {
            listen: args.listen,
            config: ServerConfig {
                tls: security.tls,
                tokens: security.tokens,
                max_connections: args.security.max_connections,
                max_connections_per_address: args.security.max_connections_per_address,
                idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
                ..ServerConfig::default()
            },
            unit: UnitConfig {
                owners: args.owners,
                threshold,
                max_bytes: MAX_ENCODINGS_BYTES,
            },
        })
    }
}

/// A validated `psi submit`.
#[derive(Debug)]
pub struct SubmitPlan {
    /// The linkage unit.
    pub peer: String,
    /// TLS and token.
    pub config: ClientConfig,
    /// Our encodings file.
    pub encodings: PathBuf,
    /// Where our links go.
    pub output: PathBuf,
    /// How long to wait for the linkage.
    pub wait: Duration,
}

impl SubmitPlan {
    /// Validates `psi submit`.
    pub fn from_args(args: SubmitArgs) -> Result<Self, CliError> {
        writable(&args.output, &[&args.encodings])?;
        let security = security::client(&args.security, &args.peer)?;
        Ok(SubmitPlan {
            config: ClientConfig {
                tls: security.tls,
                token: security.token,
                ..ClientConfig::default()
            },
            peer: args.peer,
            encodings: args.encodings,
            output: args.output,
            wait: Duration::from_secs(args.wait.max(1)),
        })
    }
}
