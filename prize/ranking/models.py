"""Ranking models: what the top-N evaluation ranks with.

Each has ``fit(train) -> self`` and ``scores(users) -> (len(users), n_items) float32``
(higher is better; the evaluation removes rated and non-candidate items itself).

- :class:`MostPopular`: the number of training users of each item.
- :class:`ItemKNNTopN`: item-item cosine on the binary who-rated-what matrix, each item
  keeping its ``k`` nearest neighbours; s_ui = Σ_{j in R(u)} sim_k(j, i) (Deshpande &
  Karypis, "Item-based top-N recommendation algorithms", TOIS 2004, without their row
  normalisation).
- :class:`EASERanker`: the ``ease`` family's scores (:mod:`prize.models.ease`).
- :class:`RatingRanker`: any rating predictor (a family's config, fitted in-process on the
  training set through :func:`fit_predictor`, the seam where a stored model will plug in),
  ranking by predicted rating.
- :class:`PopularityBlend`: ``w · (r̂_ui - lo) / (hi - lo) + (1 - w) · q_i``, the
  predicted rating scaled to [0, 1] over the rating scale and q_i the item's popularity
  quantile (:func:`prize.ranking.metrics.popularity_quantiles`, in [0, 1], 1 for the most
  popular): both on [0, 1], so ``w`` weighs like against like. ``w`` is chosen on a
  validation split carved from the training set (:mod:`prize.ranking.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from prize.data.dataset import Ratings
from prize.ranking.metrics import popularity_quantiles

#: Predictions made at a time when a rating predictor scores every item for its users.
PREDICT_BATCH = 1 << 22


def item_users(train: Ratings) -> np.ndarray:
    """Distinct training users of each item."""
    pairs = np.sort(np.asarray(train.user, np.int64) * train.n_items
                    + np.asarray(train.item, np.int64))
    # sort + diff: numpy's unique took 8.5 s here on the small preset's 1.8M pairs, 0.5 s
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    return np.bincount(pairs % train.n_items, minlength=train.n_items)


class MostPopular:
    """Every user gets the items most training users rated."""

    name = "most-popular"
    kind = "popularity"

    def fit(self, train: Ratings):
        self.count_ = item_users(train).astype(np.float32)
        return self

    def scores(self, users) -> np.ndarray:
        return np.broadcast_to(self.count_, (len(users), len(self.count_))).copy()


class ItemKNNTopN:
    """Item kNN for top-N on who-rated-what (module docstring): cosine similarity of the
    items' binary user columns, sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), the ``k``
    largest kept per item. The dense similarity is computed a block of items at a time, so
    memory stays at one block plus the kept neighbours (k per item)."""

    kind = "ranking"

    def __init__(self, k: int = 50):
        self.k = k
        self.name = f"item-knn (k={k})"

    def fit(self, train: Ratings):
        from scipy import sparse

        from prize.models.ease.model import binary_matrix

        X = binary_matrix(train.user, train.item, train.n_users, train.n_items)
        n = X.shape[1]
        norm = np.sqrt(np.asarray(X.sum(axis=0)).ravel())
        inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        Xt = X.T.tocsr()
        Xc = X.tocsc()
        rows, cols, vals = [], [], []
        k = min(self.k, n - 1)
        for lo in range(0, n, 1024):
            hi = min(lo + 1024, n)
            S = (Xt @ Xc[:, lo:hi]).toarray() * inv[:, None] * inv[None, lo:hi]
            S[np.arange(lo, hi), np.arange(hi - lo)] = 0.0  # an item is not its own neighbour
            if k <= 0:
                continue
            top = np.argpartition(-S, k - 1, axis=0)[:k]  # neighbours j of each item i
            v = np.take_along_axis(S, top, axis=0)
            keep = v > 0
            rows.append(top[keep])
            cols.append(np.broadcast_to(np.arange(lo, hi), top.shape)[keep])
            vals.append(v[keep])
        # W[j, i] = sim(j, i) for j among i's k neighbours: s_u = X_u W
        self.W_ = sparse.csr_matrix(
            (np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32),
             (np.concatenate(rows) if rows else np.zeros(0, np.int64),
              np.concatenate(cols) if cols else np.zeros(0, np.int64))), shape=(n, n))
        self.X_ = X
        return self

    def scores(self, users) -> np.ndarray:
        return np.asarray((self.X_[np.asarray(users, np.int64)] @ self.W_).toarray(),
                          np.float32)


class EASERanker:
    """The ``ease`` family as a ranking model."""

    kind = "ranking"

    def __init__(self, config: str | None = None, overrides=()):
        self.config, self.overrides = config, tuple(overrides)
        self.name = "ease" + (f"-{config}" if config else "")

    def fit(self, train: Ratings):
        self.model_ = fit_predictor("ease", self.config, self.overrides, train)
        return self

    def scores(self, users) -> np.ndarray:
        return self.model_.scores(users)


def fit_predictor(family: str, config=None, overrides=(), train: Ratings | None = None,
                  values: dict | None = None):
    """Build ``family`` from its config (or a stored record's ``values``) and fit it on
    ``train`` in-process, as ``prize train`` does but with the training pairs as the
    who-rated-what: the held-out pairs are the answers here, and a model that knew which
    items a user went on to rate would rank them first.

    The one place a rating predictor is obtained for ranking: a stored fitted model will be
    returned from here once models are kept after training.
    """
    from prize.models import make_predictor

    model, _ = make_predictor(family, config, overrides, values=values)
    model.fit(train, implicit=None)
    return model


class RatingRanker:
    """A rating predictor ranking by predicted rating."""

    kind = "rating"

    def __init__(self, family: str, config: str | None = None, overrides=(),
                 values: dict | None = None, name: str | None = None,
                 fit: Callable = fit_predictor):
        self.family, self.config, self.overrides = family, config, tuple(overrides)
        self.values = values
        self.name = name or (family + (f"-{config}" if config else ""))
        self._fit = fit

    def fit(self, train: Ratings):
        self.model_ = self._fit(self.family, self.config, self.overrides, train,
                                values=self.values)
        self.scale_ = train.scale
        # The day a user's recommendations are made for: their last training day.
        last = np.zeros(train.n_users, np.int64)
        np.maximum.at(last, np.asarray(train.user, np.int64), np.asarray(train.day, np.int64))
        self.day_ = last
        return self

    def scores(self, users) -> np.ndarray:
        users = np.asarray(users, np.int64)
        n_items = self.model_.n_items_
        out = np.empty((len(users), n_items), np.float32)
        per = max(1, PREDICT_BATCH // max(n_items, 1))
        items = np.arange(n_items)
        for lo in range(0, len(users), per):
            u = users[lo:lo + per]
            pred = self.model_.predict(np.repeat(u, n_items), np.tile(items, len(u)),
                                       np.repeat(self.day_[u], n_items))
            out[lo:lo + len(u)] = pred.reshape(len(u), n_items)
        return out


class PopularityBlend:
    """``w · r̂_ui scaled to [0, 1] + (1 - w) · q_i`` over a fitted :class:`RatingRanker`."""

    kind = "blend"

    def __init__(self, rating: RatingRanker, w: float):
        self.rating, self.w = rating, float(w)
        self.name = f"{rating.name} + popularity (w={self.w:.2f})"

    def fit(self, train: Ratings):
        """Popularity from ``train``; the rating model must already be fitted on it."""
        self.q_ = popularity_quantiles(item_users(train)).astype(np.float32)
        return self

    def scores(self, users) -> np.ndarray:
        return blend_scores(self.rating.scores(users), self.q_, self.w, self.rating.scale_)


def blend_scores(rating_scores: np.ndarray, q: np.ndarray, w: float,
                 scale: tuple[float, float]) -> np.ndarray:
    lo, hi = scale
    r = (rating_scores - np.float32(lo)) / np.float32(hi - lo)
    return (np.float32(w) * r + np.float32(1.0 - w) * q[None, :]).astype(np.float32)
