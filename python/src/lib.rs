//! `psi_link._native`: the extension module under the Python package
//! `psi_link` (`python/psi_link/`, which users import).
//!
//! It is thin: a command runs as the `psi` binary runs it
//! ([`psi_cli::embed`]: the same words, plans, commands and JSON reports),
//! tables and outputs in memory are [`psi_table::memory`] handles, and Arrow
//! data crosses the boundary through the Arrow C stream interface
//! (`__arrow_c_stream__`, via `arrow-pyarrow`), never row by row. Long
//! calls release the GIL, look for Ctrl-C every [`POLL`] and then cancel the
//! command; errors become the package's exceptions with the command line's
//! one-line message.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_pyarrow::{FromPyArrow, IntoPyArrow};
use psi_cli::embed::{self, Call, ErrorKind, Finished};
use psi_cli::CliError;
use psi_table::memory::{self, InputHandle, OutputHandle, Written};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// How often a running command looks for Ctrl-C and reports progress.
const POLL: Duration = Duration::from_millis(100);

create_exception!(
    _native,
    Error,
    PyException,
    "Base class of every psi_link error; the message is the `psi` command's one line."
);
create_exception!(
    _native,
    InputError,
    Error,
    "Bad input: a table, column, row or value (the message names it)."
);
create_exception!(
    _native,
    PeerError,
    Error,
    "The peer: unreachable, refused (e.g. its keys are made otherwise), or misbehaved."
);
create_exception!(
    _native,
    UsageError,
    Error,
    "Arguments that do not fit together (the message names the `psi` flag)."
);

/// The package's exception for a command's error.
fn to_py(e: CliError) -> PyErr {
    let message = e.to_string();
    match ErrorKind::of(&e) {
        ErrorKind::Input => InputError::new_err(message),
        ErrorKind::Peer => PeerError::new_err(message),
        ErrorKind::Usage => UsageError::new_err(message),
        ErrorKind::Other => Error::new_err(message),
    }
}

/// An Arrow table held in memory for the commands to read (registered
/// under `path` while this object lives).
#[pyclass(frozen, module = "psi_link._native")]
struct Table {
    handle: InputHandle,
}

#[pymethods]
impl Table {
    /// Imports `data` (anything with `__arrow_c_stream__`: a pyarrow Table,
    /// RecordBatchReader, ...) without copying; `label` names it in errors.
    #[new]
    fn new(label: &str, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let reader = arrow_array::ffi_stream::RecordBatchStreamReader::from_pyarrow_bound(data)?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<RecordBatch>, _>>()
            .map_err(|e| {
                InputError::new_err(format!("{label}: cannot read its Arrow data: {e}"))
            })?;
        let handle = memory::register_input(label, schema, batches)
            .map_err(|e| InputError::new_err(e.to_string()))?;
        Ok(Table { handle })
    }

    /// The path that names this table in a command line.
    #[getter]
    fn path(&self) -> String {
        self.handle.path().display().to_string()
    }

    /// Its data rows.
    #[getter]
    fn rows(&self) -> u64 {
        self.handle.rows()
    }

    /// Rows read so far, over every pass.
    #[getter]
    fn rows_read(&self) -> u64 {
        self.handle.rows_read()
    }
}

/// Where a command's output or report goes instead of a file.
#[pyclass(frozen, module = "psi_link._native")]
struct Output {
    handle: OutputHandle,
}

#[pymethods]
impl Output {
    /// A new in-memory output; `label` names it in messages.
    #[new]
    fn new(label: &str) -> Self {
        Output {
            handle: memory::register_output(label),
        }
    }

    /// The path that names this output in a command line (a path under it,
    /// such as `PATH/{linkage}`, is written here too).
    #[getter]
    fn path(&self) -> String {
        self.handle.path().display().to_string()
    }

