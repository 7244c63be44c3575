"""The fuzzy linkage unit from Python: `psi.serve(role="linkage-unit")` in
the background, two owners `psi.submit` their encodings at once (in two
threads), each gets only its own rows, and joined on the link ids their
links are exactly `psi.match`'s on the same files (and the known truth)."""

import threading

import pandas as pd
import pytest

import psi_link as psi
from test_fuzzy import SPEC, owners


def token(tmp_path, capfd, name):
    capfd.readouterr()
    psi.command(["token", "add", "--tokens", tmp_path / "tokens", "--name", name])
    path = tmp_path / f"{name}.token"
    path.write_text(capfd.readouterr().out.strip().splitlines()[-1] + "\n")
    return path


def test_two_owners_get_matching_link_ids(tmp_path, capfd):
    (tmp_path / "spec.json").write_text(SPEC)
    (tmp_path / "secret").write_text("0123456789abcdef0123456789abcdef\n")
    a, b = owners()
    for name, frame in [("a", a), ("b", b)]:
        psi.encode(frame, spec=tmp_path / "spec.json", secret_file=tmp_path / "secret",
                   output=tmp_path / f"{name}.clk")
    tokens = {who: token(tmp_path, capfd, who) for who in ["alice", "bob", "carol"]}

    with pytest.raises(psi.UsageError, match="holds no table"):
        psi.serve(a, role="linkage-unit", owners=["alice", "bob"], threshold=0.8)
    with pytest.raises(psi.UsageError, match="--tokens"):
        psi.serve(role="linkage-unit", owners=["alice", "bob"], threshold=0.8)

    with psi.serve(role="linkage-unit", owners=["alice", "bob"], threshold=0.8,
                   tokens=tmp_path / "tokens") as unit:
        assert unit.url.startswith("http://127.0.0.1:")
        links = {}

        def owner(who, clk):
            links[who] = psi.submit(unit.url, tmp_path / clk, token_file=tokens[who], wait=60)

        alice = threading.Thread(target=owner, args=("alice", "a.clk"))
        alice.start()
        owner("bob", "b.clk")
        alice.join()
        # Not an owner, and a second upload: refused, with the unit's reason.
        with pytest.raises(psi.PeerError, match="not_an_owner"):
            psi.submit(unit.url, tmp_path / "a.clk", token_file=tokens["carol"], wait=5)
        with pytest.raises(psi.PeerError, match="already"):
            psi.submit(unit.url, tmp_path / "a.clk", output=tmp_path / "again.csv",
                       token_file=tokens["alice"], wait=5)
        assert not (tmp_path / "again.csv").exists()

    a_rows = {link: row for row, link in links["alice"]}
    b_rows = {link: row for row, link in links["bob"]}
    assert a_rows.keys() == b_rows.keys()
    joined = sorted((a_rows[k], b_rows[k]) for k in a_rows)
    psi.match([tmp_path / "a.clk", tmp_path / "b.clk"], threshold=0.8,
              output=tmp_path / "match.csv")
    match = pd.read_csv(tmp_path / "match.csv")
    assert joined == sorted(zip(match["a_row"], match["b_row"]))
    # A's rows 3..6 are B's rows 6, 5, 4, 3 (see test_fuzzy.owners).
    assert joined == [(3, 6), (4, 5), (5, 4), (6, 3)]
