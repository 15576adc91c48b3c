"""The baseline family: the contract, hand-computed values, global effects, real data."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap

import numpy as np
import pytest
from conftest import ml100k_fold, shared_path
from contract import PredictorContract, rmse
from planted import planted

from prize.config import load_toml, resolve_config_path
from prize.data import Split, open_dataset
from prize.data.dataset import Ratings
from prize.data.movielens import import_movielens
from prize.errors import ConfigError
from prize.models import family_module, make_predictor
from prize.models.baseline.global_effects import EFFECTS, fit_effect


# -- the contract, for every model ----------------------------------------------------------
class TestGlobalMean(PredictorContract):
    family, model, overrides = "baseline", "global_mean", {}
    margin = None  # it is the yardstick


class TestMovieMean(PredictorContract):
    family, model, overrides = "baseline", "movie_mean", {}
    margin = 0.1  # planted: 0.838 against the mean's 0.956


class TestShrunkUserMean(PredictorContract):
    family, model, overrides = "baseline", "user_mean", {"shrinkage": 5.0}
    margin = 0.15  # planted: 0.75


class TestBiases(PredictorContract):
    family, model, overrides = "baseline", "biases", {}
    margin = 0.25  # planted: 0.66


class TestGlobalEffects(PredictorContract):
    family, model, overrides = "baseline", "global_effects", {}
    margin = 0.3  # planted: 0.61


# -- hand-computed values on six ratings ----------------------------------------------------
#   user 0 rates movies 0, 1, 2 with 5, 3, 4;  user 1 rates 0, 1 with 4, 2;  user 2 rates 2
#   with 1. User 3 and movie 3 have no ratings.
SIX = Ratings(user=np.array([0, 0, 0, 1, 1, 2], np.int32),
              item=np.array([0, 1, 2, 0, 1, 2], np.int32),
              rating=np.array([5, 3, 4, 4, 2, 1], np.float32),
              day=np.array([0, 1, 4, 9, 9, 16], np.int32) + 10_000,
              n_users=4, n_items=4)
MU = 19 / 6
ALL_PAIRS = (np.repeat(np.arange(-1, 5), 6), np.tile(np.arange(-1, 5), 6))


def fit(model: str, **values):
    predictor, _ = make_predictor("baseline", values={"model": model, **values})
    return predictor.fit(SIX)


def test_global_mean_by_hand():
    m = fit("global_mean")
    assert m.mu_ == pytest.approx(MU)
    np.testing.assert_allclose(m.predict(*ALL_PAIRS), np.float32(MU))


def test_movie_and_user_means_by_hand():
    movie = fit("movie_mean").predict([0, 0, 0, 0, 0, -1], [0, 1, 2, 3, 4, 0])
    np.testing.assert_allclose(movie, [4.5, 2.5, 2.5, MU, MU, 4.5], rtol=1e-6)
    user = fit("user_mean").predict([0, 1, 2, 3, -1, 9], [0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(user, [4, 3, 1, MU, MU, MU], rtol=1e-6)
    # Shrunk: two pseudo-ratings at mu. Movie 0: (5 - mu + 4 - mu) / (2 + 2).
    movie = fit("movie_mean", shrinkage=2.0).predict([0], [0])
    np.testing.assert_allclose(movie, [MU + (9 - 2 * MU) / 4], rtol=1e-6)
    # User 2: (1 - mu) / (1 + 2).
    user = fit("user_mean", shrinkage=2.0).predict([2], [0])
    np.testing.assert_allclose(user, [MU + (1 - MU) / 3], rtol=1e-6)


# One ALS epoch with lambda_2 = reg_item = 1, lambda_3 = reg_user = 2, movies first:
BI = np.array([(5 - MU + 4 - MU) / (1 + 2),   # 8/9
               (3 - MU + 2 - MU) / (1 + 2),   # -4/9
               (4 - MU + 1 - MU) / (1 + 2),   # -4/9
               0.0])
BU = np.array([(5 - MU - BI[0] + 3 - MU - BI[1] + 4 - MU - BI[2]) / (2 + 3),  # 1/2
               (4 - MU - BI[0] + 2 - MU - BI[1]) / (2 + 2),                   # -7/36
               (1 - MU - BI[2]) / (2 + 1),                                    # -31/54
               0.0])


def test_biases_one_epoch_by_hand():
    np.testing.assert_allclose(BI[:3], [8 / 9, -4 / 9, -4 / 9])
    np.testing.assert_allclose(BU[:3], [1 / 2, -7 / 36, -31 / 54])
    m = fit("biases", n_epochs=1, reg_item=1.0, reg_user=2.0)
    np.testing.assert_allclose(m.bi_, BI, atol=1e-12)
    np.testing.assert_allclose(m.bu_, BU, atol=1e-12)
    pred = m.predict([0, 1, 2, 3, -1], [0, 1, 2, 0, 3])
    expected = [MU + BU[0] + BI[0], MU + BU[1] + BI[1], MU + BU[2] + BI[2], MU + BI[0], MU]
    np.testing.assert_allclose(pred, expected, rtol=1e-6)


def test_biases_converge_to_the_regularized_least_squares_solution():
    # Many epochs of block coordinate descent reach the minimizer: the normal equations
    # sum_{u in R(i)} (r - mu - b_u - b_i) = lambda_2 b_i hold for every movie, and
    # likewise for users.
    m = fit("biases", n_epochs=500, reg_item=1.0, reg_user=2.0)
    err = SIX.rating.astype(np.float64) - MU - m.bu_[SIX.user] - m.bi_[SIX.item]
    np.testing.assert_allclose(np.bincount(SIX.item, err, 4), 1.0 * m.bi_, atol=1e-9)
    np.testing.assert_allclose(np.bincount(SIX.user, err, 4), 2.0 * m.bu_, atol=1e-9)


def test_global_effects_two_effects_by_hand():
    # The movie main effect with alpha 1 is theta_i = sum (r - mu) / (n_i + 1), the user
    # main effect on its residuals with alpha 2 is theta_u = sum (r - mu - theta_i) /
    # (n_u + 2): exactly one ALS epoch of the biases above.
    m = fit("global_effects", n_effects=2, alpha_movie=1.0, alpha_user=2.0,
            select_shrinkage=False)
    np.testing.assert_allclose(m.theta_[0], BI, atol=1e-12)
    np.testing.assert_allclose(m.theta_[1], BU, atol=1e-12)
    pred = m.predict([0, 2, 3, -1], [0, 2, 0, 3], [10_000, 10_020, 10_000, 10_000])
    np.testing.assert_allclose(pred, [MU + BU[0] + BI[0], MU + BU[2] + BI[2], MU + BI[0], MU],
                               rtol=1e-6)
    assert [e["effect"] for e in m.effects_] == ["mean", "movie", "user"]
    after_movie = MU + BI[SIX.item]
    assert m.effects_[0]["train_rmse"] == pytest.approx(rmse(np.full(6, MU), SIX.rating))
    assert m.effects_[1]["train_rmse"] == pytest.approx(rmse(after_movie, SIX.rating))
    assert "probe_rmse" not in m.effects_[0]


def test_one_centered_effect_by_hand():
    # Entity 0: x = 1, 2, 3 centers to -1, 0, 1; thetâ = (-0.1 + 0.2) / 2 = 0.05, shrunk by
    # 3 / (3 + 1). Entity 1 has one rating, so no slope; entity 2 has none.
    theta, xbar = fit_effect(np.array([0, 0, 0, 1]), 3, np.array([1.0, 2.0, 3.0, 5.0]),
                             np.array([0.1, 0.3, 0.2, -1.0]), alpha=1.0, center=True)
    np.testing.assert_allclose(theta, [0.05 * 3 / 4, 0.0, 0.0])
    np.testing.assert_allclose(xbar, [2.0, 5.0, 0.0])


def test_time_effect_uses_days_since_the_first_training_rating():
    m = fit("global_effects", n_effects=3, alpha_user_time_user=0.0, select_shrinkage=False)
    # User 0 first rated on day 10_000, at sqrt-days 0, 1, 2: x̄ = 1.
    np.testing.assert_allclose(m.xbar_[2][:3], [1.0, 0.0, 0.0])
    theta = m.theta_[2][0]
    assert theta != 0
    days = np.array([10_000 - 5, 10_000, 10_009])  # before the first day counts as day 0
    term = m._effect(2, [0, 0, 0], [0, 0, 0], days)
    np.testing.assert_allclose(term, theta * (np.array([0.0, 0.0, 3.0]) - 1.0))
    assert m._effect(2, [3, -1], [0, 0], days[:2]).tolist() == [0.0, 0.0]  # unknown users


# -- global effects on the planted data -----------------------------------------------------
SLACK_PLANTED = 0.001  # an effect may leave the probe RMSE up to this much higher
TIME_GAIN_PLANTED = 0.005  # the planted user drift: effects 3-6 must gain at least this


@pytest.fixture(scope="module")
def planted_effects():
    train, probe = planted()
    m, _ = make_predictor("baseline", "global_effects")
    return m.fit(train, probe=probe), train, probe


def test_global_effects_probe_rmse_falls_with_every_effect(planted_effects):
    m, _, probe = planted_effects
    names = [e["effect"] for e in m.effects_]
    assert names == ["mean"] + [e.name for e in EFFECTS]
    probe_rmse = [e["probe_rmse"] for e in m.effects_]
    for k in range(1, len(probe_rmse)):
        assert probe_rmse[k] <= probe_rmse[k - 1] + SLACK_PLANTED, (names[k], probe_rmse)
    assert probe_rmse[2] - probe_rmse[6] >= TIME_GAIN_PLANTED, probe_rmse
    assert probe_rmse[-1] == pytest.approx(rmse(m.predict(probe.user, probe.item, probe.day),
                                                probe.rating), abs=1e-6)


def test_global_effects_prefix_repeats_the_full_fit(planted_effects):
    full, train, probe = planted_effects
    m, _ = make_predictor("baseline", "global_effects", ["n_effects=4"])
    m.fit(train, probe=probe)
    assert m.effects_ == full.effects_[:5]


# -- configs ---------------------------------------------------------------------------------
MODELS = family_module("baseline").MODELS


@pytest.mark.parametrize("name", list(MODELS))
def test_shipped_config_lists_every_field_with_its_default(name):
    values = load_toml(resolve_config_path("baseline", name))
    assert values.pop("model") == name
    config = MODELS[name].Config
    defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                for f in dataclasses.fields(config)}
    assert values == defaults
    # Every field carries a docstring right under it in the class body.
    body = ast.parse(textwrap.dedent(inspect.getsource(config))).body[0].body
    documented = {a.target.id for a, b in zip(body, body[1:], strict=False)
                  if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                  and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)}
    assert documented == set(defaults)


def test_default_config_is_biases():
    predictor, path = make_predictor("baseline")
    assert predictor.name == "biases" and path.name == "biases.toml"


@pytest.mark.parametrize("bad, message", [
    (["n_epoch=3"], "allowed keys: n_epochs, reg_item, reg_user"),
    (["n_epochs=1.5"], "expected an integer"),
    (["n_epochs=0"], "n_epochs = 0"),
    (["reg_user=-1"], "must be >= 0"),
])
def test_config_errors_name_the_problem(bad, message):
    with pytest.raises(ConfigError, match=message):
        make_predictor("baseline", "biases", bad)


def test_config_errors_from_toml_values():
    with pytest.raises(ConfigError, match="unknown key 'alpha' .* allowed keys: n_effects, "
                                          "alpha_movie, alpha_user"):
        make_predictor("baseline", values={"model": "global_effects", "alpha": 25})
    with pytest.raises(ConfigError, match="n_effects = 11"):
        make_predictor("baseline", "global_effects", ["n_effects=11"])
    with pytest.raises(ConfigError, match="unknown model 'median'"):
        make_predictor("baseline", values={"model": "median"})
    with pytest.raises(ConfigError, match="allowed keys: shrinkage"):
        make_predictor("baseline", "movie_mean", ["shrink=1"])


# -- real data -------------------------------------------------------------------------------
SURPRISE_BASELINE_ML100K = 0.944  # BaselineOnly, RMSE on ML-100K (Surprise's README)
GE_SLACK_ML100K = 0.0015  # per effect: 2,829 probe ratings make a 0.001 step noise


@pytest.mark.realdata
def test_biases_on_the_official_ml100k_folds(tmp_path):
    scores = []
    for k in range(1, 6):
        ds = ml100k_fold(tmp_path, k)
        model, _ = make_predictor("baseline", "biases")
        model.fit(ds.ratings(Split.TRAIN | Split.PROBE))  # all of uK.base, as Surprise
        test = ds.ratings(Split.TEST)
        scores.append(rmse(model.predict(test.user, test.item, test.day), test.rating))
    print("biases RMSE on u1..u5:", [round(s, 4) for s in scores],
          "mean", round(float(np.mean(scores)), 4))
    assert abs(np.mean(scores) - SURPRISE_BASELINE_ML100K) <= 0.005, scores


@pytest.mark.realdata
def test_global_effects_on_ml100k(tmp_path):
    import_movielens(shared_path("ml-100k"), tmp_path / "ml", name="ml", seed=0)
    ds = open_dataset(tmp_path / "ml")
    train, probe = ds.ratings(Split.TRAIN), ds.ratings(Split.PROBE)
    model, _ = make_predictor("baseline", "global_effects")
    model.fit(train, probe=probe)
    rows = model.effects_
    print("\n".join(f"{r['effect']:20s} {r['train_rmse']:.4f} {r['probe_rmse']:.4f}"
                    for r in rows))
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row["probe_rmse"] <= prev["probe_rmse"] + GE_SLACK_ML100K, rows
    assert rows[-1]["probe_rmse"] < rows[2]["probe_rmse"] - 0.005  # the effects after 2 help


@pytest.mark.slow
def test_global_effects_fall_on_the_small_preset(small):
    """On the synthetic small preset, which plants drift, probe RMSE falls with every
    effect (slack 0.0002: a nearly-void effect may round either way) and the four time
    effects together gain at least 0.003."""
    ds = open_dataset(small / "data" / "small")
    m, _ = make_predictor("baseline", "global_effects")
    m.fit(ds.ratings(Split.TRAIN), probe=ds.ratings(Split.PROBE))
    r = [e["probe_rmse"] for e in m.effects_]
    assert all(b <= a + 0.0002 for a, b in zip(r, r[1:], strict=False)), r
    assert r[2] - r[6] >= 0.003, r
