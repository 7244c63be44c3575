"""Ctrl-C cancels a run cleanly: KeyboardInterrupt soon, no output or
temporary file left, and the server's session ends."""

import _thread
import os
import signal
import socket
import threading
import time

import pandas as pd
import pytest

import psi_link as psi


@pytest.fixture(autouse=True)
def python_handles_ctrl_c():
    """A process started in the background (`cmd &` in a script, as CI may
    do) inherits SIGINT ignored, and then Python installs no handler and
    `_thread.interrupt_main` does nothing: install Python's own."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_interrupt_a_stalled_run(frames, tmp_path):
    """A peer that accepts and never answers: only Ctrl-C ends the wait."""
    a, _ = frames
    a.to_csv(tmp_path / "a.csv", index=False)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = "http://127.0.0.1:%d" % silent.getsockname()[1]
    interrupt_after(0.5)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        psi.run(url, tmp_path / "a.csv", key="email", output=tmp_path / "out.csv")
    assert time.monotonic() - start < 10
    assert sorted(os.listdir(tmp_path)) == ["a.csv"]
    silent.close()


def test_interrupt_mid_session_ends_the_session(tmp_path):
    n = 40_000
    b = pd.DataFrame({"email": [f"u{i}@x.org" for i in range(n)]})
    a = pd.DataFrame({"email": [f"u{i}@x.org" for i in range(n // 2, n + n // 2)]})
    with psi.serve(b, key="email", idle_timeout=5) as server:
        timers = []

        def progress(stage, done, total):
            # Interrupt once the session is under way.
            if stage == "protocol" and not timers:
                timers.append(interrupt_after(0.2))

        with pytest.raises(KeyboardInterrupt):
            psi.run(server.url, a, key="email", idle_timeout=5, progress=progress)
        assert timers, "the run ended before the protocol started"
        deadline = time.monotonic() + 20
        while not server.report.get("sessions") and time.monotonic() < deadline:
            time.sleep(0.1)
        [session] = server.report["sessions"]
        assert session["outcome"] != "ok"
