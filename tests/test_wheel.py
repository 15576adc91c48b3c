"""The wheel: built from the checkout, installed into a fresh virtual environment outside it,
and used from another directory (issue 18).

How the environment is made, offline and in seconds: ``python -m venv --without-pip`` creates
it; a ``.pth`` file in its site-packages appends the site-packages folders that hold this
interpreter's numpy, numba, torch, pandas… (paths only: ``.pth`` files inside those folders,
such as an editable install of the checkout, are not run), so nothing big is downloaded and
torch is never fetched from an index; then this interpreter's pip installs the wheel with
``--no-deps --python VENV/bin/python``. The venv's own site-packages comes first on its path,
so ``import prize`` finds the installed wheel, never the checkout (the test checks that).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_away_from_the_checkout(tmp_path):
    import numpy
    import torch

    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRIZE_HOME")}
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
          "--no-build-isolation", "-w", str(wheels), "-q"], cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("netflix_prize-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   cwd=tmp_path, env=env).stdout.strip()
    deps = dict.fromkeys(str(Path(m.__file__).resolve().parents[1]) for m in (numpy, torch))
    deps[sysconfig.get_path("purelib")] = None
    Path(purelib, "_prize_test_deps.pth").write_text("\n".join(deps) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
          str(wheel)], cwd=tmp_path, env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env["PRIZE_HOME"] = str(work / "home")
    prize = str(venv / "bin" / "prize")
    where = _run([str(py), "-c", "import prize, prize.config as c; print(prize.__file__); "
                  "print(c.CONFIG_ROOT)"], cwd=work, env=env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    _run([prize, "data", "synth", "--preset", "tiny", "--seed", "0", "--out", "raw"],
         cwd=work, env=env)
    _run([prize, "data", "import", "netflix", "raw", "--name", "tiny"], cwd=work, env=env)
    # --allow-worse: 3 epochs lose to the biases on tiny; the installed wheel is the point.
    out = _run([prize, "train", "mf", "--data", "tiny", "--set", "n_epochs=3",
                "--allow-worse"], cwd=work,
               env=env).stdout
    assert "probe RMSE" in out
    board = _run([prize, "leaderboard", "--data", "tiny"], cwd=work, env=env).stdout
    assert "mf" in board
    code = ("import prize; m = prize.load_model('tiny', 'mf'); "
            "r = prize.open_dataset('tiny'); print(m.predict(r)[:3])")
    _run([str(py), "-c", code], cwd=work, env=env)
    assert not list(work.glob("*.egg-info"))
