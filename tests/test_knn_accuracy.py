"""Accuracy of the kNN family: MovieLens 100K (real data) and the synthetic ``small`` preset.

Every bound is a published or measured figure plus a stated slack; the fits are
deterministic, so the slack covers platform rounding and small future changes, not noise.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ml100k_fold, run_prize, small_probe_rmse
from contract import rmse

from prize.data import Split
from prize.models import FAMILIES, make_predictor

# -- MovieLens 100K, the five official folds ------------------------------------------------
#: Surprise's KNNBaseline (item-based, pearson_baseline, k = 40), 5-fold RMSE on ML-100K,
#: from its README; ours measured 0.9188 (0.9343 0.9163 0.9128 0.9124 0.9183) on u1..u5.
SURPRISE_KNN_BASELINE_ML100K = 0.931


@pytest.fixture(scope="module")
def ml100k_folds(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml100k")
    return [ml100k_fold(root, k) for k in range(1, 6)]


def fold_scores(folds, config: str, *overrides: str) -> list[float]:
    """Fit on all of uK.base (TRAIN | PROBE, as Surprise does), score uK.test."""
    scores = []
    for ds in folds:
        model, _ = make_predictor("knn", config, overrides)
        model.fit(ds.ratings(Split.TRAIN | Split.PROBE))
        test = ds.ratings(Split.TEST)
        scores.append(rmse(model.predict(test.user, test.item, test.day), test.rating))
    return scores


@pytest.mark.realdata
def test_item_and_interp_on_the_ml100k_folds(ml100k_folds):
    item = fold_scores(ml100k_folds, "item")
    plain = fold_scores(ml100k_folds, "item", "weight_shrinkage=0.0")
    interp = fold_scores(ml100k_folds, "interp")
    for name, s in (("item", item), ("item, unshrunk", plain), ("interp", interp)):
        print(f"{name} RMSE on u1..u5:", [round(x, 4) for x in s], "mean",
              round(float(np.mean(s)), 4))
    assert np.mean(item) <= SURPRISE_KNN_BASELINE_ML100K, item
    # Measured 0.9178 against the plain weighted average's 0.9188: interpolation weights
    # must keep some edge over it. (The item model's default now shrinks that average
    # toward the baseline, weight_shrinkage = 0.5: 0.9170, level with interp.)
    assert np.mean(interp) <= np.mean(plain) - 0.0005, (interp, plain)
    assert abs(np.mean(item) - np.mean(interp)) <= 0.002, (item, interp)


@pytest.mark.realdata
def test_cinematch_proxy_on_ml100k(ml100k_folds):
    # k = 35 instead of 40: within 0.002 of the item model (measured 0.9188 both).
    proxy = fold_scores(ml100k_folds[:2], "cinematch-proxy")
    item = fold_scores(ml100k_folds[:2], "item")
    assert abs(np.mean(proxy) - np.mean(item)) <= 0.002, (proxy, item)


# -- the synthetic small preset (~2M ratings) ---------------------------------------------------
SLACK_SMALL = 0.005  # measured gaps are 0.021; each bound keeps 0.005 of them


def probe_rmse(home, config: str, *overrides: str) -> float:
    return small_probe_rmse(home, "knn", config, overrides)


@pytest.mark.slow
def test_small_preset_interpolation_and_global_beat_correlation(small):
    # Koren's plain weighted mean of the neighbours (weight_shrinkage = 0), the correlation-
    # weighted kNN that Bell & Koren's interpolation weights improve on. The shipped item
    # default shrinks that mean toward the baseline (λ_w = 0.5) and scores 0.9523 here,
    # level with interp: a measured 0.9540, global 0.9546.
    item = probe_rmse(small, "item", "weight_shrinkage=0")
    interp = probe_rmse(small, "interp")
    glob = probe_rmse(small, "global")
    print(f"small preset probe RMSE: item {item:.4f}, interp {interp:.4f}, global {glob:.4f}")
    # Measured (with item families in the generator): item 0.9755, interp 0.9540, global
    # 0.9544 (without them: 0.9733, 0.9516, 0.9520).
    assert interp <= item - SLACK_SMALL, (interp, item)
    assert glob <= item - SLACK_SMALL, (glob, item)


@pytest.fixture(scope="module")
def rbm_residuals(small):
    """Probe RMSE of the RBM default on the small preset, of interpolation kNN on its
    training residuals (BellKor's recipe: interpolation weights, which shrink toward 0 where
    the neighbours do not predict, on residuals normalised by Bell & Koren's global effects)
    and of the global effects alone on those residuals."""
    if "rbm" not in FAMILIES:
        pytest.skip("the rbm family is not registered")
    rbm = run_prize("train", "rbm", "--data", "small", "--name", "rbm",
                    "--keep-train-predictions", "--json", home=small, json_out=True)
    knn = run_prize("train", "knn", "--data", "small", "--config", "interp", "--set",
                    'baseline="global_effects"', "--residuals-of", "rbm", "--json",
                    home=small, json_out=True)
    ge = run_prize("train", "baseline", "--data", "small", "--config", "global_effects",
                   "--residuals-of", "rbm", "--name", "ge-on-rbm", "--json", home=small,
                   json_out=True)
    scores = {k: v["probe_rmse"] for k, v in (("rbm", rbm), ("knn", knn), ("ge", ge))}
    print("small preset probe RMSE:", scores)
    return scores


@pytest.mark.slow
def test_knn_on_rbm_residuals_improves_the_rbm(rbm_residuals):
    # Measured on 2026-12-05 (the RBM with linear movie weights): RBM 0.9314, the kNN on
    # its residuals 0.9231 with β chosen on probe (0.9259 at β = 150); with the full W,
    # 0.9352 and 0.9295 (β 150). Before the biases offset (2026-12-04): 0.9408 and 0.9314.
    s = rbm_residuals
    assert s["knn"] <= s["rbm"] - 0.005, s


@pytest.mark.slow
def test_the_neighbours_do_not_hurt_on_rbm_residuals(rbm_residuals):
    # The synthetic data has little local structure beyond its item families (16% of probe
    # ratings have a sibling in the user's training ratings): the gain of kNN on the RBM's
    # residuals is the time-aware normalisation, which the RBM lacks. Measured on
    # 2026-12-05: the global effects alone on the RBM's residuals 0.9216, the kNN 0.9231
    # with β chosen on probe; at the fixed β = 150 the neighbour term cost 0.0043 (0.9259).
    s = rbm_residuals
    assert s["knn"] <= s["ge"] + 0.002, s
