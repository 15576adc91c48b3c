"""Issue 15: every family's default (what ``prize train FAMILY --data X`` uses with no
--config/--set) beats the biases baseline, and every blend method's default beats the best
single predictor by its own 10-fold CV on probe; a model that loses to the biases is
refused with a clear message (exit 2) unless --allow-worse.

Fast checks on the synthetic ``tiny`` preset (probe round, quiz RMSE, 4,892 probe rows);
the slow ones (the RBM, the SGD neighbourhood models) under ``slow``, and MovieLens 100K's
u1 (final round, test RMSE) under ``slow`` + ``realdata``. scripts/bench_defaults.py
measures the same over many more data sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_toy_dataset, ml100k_fold, run_prize

from prize.blend.gbdt import NETFLIX_PROBE_ROWS, capacity_for_rows
from prize.probes import ProbeStore
from prize.runs.single import train

#: Each default must beat the biases on quiz by this much at least (the issue's bar).
MARGIN = 0.005

#: (row, family, config or None for the family's default), as in scripts/bench_defaults.py.
FAST = [("global_effects", "baseline", "global_effects"), ("mf", "mf", None),
        ("svdpp", "svdpp", None), ("timesvdpp", "timesvdpp", None), ("nsvd", "nsvd", None),
        ("knn", "knn", None), ("knn-item", "knn", "item"),
        ("knn-cinematch-proxy", "knn", "cinematch-proxy")]
SLOW = [("rbm", "rbm", None), ("knn-global", "knn", "global"),
        ("knn-integrated", "knn", "integrated")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, object, ProbeStore]:
    from prize.data import open_dataset
    from prize.data.netflix import import_netflix
    from prize.data.synth import generate

    home = tmp_path_factory.mktemp("defaults-tiny")
    generate(home / "raw" / "tiny", preset="tiny", seed=0, overwrite=True)
    import_netflix(home / "raw" / "tiny", home / "data" / "tiny", name="tiny")
    ds = open_dataset(home / "data" / "tiny")
    store = ProbeStore(home / "probes")
    train(ds, store, "baseline", config="biases", name="biases")
    return home, ds, store


def _quiz(tiny, row, family, config):
    _, ds, store = tiny
    rec = store.meta(ds.name, row) or train(ds, store, family, config=config, name=row)
    return rec.quiz_rmse, store.meta(ds.name, "biases").quiz_rmse


@pytest.mark.parametrize("row,family,config", FAST, ids=[r[0] for r in FAST])
def test_default_beats_the_biases_on_tiny(tiny, row, family, config):
    # Measured (quiz): biases 0.9928; global effects 0.9831, mf 0.9783 (at reg 0.05), svdpp 0.9762,
    # timesvdpp 0.9732, nsvd 0.9852, knn (interp) 0.9775.
    quiz, biases = _quiz(tiny, row, family, config)
    assert quiz <= biases - MARGIN, (row, quiz, biases)


@pytest.mark.slow
@pytest.mark.parametrize("row,family,config", SLOW, ids=[r[0] for r in SLOW])
def test_slow_default_beats_the_biases_on_tiny(tiny, row, family, config):
    # Measured (quiz): rbm 0.9791 before the biases offset, knn-global 0.9751, knn-integrated
    # 0.9804 (biases 0.9928).
    quiz, biases = _quiz(tiny, row, family, config)
    assert quiz <= biases - MARGIN, (row, quiz, biases)


@pytest.mark.parametrize("method", ["linear", "fwls", "gbdt", "nn"])
def test_blend_default_beats_the_best_single_by_cv_on_tiny(tiny, method):
    """4,892 probe rows: BellKor's GBDT settings overfit there; the default's capacity
    follows the rows. Measured: CV about 0.94x against the best single's probe 0.951."""
    from prize.blend.run import run_blend

    _, ds, store = tiny
    singles = [r for r, *_ in FAST]
    for row, family, config in FAST:
        _quiz(tiny, row, family, config)
    b = run_blend(ds, store, method, singles, name=f"blend-{method}")
    assert b["cv_rmse"] < b["best_single"]["probe_rmse"], b["best_single"]
    if method == "gbdt":
        assert b["capacity"] == capacity_for_rows(len(ds.truth("probe")))


def test_gbdt_capacity_follows_the_probe_rows():
    """BellKor's 20 leaves and ~0.18 at Netflix's probe size; fewer, larger leaves and
    smaller steps below it; never fewer than 4 leaves or a step under 0.02."""
    big = capacity_for_rows(NETFLIX_PROBE_ROWS)
    assert big["max_leaf_nodes"] == 20 and abs(big["learning_rate"] - 0.18) < 1e-3
    sizes = [500, 8_223, 55_758, 300_000, NETFLIX_PROBE_ROWS]
    caps = [capacity_for_rows(n) for n in sizes]
    for a, b in zip(caps, caps[1:], strict=False):
        assert a["learning_rate"] <= b["learning_rate"]
        assert a["max_leaf_nodes"] <= b["max_leaf_nodes"]
    assert caps[0]["max_leaf_nodes"] == 4 and caps[0]["learning_rate"] == 0.02


