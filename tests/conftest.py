"""Shared fixtures: an isolated PRIZE_HOME, the real data folder, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = os.environ.get("PRIZE_SHARED_DATA")


def shared_path(*parts: str) -> Path:
    """A path under $PRIZE_SHARED_DATA; skips the test, saying why, when that is unset."""
    if not SHARED:
        pytest.skip("PRIZE_SHARED_DATA is not set: real-data tests need the shared data folder "
                    "(.ci/run sets it to ../shared/data)")
    p = Path(SHARED, *parts)
    if not p.exists():
        pytest.fail(f"PRIZE_SHARED_DATA is set but {p} does not exist")
    return p


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PRIZE_HOME", str(h))
    return h


def run_prize(*args: str, home: Path, check: bool = True, json_out: bool = False):
    """Run the real `prize` CLI in a subprocess."""
    env = dict(os.environ, PRIZE_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "prize", *args], capture_output=True,
                          text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"prize {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    if json_out:
        return json.loads(proc.stdout)
    return proc


def leftovers(root: Path) -> list[str]:
    """Everything under root (hidden temporary folders included)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
