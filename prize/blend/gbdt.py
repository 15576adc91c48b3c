r"""Gradient-boosted decision trees over the predictions and meta-features.

BellKor's final blend (Koren 2009, "The BellKor solution to the Netflix Grand Prize",
section VII) was a GBDT (Friedman 1999, 2002): the prediction is a sum of small regression
trees, each fitted to the residuals of the sum so far and shrunk by the learning rate,

.. math:: F_m(x) = F_{m-1}(x) + \nu\, T_m(x), \qquad T_m \approx \arg\min_T
          \sum_r \left(y_r - F_{m-1}(x_r) - T(x_r)\right)^2,

over the predictions plus meta-features (user support, movie support, frequency, date),
with 200 trees of 20 leaves, :math:`\nu = 0.18` and a 0.9 row sample per tree.

This uses scikit-learn's ``HistGradientBoostingRegressor`` (LightGBM-style histograms).
It has no per-tree row subsampling (scikit-learn 1.9 has none; Friedman's stochastic
boosting is not offered), so the randomisation here is the nearest it offers:
``max_features = 0.9``, a random 90% of the features considered at each split (since
scikit-learn 1.4). Early stopping is off, so every fold grows exactly ``n_trees`` trees.

``report`` gives split-gain importances (the total loss reduction of the splits on each
feature, normalised to sum to one), read from the fitted trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.blend.base import BlendConfig, Blender, clip
from prize.blend.features import META


@dataclass(frozen=True)
class GBDTConfig(BlendConfig):
    """HistGradientBoostingRegressor settings (defaults: BellKor 2009's GBDT blend)."""

    n_trees: int = 200
    # Boosting iterations (max_iter); BellKor used 200.
    max_leaf_nodes: int = 20
    # Leaves per tree; BellKor used 20.
    learning_rate: float = 0.18
    # Shrinkage nu; BellKor used 0.18.
    max_features: float = 0.9
    # Share of features tried at each split: the stand-in for BellKor's 0.9 row sample,
    # which HistGradientBoostingRegressor does not offer.
    min_samples_leaf: int = 100
    # Smallest leaf (rows); guards the small bins of rare meta-feature values.
    l2_regularization: float = 0.0
    # L2 penalty on leaf values.
    max_bins: int = 255
    # Histogram bins per feature.
    meta: tuple[str, ...] = META
    # Meta-features given to the trees beside the predictions.
    base: Literal["none", "linear"] = "none"
    # none: the trees fit the ratings (BellKor); linear: they fit the residuals of a ridge
    # blend fitted on the same rows first, and the prediction adds the two.
    threads: int = 1
    # OpenMP threads of the tree builder (0: all cores). One by default: on this 2-core
    # machine shared with other jobs, a second thread made each tree 6x slower (it spins
    # waiting for a busy core); on an idle machine 0 is faster.

    def __post_init__(self):
        super().__post_init__()
        if self.n_trees < 1 or self.max_leaf_nodes < 2 or not 0 < self.max_features <= 1:
            raise ValueError("need n_trees >= 1, max_leaf_nodes >= 2, 0 < max_features <= 1")
        unknown = [m for m in self.meta if m not in META]
        if unknown:
            raise ValueError(f"unknown meta-feature {unknown[0]!r}; known: {', '.join(META)}")


class GBDTBlender(Blender):
    name = "gbdt"
    Config = GBDTConfig
    uses_meta = True

    def _inputs(self, X, F):
        cols = [META.index(m) for m in self.config.meta]
        if not cols or F is None:
            return np.asarray(X, np.float32)
        return np.concatenate([np.asarray(X, np.float32), np.asarray(F[:, cols], np.float32)],
                              axis=1)

    def fit(self, X, y, F=None):
        from sklearn.ensemble import HistGradientBoostingRegressor

        c = self.config
        self.model_ = HistGradientBoostingRegressor(
            loss="squared_error", learning_rate=c.learning_rate, max_iter=c.n_trees,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf,
            l2_regularization=c.l2_regularization, max_features=c.max_features,
            max_bins=c.max_bins, early_stopping=False, random_state=c.seed)
        y = np.asarray(y, np.float64)
        self.base_ = None
        if c.base == "linear":
            from prize.blend.ridge import LinearBlender, LinearConfig

            self.base_ = LinearBlender(LinearConfig(n_folds=c.n_folds, seed=c.seed),
                                       scale=(-np.inf, np.inf)).fit(X, y)
            y = y - self.base_.predict(X)
        with self._threads():
            self.model_.fit(self._inputs(X, F), y)
        return self

    def _threads(self):
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.config.threads or None, user_api="openmp")

    def predict(self, X, F=None):
        with self._threads():
            out = self.model_.predict(self._inputs(X, F))
        if self.base_ is not None:
            out = out + self.base_.predict(X)
        return clip(out, self.scale)

    def importances(self) -> np.ndarray | None:
        """Total split gain per feature, normalised (None if the trees are unreadable)."""
        n = self.model_.n_features_in_
        gain = np.zeros(n)
        try:
            for trees in self.model_._predictors:
                for tree in trees:
                    nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
                    np.add.at(gain, nodes["feature_idx"], nodes["gain"])
        except (AttributeError, KeyError, ValueError):  # a private layout that changed
            return None
        total = gain.sum()
        return gain / total if total > 0 else gain

    def report(self, names, meta_names):
        imp = self.importances()
        if imp is None:
            return {"importances": None}
        labels = list(names) + list(self.config.meta)
        return {"importances": {n: float(v) for n, v in zip(labels, imp, strict=False)},
                "importance_kind": "split gain share"}
