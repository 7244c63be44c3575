"""psi_link vs the psi command on the same data, in one run.

Party B is one `psi serve` (the release binary) serving b.csv; party A runs
against it alternately as

- `psi run` (the release binary, a child process): a.csv in, CSV out;
- `psi.run` (psi_link, in a child Python process): the same rows as a polars
  DataFrame in memory, a polars DataFrame out.

Each line gives machine, threads, n, protocol, seconds (median of --repeat
runs), bytes on the wire (from the report) and peak RSS of A's process. For
`psi run` the seconds are the process's wall time (start to exit, reading and
writing CSV included); for `psi.run` the call's wall time (the frame is
loaded from Parquet before the clock starts; the Python process's peak RSS
includes the interpreter, polars and the frame).

    cargo build --release -p psi-cli
    pip install ./python polars pyarrow
    python benches/psi_link_bench.py --log2 20 --protocol kkrt
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CLIENT = r"""
import json, resource, sys, time
import polars as pl
import psi_link as psi
a = pl.read_parquet(sys.argv[2])
start = time.perf_counter()
res = psi.run(sys.argv[1], a, key="email", protocol=sys.argv[3])
seconds = time.perf_counter() - start
assert isinstance(res.frame, pl.DataFrame)
print(json.dumps({"seconds": seconds, "rows": res.frame.height,
                  "bytes": res.report["bytes_sent"] + res.report["bytes_received"],
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return model


def make_tables(n: int, tmp: Path) -> None:
    import polars as pl

    half = n // 2
    a = pl.DataFrame({"email": [f"user{i}@example.org" for i in range(n)],
                      "x": list(range(n))})
    b = pl.DataFrame({"email": [f"user{i}@example.org" for i in range(half, half + n)],
                      "y": list(range(n))})
    a.write_csv(tmp / "a.csv")
    a.write_parquet(tmp / "a.parquet")
    b.write_csv(tmp / "b.csv")


def run_cli(psi: Path, url: str, tmp: Path, protocol: str) -> dict:
    """`psi run` as a child process: its wall time and peak RSS (wait4)."""
    report = tmp / "cli-report.json"
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(psi), "run", "--peer", url, "--input", str(tmp / "a.csv"), "--key", "email",
         "--protocol", protocol, "--output", str(tmp / "cli-out.csv"), "--report", str(report)],
        stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    assert status == 0, "psi run failed"
    r = json.loads(report.read_text())
    return {"seconds": seconds, "rows": r["matched_rows"],
            "bytes": r["bytes_sent"] + r["bytes_received"], "rss_kib": usage.ru_maxrss}


def run_python(url: str, tmp: Path, protocol: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CLIENT, url, str(tmp / "a.parquet"), protocol],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="psi_link vs the psi command")
    parser.add_argument("--log2", type=int, default=20)
    parser.add_argument("--protocol", default="kkrt", choices=["kkrt", "ecdh"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--psi", type=Path, default=ROOT / "target" / "release" / "psi")
    args = parser.parse_args()
    n = 1 << args.log2
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        make_tables(n, tmp)
        server = subprocess.Popen(
            [str(args.psi), "serve", "--input", str(tmp / "b.csv"), "--key", "email",
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            url = re.search(r"(https?://\S+)", line).group(1)
            results = {"psi run (CLI)": [], "psi_link psi.run (polars)": []}
            for _ in range(args.repeat):
                results["psi run (CLI)"].append(run_cli(args.psi, url, tmp, args.protocol))
                results["psi_link psi.run (polars)"].append(run_python(url, tmp, args.protocol))
        finally:
            server.terminate()
            server.wait()
    print(f"machine: {machine()}; threads: {os.cpu_count()}; n = 2^{args.log2} x 2^{args.log2} "
          f"({n} rows each, 50 % overlap); protocol: {args.protocol}; median of {args.repeat}")
    medians = {}
    for name, runs in results.items():
        assert len({r["rows"] for r in runs}) == 1 and runs[0]["rows"] == n // 2
        seconds = statistics.median(r["seconds"] for r in runs)
        medians[name] = seconds
        each = ", ".join("%.2f" % r["seconds"] for r in runs)
        print(f"{name:28} {seconds:7.2f} s  (runs: {each})"
              f"  wire {runs[0]['bytes'] / 1e6:.1f} MB"
              f"  peak RSS {max(r['rss_kib'] for r in runs) / 1024:.0f} MB"
              f"  rows {runs[0]['rows']}")
    cli, py = medians["psi run (CLI)"], medians["psi_link psi.run (polars)"]
    print(f"ratio psi.run / psi run: {py / cli:.2f}")


if __name__ == "__main__":
    main()
