//! `psi` inside another program (the Python package `psi_link`): the same
//! command line, the same plans and the same commands as the binary, with
//! three differences a library needs:
//! - a command runs on a runtime of its own and can be cancelled
//!   ([`Call::run`]): the run's tasks stop, its blocking work (writing an
//!   output through a temporary file) finishes or is removed before
//!   `run` returns, so nothing is left behind;
//! - a server (`psi serve`, also as a linkage unit) runs in the
//!   background ([`Server`]) until it is stopped, instead of until Ctrl-C (no signal handler is installed: the host
//!   program keeps its own);
//! - tables and outputs may be in memory: pass the paths of
//!   [`psi_table::memory`] handles where the command line names files.
//!
//! Reports are those of the command line: pass `--report` the path of an
//! in-memory output to get the JSON without a file.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::commands;
use crate::error::CliError;
use crate::plan::{Invocation, Plan};

/// A validated `psi` command line.
#[derive(Debug)]
pub struct Call {
    plan: Plan,
}

/// How a [`Call::run`] ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The command ran to its end.
    Done,
    /// The cancel future resolved first; the command's work was stopped.
    Cancelled,
}

/// What kind of failure a [`CliError`] is, for a host that maps failures
/// to its own error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The table (a file or one in memory): a column, a row, a value.
    Input,
    /// The peer: unreachable, refused, misbehaved, or its keys differ.
    Peer,
    /// The arguments (the command line's usage errors).
    Usage,
    /// Anything else (local I/O, a fuzzy linkage file, a failed task).
    Other,
}

impl ErrorKind {
    /// The kind of `e`.
    pub fn of(e: &CliError) -> Self {
        match e {
            CliError::Table(_) => ErrorKind::Input,
            CliError::Peer(_) | CliError::KeySpecMismatch { .. } => ErrorKind::Peer,
            CliError::Usage(_) => ErrorKind::Usage,
            _ => ErrorKind::Other,
        }
    }
}

impl Call {
    /// Parses and validates `words`, the command line without the program
    /// name (`["run", "--peer", "http://…", "--input", …]`); the error is
    /// the first usage error, as `psi` prints it.
    pub fn parse<I, S>(words: I) -> Result<Call, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let words: Vec<String> = words.into_iter().map(Into::into).collect();
        Ok(Call {
            plan: Invocation::from_words(&words)?.plan,
        })
    }

    /// Whether this is `psi serve`, as a PSI party or as a linkage unit
    /// (run it with [`Server::start`]).
    pub fn is_serve(&self) -> bool {
        matches!(self.plan, Plan::Serve(_) | Plan::Unit(_))
    }

    /// Runs the command on a runtime of its own, on this thread, until it
    /// ends or `cancel` resolves. Returns only when the runtime's work has
    /// stopped.
    /// A server (`psi serve`, also as a linkage unit) is refused: it would
    /// serve until a signal (use [`Server::start`]).
    pub fn run(self, cancel: impl Future<Output = ()> + Send) -> Result<Finished, CliError> {
        if matches!(self.plan, Plan::Serve(_) | Plan::Unit(_)) {
            return Err(CliError::Usage(
                "a server runs in the background (embed::Server), not as a call".into(),
            ));
        }
        let runtime = runtime()?;
        let result = runtime.block_on(async move {
            tokio::select! {
                result = commands::execute(self.plan) => result.map(|()| Finished::Done),
                () = cancel => Ok(Finished::Cancelled),
            }
        });
        // Dropping the runtime waits for blocking tasks (a table being read
        // or an output being written: their temporary files are persisted
        // or removed by then).
        drop(runtime);
        result
    }
}

/// A runtime like the binary's.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "starting the async runtime",
            source,
        })
}

/// `psi serve` in the background: its own thread and runtime, serving
/// until [`Server::stop`] (or drop), or with `--once` until one session
/// ended.
#[derive(Debug)]
pub struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), CliError>>>,
}

