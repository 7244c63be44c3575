//! Who may talk to whom: TLS, mutual TLS and partner tokens, read from their
//! files (every error names the file), and the refusal to serve in plain text
//! beyond loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use psi_server::auth::{BearerToken, Tokens};
use psi_server::tls::{self, ClientTls, ServerTls};
use psi_server::Quotas;

use crate::args::{RunSecurityArgs, ServeSecurityArgs, TokenAddArgs};
use crate::error::CliError;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::Usage(format!("cannot read {what} {}: {e}", path.display())))
}

fn tls_error(paths: &[&Path], e: psi_server::Error) -> CliError {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    CliError::Usage(format!("{} ({e})", names.join(", ")))
}

/// A server's TLS configuration and partner tokens.
pub(super) struct ServerSecurity {
    pub tls: Option<ServerTls>,
    pub tokens: Option<Tokens>,
    pub quotas: Quotas,
}

/// Reads `psi serve`'s security options; refuses plain text beyond loopback.
pub(super) fn server(
    args: &ServeSecurityArgs,
    listen: SocketAddr,
) -> Result<ServerSecurity, CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let ca = match &args.client_ca {
                Some(path) => Some(read(path, "the client CA")?),
                None => None,
            };
            let config = tls::server_config(
                &read(cert, "the TLS certificate")?,
                &read(key, "the TLS key")?,
                ca.as_deref(),
            );
            let mut paths = vec![cert.as_path(), key.as_path()];
            paths.extend(args.client_ca.as_deref());
            Some(config.map_err(|e| tls_error(&paths, e))?)
        }
        _ => None,
    };
    if tls.is_none() && !listen.ip().is_loopback() && !args.insecure_plaintext {
        return Err(CliError::Usage(format!(
            "refusing to serve in plain text on {listen}, which is not a loopback address: \
             anyone on the path could read and alter the exchange. Give --tls-cert FILE \
             --tls-key FILE (and --client-ca FILE or --tokens FILE to let in only partners), \
             or --insecure-plaintext inside a network you trust"
        )));
    }
    let tokens = match &args.tokens {
        Some(path) => {
            let text = String::from_utf8(read(path, "the token file")?).map_err(|_| {
                CliError::Usage(format!("{}: the token file is not UTF-8", path.display()))
            })?;
            let tokens = Tokens::parse(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            if tokens.is_empty() {
                return Err(CliError::Usage(format!(
                    "{}: no partner token in it (add one with psi token add)",
                    path.display()
                )));
            }
            Some(tokens)
        }
        None => None,
    };
    let at_least_one = |flag: &str, n: Option<u64>| match n {
        Some(0) => Err(CliError::Usage(format!("{flag} must be at least 1"))),
        _ => Ok(()),
    };
    at_least_one(
        "--max-sessions-per-partner",
        args.max_sessions_per_partner.map(|n| n as u64),
    )?;
    at_least_one(
        "--max-sessions-per-hour",
        args.max_sessions_per_hour.map(u64::from),
    )?;
    at_least_one("--max-items-per-day", args.max_items_per_day)?;
    at_least_one("--max-connections", Some(args.max_connections as u64))?;
    at_least_one(
        "--max-connections-per-address",
        Some(args.max_connections_per_address as u64),
    )?;
    let quotas = Quotas {
        sessions_at_once: args.max_sessions_per_partner,
        sessions_per_hour: args.max_sessions_per_hour,
        items_per_day: args.max_items_per_day,
    };
    Ok(ServerSecurity {
        tls,
        tokens,
        quotas,
    })
}

/// A client's TLS configuration and partner token.
pub(super) struct ClientSecurity {
    pub tls: Option<ClientTls>,
    pub token: Option<BearerToken>,
}

/// Reads `psi run`'s security options for `peer`.
pub(super) fn client(args: &RunSecurityArgs, peer: &str) -> Result<ClientSecurity, CliError> {
    let uses_tls = args.tls_ca.is_some() || args.tls_cert.is_some();
    if uses_tls && !peer.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "--tls-ca, --tls-cert and --tls-key are for https:// peers; --peer is {peer}"
        )));
    }
    let tls = if peer.starts_with("https://") {
        let ca = match &args.tls_ca {
            Some(path) => Some(read(path, "the CA")?),
            None => None,
        };
        let identity = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((
                read(cert, "the TLS certificate")?,
                read(key, "the TLS key")?,
            )),
            _ => None,
        };
        let pem = identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice()));
        let mut paths: Vec<&Path> = args.tls_ca.iter().map(|p| p.as_path()).collect();
        paths.extend(args.tls_cert.as_deref());
        paths.extend(args.tls_key.as_deref());
        let config = tls::client_config(ca.as_deref(), pem);
        Some(config.map_err(|e| tls_error(&paths, e))?)
    } else {
        None
    };
    let token = match &args.token_file {
        Some(path) => {
            let text = String::from_utf8(read(path, "the token file")?).map_err(|_| {
                CliError::Usage(format!("{}: the token file is not UTF-8", path.display()))
            })?;
            Some(BearerToken::parse(&text).ok_or_else(|| {
                CliError::Usage(format!(
                    "{}: its first line must be the partner token",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    Ok(ClientSecurity { tls, token })
}

/// `psi token add`: a new token for a partner, stored as a digest.
#[derive(Debug, Clone)]
pub struct TokenAddPlan {
    /// The token file (created if missing).
    pub tokens: PathBuf,
    /// The partner's name.
    pub name: String,
}

impl TokenAddPlan {
    /// Validates `psi token add`.
    pub(super) fn from_args(args: TokenAddArgs) -> Result<Self, CliError> {
        // A name the token file would refuse is refused now, before a token exists.
        let line = format!("{} sha256:{}", args.name, "0".repeat(64));
        Tokens::parse(&line)
            .map_err(|e| CliError::Usage(format!("--name {:?}: {}", args.name, e.reason)))?;
        Ok(TokenAddPlan {
            tokens: args.tokens,
            name: args.name,
        })
    }
}
