"""Bad input raises the right exception with the command's one-line message."""

import pandas as pd
import pytest

import psi_link as psi


def test_exception_classes():
    for cls in (psi.InputError, psi.PeerError, psi.UsageError):
        assert issubclass(cls, psi.Error) and issubclass(cls, Exception)


def test_missing_column_names_it(frames):
    a, b = frames
    with pytest.raises(psi.InputError, match=r'no column named "mail"; the columns are: person, email'):
        psi.serve(b, key="mail")


def test_bad_value_names_row_and_column(frames):
    a, b = frames
    b = b.copy()
    b["n"] = b["n"].astype(str)
    b.loc[3, "n"] = "-5"
    with pytest.raises(psi.InputError, match=r'row 4, column "n": value "-5"'):
        psi.serve(b, key="email", mode="sum", value="n")


def test_bad_key_spec_and_options(frames):
    a, b = frames
    with pytest.raises(psi.InputError, match="invalid key"):
        psi.serve(b, key="email:nosuchprofile")
    with pytest.raises(psi.UsageError, match="--join difference has no pairs to align"):
        psi.run("http://127.0.0.1:1", a, key="email", align=True, join="difference")
    with pytest.raises(psi.UsageError, match="unexpected argument '--no-such-option'"):
        psi.run("http://127.0.0.1:1", a, key="email", no_such_option=1)
    with pytest.raises(TypeError, match="pandas or polars DataFrame"):
        psi.run("http://127.0.0.1:1", [1, 2, 3], key="email")


def test_duplicates_are_refused_by_default(frames):
    a, b = frames
    dup = pd.concat([a, a.iloc[:2]], ignore_index=True)
    with psi.serve(b, key="email:email") as server:
        with pytest.raises(psi.UsageError, match="rows repeat the key of an earlier row"):
            psi.run(server.url, dup, key="email:email")
        res = psi.run(server.url, dup, key="email:email", duplicates="all")
        assert len(res.frame) == len(set(a["person"]) & set(b["person"])) + sum(
            p in set(b["person"]) for p in a["person"].iloc[:2]
        )


def test_peer_errors(frames):
    a, b = frames
    with pytest.raises(psi.PeerError):
        psi.run("http://127.0.0.1:1", a, key="email", connect_timeout=1)
    with psi.serve(b, key="email", mode="cardinality") as server:
        with pytest.raises(psi.PeerError, match="mode_mismatch"):
            psi.run(server.url, a, key="email")
