//! `psi serve`: party B. Reads the table, binds the listener, serves until
//! stopped, and records every session and linkage that ends in the report
//! (writing our side of each shared linkage result).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use psi_core::linkage::{plan_rows, JoinType, Side};
use psi_server::{LinkageEvent, PsiServer, SessionEvent};
use psi_table::{LinkageSpec, LinkageTable};

use super::audit::Audit;
use super::cut::Cut;
use super::disk::DiskSource;
use super::pjc_disk;
use super::progress::{Progress, ServerProgress};
use super::release::{count_of, release};
use super::serve_link::DiskLinkageSource;
use super::state::{digest_file, run_key};
use super::table::{blocking, key_columns, out_rows, read_keyed, read_linkage};
use crate::error::CliError;
use crate::plan::{ReleasePlan, ServePlan, ServeTask, SharedOutput};
use crate::report::{
    self, seconds, Ended, Environment, InputReport, Linkage, LinkageReport, Report, Serving,
    Session, StepReport,
};

/// A bound server with its table read.
pub struct Started {
    /// The server, ready to run.
    pub server: PsiServer,
    /// What was read.
    pub input: InputReport,
    /// Seconds spent reading.
    pub read_seconds: f64,
    /// `--mode cardinality|sum`: our threshold, and noise on what the
    /// server releases (`--mode sum --sum-to server`).
    pub release: Option<ReleasePlan>,
    /// `--mode intersection`: the table with every key, for writing results.
    pub table: Option<Arc<LinkageTable>>,
}

/// Reads the table and binds the listener.
pub async fn start(plan: &ServePlan, serving: &ServerProgress) -> Result<Started, CliError> {
    let t = Instant::now();
    let config = plan.config.clone();
    match &plan.task {
        ServeTask::Intersection { duplicates, .. } => {
            let table = read_linkage(&plan.input).await?;
            let read_seconds = seconds(t.elapsed());
            let server =
                PsiServer::bind_linkage(plan.listen, key_columns(&table), *duplicates, config)
                    .await?;
            Ok(Started {
                server,
                input: InputReport::linkage(&table),
                read_seconds,
                release: None,
                table: Some(Arc::new(table)),
            })
        }
        ServeTask::OnDisk {
            key,
            state_dir,
            run_key: given,
            partitioned,
            linkage,
        } => {
            let path = plan.input.path.clone();
            let run_key = match *given {
                Some(key) => key,
                None => run_key(state_dir)?,
            };
            let cut = match partitioned {
                Some(dir) => Some(cut_of_run_key(dir, &path, key, &run_key)?),
                None => None,
            };
            let digest = match &cut {
                Some(cut) => cut.digest(),
                None => {
                    let size = std::fs::metadata(&path).map(|m| m.len()).ok();
                    let progress = serving.progress();
                    progress.phase("checksum", size, "bytes");
                    let (p, digest_path) = (progress.clone(), path.clone());
                    blocking("hashing the input", move || {
                        digest_file(&digest_path, |n| p.set(n))
                    })
                    .await??
                }
            };
            let mut source =
                DiskSource::new(path.clone(), key.clone(), state_dir, digest.1.clone())?
                    .with_progress(serving.clone());
            if let Some(cut) = cut {
                source = source.with_cut(cut);
            }
            let linkage = DiskLinkageSource::new(
                path.clone(),
                plan.input.spec.clone(),
                linkage.clone(),
                state_dir,
                digest.1,
            )?;
            let config = psi_server::ServerConfig {
                run_key: Some(run_key),
                ..config
            };
            let server = PsiServer::bind_buckets_linkage(
                plan.listen,
                Arc::new(source),
                Arc::new(linkage),
                config,
            )
            .await?;
            Ok(Started {
                server,
                input: InputReport {
                    path: path.display().to_string(),
                    key: key.columns().to_vec(),
                    ..InputReport::default()
                },
                read_seconds: seconds(t.elapsed()),
                release: None,
                table: None,
            })
        }
        ServeTask::Aggregate {
            key,
            value,
            value_bound,
            release,
            state_dir,
        } => {
            if state_dir.is_some() {
                let (server, input, read_seconds) = pjc_disk::start_server(plan, config).await?;
                return Ok(Started {
                    server,
                    input,
                    read_seconds,
                    release: Some(*release),
                    table: None,
                });
            }
            let table = read_keyed(&plan.input, key).await?;
            let (table, values) = match value.clone() {
                Some(column) => {
                    let (table, values) = blocking("reading the input", move || {
                        let values = table.read_values(&column, psi_core::pjc::MAX_VALUE);
                        (table, values)
                    })
                    .await?;
                    (table, Some(values?))
                }
                None => (table, None),
            };
            // The declared public bound, never one read from the data: each
            // key's value is clamped to it, so no key adds more to a sum.
            let values = match (values, value_bound) {
                (Some(mut values), Some(bound)) => {
                    let clamped = values.iter().filter(|&&v| v > *bound).count();
                    values.iter_mut().for_each(|v| *v = (*v).min(*bound));
                    tracing::info!(clamped, bound, "values above --dp-sum-sensitivity clamped");
                    Some(values)
                }
                (values, _) => values,
            };
            let read_seconds = seconds(t.elapsed());
            let input = InputReport::new(&table);
            let server =
                PsiServer::bind_with_values(plan.listen, table.items().to_vec(), values, config)
                    .await?;
            Ok(Started {
                server,
                input,
                read_seconds,
                release: Some(*release),
                table: None,
            })
        }
    }
}

