"""MovieLens 100K u1 through the whole leaderboard (issue 7's real-data goal): predictors
trained on u1.base only (probe carved from it, `--protocol given`), the final round refit
on all of u1.base, the blends fitted on probe, and the submitted blend (the best by CV probe
RMSE) scored once on u1.test.

u1.test is a random fifth of the ratings, so probe is drawn the same way (`--probe-rule random`:
a uniform draw over u1.base's ratings, as many as the latest-ratings rule would take).
With Netflix's rule (each user's latest nine at most) the blends learned on a probe unlike
the test file and scored 0.9020 (GBDT, submitted), 0.9008 and 0.8988.

Measured (configs/leaderboard/ml100k.toml, 41 predictors; about 20 minutes on this shared
2-core machine): submitted blend ml100k-blend-fwls-ml100k 0.8872 on u1.test (CV probe
0.8736); the linear and GBDT blends 0.8866 and 0.8861; the best single predictor by
probe, autorec-i-seed1 (I-AutoRec), 0.8979 on u1.test; the reference
(knn-cinematch-proxy) 0.9344. The best published single models are near 0.889
(GLocal-K, CIKM 2021), issue 21's goal. Before AutoRec (36 predictors) the submitted blend
scored 0.8995.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import shared_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

GOAL = 0.889  # issue 21: the blended submission on u1.test (measured 0.8872)
BOUND = 0.8902  # the measured 0.8872 with a slack of 0.003, for every blend


def prize(*args: str, home, cwd, json_out: bool = True):
    """The CLI in a subprocess run from ``cwd`` (the run writes submissions/ there)."""
    env = dict(os.environ, PRIZE_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "prize", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)
    assert proc.returncode == 0, f"prize {' '.join(args)}:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout) if json_out else proc


@pytest.fixture(scope="module")
def u1(tmp_path_factory):
    raw = shared_path("ml-100k")
    work = tmp_path_factory.mktemp("u1")
    home = work / "home"
    prize("-q", "data", "import", "movielens", str(raw), "--split", "u1", "--probe-rule", "random",
          "--name", "u1", home=home, cwd=work, json_out=False)
    run = prize("-q", "leaderboard", "run", "--predictor-set", "ml100k", "--data", "u1", "--final",
                "--json", home=home, cwd=work)
    board = prize("leaderboard", "--data", "u1", "--json", "--reveal", home=home, cwd=work)
    return work, home, run, board


def _submitted(run):
    (best,) = [b for b in run["blends"] if "submission" in b]
    return best


def test_the_run_trains_every_predictor_on_u1_base(u1):
    _, home, run, board = u1
    failed = [r["name"] for r in run["trained"] if not r["ok"]]
    assert not failed
    assert {r["round"] for r in run["trained"]} == {"probe", "final"}
    meta = json.loads((home / "data" / "u1" / "meta.json").read_text())
    assert meta["protocol"] == {"name": "given", "seed": 0, "probe": "random"}
    assert meta["counts"]["qualifying"] == meta["counts"]["test"] == 20_000
    assert meta["counts"]["train"] + meta["counts"]["probe"] == 80_000  # u1.base


def test_submitted_blend_on_u1_test(u1):
    work, home, run, board = u1
    best = _submitted(run)
    assert best["probe_rmse"] == min(b["probe_rmse"] for b in run["blends"])
    check = prize("submit", "--data", "u1", "--check", str(work / best["submission"]),
                  "--reveal", "--json", home=home, cwd=work)
    rows = {r["name"]: r for r in board["rows"]}
    assert check["test_rmse"] == pytest.approx(rows[best["name"]]["test_rmse"], abs=1e-4)
    singles = [r for r in board["rows"] if r["family"] != "blend"]
    best_single = min(singles, key=lambda r: r["probe_rmse"])
    # measured 0.8872 against the best single's 0.8979 (I-AutoRec, chosen by probe as the
    # blend is): 0.0107 better; asserted 0.007 (a slack of 0.0037)
    assert check["test_rmse"] <= BOUND, check["test_rmse"]
    for b in run["blends"]:
        assert rows[b["name"]]["test_rmse"] <= BOUND, b
    assert check["test_rmse"] < best_single["test_rmse"] - 0.007
    # The reference on non-Netflix data is knn-cinematch-proxy: 0.9344 on u1.test, 0.047
    # above the blend.
    assert board["reference"]["name"] == "knn-cinematch-proxy", board["reference"]
    assert check["test_rmse"] < board["reference"]["test"] - 0.02


def test_issue_goal_on_u1_test(u1):
    _, _, run, board = u1
    rows = {r["name"]: r for r in board["rows"]}
    assert rows[_submitted(run)["name"]]["test_rmse"] <= GOAL
