"""Partner tokens through the same flags as the command line."""

import pytest

import psi_link as psi


def test_tokens(frames, tmp_path, capfd):
    a, b = frames
    capfd.readouterr()
    psi.command(["token", "add", "--tokens", tmp_path / "tokens", "--name", "bank-a"])
    token = capfd.readouterr().out.strip().splitlines()[-1]
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "wrong").write_text("psi_" + "0" * 40 + "\n")
    with psi.serve(b, key="email:email", tokens=tmp_path / "tokens") as server:
        with pytest.raises(psi.PeerError):
            psi.run(server.url, a, key="email:email")
        with pytest.raises(psi.PeerError):
            psi.run(server.url, a, key="email:email", token_file=tmp_path / "wrong")
        res = psi.run(server.url, a, key="email:email", token_file=tmp_path / "token")
        assert len(res.frame) == len(set(a["person"]) & set(b["person"]))
