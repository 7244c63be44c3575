"""Bucketed runs (`state_dir=`: bounded memory, resumable) from Python: file
paths on both sides, the rows equal an in-memory run's; a server with
`state_dir` serves bucketed runs only; frames are refused, naming why."""

import pandas as pd
import pytest

import psi_link as psi


def test_bucketed_run_equals_the_in_memory_run(frames, tmp_path):
    a, b = frames
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    with psi.serve(b, key="email:email") as server:
        in_memory = psi.run(server.url, tmp_path / "a.csv", key="email:email",
                            output=tmp_path / "in-memory.csv")
    with psi.serve(tmp_path / "b.csv", key="email:email",
                   state_dir=tmp_path / "server-state") as server:
        res = psi.run(server.url, tmp_path / "a.csv", key="email:email",
                      output=tmp_path / "bucketed.csv", state_dir=tmp_path / "run-state",
                      bucket_items=64)
        # The server keeps its table on disk: it serves bucketed runs only.
        with pytest.raises(psi.PeerError):
            psi.run(server.url, tmp_path / "a.csv", key="email:email",
                    output=tmp_path / "refused.csv")
        assert not (tmp_path / "refused.csv").exists()
    buckets = res.report["buckets"]
    assert buckets["count"] >= 4 and buckets["run"] == buckets["count"], buckets
    got = pd.read_csv(res.frame)
    want = pd.read_csv(in_memory.frame)
    pd.testing.assert_frame_equal(got, want)
    shared = set(a["person"]) & set(b["person"])
    assert set(got["person"]) == shared and len(got) == len(shared)
    assert res.report["matched_rows"] == len(shared)
    # A finished run leaves no state behind.
    assert not (tmp_path / "run-state").exists()


def test_frames_are_refused_for_bucketed_runs(frames, tmp_path):
    a, b = frames
    with pytest.raises(psi.UsageError, match="pass the path of a CSV or Parquet file"):
        psi.serve(b, key="email:email", state_dir=tmp_path / "server-state")
    with psi.serve(b, key="email:email") as server:
        with pytest.raises(psi.UsageError, match=r"--state-dir: <pandas DataFrame \(client\)"):
            psi.run(server.url, a, key="email:email", state_dir=tmp_path / "run-state")
    assert not (tmp_path / "run-state").exists()
