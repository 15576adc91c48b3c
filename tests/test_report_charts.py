"""The report's charts at 10, 50 and 150 predictors: they render, stay readable in size,
zoom to the competitive range and name each family's best (looked at by eye as well:
``PRIZE_CHART_DIR=/some/folder pytest tests/test_report_charts.py`` keeps the PNGs)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from prize.leaderboard.report import (
    best_of_family,
    chart_blend_curve,
    chart_epochs,
    chart_rmse,
    family_colors,
    zoom,
)
from prize.probes import PredictorRecord

FAMILIES = ["baseline", "mf", "svdpp", "timesvdpp", "knn", "rbm", "nsvd", "blend"]


def fake_store(n: int, seed: int = 0):
    """A leaderboard table and records of ``n`` predictors: most in a competitive band
    (0.90-0.95), a few outliers (the global mean, Funk's MF), epoch histories."""
    rng = np.random.default_rng(seed)
    rows, metas = [], []
    for k in range(n):
        family = FAMILIES[k % len(FAMILIES)]
        probe = float(rng.uniform(0.90, 0.95))
        if k % 23 == 5:
            probe = float(rng.uniform(1.05, 1.2))  # an outlier
        rows.append({"name": f"{family}-{k}", "family": family, "model": family,
                     "round": "probe", "probe_rmse": probe, "quiz_rmse": probe - 0.01})
        hist = []
        if family not in ("baseline", "blend"):
            e = np.arange(1, 21)
            hist = [{"epoch": int(i), "probe_rmse": float(probe + 0.08 * np.exp(-i / 4))}
                    for i in e]
        metas.append(PredictorRecord(name=rows[-1]["name"], family=family, model=family,
                                     probe_rmse=probe, history=hist))
    t = {"dataset": f"fake-{n}", "reference": {"name": "ref", "probe": 0.945},
         "lines": {"target": {"probe": 0.8505}, "oracle": {"probe": 0.79}}, "rows": rows}
    return t, metas


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def out(tmp_path):
    keep = os.environ.get("PRIZE_CHART_DIR")
    return Path(keep) if keep else tmp_path


@pytest.mark.parametrize("n", [10, 50, 150])
def test_charts_render_at_every_size(out, n):
    t, metas = fake_store(n)
    chart_rmse(t, {"rmse": 0.80, "method": "ordinal"}, out / f"probe_rmse-{n}.png")
    chart_epochs(metas, out / f"epochs-{n}.png")
    steps = [{"n": k + 1, "added": m.name, "rmse": 0.93 - 0.01 * np.log1p(k)}
             for k, m in enumerate(metas[:min(n, 40)])]
    assert chart_blend_curve([("blend-linear-forward", steps)], out / f"blend-{n}.png",
                             "stored blends: blend-linear-forward")
    w, h = png_size(out / f"probe_rmse-{n}.png")
    # 150 rows at 0.16 in plus the margins at 120 dpi: about 3,200 px; never a wall of labels.
    assert 300 < h < 3600 and 600 < w < 2000
    _, eh = png_size(out / f"epochs-{n}.png")
    assert eh < 1500  # small multiples: a few panels whatever the number of models


def test_zoom_keeps_outliers_and_far_floors_off_the_axis():
    values = [0.91, 0.92, 0.93, 0.935, 0.94, 1.13, 1.18]
    lo, hi = zoom(values, [0.945, 0.79])
    assert lo < 0.91 and 0.945 < hi < 1.0  # the reference inside, the outliers outside
    assert lo > 0.8  # the oracle (0.79) is marked, not drawn to scale


def test_best_of_family_and_stable_colours():
    rows = [{"name": "a", "family": "mf", "probe_rmse": 0.93},
            {"name": "b", "family": "mf", "probe_rmse": 0.92},
            {"name": "c", "family": "knn", "probe_rmse": 0.95}]
    assert best_of_family(rows) == {"b", "c"}
    c1, c2 = family_colors(["mf", "knn", "blend"]), family_colors(["knn", "mf"])
    assert c1["mf"] == c2["mf"] and c1["knn"] != c1["mf"] and "blend" in c1
