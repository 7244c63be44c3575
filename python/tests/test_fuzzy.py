"""Fuzzy linkage from frames: encode each owner's frame, match the encodings."""

import pandas as pd
import polars as pl

import psi_link as psi

SPEC = """{"fields": [
    {"column": "given_name", "profile": "name", "weight": 2},
    {"column": "surname", "profile": "name", "weight": 2},
    {"column": "date_of_birth", "profile": "digits", "comparator": "digits", "weight": 2}],
  "bits_per_feature": 9}"""

GIVEN = ["anna", "boris", "chen", "dara", "emil", "fatima", "gustav", "hana", "ivo", "jana"]
SURNAME = ["novak", "smith", "garcia", "kowalski", "okafor", "tanaka", "muller", "rossi",
           "dubois", "silva"]


def owners():
    people = [(GIVEN[i], SURNAME[(i * 3) % 10], f"19{50 + i}0{1 + i % 9}1{i % 10}")
              for i in range(10)]
    a = pd.DataFrame(people[:7], columns=["given_name", "surname", "date_of_birth"])
    # B holds people 3..9, one with a typo in the surname, in another order.
    b_people = [list(p) for p in people[3:]]
    b_people[0][1] = b_people[0][1] + "x"
    b = pl.DataFrame(b_people[::-1], schema=["given_name", "surname", "date_of_birth"],
                     orient="row")
    return a, b


def test_encode_frames_and_match(tmp_path):
    (tmp_path / "spec.json").write_text(SPEC)
    (tmp_path / "secret").write_text("0123456789abcdef0123456789abcdef\n")
    a, b = owners()
    for name, frame in [("a", a), ("b", b)]:
        report = psi.encode(frame, spec=tmp_path / "spec.json",
                            secret_file=tmp_path / "secret", output=tmp_path / f"{name}.clk")
        assert report["rows"] == len(frame), report
    psi.match([tmp_path / "a.clk", tmp_path / "b.clk"], threshold=0.8,
              output=tmp_path / "links.csv")
    links = pd.read_csv(tmp_path / "links.csv")
    pairs = {(int(r.a_row), int(r.b_row)) for r in links.itertuples()}
    # A's rows 3..6 are B's rows 6, 5, 4, 3 (B is reversed); the typo still links.
    assert pairs == {(3, 6), (4, 5), (5, 4), (6, 3)}