impl Server {
    /// Reads the table (a linkage unit holds none) and binds the listener;
    /// returns once the server listens (or failed to start: that error).
    pub fn start(call: Call) -> Result<Server, CliError> {
        let tls = match &call.plan {
            Plan::Serve(plan) => plan.config.tls.is_some(),
            Plan::Unit(plan) => plan.config.tls.is_some(),
            _ => {
                return Err(CliError::Usage(
                    "only `psi serve` runs as a background server".into(),
                ))
            }
        };
        let scheme = if tls { "https" } else { "http" };
        let (stop, stopped) = oneshot::channel::<()>();
        let (listening, address) = mpsc::channel::<SocketAddr>();
        let plan = call.plan;
        let thread = std::thread::Builder::new()
            .name("psi-serve".into())
            .spawn(move || {
                let runtime = runtime()?;
                let stopped = async {
                    // A dropped sender stops the server too.
                    let _ = stopped.await;
                };
                let listening = move |addr| {
                    let _ = listening.send(addr);
                };
                runtime.block_on(async move {
                    match plan {
                        Plan::Unit(plan) => {
                            commands::serve_unit_until(plan, stopped, listening).await
                        }
                        Plan::Serve(plan) => commands::serve_until(*plan, stopped, listening).await,
                        _ => Err(CliError::Usage(
                            "only `psi serve` runs as a background server".into(),
                        )),
                    }
                })
            })
            .map_err(|source| CliError::Io {
                what: "starting the server's thread",
                source,
            })?;
        match address.recv() {
            Ok(addr) => Ok(Server {
                url: format!("{scheme}://{addr}"),
                stop: Some(stop),
                thread: Some(thread),
            }),
            // The thread ended before listening: its error says why.
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(CliError::Usage("the server ended before listening".into())),
                Err(_) => Err(CliError::Io {
                    what: "starting the server",
                    source: std::io::Error::other("the server's thread panicked"),
                }),
            },
        }
    }

    /// The address peers run against (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server still serves (false after `--once` served its
    /// session, or after [`Self::stop`]).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops accepting, lets the sessions in progress end, and waits for
    /// the report to be written. Stopping twice does nothing.
    pub fn stop(&mut self) -> Result<(), CliError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(CliError::Io {
                what: "stopping the server",
                source: std::io::Error::other("the server's thread panicked"),
            }),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psi_table::memory::{self, Written};

    fn csv(dir: &std::path::Path, name: &str, emails: &[&str]) -> String {
        let path = dir.join(name);
        let mut text = "email,n\n".to_string();
        for (i, e) in emails.iter().enumerate() {
            text.push_str(&format!("{e},{i}\n"));
        }
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_background_server_and_a_run_with_an_in_memory_report() {
        let dir = tempfile::tempdir().unwrap();
        let b = csv(dir.path(), "b.csv", &["a@x", "b@x", "c@x"]);
        let a = csv(dir.path(), "a.csv", &["b@x", "c@x", "d@x", "e@x"]);
        let serve = Call::parse([
            "serve",
            "--input",
            &b,
            "--key",
            "email",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert!(serve.is_serve());
        let mut server = Server::start(serve).unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        assert!(server.is_running());

        let report = memory::register_output("report");
        let out = dir.path().join("out.csv").display().to_string();
        let words = [
            "run",
            "--peer",
            server.url(),
            "--input",
            &a,
            "--key",
            "email",
            "--output",
            &out,
            "--report",
        ];
        let report_path = report.path().display().to_string();
        let call = Call::parse(words.into_iter().chain([report_path.as_str()])).unwrap();
        assert_eq!(call.run(std::future::pending()).unwrap(), Finished::Done);
        let written = report.written();
        let [(_, Written::Bytes(json))] = written.as_slice() else {
            panic!("one report expected: {written:?}");
        };
        let json: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(json["matched_rows"], 2, "{json}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "email,n\nb@x,0\nc@x,1\n"
        );
        server.stop().unwrap();
        assert!(!server.is_running());
    }

    #[test]
    fn errors_keep_the_command_lines_words_and_say_their_kind() {
        let e = Call::parse(["run", "--no-such-flag"]).unwrap_err();
        assert_eq!(ErrorKind::of(&e), ErrorKind::Usage);
        assert_eq!(e.to_string(), "unexpected argument '--no-such-flag' found");
        let dir = tempfile::tempdir().unwrap();
        let b = csv(dir.path(), "b.csv", &["a@x"]);
        let serve = Call::parse([
            "serve",
            "--input",
            &b,
            "--key",
            "mail",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        let e = Server::start(serve).unwrap_err();
        assert_eq!(ErrorKind::of(&e), ErrorKind::Input);
        assert!(e.to_string().contains("no column named \"mail\""), "{e}");
        let run = Call::parse([
            "run",
            "--peer",
            "http://127.0.0.1:1",
            "--input",
            &b,
            "--key",
            "email",
            "--output",
            &dir.path().join("o.csv").display().to_string(),
            "--connect-timeout",
            "1",
        ])
        .unwrap();
        let e = run.run(std::future::pending()).unwrap_err();
        assert_eq!(ErrorKind::of(&e), ErrorKind::Peer, "{e}");
    }

    #[test]
    fn servers_are_not_calls() {
        let serve = Call::parse(["serve", "--input", "x.csv", "--key", "k"]).unwrap();
        let e = serve.run(std::future::pending()).unwrap_err();
        assert!(
            e.to_string().starts_with("a server runs in the background"),
            "{e}"
        );
    }

    #[test]
    fn a_linkage_unit_runs_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens").display().to_string();
        for name in ["alice", "bob"] {
            let add = Call::parse(["token", "add", "--tokens", &tokens, "--name", name]).unwrap();
            assert_eq!(add.run(std::future::pending()).unwrap(), Finished::Done);
        }
        let unit = Call::parse([
            "serve",
            "--role",
            "linkage-unit",
            "--owners",
            "alice,bob",
            "--threshold",
            "0.8",
            "--tokens",
            &tokens,
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert!(unit.is_serve());
        let e = Call::parse(["serve", "--role", "linkage-unit"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--owners"), "{e}");
        let mut server = Server::start(unit).unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        assert!(server.is_running());
        server.stop().unwrap();
        assert!(!server.is_running());
    }

    #[test]
    fn a_cancelled_run_stops() {
        let dir = tempfile::tempdir().unwrap();
        let b = csv(dir.path(), "b.csv", &["a@x"]);
        let run = Call::parse([
            "run",
            "--peer",
            "http://127.0.0.1:9",
            "--input",
            &b,
            "--key",
            "email",
            "--output",
            &dir.path().join("o.csv").display().to_string(),
        ])
        .unwrap();
        assert_eq!(run.run(async {}).unwrap(), Finished::Cancelled);
        assert!(!dir.path().join("o.csv").exists());
    }
}