/// The cut in `dir`, checked to be of `path` by `key` under our `run_key`.
fn cut_of_run_key(
    dir: &std::path::Path,
    path: &std::path::Path,
    key: &psi_table::KeySpec,
    run_key: &[u8; 32],
) -> Result<Cut, CliError> {
    let cut = Cut::open(dir, path, key)?;
    if psi_core::bucket::server_nonce(run_key, &cut.client_nonce) != cut.server_nonce {
        return Err(CliError::Usage(format!(
            "--partitioned {}: cut for another run key than this server's (give the --run-key-file it was cut with)",
            dir.display()
        )));
    }
    Ok(cut)
}

/// Serves until Ctrl-C or SIGTERM (or, with `--once`, until one session ended).
pub async fn serve(plan: ServePlan) -> Result<(), CliError> {
    serve_until(plan, shutdown_signal(), |_| ()).await
}

/// [`serve`], until `stop` resolves (or, with `--once`, one session ended);
/// `listening` is told the bound address.
pub async fn serve_until(
    plan: ServePlan,
    stop: impl std::future::Future<Output = ()> + Send,
    listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), CliError> {
    let progress = ServerProgress::new(Progress::new(plan.quiet));
    let started = start(&plan, &progress).await?;
    progress.serving();
    let addr = started.server.local_addr();
    let mut events = started.server.events();
    let mut linkage_events = started.server.linkage_events();
    let scheme = if plan.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{addr}");
    // The address line is how scripts find a port-0 server: flush it now.
    std::io::stdout().flush().map_err(|source| CliError::Io {
        what: "writing to stdout",
        source,
    })?;
    tracing::info!(%addr, rows = started.input.rows, distinct_keys = started.input.distinct_keys, "serving");
    listening(addr);

    let body = Serving {
        protocols: plan
            .config
            .mode
            .protocols()
            .iter()
            .map(|p| p.name())
            .collect(),
        listen: addr.to_string(),
        read_input_seconds: started.read_seconds,
        sessions: Vec::new(),
        linkages: Vec::new(),
    };
    let report = Recorder::new(Report::server(started.input, body), plan.report.clone())?;
    let audit = match &plan.audit_log {
        Some(path) => Some(Audit::open(path, plan.config.mode)?),
        None => None,
    };
    let linkage_audit = audit.clone();

    let recorder = report.clone();
    let (table, spec) = (started.table.clone(), plan.input.spec.clone());
    let output = match &plan.task {
        ServeTask::Intersection { output, .. } => output.clone(),
        ServeTask::Aggregate { .. } | ServeTask::OnDisk { .. } => None,
    };
    let linkage_recorder = tokio::spawn(async move {
        while let Some(event) = next_event(&mut linkage_events, "linkage").await {
            if let Some(audit) = &linkage_audit {
                let (audit, line) = (audit.clone(), audit.linkage_line(&event));
                let _ = blocking("auditing a linkage", move || audit.append(&line)).await;
            }
            let (t, s, o) = (table.clone(), spec.clone(), output.clone());
            let entry = blocking("recording a linkage", move || {
                linkage_entry(&event, t.as_deref(), &s, o.as_ref())
            })
            .await;
            let Ok(entry) = entry else { continue };
            let l = &entry.body.linkage;
            println!(
                "linkage {} ended: {}; {} of our {} rows linked{}",
                l.linkage,
                entry.outcome,
                l.linked_rows,
                l.linked_rows + l.unlinked_rows,
                match &l.output {
                    Some(o) => format!("; {} rows written to {o}", l.rows_written),
                    None => String::new(),
                }
            );
            let recorder = recorder.clone();
            let _ = blocking("writing the report", move || {
                recorder.record(|r| r.body.linkages.push(entry))
            })
            .await;
        }
    });
    let release = started.release;
    let session_recorder = tokio::spawn(async move {
        let progress = progress;
        while let Some(event) = next_event(&mut events, "session").await {
            if let Some(audit) = &audit {
                let (audit, line) = (audit.clone(), audit.session_line(&event));
                let _ = blocking("auditing a session", move || audit.append(&line)).await;
            }
            progress.session_ended();
            let entry = session_entry(&event, release.as_ref());
            let s = &entry.body;
            println!(
                "session {} ended: {}; the client holds {} distinct keys",
                s.session, entry.outcome, s.client_set_size
            );
            if let Some(r) = &s.released {
                println!("session {}: {}", s.session, r.describe());
            }
            let report = report.clone();
            let _ = blocking("writing the report", move || {
                report.record(|r| r.body.sessions.push(entry))
            })
            .await;
        }
    });
    started.server.run_until(stop).await?;
    // The server dropped its event senders; the recorders drain what is left.
    let _ = tokio::time::timeout(Duration::from_secs(5), session_recorder).await;
    let _ = tokio::time::timeout(Duration::from_secs(60), linkage_recorder).await;
    Ok(())
}

