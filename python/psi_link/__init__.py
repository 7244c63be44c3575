"""Private set intersection and record linkage between two parties' tables.

``psi_link`` runs the protocols of the ``psi`` command (ECDH-PSI, KKRT,
PSI-cardinality and PSI-sum, waterfall linkage with joins and alignment) on
pandas or polars DataFrames, pyarrow Tables, or CSV/Parquet files. Each call
is the command line ``psi serve ...`` / ``psi run ...`` with the same
validation, the same protocol code and the same JSON report (as a dict); the
security of each mode is exactly the command's (see the project README).

Party B serves its table, party A runs against it::

    import psi_link as psi

    keys = ["email:email", "phone:phone:GB"]          # both sides give the same
    with psi.serve(df_b, key=keys, output=True) as server:   # in the background
        res = psi.run(server.url, df_a, key=keys, align=True, join="inner")
        res.frame      # A's rows, aligned, with a psi_id column (pandas in, pandas out)
        res.report     # the CLI's JSON report, as a dict
        server.result(res)   # B's side of this linkage, in the same psi_id order

    with psi.serve(df_b, key="email", mode="cardinality") as counter:
        psi.cardinality(counter.url, df_a, key="email")    # -> int

Keyword options not named in a signature are passed on as the command's
flags: ``tls_ca="ca.pem"`` is ``--tls-ca ca.pem``, ``insecure_plaintext=True``
is ``--insecure-plaintext``, a list repeats the flag. ``psi.encode`` and
``psi.match`` are the fuzzy-linkage commands, ``psi.serve(role="linkage-unit",
...)`` and ``psi.submit`` its linkage unit and owners; ``psi.command([...])``
runs any other ``psi`` command (``token``, ``gen``).

Errors raise :class:`InputError` (a table, column, row or value),
:class:`PeerError` (the peer) or :class:`UsageError` (arguments), all
subclasses of :class:`Error`, with the command's one-line message.
Ctrl-C cancels a call cleanly (no session, output or temporary file left).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native
from ._native import Error, InputError, PeerError, UsageError

__all__ = [
    "Error",
    "InputError",
    "PeerError",
    "UsageError",
    "Result",
    "Released",
    "Server",
    "serve",
    "run",
    "cardinality",
    "sum",
    "encode",
    "match",
    "submit",
    "command",
]

Key = Union[str, Sequence[str]]
Progress = Union[bool, Callable[[str, int, int], None], None]

_PATH_KINDS = (str, os.PathLike)


# ---------------------------------------------------------------- inputs --


class _Input:
    """A party's table: a path, or data held in memory as Arrow."""

    def __init__(self, data: Any, name: str = "input") -> None:
        self.kind = "path"
        self.table: Optional[_native.Table] = None
        if isinstance(data, _PATH_KINDS):
            self.path = os.fspath(data)
            return
        arrow, self.kind, label = _to_arrow(data)
        self.table = _native.Table(f"{label} ({name})", arrow)
        self.path = self.table.path

    def convert(self, reader: Any) -> Any:
        """Rows that came back (a pyarrow RecordBatchReader), in the kind of
        the input."""
        table = reader.read_all()
        if self.kind == "pandas":
            return table.to_pandas()
        if self.kind == "polars":
            import polars as pl

            return pl.from_arrow(table)
        return table


def _to_arrow(data: Any) -> Tuple[Any, str, str]:
    """(an object with ``__arrow_c_stream__``, its kind, a label)."""
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        import pyarrow as pa

        return pa.Table.from_pandas(data, preserve_index=False), "pandas", "pandas DataFrame"
    if module == "polars":
        return data.to_arrow(), "polars", "polars DataFrame"
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        return data, "arrow", "pyarrow Table"
    if hasattr(data, "__arrow_c_stream__"):
        return data, "arrow", type(data).__name__
    raise TypeError(
        "psi_link takes a pandas or polars DataFrame, a pyarrow Table, an object with "
        f"__arrow_c_stream__, or a path to a CSV or Parquet file; got {type(data).__name__}"
    )


