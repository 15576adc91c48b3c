"""The Predictor contract, as a mixin every model's test file reuses in a few lines:

    class TestBiases(PredictorContract):
        family, model, overrides = "baseline", "biases", {}

The predictor is built the way ``prize train`` builds it, from the shipped config
``configs/<family>/<model>.toml`` plus ``--set`` overrides, and fitted once per class on the
planted data (:mod:`planted`), widened by one user and one movie that have no training
ratings. Class attributes tune the checks:

- ``margin``: how much lower than the global mean's the probe RMSE must be (``None``
  skips that check, for the global mean itself);
- ``fallback_is_mean``: whether a pair of an unknown user and an unknown movie is
  predicted as the training mean (the DESIGN contract; a model with its own learned
  offset may turn it off).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import ClassVar

import numpy as np
import pytest
from planted import planted

from prize.data.dataset import Ratings
from prize.models import make_predictor
from prize.models.base import NotFittedError


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


def widen(r: Ratings, users: int = 1, items: int = 1) -> Ratings:
    """The same ratings in a space with ``users`` more users and ``items`` more movies."""
    return dataclasses.replace(r, n_users=r.n_users + users, n_items=r.n_items + items)


def predictor(family: str, config: str | None = None, **values):
    """A fresh predictor from a shipped config (None: the family's default) and ``values``,
    given as ``--set`` would give them."""
    pairs = [f"{k}={json.dumps(v)}" for k, v in values.items()]
    return make_predictor(family, config, pairs)[0]


class PredictorContract:
    family: ClassVar[str]
    model: ClassVar[str]
    config: ClassVar[str | None] = None  # shipped config name (default: ``model``)
    overrides: ClassVar[dict] = {}
    margin: ClassVar[float | None] = 0.05
    fallback_is_mean: ClassVar[bool] = True

    # -- building and fitting -------------------------------------------------------------
    @classmethod
    def make(cls, **more):
        """A fresh predictor from the shipped config, ``overrides`` and ``more``."""
        return predictor(cls.family, cls.config or cls.model, **{**cls.overrides, **more})

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> tuple[Ratings, Ratings]:
        train, probe = planted()
        return widen(train), widen(probe)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data):
        train, probe = data
        return cls.make().fit(train, probe=probe)

    @staticmethod
    def predict(model, r: Ratings) -> np.ndarray:
        return model.predict(r.user, r.item, r.day)

    # -- the contract ---------------------------------------------------------------------
    def test_built_from_its_config(self, fitted):
        assert fitted.family == self.family and fitted.name == self.model
        params = fitted.params()
        assert params["model"] == self.model
        for key, value in self.overrides.items():
            assert params[key] == value

    def test_predict_before_fit_raises(self):
        with pytest.raises(NotFittedError):
            self.make().predict([0], [0], [0])

    def test_shapes_and_dtype(self, fitted, data):
        _, probe = data
        pred = self.predict(fitted, probe)
        assert pred.shape == (len(probe),) and pred.dtype == np.float32
        assert np.isfinite(pred).all()
        assert fitted.predict([], [], []).shape == (0,)

    def test_predictions_within_scale(self, fitted, data):
        train, probe = data
        rng = np.random.default_rng(0)
        users = rng.integers(0, train.n_users, 2_000)
        items = rng.integers(0, train.n_items, 2_000)
        days = rng.integers(train.day.min(), train.day.max() + 1, 2_000)
        for pred in (self.predict(fitted, probe), fitted.predict(users, items, days)):
            assert pred.min() >= 1.0 and pred.max() <= 5.0

    def test_clips_raw_values_outside_the_scale(self, data):
        # The same 1..5 ratings declared on a 1..3 scale: the raw predictions (mean ~3.6)
        # lie mostly above 3, so predict() has to clip them.
        train, probe = data
        model = self.make().fit(dataclasses.replace(train, scale=(1.0, 3.0)))
        pred = self.predict(model, probe)
        assert pred.dtype == np.float32
        assert pred.min() >= 1.0 and pred.max() <= 3.0
        assert (pred == 3.0).mean() > 0.5

    def test_unknown_users_and_items(self, fitted, data):
        train, probe = data
        n = 50
        items, users, days = probe.item[:n], probe.user[:n], probe.day[:n]
        empty_user, empty_item = train.n_users - 1, train.n_items - 1  # no training ratings
        by_user = [fitted.predict(np.full(n, u), items, days)
                   for u in (-1, train.n_users, train.n_users + 1000, empty_user)]
        by_item = [fitted.predict(users, np.full(n, i), days)
                   for i in (-1, train.n_items, train.n_items + 1000, empty_item)]
        for preds in (by_user, by_item):
            for pred in preds:
                assert pred.dtype == np.float32 and np.isfinite(pred).all()
                np.testing.assert_array_equal(pred, preds[0])
        both = fitted.predict([-1, train.n_users, empty_user], [-1, train.n_items, empty_item],
                              days[:3])
        assert np.isfinite(both).all()
        if self.fallback_is_mean:
            mu = np.clip(np.mean(train.rating, dtype=np.float64), *train.scale)
            np.testing.assert_allclose(both, mu, atol=1e-5)

    def test_deterministic(self, fitted, data):
        train, probe = data
        again = self.make().fit(train, probe=probe)
        np.testing.assert_array_equal(self.predict(again, probe), self.predict(fitted, probe))

    def test_pickle_round_trip(self, fitted, data):
        _, probe = data
        back = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(self.predict(back, probe), self.predict(fitted, probe))

    def test_saved_without_pickle(self, fitted, data, tmp_path):
        # The model file (prize.models.persist): plain arrays and JSON, read back with
        # allow_pickle=False, predicting bit for bit what the fitted model does.
        from prize.models import persist

        _, probe = data
        path = tmp_path / "model.npz"
        path.write_bytes(persist.dumps(fitted))
        back, _ = persist.load(path)
        assert type(back) is type(fitted) and back.params() == fitted.params()
        rng = np.random.default_rng(1)
        users = np.append(rng.integers(-1, probe.n_users + 2, 300), probe.user)
        items = np.append(rng.integers(-1, probe.n_items + 2, 300), probe.item)
        days = np.append(rng.integers(probe.day.min(), probe.day.max() + 1, 300), probe.day)
        np.testing.assert_array_equal(back.predict(users, items, days),
                                      fitted.predict(users, items, days))

    def test_beats_the_global_mean(self, fitted, data):
        if self.margin is None:
            pytest.skip(f"{self.model} is not expected to beat the global mean")
        train, probe = data
        mean_rmse = rmse(np.clip(np.mean(train.rating, dtype=np.float64), 1, 5), probe.rating)
        model_rmse = rmse(self.predict(fitted, probe), probe.rating)
        assert model_rmse <= mean_rmse - self.margin, (model_rmse, mean_rmse)