/// The next event; a recorder that fell behind a burst says how many it
/// missed and goes on (it stops only when the server has stopped).
async fn next_event<T: Clone>(
    events: &mut tokio::sync::broadcast::Receiver<T>,
    what: &str,
) -> Option<T> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!("{missed} {what} events were missed by the report after a burst")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The server's report, shared by the two recorders and rewritten after
/// every session and linkage.
#[derive(Clone)]
struct Recorder {
    report: Arc<Mutex<Report<Serving>>>,
    path: Option<PathBuf>,
}

impl Recorder {
    /// Writes the first version of the report.
    fn new(report: Report<Serving>, path: Option<PathBuf>) -> Result<Self, CliError> {
        if let Some(path) = &path {
            report::write(path, &report)?;
        }
        Ok(Recorder {
            report: Arc::new(Mutex::new(report)),
            path,
        })
    }

    /// Applies `change` and rewrites the report.
    fn record(&self, change: impl FnOnce(&mut Report<Serving>)) {
        let Ok(mut r) = self.report.lock() else {
            return;
        };
        change(&mut r);
        r.environment = Environment::now();
        if let Some(path) = &self.path {
            if let Err(e) = report::write(path, &*r) {
                tracing::error!("cannot write the report: {e}");
            }
        }
    }
}

/// A session's entry in the report (releasing a sum to the server as
/// `release` says: our threshold, maybe noise).
fn session_entry(e: &SessionEvent, release_plan: Option<&ReleasePlan>) -> Ended<Session> {
    let released = match (e.sum, release_plan) {
        (Some(sum), Some(plan)) => Some(release(count_of(sum), Some(sum), plan)),
        _ => None,
    };
    Ended {
        body: Session {
            session: e.session.clone(),
            protocol: e.protocol.name(),
            client_set_size: e.client_set_size,
            released,
        },
        traffic: e.traffic,
        seconds: report::round_seconds(e.seconds),
        outcome: match &e.outcome {
            Ok(()) => "ok".to_string(),
            Err(msg) => msg.clone(),
        },
    }
}

/// A linkage's entry in the report; writes our side of a shared result
/// where `output` says.
fn linkage_entry(
    e: &LinkageEvent,
    table: Option<&LinkageTable>,
    spec: &LinkageSpec,
    output: Option<&SharedOutput>,
) -> Ended<Linkage> {
    let (rows, linked) = match &e.bucketed {
        Some(b) => (b.rows, b.linked_rows),
        None => (
            e.links.len() as u64,
            e.links.iter().filter(|l| l.is_some()).count() as u64,
        ),
    };
    let finish = e.finish;
    let join = finish.map_or(JoinType::Inner, |f| f.join);
    let (mut written, mut path) = (None, None);
    let mut outcome = match &e.outcome {
        Ok(()) => "ok".to_string(),
        Err(m) => m.clone(),
    };
    if let Some(b) = &e.bucketed {
        match &b.output {
            Ok(Some((n, file))) => {
                written = Some(*n);
                path = Some(file.clone());
            }
            Ok(None) => {}
            Err(err) => outcome = format!("linked, but the output was not written: {err}"),
        }
    }
    if let (Ok(()), Some(f), Some(table)) = (&e.outcome, &finish, table) {
        if f.share_result {
            match output {
                None => {
                    outcome =
                        "ok; the client shared the result but this server has no --output".into()
                }
                Some(output) => {
                    let file = output.path(&e.linkage);
                    let planned = plan_rows(
                        Side::Server,
                        join,
                        f.align,
                        &e.links,
                        f.client_unlinked_rows,
                        rows - linked,
                    );
                    // A linkage spec has at least one key, so the table has a first one.
                    let result = table.keys()[0].write_output_from(
                        out_rows(planned),
                        Some("psi_id"),
                        &file,
                        &output.options,
                    );
                    match result {
                        Ok(n) => {
                            written = Some(n);
                            path = Some(file.display().to_string());
                        }
                        Err(err) => {
                            outcome = format!("linked, but the output was not written: {err}")
                        }
                    }
                }
            }
        }
    }
    Ended {
        body: Linkage {
            linkage: LinkageReport {
                linkage: e.linkage.clone(),
                join: join.name(),
                align: finish.is_some_and(|f| f.align),
                share_result: finish.is_some_and(|f| f.share_result),
                steps: StepReport::all(spec, &e.summaries, &e.client_offered),
                linked_rows: linked,
                unlinked_rows: rows - linked,
                peer_rows: finish.map_or(0, |f| f.client_rows),
                peer_unlinked_rows: finish.map_or(0, |f| f.client_unlinked_rows),
                rows_written: written.unwrap_or(0),
                output: path,
            },
        },
        traffic: e.traffic,
        seconds: report::round_seconds(e.seconds),
        outcome,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
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