def _flags(options: Dict[str, Any]) -> List[str]:
    """Keyword options as the command's flags."""
    words: List[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                words += [flag, _word(v)]
        else:
            words += [flag, _word(value)]
    return words


def _word(value: Any) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _keys(key: Key) -> Dict[str, Any]:
    return {"key": [key] if isinstance(key, str) else list(key)}


def _report(output: _native.Output) -> Dict[str, Any]:
    written = output.written()
    if not written:
        return {}
    return json.loads(written[-1][1])


# -------------------------------------------------------------- progress --


class _Ticker:
    """Progress from the input's row counter: reading, then the protocol."""

    def __init__(self, source: _Input, progress: Progress, what: str) -> None:
        self.source = source
        self.callback: Optional[Callable[[str, int, int], None]] = None
        self.bar = None
        self.stage = ""
        if callable(progress):
            self.callback = progress
        elif progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                total = source.table.rows if source.table is not None else None
                self.bar = tqdm(total=total, desc=f"psi {what}: reading", unit="row")

    def __call__(self) -> None:
        table = self.source.table
        read, rows = (table.rows_read, table.rows) if table is not None else (0, 0)
        stage = "read" if table is not None and read < rows else "protocol"
        self._report(stage, min(read, rows), rows)

    def _report(self, stage: str, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(stage, done, total)
        if self.bar is not None:
            if stage != self.stage:
                self.bar.set_description(f"psi: {stage}")
            self.bar.n = done
            self.bar.refresh()
        self.stage = stage

    def close(self, ok: bool) -> None:
        if ok:
            table = self.source.table
            rows = table.rows if table is not None else 0
            self._report("done", rows, rows)
        if self.bar is not None:
            self.bar.close()


def _execute(words: List[str], ticker: Optional[_Ticker] = None) -> None:
    ok = False
    try:
        _native.run(words, ticker)
        ok = True
    finally:
        if ticker is not None:
            ticker.close(ok)


# ---------------------------------------------------------------- server --


class Server:
    """Party B's ``psi serve``, running in the background.

    ``url`` is the address to give party A. Use it as a context manager, or
    call :meth:`close`. ``report`` is the server's JSON report (every ended
    session and linkage so far). With ``output`` set, :meth:`result` gives
    this side of each linkage whose client shared the result (``align=True``
    or ``share_result=True``), in the kind of the input.
    """

    def __init__(self, words: List[str], source: Optional[_Input],
                 report: Optional[_native.Output], results: Optional[_native.Output]) -> None:
        self._source = source
        self._report = report
        self._results = results
        self._native = _native.Server(words)

    @property
    def url(self) -> str:
        """The address peers run against (``http://127.0.0.1:PORT``)."""
        return self._native.url

    @property
    def running(self) -> bool:
        """Whether it still serves (``once=True`` stops after one session)."""
        return self._native.running

    @property
    def report(self) -> Dict[str, Any]:
        """The server's JSON report as a dict, as ``psi serve --report`` writes it
        (empty for a linkage unit, which writes none)."""
        return _report(self._report) if self._report is not None else {}

    def results(self) -> Dict[str, Any]:
        """This side of every shared linkage result so far, by linkage id:
        a frame of the input's kind, or the path written (file inputs)."""
        out: Dict[str, Any] = {}
        if self._results is None or self._source is None:
            return out
        for path, reader in self._results.written():
            out[path.rsplit("/", 1)[-1]] = self._source.convert(reader)
        return out

    def result(self, linkage: Any, timeout: float = 30.0) -> Any:
        """This side of a linkage, waiting up to ``timeout`` seconds for the
        server to write it. ``linkage`` is the client's :class:`Result` (or
        its report, or the linkage id in it: ``report["linkage"]["linkage"]``)."""
        if isinstance(linkage, Result):
            linkage = linkage.report
        if isinstance(linkage, dict):
            linkage = linkage["linkage"]["linkage"]
        deadline = time.monotonic() + timeout
        while True:
            found = self.results().get(linkage)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise Error(f"no result of linkage {linkage} within {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        """Stops serving: no new sessions, those in progress end. Idempotent."""
        self._native.stop()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<psi_link.Server {self.url} {state}>"


def serve(
    data: Any = None,
    key: Optional[Key] = None,
    *,
    mode: str = "intersection",
    listen: str = "127.0.0.1:0",
    output: Union[bool, str, os.PathLike, None] = None,
    once: bool = False,
    value: Optional[str] = None,
    sum_to: str = "server",
    role: str = "exact",
    owners: Optional[Sequence[str]] = None,
    threshold: Optional[float] = None,
    **options: Any,
) -> Server:
    """Serve this party's table (party B) in the background; returns a :class:`Server`.

    data: a pandas or polars DataFrame, a pyarrow Table, or a CSV/Parquet path.
    key: a key column spec (``"email:email"``, ``"given,surname:name"``) or a
        list of them for a waterfall; the client must give the same.
    mode: ``"intersection"`` (ECDH and KKRT intersections and linkages),
        ``"cardinality"`` or ``"sum"`` (then ``value`` names the column to sum
        and ``sum_to`` says who learns it: ``"server"`` or ``"client"``).
    listen: the address; port 0 picks a free port (see ``Server.url``).
    output: where this side of a shared result goes (``run(..., align=True)``
        or ``share_result=True``): ``True`` keeps it in memory (``Server.result``),
        a path writes files as ``psi serve --output`` does.
    once: stop after the first session.
    role: ``"exact"`` (a PSI party, the default) or ``"linkage-unit"``: the
        fuzzy linkage unit, which holds no table (leave ``data`` and ``key``
        unset) and links the encodings that ``owners`` (two or more token
        names or client-certificate subjects, in owner order) upload with
        :func:`submit`, at Dice similarity ``threshold`` or more; it needs
        ``tokens=`` (``psi token add``) or ``client_ca=`` to know who asks.
    options: any other ``psi serve`` flag, e.g. ``min_intersection=10``,
        ``duplicates="first"``, ``tls_cert=..., tls_key=...``,
        ``client_ca=...``, ``tokens=...``, ``max_set_size=...``, ``dp_epsilon="1"``,
        ``state_dir=...`` (serve bucketed runs only, ``run(..., state_dir=...)``,
        with the table kept on disk: ``data`` must be a CSV or Parquet path).
    """
    if role == "linkage-unit":
        if data is not None or key is not None:
            raise UsageError("--input, --key and --spec are for a PSI party; a linkage unit "
                             "holds no table: leave data and key unset")
        words = ["serve", "--role", role, "--listen", listen]
        words += _flags({"owners": ",".join(owners) if owners is not None else None,
                         "threshold": threshold, **options})
        return Server(words, None, None, None)
    if data is None or key is None:
        raise UsageError("serve needs data (the table) and key (its key column spec)")
    source = _Input(data, "server")
    report = _native.Output("server report")
    results = None
    if output is True:
        if source.table is None:
            raise UsageError("output=True keeps results in memory: give a frame, or an output path")
        results = _native.Output("server output")
        output = results.path + "/{linkage}"
    elif output is False:
        output = None
    words = ["serve", "--input", source.path, "--mode", mode, "--listen", listen,
             "--report", report.path]
    words += _flags({**_keys(key), "output": output, "once": once, "value": value,
                     "sum_to": sum_to if mode == "sum" else None, "role": role,
                     "owners": owners, "threshold": threshold, **options})
    return Server(words, source, report, results)


# ------------------------------------------------------------------- run --


@dataclass
class Result:
    """What ``run`` returns.

    frame: this party's rows (matching rows; or with several keys, ``join``,
        ``align`` or ``share_result`` the join's rows with a ``psi_id``
        column), in the kind of the input: a pandas or polars DataFrame, a
        pyarrow Table, or the output path for a file input.
    report: the ``psi run`` JSON report as a dict.
    """

    frame: Any
    report: Dict[str, Any] = field(repr=False)


def run(
    peer: str,
    data: Any,
    key: Key,
    *,
    protocol: str = "ecdh",
    join: str = "inner",
    align: bool = False,
    share_result: bool = False,
    output: Union[str, os.PathLike, None] = None,
    progress: Progress = False,
    **options: Any,
) -> Result:
    """Run an intersection or linkage against a serving peer (party A).

    peer: the server's URL (``Server.url``, or ``https://host:port``).
    data: a pandas or polars DataFrame, a pyarrow Table, or a CSV/Parquet path.
    key: a key column spec or a list of them (a waterfall: keys tried in
        priority order, each row linked at most once); the server's must match.
    protocol: ``"ecdh"`` or ``"kkrt"`` (one key, no join or alignment).
    join: ``"inner"``, ``"left"``, ``"right"``, ``"full"`` or ``"difference"``.
    align: both sides get their rows in the same order with the same ``psi_id``
        (vertical federated learning); implies ``share_result``.
    share_result: the server also learns which of its rows were linked.
    output: for a file input, where the rows are written (required); for a
        frame, leave it unset: the rows come back as ``Result.frame``.
    progress: ``True`` for a tqdm bar (if tqdm is installed), or a callback
        ``f(stage, done, total)`` called about every 0.1 s with stage
        ``"read"`` (rows read), ``"protocol"`` (with the peer) and ``"done"``.
    options: any other ``psi run`` flag, e.g. ``duplicates="first"``,
        ``rejects="bad.csv"``, ``tls_ca=...``, ``tls_cert=..., tls_key=...``,
        ``token_file=...``, ``connect_timeout=10``, ``idle_timeout=120``,
        ``columns=[...]`` (the output's columns); ``state_dir=...`` and
        ``bucket_items=N`` for a bucketed run (one key, bounded memory,
        resumed after a crash by the same call) against a server started with
        ``state_dir``: ``data`` must then be a CSV or Parquet path (it is
        hashed and read twice), with ``output=``.

    Returns a :class:`Result` (``frame``, ``report``). Raises InputError,
    PeerError or UsageError; KeyboardInterrupt cancels cleanly.
    """
    source = _Input(data, "client")
    report = _native.Output("run report")
    rows = None
    if source.table is not None:
        if output is not None:
            raise UsageError("output= is for file inputs; a frame's rows come back as Result.frame")
        rows = _native.Output("run output")
        output = rows.path
    words = ["run", "--peer", peer, "--input", source.path, "--report", report.path]
    words += _flags({**_keys(key), "protocol": protocol, "join": join, "align": align,
                     "share_result": share_result, "output": output, **options})
    _execute(words, _Ticker(source, progress, "run"))
    if rows is None:
        frame: Any = os.fspath(output) if output is not None else None
    else:
        written = rows.written()
        frame = source.convert(written[-1][1]) if written else None
    return Result(frame=frame, report=_report(report))


@dataclass(frozen=True)
class Released:
    """What a cardinality or sum run released to this party.

    threshold_met: False when fewer keys than the larger threshold are shared
        (then nothing else is known and ``count``/``sum`` are None).
    count: the number of shared distinct keys (noisy with ``dp_epsilon``).
    sum: the sum over them (``sum(..., sum_to="client")`` only).
    report: the ``psi run`` JSON report as a dict.
    """

    threshold_met: bool
    count: Optional[int]
    sum: Optional[int]
    report: Dict[str, Any] = field(repr=False)

    def __bool__(self) -> bool:
        return self.threshold_met


def _aggregate(peer: str, data: Any, key: Key, mode: str, progress: Progress,
               options: Dict[str, Any]) -> Released:
    source = _Input(data, "client")
    report = _native.Output("run report")
    words = ["run", "--peer", peer, "--input", source.path, "--mode", mode,
             "--report", report.path]
    words += _flags({**_keys(key), **options})
    _execute(words, _Ticker(source, progress, mode))
    body = _report(report)
    released = body.get("released", {})
    return Released(
        threshold_met=bool(released.get("threshold_met")),
        count=released.get("count"),
        sum=released.get("sum"),
        report=body,
    )


def cardinality(peer: str, data: Any, key: Key, *, progress: Progress = False,
                **options: Any) -> Union[int, Released]:
    """PSI-cardinality against a server started with ``mode="cardinality"``:
    how many distinct keys both hold, and nothing else.

    Returns the count as an int, or, when the threshold was not met, a falsy
    :class:`Released` (``threshold_met=False``; its ``report`` says why).
    options: ``min_intersection=K``, ``dp_epsilon="0.5"``, TLS and token flags.
    """
    released = _aggregate(peer, data, key, "cardinality", progress, options)
    if released.threshold_met and released.count is not None:
        return released.count
    return released


def sum(peer: str, data: Any, key: Key, *, sum_to: str = "server",
        progress: Progress = False, **options: Any) -> Released:
    """PSI-sum against a server started with ``mode="sum"`` (it holds the
    values): the count of shared keys, and the sum of the server's values over
    them for whoever ``sum_to`` names (``"server"``, the default: this side
    learns only the count; ``"client"``: this side learns both).

    Returns a :class:`Released`. options: ``min_intersection``, ``dp_epsilon``,
    ``dp_sum_sensitivity``, TLS and token flags.
    """
    return _aggregate(peer, data, key, "sum", progress, {"sum_to": sum_to, **options})


def encode(data: Any, spec: Union[str, os.PathLike], secret_file: Union[str, os.PathLike],
           output: Union[str, os.PathLike], **options: Any) -> Dict[str, Any]:
    """Fuzzy linkage, data owner: encode each row of ``data`` (a frame, an
    Arrow table or a CSV/Parquet path) as a keyed Bloom filter, as ``psi
    encode`` does, into the encodings file ``output`` (for ``match`` or a
    linkage unit). ``spec`` is the JSON encoding spec file, ``secret_file``
    the owners' shared secret (never give it to the linkage unit).
    Returns the JSON report as a dict."""
    source = _Input(data, "encode")
    report = _native.Output("encode report")
    words = ["encode", "--input", source.path, "--report", report.path]
    words += _flags({"spec": spec, "secret_file": secret_file, "output": output, **options})
    _execute(words)
    return _report(report)


def match(inputs: Sequence[Union[str, os.PathLike]], threshold: float,
          output: Union[str, os.PathLike], **options: Any) -> Dict[str, Any]:
    """Fuzzy linkage, linkage unit: link the owners' encodings files
    (``encode``'s outputs, two or more, in owner order) by Dice similarity at
    least ``threshold``, as ``psi match`` does; the links go to ``output``
    (``a_row,b_row,similarity`` for two inputs, ``group,owner,row`` for more).
    options: ``blocking="lsh"``, ``lsh_tables=``, ``labels=``, ... Returns
    the JSON report as a dict."""
    report = _native.Output("match report")
    words = ["match", *[_word(i) for i in inputs], "--report", report.path]
    words += _flags({"threshold": threshold, "output": output, **options})
    _execute(words)
    return _report(report)


def submit(peer: str, encodings: Union[str, os.PathLike], *,
           output: Union[str, os.PathLike, None] = None, wait: int = 600,
           **options: Any) -> Union[List[Tuple[int, str]], str]:
    """Fuzzy linkage, data owner: upload this owner's encodings file
    (:func:`encode`'s output) to a linkage unit (``serve(role="linkage-unit")``)
    and wait up to ``wait`` seconds for the other owners and the linkage, as
    ``psi submit`` does. This owner gets only its own links: each linked row
    with a link id that the other owners' linked rows share.

    Returns ``[(row, link_id), ...]`` (rows of this owner's table from 0), or
    with ``output=`` the path of the CSV written (``row,link_id``).
    options: ``token_file=...`` (who we are), ``tls_ca=...``,
    ``tls_cert=..., tls_key=...``.
    """
    links = None
    if output is None:
        links = _native.Output("submit links")
        output = links.path
    words = ["submit", "--peer", peer, "--encodings", _word(encodings), "--output",
             _word(output), "--wait", str(wait)]
    words += _flags(options)
    _execute(words)
    if links is None:
        return os.fspath(output)
    written = links.written()
    if not written:
        raise Error("the linkage unit's links were not written")
    lines = written[-1][1].decode().splitlines()
    pairs = []
    for line in lines[1:]:
        row, link = line.split(",", 1)
        pairs.append((int(row), link))
    return pairs


def command(words: Iterable[str]) -> None:
    """Run any ``psi`` command line but ``serve`` (``["encode", "--spec", ...]``,
    ``["match", ...]``, ``["token", "add", ...]``), files in and out, as the binary
    does; with the GIL released and Ctrl-C cancelling it."""
    _execute([_word(w) for w in words])
