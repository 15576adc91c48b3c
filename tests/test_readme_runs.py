"""The README runs top to bottom: every ```sh block, in order, in a scratch $PRIZE_HOME.

Only the data size changes: the synthetic presets become ``tiny`` (``--preset small`` and
``--preset medium`` -> ``--preset tiny``), so the whole walk takes minutes, not hours.
A block the machine cannot run (the real Netflix data, a `make` target, a pip install)
says so on the line before it, ``<!-- readme: not run (the reason) -->``; the test lists
those and checks each gives a reason. MovieLens 100K comes from ``$PRIZE_SHARED_DATA``,
as the README tells its reader.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = re.compile(r"<!--\s*readme:\s*not run\s*(?:\((?P<why>[^)]*)\))?\s*-->")
SIZES = [(re.compile(r"--preset (small|medium|netflix)\b"), "--preset tiny")]

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line number, shell text, reason it is not run or None) of every ```sh block."""
    out = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        if lines[k].strip() == "```sh":
            start = k
            body = []
            k += 1
            while lines[k].strip() != "```":
                body.append(lines[k])
                k += 1
            before = "\n".join(lines[max(0, start - 3):start])
            m = SKIP.search(before)
            out.append((start + 1, "\n".join(body), (m.group("why") or "") if m else None))
        k += 1
    return out


def test_the_skip_markers_give_reasons():
    for line, _, why in blocks(README.read_text()):
        assert why is None or why.strip(), f"README.md:{line}: a skipped block needs a reason"


def test_every_block_runs_in_order(tmp_path):
    shared = os.environ.get("PRIZE_SHARED_DATA")
    if not shared:
        pytest.skip("PRIZE_SHARED_DATA is not set: the README's MovieLens commands need it")
    home = tmp_path / "prize_home"
    env = dict(os.environ, PRIZE_HOME=str(home), PRIZE_SHARED_DATA=str(Path(shared).resolve()))
    prelude = f'prize() {{ "{sys.executable}" -m prize "$@"; }}\n'
    ran = []
    for line, body, why in blocks(README.read_text()):
        if why is not None:
            continue
        script = body
        for pattern, repl in SIZES:
            script = pattern.sub(repl, script)
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + script],
                              cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (
            f"README.md:{line}: the block failed (exit {proc.returncode}):\n{script}\n"
            f"--- stderr ---\n{proc.stderr[-4000:]}")
        ran.append(line)
    assert len(ran) >= 5, f"only {len(ran)} README blocks ran: {ran}"