def test_a_model_worse_than_the_biases_is_refused(home):
    """Exit 2 naming both scores and the way out; nothing stored; --allow-worse stores it;
    the simple baselines (the references) are never refused."""
    make_toy_dataset(home)
    bad = ("train", "mf", "--data", "toy", "--set", "early_stopping=false", "--set",
           "n_epochs=1", "--set", "init_std=1.0")
    p = run_prize(*bad, home=home, check=False)
    assert p.returncode == 2, p.stderr
    assert "no better than the biases baseline" in p.stderr and "--allow-worse" in p.stderr
    listed = run_prize("probes", "list", "--data", "toy", "--json", home=home, json_out=True)
    assert "mf" not in str(listed)
    assert run_prize(*bad, "--allow-worse", home=home, check=False).returncode == 0
    for config in ("global_mean", "movie_mean", "user_mean", "biases"):
        run_prize("train", "baseline", "--data", "toy", "--config", config, home=home)
    # EASE is judged as a ranking: its ratings are the biases plus a scaled score.
    run_prize("train", "ease", "--data", "toy", home=home)


# -- MovieLens 100K's u1: the final round's test RMSE ------------------------------------------
U1 = FAST + SLOW


@pytest.fixture(scope="module")
def u1(tmp_path_factory):
    root = tmp_path_factory.mktemp("defaults-u1")
    ds = ml100k_fold(root / "data", 1)
    store = ProbeStore(root / "probes")
    train(ds, store, "baseline", config="biases", name="biases")
    return ds, store, train(ds, store, "baseline", name="biases", round_="final").test_rmse


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("row,family,config", U1, ids=[r[0] for r in U1])
def test_default_beats_the_biases_on_ml100k_u1(u1, row, family, config):
    # Measured (final test): biases 0.9599; mf 0.9339 (reg 0.05; 0.9256 at 0.08), svdpp 0.9302,
    # timesvdpp 0.9277, nsvd 0.9455, knn (interp) 0.9318, global effects 0.9416, rbm 0.9373
    # (0.9451 without the offset), knn-global 0.9381, knn-integrated 0.9316.
    ds, store, biases = u1
    train(ds, store, family, config=config, name=row)
    test = train(ds, store, family, name=row, round_="final").test_rmse
    assert test <= biases - MARGIN, (row, test, biases)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("method", ["linear", "fwls", "gbdt", "nn"])
def test_blend_default_beats_the_best_single_on_ml100k_u1(u1, method):
    from prize.blend.run import run_blend

    ds, store, _ = u1
    singles = [r for r, *_ in FAST]
    for row, family, config in FAST:
        if store.meta(ds.name, row) is None:
            train(ds, store, family, config=config, name=row)
    b = run_blend(ds, store, method, singles, name=f"blend-{method}")
    assert b["cv_rmse"] < b["best_single"]["probe_rmse"], b["best_single"]


# -- Funk's SVD (configs/mf/funk.toml) against mf at the same 50 factors ----------------------
#: The issue's bar: Funk's SVD within this of `mf` (same factor count, same data).
FUNK_GAP = 0.01


@pytest.mark.slow
def test_funk_lands_near_mf_on_tiny(tiny):
    """Measured (quiz): Funk 0.9719, mf 0.9692 (biases 0.9928)."""
    funk, _ = _quiz(tiny, "mf-funk", "mf", "funk")
    mf, _ = _quiz(tiny, "mf", "mf", None)
    assert funk <= mf + FUNK_GAP, (funk, mf)


@pytest.mark.slow
@pytest.mark.realdata
def test_funk_lands_near_mf_on_ml100k_u1_to_u5(tmp_path_factory):
    """The final round's test RMSE, averaged over the five official folds. Measured:
    Funk 0.9154, mf 0.9084 (Funk 0.9273 with K = 25 and his one-sweep stopping rule)."""
    import numpy as np

    root = tmp_path_factory.mktemp("funk-u")
    store = ProbeStore(root / "probes")
    scores = {"mf-funk": [], "mf": []}
    for k in range(1, 6):
        ds = ml100k_fold(root / "data", k)
        for row, config in (("mf-funk", "funk"), ("mf", None)):
            train(ds, store, "mf", config=config, name=row, allow_worse=True)
            scores[row].append(train(ds, store, "mf", name=row, round_="final").test_rmse)
    funk, mf = (float(np.mean(scores[r])) for r in ("mf-funk", "mf"))
    assert funk <= mf + FUNK_GAP, (funk, mf)
