//! `psi serve`: party B.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use psi_core::pjc::Outcome;
use std::sync::Arc;

use psi_server::{LinkageEvent, PsiServer, ServeMode, ServerConfig, SessionEvent};
use psi_table::{KeyedTable, LinkageSpec, LinkageTable};

use crate::aggregate;
use crate::error::CliError;
use crate::linkage::{self, LinkageReport};
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
    /// Where to write this party's side of a shared result (`psi run
    /// --share-result` or `--align`): `{linkage}` in the name is replaced by
    /// the linkage id; otherwise, unless `--once`, the id is added before the
    /// extension (`b.csv` → `b-<id>.csv`), one file per linkage.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How the output is written.
    #[command(flatten)]
    pub output_options: crate::output::OutputArgs,
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
    /// `--mode intersection`: the table with every key, for writing results.
    pub table: Option<Arc<LinkageTable>>,
    /// The keys.
    pub spec: LinkageSpec,
}

/// Reads the table and binds the listener.
pub async fn start(args: &ServeArgs) -> Result<Started, CliError> {
    let spec = args.table.linkage_spec()?;
    if let Some(r) = &args.report {
        crate::run::check_output(r, &[&args.table.input])?;
    }
    if let Some(o) = &args.output {
        crate::run::check_output(o, &[&args.table.input])?;
        args.output_options.options()?;
    }
    let mode = aggregate::serve_mode(args.table.mode, args.table.sum_to);
    let config = ServerConfig {
        max_sessions: args.max_sessions.max(1),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_completed_sessions: args.once.then_some(1),
        mode,
        min_intersection: args.table.min_intersection,
        key_spec: Some(spec.declaration()),
        ..Default::default()
    };
    if mode == ServeMode::Intersection {
        if args.value.is_some() {
            return Err(CliError::Usage("--value is for --mode sum only".into()));
        }
        if args.table.dp_epsilon.is_some() {
            return Err(CliError::Usage(
                "--dp-epsilon applies to --mode cardinality and --mode sum".into(),
            ));
        }
        let t = Instant::now();
        let outputs: Vec<&std::path::Path> = args.output.iter().map(PathBuf::as_path).collect();
        let (table, duplicates) = linkage::read_linkage_table(&args.table, &spec, &outputs).await?;
        let read_seconds = secs(t.elapsed());
        let server = PsiServer::bind_linkage(
            args.listen,
            linkage::key_columns(&table),
            duplicates,
            config,
        )
        .await?;
        return Ok(Started {
            server,
            input: InputReport::linkage(&table),
            read_seconds,
            mode,
            dp: None,
            table: Some(Arc::new(table)),
            spec,
        });
    }
    let (_, key) = crate::run::single_key(&args.table, "--mode cardinality|sum")?;
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
    let key_spec = key.clone();
    let value = args.value.clone();
    let (table, values) = tokio::task::spawn_blocking(move || {
        let table = KeyedTable::read(&input, &key_spec)?;
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
        table: None,
        spec,
    })
}

