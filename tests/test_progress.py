"""Feedback on long work: bars on a terminal, plain periodic lines in a log, heartbeats."""

from __future__ import annotations

import io
import time

from prize.progress import LogLines, bar, heartbeat


def test_off_a_terminal_a_bar_writes_plain_lines_not_frames():
    out = io.StringIO()  # not a terminal
    b = bar(4, "training x", "epochs", file=out)
    assert isinstance(b, LogLines)
    b.every = 0.0  # a line at every update, for the test
    for _ in range(4):
        b.set_postfix({"probe": "0.9500"})
        b.update(1)
    b.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("training x: 1/4 epochs") and "probe=0.9500" in lines[0]
    assert lines[-1].startswith("training x: 4/4 epochs") and lines[-1].endswith("done")


def test_a_disabled_bar_is_silent():
    out = io.StringIO()
    b = bar(3, "x", file=out, enabled=False)
    b.update(3)
    b.close()
    assert out.getvalue() == ""


def test_heartbeat_speaks_only_for_long_steps():
    out = io.StringIO()
    with heartbeat("quick", file=out, quiet_for=0.5):
        pass
    assert out.getvalue() == ""
    with heartbeat("slow step", file=out, quiet_for=0.05, every=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("slow step: 0:00 elapsed")
    assert lines[-1].startswith("slow step: done in 0:00")
