//! `psi serve`: party B.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use psi_core::pjc::Outcome;
use psi_server::{PsiServer, ServeMode, ServerConfig, SessionEvent};
use psi_table::{KeySpec, KeyedTable};

use crate::aggregate;
use crate::error::CliError;
use crate::report::{self, secs, Environment, InputReport, ServeReport, SessionReport};
use crate::TableArgs;

/// Arguments of `psi serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub table: TableArgs,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Stop after the first session ends.
    #[arg(long)]
    pub once: bool,
    /// Most sessions served at the same time.
    #[arg(long, default_value_t = 16)]
    pub max_sessions: usize,
    /// Seconds without progress after which a session is dropped.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Where to write the JSON report (rewritten after every session).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// `--mode sum`: the column of non-negative integers to sum (at most
    /// 2^32 − 1 per key; rows repeating a key add their values).
    #[arg(long, value_name = "COLUMN")]
    pub value: Option<String>,
}

/// A bound server with its table read.
pub struct Started {
    /// The server, ready to run.
    pub server: PsiServer,
    /// What was read.
    pub input: InputReport,
    /// Seconds spent reading.
    pub read_seconds: f64,
    /// What it serves.
    pub mode: ServeMode,
    /// Noise on what the server releases (`--mode sum --sum-to server`).
    pub dp: Option<aggregate::Dp>,
}

/// Reads the table and binds the listener.
pub async fn start(args: &ServeArgs) -> Result<Started, CliError> {
    let key = KeySpec::parse(&args.table.key)?;
    if let Some(r) = &args.report {
        crate::run::check_output(r, &[&args.table.input])?;
    }
    let mode = aggregate::serve_mode(args.table.mode, args.table.sum_to);
    match (&args.value, mode.needs_values()) {
        (None, true) => {
            return Err(CliError::Usage(
                "--mode sum needs --value COLUMN: the column to sum".into(),
            ))
        }
        (Some(_), false) => return Err(CliError::Usage("--value is for --mode sum only".into())),
        _ => {}
    }
    if args.table.dp_epsilon.is_some() && mode != ServeMode::SumToServer {
        return Err(CliError::Usage(
            "the server releases nothing in this mode: --dp-epsilon belongs to `psi run` (or use --mode sum --sum-to server)"
                .into(),
        ));
    }
    let t = Instant::now();
    let input = args.table.input.clone();
    let spec = key.clone();
    let value = args.value.clone();
    let (table, values) = tokio::task::spawn_blocking(move || {
        let table = KeyedTable::read(&input, &spec)?;
        let values = match &value {
            Some(column) => Some(table.read_values(column, psi_core::pjc::MAX_VALUE)?),
            None => None,
        };
        Ok::<_, psi_table::Error>((table, values))
    })
    .await
    .map_err(|e| CliError::Io {
        what: "reading the input",
        source: std::io::Error::other(e),
    })??;
    let largest_value = values
        .as_ref()
        .and_then(|v| v.iter().copied().max())
        .unwrap_or(1);
    let read_seconds = secs(t.elapsed());
    let input = InputReport::new(&table, &key);
    let config = ServerConfig {
        max_sessions: args.max_sessions.max(1),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_completed_sessions: args.once.then_some(1),
        mode,
        min_intersection: args.table.min_intersection,
        ..Default::default()
    };
    let server =
        PsiServer::bind_with_values(args.listen, table.items().to_vec(), values, config).await?;
    let dp = args.table.dp_epsilon.map(|epsilon| aggregate::Dp {
        epsilon,
        sum_sensitivity: largest_value,
    });
    Ok(Started {
        server,
        input,
        read_seconds,
        mode,
        dp,
    })
}

/// Turns a server event into a report entry (adding noise to a released sum
/// when `dp` says so).
pub fn session_report(
    e: &SessionEvent,
    min_intersection: u64,
    dp: Option<aggregate::Dp>,
) -> SessionReport {
    let released = e.sum.and_then(|sum| {
        let count = match sum {
            Outcome::Released(s) => Outcome::Released(s.count),
            Outcome::ThresholdNotMet => Outcome::ThresholdNotMet,
        };
        match aggregate::release(count, Some(sum), min_intersection, dp) {
            Ok(r) => Some(r),
            Err(err) => {
                tracing::error!("cannot release the sum: {err}");
                None
            }
        }
    });
    SessionReport {
        released,
        session: e.session.clone(),
        protocol: e.protocol.name(),
        client_set_size: e.client_set_size,
        bytes_received: e.bytes_received,
        bytes_sent: e.bytes_sent,
        seconds: (e.seconds * 1000.0).round() / 1000.0,
        outcome: match &e.outcome {
            Ok(()) => "ok".to_string(),
            Err(msg) => msg.clone(),
        },
    }
}

/// Serves until Ctrl-C (or, with `--once`, until one session ended).
pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let started = start(&args).await?;
    let addr = started.server.local_addr();
    let mut events = started.server.events();
    println!("listening on http://{addr}");
    // The address line is how scripts find a port-0 server: flush it now.
    std::io::stdout().flush().map_err(|source| CliError::Io {
        what: "writing to stdout",
        source,
    })?;
    tracing::info!(%addr, rows = started.input.rows, distinct_keys = started.input.distinct_keys, "serving");

    let mut report = ServeReport {
        role: "server",
        protocols: started.mode.protocols().iter().map(|p| p.name()).collect(),
        listen: addr.to_string(),
        input: started.input,
        read_input_seconds: started.read_seconds,
        sessions: Vec::new(),
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    let report_path = args.report.clone();
    let min_intersection = args.table.min_intersection;
    let dp = started.dp;
    let recorder = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            let entry = session_report(&event, min_intersection, dp);
            println!(
                "session {} ended: {}; the client holds {} distinct keys",
                entry.session, entry.outcome, entry.client_set_size
            );
            if let Some(r) = &entry.released {
                println!("session {}: {}", entry.session, aggregate::describe(r));
            }
            report.sessions.push(entry);
            report.environment = Environment::now();
            if let Some(path) = &report_path {
                if let Err(e) = report::write(path, &report) {
                    tracing::error!("cannot write the report: {e}");
                }
            }
        }
    });
    started.server.run_until(shutdown_signal()).await?;
    // The server dropped its event sender; the recorder drains what is left.
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
