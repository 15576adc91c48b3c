"""The simplest predictors: the global mean, movie and user means, and regularized biases.

Notation (Koren 2010, "Factor in the neighbors", section 2.1): ``mu`` is the mean of all
training ratings, ``R(u)`` the movies user ``u`` rated, ``R(i)`` the users who rated movie
``i``, ``b_u`` and ``b_i`` the user and movie biases. Every model here falls back to ``mu``
for users and movies it has not seen (index out of range, or no training ratings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prize.data.dataset import Ratings
from prize.models.base import Predictor, take


def _sums(index: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum of ``values`` per index, count per index), both float64 of length ``n``."""
    return (np.bincount(index, weights=values, minlength=n),
            np.bincount(index, minlength=n).astype(np.float64))


def _shrunk_mean(total: np.ndarray, count: np.ndarray, shrinkage: float) -> np.ndarray:
    """``total / (count + shrinkage)``, and 0 where both are 0 (an entity with no ratings)."""
    den = count + shrinkage
    out = np.zeros_like(total)
    np.divide(total, den, out=out, where=den > 0)
    return out


# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalMeanConfig:
    """The global mean has nothing to configure."""


class GlobalMean(Predictor):
    """r̂_ui = mu, the mean of all training ratings: the 1.1296 probe RMSE of the Netflix
    Prize (Bell & Koren 2007, table 1, row 0)."""

    family = "baseline"
    name = "global_mean"
    Config = GlobalMeanConfig

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self.mu_ = float(np.mean(train.rating, dtype=np.float64))

    def _predict(self, users, items, days):
        return np.full(len(users), self.mu_)


# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MovieMeanConfig:
    shrinkage: float = 0.0
    """Pseudo-ratings at ``mu`` added to every movie (the ``lambda`` of the shrunk mean);
    0 gives the plain mean of the movie's ratings."""

    def __post_init__(self):
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage = {self.shrinkage}: expected a number >= 0")


class MovieMean(Predictor):
    """The movie's mean rating, shrunk toward the global mean:

        b_i = sum_{u in R(i)} (r_ui - mu) / (lambda + |R(i)|),    r̂_ui = mu + b_i

    (``lambda`` = ``shrinkage``; Koren 2010, eq. 2 without the user term). Unknown movies
    get ``mu``. Fitted: ``mu_``, ``bi_``.
    """

    family = "baseline"
    name = "movie_mean"
    Config = MovieMeanConfig

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self.mu_ = float(np.mean(train.rating, dtype=np.float64))
        total, count = _sums(train.item, train.rating.astype(np.float64) - self.mu_,
                             train.n_items)
        self.bi_ = _shrunk_mean(total, count, self.config.shrinkage)

    def _predict(self, users, items, days):
        return self.mu_ + take(self.bi_, items)


# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserMeanConfig:
    shrinkage: float = 0.0
    """Pseudo-ratings at ``mu`` added to every user (the ``lambda`` of the shrunk mean);
    0 gives the plain mean of the user's ratings."""

    def __post_init__(self):
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage = {self.shrinkage}: expected a number >= 0")


class UserMean(Predictor):
    """The user's mean rating, shrunk toward the global mean:

        b_u = sum_{i in R(u)} (r_ui - mu) / (lambda + |R(u)|),    r̂_ui = mu + b_u

    (``lambda`` = ``shrinkage``). Unknown users get ``mu``. Fitted: ``mu_``, ``bu_``.
    """

    family = "baseline"
    name = "user_mean"
    Config = UserMeanConfig

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        self.mu_ = float(np.mean(train.rating, dtype=np.float64))
        total, count = _sums(train.user, train.rating.astype(np.float64) - self.mu_,
                             train.n_users)
        self.bu_ = _shrunk_mean(total, count, self.config.shrinkage)

    def _predict(self, users, items, days):
        return self.mu_ + take(self.bu_, users)


# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BiasesConfig:
    n_epochs: int = 10
    """Alternating sweeps (one sweep = all ``b_i``, then all ``b_u``). One sweep from zero
    is Koren's decoupled estimate; Surprise's BaselineOnly uses 10."""
    reg_item: float = 10.0
    """``lambda_2`` of Koren 2010 eq. 2: pseudo-ratings pulling each ``b_i`` toward 0
    (Surprise's ``reg_i`` = 10; Koren used 25 on Netflix)."""
    reg_user: float = 15.0
    """``lambda_3``: pseudo-ratings pulling each ``b_u`` toward 0 (Surprise's ``reg_u`` = 15;
    Koren used 10 on Netflix)."""

    def __post_init__(self):
        if self.n_epochs < 1:
            raise ValueError(f"n_epochs = {self.n_epochs}: expected an integer >= 1")
        if self.reg_item < 0 or self.reg_user < 0:
            raise ValueError("reg_item and reg_user must be >= 0")


class Biases(Predictor):
    """The baseline predictor r̂_ui = mu + b_u + b_i (Koren 2010, "Factor in the neighbors:
    scalable and accurate collaborative filtering", TKDD 4(1), section 2.1), fitted by
    alternating least squares as Surprise's ``BaselineOnly(method="als")`` does, which
    minimizes

        sum_{(u,i)} (r_ui - mu - b_u - b_i)^2 + lambda_2 sum_i b_i^2 + lambda_3 sum_u b_u^2

    one block at a time. Each epoch, movies first (Surprise's and Koren's order):

        b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (lambda_2 + |R(i)|)
        b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (lambda_3 + |R(u)|)

    with ``lambda_2`` = ``reg_item`` and ``lambda_3`` = ``reg_user``, starting from b = 0.
    Unknown users or movies get a zero bias. Fitted: ``mu_``, ``bu_``, ``bi_``.
    """

    family = "baseline"
    name = "biases"
    Config = BiasesConfig

    def _fit(self, train: Ratings, probe: Ratings | None, implicit: Ratings | None) -> None:
        cfg = self.config
        u, i = train.user, train.item
        self.mu_ = mu = float(np.mean(train.rating, dtype=np.float64))
        dev = train.rating.astype(np.float64) - mu
        n_u = np.bincount(u, minlength=train.n_users).astype(np.float64)
        n_i = np.bincount(i, minlength=train.n_items).astype(np.float64)
        bu = np.zeros(train.n_users)
        bi = np.zeros(train.n_items)
        for _ in range(cfg.n_epochs):
            bi = _shrunk_mean(np.bincount(i, weights=dev - bu[u], minlength=train.n_items),
                              n_i, cfg.reg_item)
            bu = _shrunk_mean(np.bincount(u, weights=dev - bi[i], minlength=train.n_users),
                              n_u, cfg.reg_user)
        self.bu_, self.bi_ = bu, bi

    def _predict(self, users, items, days):
        return self.mu_ + take(self.bu_, users) + take(self.bi_, items)
