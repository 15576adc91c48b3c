"""The Predictor contract shared by every model family.

``fit(train, *, probe=None) -> self`` and ``predict(users, items, days) -> float32`` clipped
to the rating scale. ``__init__`` only stores the config; everything learned ends in ``_``.
Unknown users and items (no training ratings, or an index outside the training range)
fall back to the biases, then to the global mean.

Iterative models also implement :class:`IterativePredictor`: ``start`` prepares state,
``run_epoch`` does one sweep, and ``state_dict``/``load_state_dict`` move the learned
arrays in and out, so that the trainer (:mod:`prize.training`) owns progress bars, early
stopping, divergence checks and checkpoints. Randomness inside an epoch is drawn from
``epoch_rng(seed, epoch)``, so a run resumed from a checkpoint repeats the uninterrupted
run exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from prize.config import to_dict
from prize.data.dataset import Ratings


class NotFittedError(RuntimeError):
    """predict() before fit()."""


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    train_rmse: float
    probe_rmse: float | None
    seconds: float  # the training sweep only (not the probe evaluation)
    updates: int  # rating updates done in the epoch (for ratings/s)


BATCH = 1 << 22
"""Rows predicted at a time over a whole split: memory stays bounded at Netflix's size."""


def in_batches(n: int, predict, batch: int = BATCH) -> np.ndarray:
    """``predict(sl)`` for the slices ``sl`` of ``batch`` rows covering 0..n, joined in one
    float32 array (each batch's temporaries freed before the next)."""
    out = np.empty(n, np.float32)
    for lo in range(0, n, batch):
        sl = slice(lo, lo + batch)
        out[sl] = predict(sl)
    return out


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def take(values: np.ndarray, index: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``values[index]`` where ``index`` is in range, ``default`` elsewhere (unknown ids)."""
    index = np.asarray(index, np.int64)
    ok = (index >= 0) & (index < len(values))
    out = np.full(len(index), default, dtype=np.result_type(values.dtype, np.float32))
    out[ok] = values[index[ok]]
    return out


class Predictor:
    """Base class: subclasses set ``family``, ``Config`` and implement ``_fit``/``_predict``."""

    family: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Config: ClassVar[type]

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    # -- the contract -------------------------------------------------------------------
    def fit(self, train: Ratings, *, probe: Ratings | None = None,
            implicit: Ratings | None = None):
        """Learn from ``train``. ``probe`` may be used for early stopping and reports.

        ``implicit`` holds every (user, item) pair known to have been rated -- training,
        probe and qualifying pairs, ratings unused -- the "who rated what" signal that
        SVD++, the conditional RBM and the global neighbourhood model exploit. Models
        read it from ``self._implicit`` during fit (``None`` means the training pairs);
        it is dropped after fit so it never travels with a pickled model.
        """
        self._prepare(train, implicit)
        try:
            self._fit(train, probe)
        finally:
            self._implicit = None
        return self

    def _prepare(self, train: Ratings, implicit: Ratings | None) -> None:
        self.scale_ = (float(train.scale[0]), float(train.scale[1]))
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self._implicit = implicit

    def implicit_ratings(self, train: Ratings) -> Ratings:
        """The implicit feedback: ``implicit`` as given to fit, else ``train`` itself."""
        src = getattr(self, "_implicit", None)
        return src if src is not None else train

    def implicit_pairs(self, train: Ratings) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of the implicit feedback: ``implicit`` if given, else ``train``."""
        src = self.implicit_ratings(train)
        return np.asarray(src.user), np.asarray(src.item)

    def predict(self, users, items, days=None) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        days = np.zeros(len(users), np.int32) if days is None else np.asarray(days, np.int32)
        pred = np.asarray(self._predict(users, items, days), np.float32)
        return np.clip(pred, *self.scale_).astype(np.float32)

    def predict_training(self, ratings: Ratings) -> np.ndarray:
        """Predictions of the ratings the model was fitted on (``--keep-train-predictions``:
        the residuals a second model learns on). By default the plain predictions; a model
        that can predict each rating without it cheaply (the RBM) overrides this."""
        return self.predict(ratings.user, ratings.item, ratings.day)

    def check_is_fitted(self) -> None:
        if not hasattr(self, "scale_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    def params(self) -> dict:
        return {"model": self.name, **to_dict(self.config)}

    # -- for subclasses -----------------------------------------------------------------
    def _fit(self, train: Ratings, probe: Ratings | None) -> None:
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class IterativePredictor(Predictor):
    """A model trained epoch by epoch; :func:`prize.training.train` drives it."""

    def _fit(self, train, probe):
        from prize.training import train as run

        run(self, train, probe=probe)

    def start(self, train: Ratings, probe: Ratings | None) -> None:
        """Initialise the learned state (called once, not on resume)."""
        raise NotImplementedError

    def run_epoch(self, epoch: int, train: Ratings) -> tuple[float, int]:
        """One sweep over ``train``; returns (train RMSE during the sweep, rating updates)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every learned array (plain numpy), enough to resume or to predict."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def finish(self, train: Ratings) -> None:
        """Called once after the last epoch (and after early stopping restored the best
        epoch): derive prediction-time state, drop training-time caches."""

    @property
    def n_epochs(self) -> int:
        return int(self.config.n_epochs)