/// Writes this server's side of a shared linkage result, if asked; returns
/// the report entry.
fn linkage_report(
    e: &LinkageEvent,
    table: Option<&LinkageTable>,
    spec: &LinkageSpec,
    args: &ServeArgs,
) -> ServerLinkageReport {
    let rows = e.links.len() as u64;
    let linked = e.links.iter().filter(|l| l.is_some()).count() as u64;
    let finish = e.finish;
    let join = finish.map_or(psi_core::linkage::JoinType::Inner, |f| f.join);
    let mut written = None;
    let mut output = None;
    let mut outcome = match &e.outcome {
        Ok(()) => "ok".to_string(),
        Err(m) => m.clone(),
    };
    if let (Ok(()), Some(f), Some(table)) = (&e.outcome, &finish, table) {
        if f.share_result {
            match &args.output {
                None => {
                    outcome =
                        "ok; the client shared the result but this server has no --output".into()
                }
                Some(pattern) => {
                    let path = linkage::server_output_path(pattern, &e.linkage, args.once);
                    let plan = linkage::out_rows(psi_core::linkage::plan_rows(
                        psi_core::linkage::Side::Server,
                        join,
                        f.align,
                        &e.links,
                        f.client_unlinked_rows,
                        rows - linked,
                    ));
                    let result = args.output_options.options().and_then(|o| {
                        Ok(table.keys()[0].write_output(&plan, Some("psi_id"), &path, &o)?)
                    });
                    match result {
                        Ok(n) => {
                            written = Some(n);
                            output = Some(path.display().to_string());
                        }
                        Err(err) => {
                            outcome = format!("linked, but the output was not written: {err}")
                        }
                    }
                }
            }
        }
    }
    ServerLinkageReport {
        outcome,
        linkage: LinkageReport {
            linkage: e.linkage.clone(),
            join: join.name(),
            align: finish.as_ref().is_some_and(|f| f.align),
            share_result: finish.as_ref().is_some_and(|f| f.share_result),
            steps: linkage::step_reports(spec, &e.summaries, &e.client_offered),
            linked_rows: linked,
            unlinked_rows: rows - linked,
            peer_rows: finish.as_ref().map_or(0, |f| f.client_rows),
            peer_unlinked_rows: finish.as_ref().map_or(0, |f| f.client_unlinked_rows),
            rows_written: written.unwrap_or(0),
            output,
        },
        bytes_received: e.traffic.bytes_received,
        bytes_sent: e.traffic.bytes_sent,
        seconds: (e.seconds * 1000.0).round() / 1000.0,
    }
}

/// One linkage in the report of `psi serve`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerLinkageReport {
    /// "ok" or what went wrong.
    pub outcome: String,
    /// What it did.
    pub linkage: LinkageReport,
    /// Bytes received over all steps.
    pub bytes_received: u64,
    /// Bytes sent over all steps.
    pub bytes_sent: u64,
    /// Seconds from the first step to the end.
    pub seconds: f64,
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
        bytes_received: e.traffic.bytes_received,
        bytes_sent: e.traffic.bytes_sent,
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

    let report = ServeReport {
        role: "server",
        protocols: started.mode.protocols().iter().map(|p| p.name()).collect(),
        listen: addr.to_string(),
        input: started.input,
        read_input_seconds: started.read_seconds,
        sessions: Vec::new(),
        linkages: Vec::new(),
        environment: Environment::now(),
    };
    if let Some(path) = &args.report {
        report::write(path, &report)?;
    }
    let report = Arc::new(std::sync::Mutex::new(report));
    let report_path = args.report.clone();
    let write_report = move |report: &ServeReport| {
        if let Some(path) = &report_path {
            if let Err(e) = report::write(path, report) {
                tracing::error!("cannot write the report: {e}");
            }
        }
    };
    let mut linkage_events = started.server.linkage_events();
    let (table, spec) = (started.table.clone(), started.spec.clone());
    let (r2, w2, a2) = (report.clone(), write_report.clone(), args.clone());
    let linkage_recorder = tokio::spawn(async move {
        while let Ok(event) = linkage_events.recv().await {
            let (t, s, a) = (table.clone(), spec.clone(), a2.clone());
            let entry =
                tokio::task::spawn_blocking(move || linkage_report(&event, t.as_deref(), &s, &a))
                    .await;
            let Ok(entry) = entry else { continue };
            println!(
                "linkage {} ended: {}; {} of our {} rows linked{}",
                entry.linkage.linkage,
                entry.outcome,
                entry.linkage.linked_rows,
                entry.linkage.linked_rows + entry.linkage.unlinked_rows,
                match &entry.linkage.output {
                    Some(o) => format!("; {} rows written to {o}", entry.linkage.rows_written),
                    None => String::new(),
                }
            );
            if let Ok(mut r) = r2.lock() {
                r.linkages.push(entry);
                r.environment = Environment::now();
                w2(&r);
            }
        }
    });
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
            if let Ok(mut r) = report.lock() {
                r.sessions.push(entry);
                r.environment = Environment::now();
                write_report(&r);
            }
        }
    });
    started.server.run_until(shutdown_signal()).await?;
    // The server dropped its event senders; the recorders drain what is left.
    let _ = tokio::time::timeout(Duration::from_secs(5), recorder).await;
    let _ = tokio::time::timeout(Duration::from_secs(60), linkage_recorder).await;
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
