#!/usr/bin/env python3
"""Raw all-pairs Dice speed of the Python peer anonlink, on random 1024-bit CLKs.

Usage:
    python3 benches/fuzzy/anonlink_speed.py [--n-a 2000] [--n-b 100000]
        [--threshold 0.8] [--seed 42] [--repeats 1]

This is the peer number for the Rust fuzzy matcher (crate psi-fuzzy,
`psi encode` / `psi match`): both sides hold CLKs (Bloom-filter encodings)
and every record of A is compared with every record of B by the
Sorensen-Dice coefficient 2|a AND b| / (|a| + |b|); pairs at or above the
threshold are kept.

What is timed is one call of

    anonlink.candidate_generation.find_candidate_pairs(
        [clks_a, clks_b], anonlink.similarities.dice_coefficient_accelerated,
        threshold)

which includes anonlink's own Python-side work (flattening the bitarrays
into byte buffers, popcounting B, sorting and merging the result), not just
the C++ kernel.  Generating the random CLKs is not timed.  One untimed
warm-up call on a small input comes first.  `seconds` is wall-clock time
(the fastest of --repeats calls); the process CPU time of that call goes to
stderr, so a run slowed by other load on the machine shows as CPU < wall.

Facts about anonlink 0.15.3 that this number depends on (read from the
sdist: anonlink/similarities/_dice_x86.py, _dice.pyx, dice.cpp; setup.py):

* All-pairs Dice is computed in C++: dice_coefficient_accelerated calls the
  Cython function _dice.dice_many_to_many, which loops over A in Cython and
  for each record calls the C++ match_one_against_many_dice_k_top, which
  scans all of B (AND + popcnt over 16 64-bit words for 1024-bit filters,
  with a top-k priority queue of the hits).
* It is single-threaded: there is no OpenMP (setup.py compiles with
  -O3 -std=c++11 only; the extension links no libgomp) and no threads; the
  loop over A runs in the calling thread.  The only parallelism anonlink
  offers is anonlink.concurrency, helpers to split the problem into chunks
  that the *caller* runs in separate processes.  This script does not use
  it, so the run is one thread in one process (threads=1).
* It prunes by popcount: before computing a pair's Dice coefficient it
  skips record b when |popcount(a) - popcount(b)| > 2*popcount(a)*(1/t - 1)
  (truncated to an integer), a sound bound since Dice <= 2*min/(sum).
  With random CLKs (each bit set with probability 0.5, popcount about
  512 +- 16) and t = 0.8 the allowed difference is about 256, so in effect
  no pair is pruned: every one of n_a * n_b pairs gets its Dice computed.
  The script counts the pairs that pass the filter exactly (same formula)
  and prints that count to stderr; `comparisons` on the result line is
  n_a * n_b regardless.
* Random CLKs have Dice about 0.5 with each other, so at t = 0.8 there are
  no candidate pairs and no time goes to the result heap or the sort.

Prints one line on stdout:
    peer=anonlink op=dice-all-pairs bits=1024 n_a=.. n_b=.. comparisons=..
    seconds=.. comparisons_per_second=.. threads=1 cpus=..
"""
import argparse
import importlib
import os
import subprocess
import sys
import time

BITS = 1024
PIP_SPECS = ["anonlink==0.15.3"]  # pulls in bitarray, numpy, ...; clkhash is not needed here


def ensure_deps():
    try:
        for m in ("anonlink", "bitarray", "numpy"):
            importlib.import_module(m)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *PIP_SPECS])
        importlib.invalidate_caches()


def random_clks(rng, n, bits):
    """n random CLKs of `bits` bits, each bit set independently with probability 0.5."""
    from bitarray import bitarray

    raw = rng.integers(0, 256, size=(n, bits // 8), dtype="uint8")
    clks = []
    for row in raw:
        ba = bitarray()
        ba.frombytes(row.tobytes())
        clks.append(ba)
    return clks, raw


def popcounts(raw):
    import numpy as np

    return np.unpackbits(raw, axis=1).sum(axis=1, dtype=np.int64)


def pairs_passing_popcount_filter(raw_a, raw_b, threshold):
    """Pairs anonlink's C++ kernel does compute Dice for (its popcount filter, same formula)."""
    import numpy as np

    pa = popcounts(raw_a)
    pb = np.sort(popcounts(raw_b))
    if threshold <= 0:
        return len(pa) * len(pb)
    # C++: uint32 max_delta = 2 * popcnt_a * (1/threshold - 1), truncated to an integer
    delta = np.floor(2 * pa * (1.0 / threshold - 1.0)).astype(np.int64)
    hi = np.searchsorted(pb, pa + delta, side="right")
    lo = np.searchsorted(pb, pa - delta, side="left")
    return int((hi - lo).sum())


def run(anonlink, clks_a, clks_b, threshold):
    return anonlink.candidate_generation.find_candidate_pairs(
        [clks_a, clks_b], anonlink.similarities.dice_coefficient_accelerated, threshold)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-a", type=int, default=2000)
    ap.add_argument("--n-b", type=int, default=100000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeats", type=int, default=1,
                    help="timed calls; the fastest is reported (default 1)")
    args = ap.parse_args()
    if args.n_a < 1 or args.n_b < 1 or args.repeats < 1:
        ap.error("--n-a, --n-b and --repeats must be at least 1")

    ensure_deps()
    import anonlink
    import numpy as np

    rng = np.random.default_rng(args.seed)
    clks_a, raw_a = random_clks(rng, args.n_a, BITS)
    clks_b, raw_b = random_clks(rng, args.n_b, BITS)

    # Untimed warm-up on a small input (imports, code paths, allocator).
    warm_a, _ = random_clks(np.random.default_rng(args.seed + 1), 50, BITS)
    warm_b, _ = random_clks(np.random.default_rng(args.seed + 2), 2000, BITS)
    run(anonlink, warm_a, warm_b, args.threshold)

    best = best_cpu = None
    for _ in range(args.repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        sims, _dset_is, _rec_is = run(anonlink, clks_a, clks_b, args.threshold)
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        if best is None or dt < best:
            best, best_cpu = dt, dc

    comparisons = args.n_a * args.n_b
    computed = pairs_passing_popcount_filter(raw_a, raw_b, args.threshold)
    print(
        f"info: anonlink {getattr(anonlink, '__version__', '?')}; threshold={args.threshold:g}; "
        f"wall {best:.3f} s, process CPU {best_cpu:.3f} s (CPU well below wall means other load); "
        f"candidates={len(sims)}; pairs passing anonlink's popcount filter={computed} "
        f"of {comparisons} ({100.0 * computed / comparisons:.4f}%)",
        file=sys.stderr, flush=True,
    )
    print(
        f"peer=anonlink op=dice-all-pairs bits={BITS} n_a={args.n_a} n_b={args.n_b} "
        f"comparisons={comparisons} seconds={best:.3f} "
        f"comparisons_per_second={comparisons / best:.0f} threads=1 cpus={os.cpu_count()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
