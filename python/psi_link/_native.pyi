"""Type stubs of the extension module `psi_link._native` (python/src/lib.rs).
Users call the functions of `psi_link`; these are its building blocks."""

from typing import Any, Callable, List, Optional, Tuple, Union

class Error(Exception):
    """Base class of every psi_link error; the message is the `psi` command's one line."""

class InputError(Error):
    """Bad input: a table, column, row or value (the message names it)."""

class PeerError(Error):
    """The peer: unreachable, refused (e.g. its keys are made otherwise), or misbehaved."""

class UsageError(Error):
    """Arguments that do not fit together (the message names the `psi` flag)."""

class Table:
    """An Arrow table held in memory for the commands to read, registered
    under `path` while this object lives."""

    def __init__(self, label: str, data: Any) -> None:
        """Imports `data` (anything with `__arrow_c_stream__`) without copying."""
    @property
    def path(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def rows_read(self) -> int:
        """Rows read so far, over every pass."""

class Output:
    """Where a command's output or report goes instead of a file."""

    def __init__(self, label: str) -> None: ...
    @property
    def path(self) -> str:
        """The path that names it in a command line (`PATH/{linkage}` too)."""
    def written(self) -> List[Tuple[str, Union[bytes, Any]]]:
        """`(path, pyarrow.RecordBatchReader)` for rows, `(path, bytes)` for a report."""

class Server:
    """`psi serve` in the background (its own thread and runtime): a PSI
    party, or with `--role linkage-unit` the fuzzy linkage unit."""

    def __init__(self, words: List[str]) -> None:
        """Reads the table (a linkage unit holds none) and starts listening;
        `words` is the command line without the program name
        (`["serve", "--input", ...]`, `["serve", "--role", "linkage-unit", ...]`)."""
    @property
    def url(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None:
        """Stops serving; sessions in progress end; idempotent."""

def run(words: List[str], tick: Optional[Callable[[], Any]] = None) -> None:
    """Runs a `psi` command line (not `serve`) with the GIL released; Ctrl-C
    (or an exception from `tick`, called about every 0.1 s) cancels it."""
