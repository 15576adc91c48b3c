"""The GBDT blender's two tree builders (scikit-learn always, LightGBM when installed), the
fold-average final model, and the errors; on a planted problem whose answer needs the trees
(a predictor whose reliability depends on a meta-feature)."""

from __future__ import annotations

import numpy as np
import pytest

from prize.blend.base import make_folds
from prize.blend.features import META
from prize.blend.gbdt import GBDTBlender, GBDTConfig, lightgbm_available, resolve_backend
from prize.blend.ridge import LinearBlender, LinearConfig
from prize.metrics import rmse

BACKENDS = ["sklearn"] + (["lightgbm"] if lightgbm_available() else [])
FAST = dict(n_trees=60, max_leaf_nodes=8, learning_rate=0.1, min_samples_leaf=50, n_folds=4)


@pytest.fixture(scope="module")
def planted():
    """Two predictors of the truth s: ``a`` is good for users with much support and poor
    for the others, ``b`` the reverse; a linear blend can only average them, trees can
    switch on the support column."""
    rng = np.random.default_rng(0)
    n = 12_000
    s = rng.normal(3.6, 0.9, n)
    F = np.empty((n, len(META)), np.float32)
    F[:, 0] = rng.uniform(0, 6, n)  # user_support
    F[:, 1] = rng.uniform(2, 9, n)
    F[:, 2] = rng.uniform(0, 3, n)
    F[:, 3] = rng.integers(11_000, 13_000, n)
    many = F[:, 0] > 3
    a = s + rng.normal(0, np.where(many, 0.2, 1.0))
    b = s + rng.normal(0, np.where(many, 1.0, 0.2))
    X = np.clip(np.c_[a, b], 1, 5).astype(np.float32)
    y = np.clip(s, 1, 5)
    return X, y, F, make_folds(n, FAST["n_folds"], "random", 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_trees_use_the_meta_feature_that_linear_cannot(planted, backend):
    X, y, F, folds = planted
    lin = LinearBlender(LinearConfig(n_folds=4)).cross_validate(X, y, None, folds).rmse
    g = GBDTBlender(GBDTConfig(backend=backend, **FAST))
    cv = g.cross_validate(X, y, F, folds)
    assert cv.info["backend"] == backend
    # measured: linear 0.414, trees 0.206 (sklearn) and 0.208 (LightGBM)
    assert cv.rmse < lin - 0.15, (cv.rmse, lin)
    g.fit(X, y, F)
    imp = g.report(["a", "b"], list(META))["importances"]
    assert sum(imp.values()) == pytest.approx(1.0)
    assert imp["user_support"] > max(imp["movie_support"], imp["frequency"], imp["date"])


def test_backends_agree_in_accuracy(planted):
    if len(BACKENDS) < 2:
        pytest.skip("LightGBM is not installed (optional: pip install 'prize[gbdt]')")
    X, y, F, folds = planted
    r = {b: GBDTBlender(GBDTConfig(backend=b, **FAST)).cross_validate(X, y, F, folds).rmse
         for b in BACKENDS}
    assert abs(r["sklearn"] - r["lightgbm"]) < 0.01, r  # measured gap 0.0014


def test_quantized_gradients_keep_the_accuracy(planted):
    if "lightgbm" not in BACKENDS:
        pytest.skip("LightGBM is not installed (optional: pip install 'prize[gbdt]')")
    X, y, F, folds = planted
    r = {q: GBDTBlender(GBDTConfig(backend="lightgbm", quantized_gradients=q, **FAST))
         .cross_validate(X, y, F, folds).rmse for q in (0, 16)}
    assert r[0] != r[16]  # the option reaches LightGBM
    assert abs(r[0] - r[16]) < 0.005, r


@pytest.mark.parametrize("backend", BACKENDS)
def test_fold_average_is_the_mean_of_the_fold_models(planted, backend):
    X, y, F, folds = planted
    g = GBDTBlender(GBDTConfig(backend=backend, final="average", base="linear", **FAST))
    assert g.refit_in_cv
    cv = g.cross_validate(X, y, F, folds)
    assert len(g.models_) == FAST["n_folds"]
    pred = g.predict(X[:500], F[:500])
    each = []
    for model, base in g.models_:
        p = g._predict_one(model, g._inputs(X[:500], F[:500])) + base.predict(X[:500])
        each.append(p)
    np.testing.assert_allclose(pred, np.clip(np.mean(each, axis=0), 1, 5), atol=1e-9)
    # the bag predicts fresh rows about as well as the out-of-fold score says
    assert rmse(pred, y[:500]) < cv.rmse + 0.05
    refit = GBDTBlender(GBDTConfig(backend=backend, base="linear", final="refit", **FAST))
    assert not refit.refit_in_cv
    refit.cross_validate(X, y, F, folds)
    refit.fit(X, y, F)
    assert len(refit.models_) == 1


def test_config_and_backend_errors(monkeypatch):
    with pytest.raises(ValueError, match="subsample"):
        GBDTConfig(subsample=0.0)
    with pytest.raises(ValueError, match="quantized_gradients"):
        GBDTConfig(quantized_gradients=1)
    with pytest.raises(ValueError, match="meta-feature"):
        GBDTConfig(meta=("age",))
    import prize.blend.gbdt as gbdt

    monkeypatch.setattr(gbdt, "lightgbm_available", lambda: False)
    assert resolve_backend("auto") == "sklearn"
    with pytest.raises(ValueError, match="pip install"):
        resolve_backend("lightgbm")


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_stops_where_the_trees_have_nothing_to_add(planted, backend):
    """The truth is a linear blend of noisy predictors: the trees on the ridge blend's
    residuals can only fit noise. With early stopping each fit stops after a few trees and
    the CV is no worse than without; on the planted switch it still grows the trees."""
    X, y, F, folds = planted
    rng = np.random.default_rng(1)
    s = rng.normal(3.6, 0.9, len(y))
    Xl = (s[:, None] + rng.normal(0, [0.6, 0.7], (len(y), 2))).astype(np.float32)
    yl = s + rng.normal(0, 0.5, len(y))
    cfg = dict(FAST, backend=backend, base="linear", n_trees=200, learning_rate=0.2,
               min_samples_leaf=20)
    plain = GBDTBlender(GBDTConfig(**cfg)).cross_validate(Xl, yl, F, folds).rmse
    es = GBDTBlender(GBDTConfig(**cfg, early_stopping_rounds=10))
    stopped = es.cross_validate(Xl, yl, F, folds).rmse
    trees = [m.best_iteration if backend == "lightgbm" else m.n_iter_ for m, _ in es.models_]
    assert max(trees) < 100, trees
    assert stopped < plain, (stopped, plain)
    es = GBDTBlender(GBDTConfig(**cfg, early_stopping_rounds=10))
    es.cross_validate(X, y, F, folds)
    trees = [m.best_iteration if backend == "lightgbm" else m.n_iter_ for m, _ in es.models_]
    assert min(trees) > 20, trees
