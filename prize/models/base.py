"""The Predictor contract shared by every model family.

``fit(train, *, probe=None, implicit=None) -> self`` and ``predict(users, items, days) ->
float32`` clipped to the rating scale. ``__init__`` only stores the config; everything
learned ends in ``_``. Unknown users and items (no training ratings, or an index outside
the training range) fall back to the biases, then to the global mean.

``fit_epochs`` is the public per-epoch form of ``fit``: it yields an
:class:`~prize.models.epochs.EpochReport` after every epoch of an iterative model (see
:mod:`prize.models.epochs`) and nothing for a model fitted in one go; ``fit`` runs it to
the end. ``implicit`` (who rated what) is an argument all the way down: a model takes what
it needs of it during fit and never keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from prize.config import to_dict
from prize.data.dataset import Ratings
from prize.errors import NotFittedError

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
        SVD++, the conditional RBM and the global neighbourhood model exploit (``None``:
        the training pairs). It is used during fit and never kept.
        """
        for _ in self.fit_epochs(train, probe=probe, implicit=implicit):
            pass
        return self

    def fit_epochs(self, train: Ratings, *, probe: Ratings | None = None,
                   implicit: Ratings | None = None) -> Iterator:
        """``fit`` as an iterator of epoch reports: a model fitted in one go yields none
        (and fits when the iterator is first advanced)."""
        self._setup(train)
        self._fit(train, probe, implicit)
        yield from ()

    def _setup(self, train: Ratings) -> None:
        self.scale_ = (float(train.scale[0]), float(train.scale[1]))
        self.n_users_, self.n_items_ = train.n_users, train.n_items

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
    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


def implicit_source(train: Ratings, implicit: Ratings | None) -> Ratings:
    """The implicit feedback a model learns from: ``implicit`` as given to fit, else the
    training pairs themselves."""
    return implicit if implicit is not None else train


def implicit_pairs(train: Ratings, implicit: Ratings | None) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of the implicit feedback (see :func:`implicit_source`)."""
    src = implicit_source(train, implicit)
    return np.asarray(src.user), np.asarray(src.item)