    /// What was written, oldest first: `(path, pyarrow.RecordBatchReader)`
    /// for rows, `(path, bytes)` for a report.
    fn written<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
        self.handle
            .written()
            .into_iter()
            .map(|(path, written)| {
                let value = match written {
                    Written::Bytes(bytes) => PyBytes::new(py, &bytes).into_any(),
                    Written::Batch(batch) => {
                        let schema = batch.schema();
                        let reader: Box<dyn RecordBatchReader + Send> =
                            Box::new(RecordBatchIterator::new([Ok(batch)], schema));
                        reader.into_pyarrow(py)?
                    }
                };
                Ok((path.display().to_string(), value))
            })
            .collect()
    }
}

/// Runs the `psi` command line `words` (without the program name) to its
/// end, with the GIL released. Every 0.1 s it looks for Ctrl-C (then it
/// cancels the command, waits until its work has stopped, and raises
/// KeyboardInterrupt) and calls `tick()` if given (an exception there
/// cancels too). `psi serve` is refused: use `Server`.
#[pyfunction]
#[pyo3(signature = (words, tick=None))]
fn run(py: Python<'_>, words: Vec<String>, tick: Option<Py<PyAny>>) -> PyResult<()> {
    let call = Call::parse(words).map_err(to_py)?;
    if call.is_serve() {
        return Err(UsageError::new_err(
            "`serve` runs in the background: use psi_link.serve",
        ));
    }
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (done, finished) = mpsc::channel();
    std::thread::Builder::new()
        .name("psi-run".into())
        .spawn(move || {
            let cancelled = async {
                let _ = cancelled.await;
            };
            let _ = done.send(call.run(cancelled));
        })
        .map_err(|e| Error::new_err(format!("cannot start the run's thread: {e}")))?;
    let mut finished = Some(finished);
    let mut cancel = Some(cancel);
    loop {
        let Some(receiver) = finished.take() else {
            return Err(Error::new_err("the run's result was lost"));
        };
        let (receiver, result) = py.detach(move || {
            let result = receiver.recv_timeout(POLL);
            (receiver, result)
        });
        match result {
            Ok(Ok(Finished::Done)) => return Ok(()),
            Ok(Ok(Finished::Cancelled)) => return Err(Error::new_err("the run was cancelled")),
            Ok(Err(e)) => return Err(to_py(e)),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::new_err("the run's thread ended without a result"))
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let interrupted = py
            .check_signals()
            .and_then(|()| tick.as_ref().map_or(Ok(()), |t| t.call0(py).map(drop)));
        if let Err(e) = interrupted {
            if let Some(cancel) = cancel.take() {
                let _ = cancel.send(());
            }
            // Wait until the command's work has stopped, then raise.
            py.detach(move || {
                let _ = receiver.recv();
            });
            return Err(e);
        }
        finished = Some(receiver);
    }
}

/// `psi serve` in the background (its own thread and runtime): a PSI
/// party, or with `--role linkage-unit` the fuzzy linkage unit.
#[pyclass(frozen, module = "psi_link._native")]
struct Server {
    url: String,
    inner: Mutex<Option<embed::Server>>,
}

#[pymethods]
impl Server {
    /// Reads the table (a linkage unit holds none) and starts listening
    /// (the GIL released meanwhile).
    #[new]
    fn new(py: Python<'_>, words: Vec<String>) -> PyResult<Self> {
        let call = Call::parse(words).map_err(to_py)?;
        if !call.is_serve() {
            return Err(UsageError::new_err("Server runs `serve` only"));
        }
        let server = py
            .detach(move || embed::Server::start(call))
            .map_err(to_py)?;
        Ok(Server {
            url: server.url().to_string(),
            inner: Mutex::new(Some(server)),
        })
    }

    /// The address peers run against.
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// Whether it still serves.
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .map(|s| s.as_ref().is_some_and(embed::Server::is_running))
            .unwrap_or(false)
    }

    /// Stops it: no new sessions, those in progress end, the report is
    /// written. Stopping twice does nothing.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let server = match self.inner.lock() {
            Ok(mut s) => s.take(),
            Err(_) => None,
        };
        match server {
            None => Ok(()),
            Some(mut server) => py.detach(move || server.stop()).map_err(to_py),
        }
    }
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("PeerError", py.get_type::<PeerError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add_class::<Table>()?;
    m.add_class::<Output>()?;
    m.add_class::<Server>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    Ok(())
}
