"""Each mode against the plaintext answer, both parties in one process."""

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import psi_link as psi


def shared(a, b):
    return set(a["person"]) & set(b["person"])


@pytest.mark.parametrize("protocol", ["ecdh", "kkrt"])
def test_intersection_pandas(frames, protocol):
    a, b = frames
    with psi.serve(b, key="email:email") as server:
        res = psi.run(server.url, a, key="email:email", protocol=protocol)
    assert isinstance(res.frame, pd.DataFrame)
    assert set(res.frame["person"]) == shared(a, b)
    assert len(res.frame) == len(shared(a, b))
    # The rows come back whole, with their types, in input order.
    expected = a[a["person"].isin(shared(a, b))].reset_index(drop=True)
    pd.testing.assert_frame_equal(res.frame, expected, check_dtype=False)
    assert res.frame["x"].dtype == "float64"
    assert res.report["matched_rows"] == len(shared(a, b))
    assert res.report["protocol"] == ("kkrt-ot" if protocol == "kkrt" else "ecdh-ristretto255")


def test_intersection_polars_and_arrow(frames):
    a, b = frames
    with psi.serve(pl.from_pandas(b), key="email:email") as server:
        res = psi.run(server.url, pl.from_pandas(a), key="email:email")
        assert isinstance(res.frame, pl.DataFrame)
        assert set(res.frame["person"].to_list()) == shared(a, b)
        res = psi.run(server.url, pa.Table.from_pandas(a), key="email:email")
        assert isinstance(res.frame, pa.Table)
        assert set(res.frame.column("person").to_pylist()) == shared(a, b)
        # Without the email profile the keys differ: the server refuses.
        with pytest.raises(psi.PeerError, match="key_spec_mismatch"):
            psi.run(server.url, a, key="email")


def test_paths_in_and_out(frames, tmp_path):
    a, b = frames
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_parquet(tmp_path / "b.parquet", index=False)
    with psi.serve(tmp_path / "b.parquet", key="email:email") as server:
        res = psi.run(server.url, tmp_path / "a.csv", key="email:email",
                      output=tmp_path / "out.csv")
    assert res.frame == str(tmp_path / "out.csv")
    out = pd.read_csv(res.frame)
    assert set(out["person"]) == shared(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.parquet", "out.csv"]


def test_cardinality_and_threshold(frames):
    a, b = frames
    with psi.serve(b, key="email:email", mode="cardinality") as server:
        assert psi.cardinality(server.url, a, key="email:email") == len(shared(a, b))
        not_met = psi.cardinality(server.url, a, key="email:email", min_intersection=1000)
        assert not not_met and not_met.count is None
        assert not_met.report["released"]["threshold_met"] is False


@pytest.mark.parametrize("sum_to", ["client", "server"])
def test_sum(frames, sum_to):
    a, b = frames
    both = shared(a, b)
    total = int(b[b["person"].isin(both)]["n"].sum())
    with psi.serve(b, key="email:email", mode="sum", value="n", sum_to=sum_to) as server:
        released = psi.sum(server.url, a, key="email:email", sum_to=sum_to)
        if sum_to == "client":
            assert (released.count, released.sum) == (len(both), total)
        else:
            assert released.sum is None
            server.close()
            [session] = server.report["sessions"]
            assert session["released"]["sum"] == total
            assert session["released"]["count"] == len(both)


def plaintext_waterfall(a, b):
    """Email first, then phone among the rows still unlinked (each value is
    unique on each side here): person pairs."""
    pairs = set()
    for key in ["email", "phone"]:
        la = {k: p for k, p in zip(a[key], a["person"]) if p not in {x for x, _ in pairs}}
        lb = {k: p for k, p in zip(b[key], b["person"]) if p not in {y for _, y in pairs}}
        pairs |= {(la[k], lb[k]) for k in la.keys() & lb.keys()}
    return pairs


def test_aligned_waterfall_inner_join(frames):
    a, b = frames
    # Break some emails so the phone step links them.
    a = a.copy()
    a.loc[a.index[:40], "email"] = [f"gone{i}@example.org" for i in range(40)]
    keys = ["email:email", "phone:phone:GB"]
    with psi.serve(b, key=keys, output=True) as server:
        res = psi.run(server.url, pl.from_pandas(a), key=keys, align=True, join="inner")
        theirs = server.result(res)
    ours = res.frame
    assert isinstance(ours, pl.DataFrame) and isinstance(theirs, pd.DataFrame)
    assert ours.columns[0] == "psi_id" and theirs.columns[0] == "psi_id"
    # Row i on one side is row i on the other.
    assert ours["psi_id"].to_list() == theirs["psi_id"].tolist()
    assert ours["person"].to_list() == theirs["person"].tolist()
    assert set(zip(ours["person"].to_list(), theirs["person"].tolist())) == plaintext_waterfall(a, b)
    steps = res.report["linkage"]["steps"]
    assert [s["key"].split(":")[0] for s in steps] == ["email", "phone"]
    assert steps[1]["linked_rows"] > 0


@pytest.mark.parametrize("join", ["left", "full", "difference"])
def test_joins(frames, join):
    a, b = frames
    with psi.serve(b, key="email:email") as server:
        # A full join holds the server's unlinked rows too only when aligned.
        res = psi.run(server.url, a, key="email:email", join=join, share_result=True,
                      align=join == "full")
    f = res.frame
    both = shared(a, b)
    if join == "left":
        assert len(f) == len(a) and f["psi_id"].notna().sum() == len(both)
    elif join == "full":
        assert len(f) == len(a) + len(b) - len(both)
        assert set(f["person"].dropna().astype(int)) == set(a["person"])
    else:
        assert set(f["person"]) == set(a["person"]) - both


def test_progress_callback(frames):
    a, b = frames
    seen = []
    with psi.serve(b, key="email:email") as server:
        psi.run(server.url, a, key="email:email", progress=lambda *s: seen.append(s))
    assert seen[-1] == ("done", len(a), len(a))
    assert all(stage in ("read", "protocol", "done") for stage, _, _ in seen)
