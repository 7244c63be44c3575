"""Both parties in two processes: the server in a child Python process."""

import subprocess
import sys
import textwrap

import polars as pl

import psi_link as psi

SERVER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import psi_link as psi

    b = pd.read_parquet(sys.argv[1])
    with psi.serve(b, key=["email:email", "phone:phone:GB"], output=True, once=True) as s:
        print(s.url, flush=True)
        linkage = sys.stdin.readline().strip()
        s.result(linkage).to_parquet(sys.argv[2], index=False)
    """
)


def test_two_processes_aligned(frames, tmp_path):
    a, b = frames
    b.to_parquet(tmp_path / "b.parquet", index=False)
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "b.parquet"), str(tmp_path / "theirs.parquet")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        url = ""
        while not url.startswith("http"):
            line = child.stdout.readline()
            assert line, "the server process ended before printing its address"
            url = line.split()[-1] if line.startswith("http") else ""
        res = psi.run(url, pl.from_pandas(a), key=["email:email", "phone:phone:GB"], align=True)
        child.stdin.write(res.report["linkage"]["linkage"] + "\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
    theirs = pl.read_parquet(tmp_path / "theirs.parquet")
    assert res.frame["psi_id"].to_list() == theirs["psi_id"].to_list()
    assert res.frame["person"].to_list() == theirs["person"].to_list()
    assert set(res.frame["person"].to_list()) == set(a["person"]) & set(b["person"])
