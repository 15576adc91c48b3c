r"""Gradient-boosted decision trees over the predictions and meta-features.

BellKor's final blend (Koren 2009, "The BellKor solution to the Netflix Grand Prize",
section VII) was a GBDT (Friedman 1999, 2002): the prediction is a sum of small regression
trees, each fitted to the residuals of the sum so far and shrunk by the learning rate,

.. math:: F_m(x) = F_{m-1}(x) + \nu\, T_m(x), \qquad T_m \approx \arg\min_T
          \sum_r \left(y_r - F_{m-1}(x_r) - T(x_r)\right)^2,

over the predictions plus meta-features (user support, movie support, frequency, date),
with 200 trees of 20 leaves, :math:`\nu = 0.18` and a 0.9 row sample per tree.

Two tree builders (``backend``), both histogram GBDTs:

``sklearn``
    scikit-learn's ``HistGradientBoostingRegressor``, always available. It has no per-tree
    row subsampling (Friedman's stochastic boosting is not offered), so the randomisation
    is the nearest it offers: ``max_features``, a random share of the features considered
    at each split. Every fit bins its rows afresh.
``lightgbm``
    LightGBM, when installed (``pip install 'prize[gbdt]'``; never required). It has
    BellKor's row sample (``subsample``: a fresh 90% of the rows per tree) beside
    ``max_features``, and the cross-validation bins the probe rows **once**: every fold
    trains on a subset of one binned data set. ``auto`` picks it when it imports.

With ``early_stopping_rounds = 0`` (BellKor's way) every fold grows exactly ``n_trees``
trees. Otherwise (the shipped config: 20) each fit holds out a seeded 10% of its own rows
and stops once 20 trees in a row have not lowered their error: on the residuals of the
ridge base the trees often have little to add, and on a few thousand probe rows 200 of
them fit noise (the synthetic tiny preset at noise 1.4: CV margin over the best single
+0.0007 with 200 trees, +0.0043 stopped; MovieLens' 20k subsample +0.0044 -> +0.0069).

``final = "average"`` (the default) gives the qualifying predictions as the mean of the K
fold models of the cross-validation (each saw (K-1)/K of probe): it saves the refit and,
being a small bag, predicts as well or better (on the synthetic small preset's
progress2007 probe: quiz 0.9251 against 0.9298 for BellKor's settings). ``final =
"refit"`` fits once more on all of probe (the protocol's step 3).

With LightGBM the histograms are summed over gradients quantized to 16 levels, the leaf
values refitted on the exact gradients (``quantized_gradients``; Shi et al. 2022).

``report`` gives split-gain importances (the total loss reduction of the splits on each
feature, normalised to sum to one), read from the fitted trees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.blend.base import BlendConfig, Blender, CVResult, _fold_rmse, clip
from prize.blend.features import META
from prize.metrics import rmse


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
    # Share of features tried at each split (with sklearn, the stand-in for BellKor's 0.9
    # row sample, which HistGradientBoostingRegressor does not offer).
    subsample: float = 0.9
    # Share of the rows each tree is grown on (BellKor: 0.9); LightGBM only (bagging).
    min_samples_leaf: int = 100
    # Smallest leaf (rows); guards the small bins of rare meta-feature values.
    l2_regularization: float = 0.0
    # L2 penalty on leaf values.
    early_stopping_rounds: int = 0
    # 0: every fit grows n_trees trees. Otherwise each fit holds out a seeded
    # validation_fraction of its own rows (never the CV's held-out fold) and stops adding
    # trees once this many in a row have not lowered that hold-out's error.
    validation_fraction: float = 0.1
    # The share of a fit's rows held out for early stopping.
    max_bins: int = 255
    # Histogram bins per feature.
    meta: tuple[str, ...] = META
    # Meta-features given to the trees beside the predictions.
    base: Literal["none", "linear"] = "none"
    # none: the trees fit the ratings (BellKor); linear: they fit the residuals of a ridge
    # blend fitted on the same rows first, and the prediction adds the two.
    threads: int = 0
    # OpenMP threads of the tree builder (0: all cores). On an idle 2-core machine two
    # threads grow a tree 1.95x faster than one; on a machine shared with other busy jobs
    # set 1 (an OpenMP thread spins while it waits for a busy core: 6x slower there).
    quantized_gradients: int = 16
    # LightGBM only: accumulate the histograms over gradients quantized to this many
    # levels (Shi et al., "Quantized Training of Gradient Boosting Decision Trees",
    # NeurIPS 2022), with the leaf values refitted on the exact gradients; 0 turns it off.
    # 12% faster a tree at Netflix's probe size, and as accurate (scripts/bench_blend.py).
    backend: Literal["auto", "sklearn", "lightgbm"] = "auto"
    # auto: LightGBM where it imports, else scikit-learn (the report names the one used).
    final: Literal["refit", "average"] = "average"
    # The qualifying predictions: refit on all of probe, or the average of the K fold
    # models of the cross-validation (no refit).
    capacity: Literal["fixed", "rows"] = "fixed"
    # fixed: the settings above. rows: max_leaf_nodes, min_samples_leaf and learning_rate
    # follow the number of probe rows (capacity_for_rows), replacing the values above; the
    # values used are in the blend's record (extra "capacity").

    def __post_init__(self):
        super().__post_init__()
        if self.n_trees < 1 or self.max_leaf_nodes < 2 or not 0 < self.max_features <= 1:
            raise ValueError("need n_trees >= 1, max_leaf_nodes >= 2, 0 < max_features <= 1")
        if not 0 < self.subsample <= 1:
            raise ValueError("need 0 < subsample <= 1")
        if self.early_stopping_rounds < 0 or not 0 < self.validation_fraction < 0.5:
            raise ValueError("need early_stopping_rounds >= 0 and 0 < validation_fraction < 0.5")
        if self.quantized_gradients and not 2 <= self.quantized_gradients <= 64:
            raise ValueError("quantized_gradients must be 0 (off) or 2..64 levels")
        unknown = [m for m in self.meta if m not in META]
        if unknown:
            raise ValueError(f"unknown meta-feature {unknown[0]!r}; known: {', '.join(META)}")


#: BellKor's probe: the size at which their settings (20 leaves, nu = 0.18) were chosen.
NETFLIX_PROBE_ROWS = 1_408_395


def capacity_for_rows(n: int) -> dict:
    """The trees' capacity for ``n`` probe rows (``capacity = "rows"``).

    - leaves: one per 1,000 rows, from 4 to BellKor's 20 (8 at MovieLens 100K's 8,223 probe
      rows, 20 from 20,000 rows on);
    - smallest leaf: n / 40 rows, from 100 to 500: a leaf's mean residual has a standard
      error of about 0.9 / sqrt(rows), 0.06 at 200;
    - learning rate: BellKor's 0.18 at Netflix's 1.4M probe rows, shrinking with the cube
      root of the rows, never below 0.02 (0.032 at 8,223 rows, 0.061 at 55,758: the tuned
      gbdt-ml100k and gbdt-small used 0.03 and 0.05).
    """
    n = max(int(n), 1)
    return {"max_leaf_nodes": int(min(20, max(4, n // 1000))),
            "min_samples_leaf": int(min(500, max(100, n // 40))),
            "learning_rate": round(max(0.02, 0.18 * (n / NETFLIX_PROBE_ROWS) ** (1 / 3)), 4)}


def lightgbm_available() -> bool:
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "lightgbm" if lightgbm_available() else "sklearn"
    if backend == "lightgbm" and not lightgbm_available():
        raise ValueError("backend = \"lightgbm\" needs LightGBM: pip install 'prize[gbdt]' "
                         "(or backend = \"sklearn\")")
    return backend


class GBDTBlender(Blender):
    name = "gbdt"
    Config = GBDTConfig
    uses_meta = True

    @property
    def refit_in_cv(self) -> bool:  # final = "average": the fold models are the blend
        return self.config.final == "average"

    def _inputs(self, X, F):
        cols = [META.index(m) for m in self.config.meta]
        if not cols or F is None:
            return np.asarray(X, np.float32)
        return np.concatenate([np.asarray(X, np.float32), np.asarray(F[:, cols], np.float32)],
                              axis=1)

    def _threads(self):
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.config.threads or None, user_api="openmp")

    def _base(self, X, y):
        """The ridge blend whose residuals the trees fit (``base = "linear"``), or None."""
        if self.config.base != "linear":
            return None
        from prize.blend.ridge import LinearBlender, LinearConfig

        c = self.config
        return LinearBlender(LinearConfig(n_folds=c.n_folds, seed=c.seed),
                             scale=(-np.inf, np.inf)).fit(X, y)

    # -- one model: a fitted tree ensemble (sklearn or LightGBM) ---------------------------
    def _sklearn_model(self):
        from sklearn.ensemble import HistGradientBoostingRegressor

        c = self.config
        return HistGradientBoostingRegressor(
            loss="squared_error", learning_rate=c.learning_rate, max_iter=c.n_trees,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf,
            l2_regularization=c.l2_regularization, max_features=c.max_features,
            max_bins=c.max_bins, early_stopping=c.early_stopping_rounds > 0,
            n_iter_no_change=max(c.early_stopping_rounds, 1),
            validation_fraction=c.validation_fraction, scoring="loss", tol=0.0,
            random_state=c.seed)

    def _lgb_params(self) -> dict:
        c = self.config
        quant = ({"use_quantized_grad": True, "num_grad_quant_bins": c.quantized_gradients,
                  "quant_train_renew_leaf": True} if c.quantized_gradients else {})
        return {**quant, "objective": "regression", "num_leaves": c.max_leaf_nodes,
                "learning_rate": c.learning_rate, "min_data_in_leaf": c.min_samples_leaf,
                "min_sum_hessian_in_leaf": 0.0, "lambda_l2": c.l2_regularization,
                "feature_fraction_bynode": c.max_features, "bagging_fraction": c.subsample,
                "bagging_freq": 1 if c.subsample < 1 else 0, "max_bin": c.max_bins,
                "num_threads": c.threads or 0, "seed": c.seed, "deterministic": True,
                "force_col_wise": True, "verbosity": -1}

    def _lgb_dataset(self, Z):
        import lightgbm as lgb

        p = self._lgb_params()
        ds = lgb.Dataset(Z, label=np.zeros(len(Z)), free_raw_data=False,
                         params={"max_bin": p["max_bin"], "min_data_in_bin": 3,
                                 "num_threads": p["num_threads"], "verbosity": -1,
                                 "seed": p["seed"]})
        return ds.construct()

    def _train(self, Z, y, lgb_data=None, rows=None):
        """A tree ensemble fitted to ``y`` on ``Z`` (or on ``rows`` of a binned LightGBM
        data set of all rows: the bins are computed once for every fold)."""
        if self.backend_ == "lightgbm":
            import lightgbm as lgb

            c = self.config
            data = lgb_data if lgb_data is not None else self._lgb_dataset(Z)
            rows = np.arange(len(y)) if rows is None else np.asarray(rows)
            valid, callbacks = [], []
            if c.early_stopping_rounds:  # a seeded share of these rows picks the trees
                n_val = max(1, int(round(c.validation_fraction * len(rows))))
                pick = np.random.default_rng(c.seed).permutation(len(rows))
                fit_idx, val_idx = np.sort(pick[n_val:]), np.sort(pick[:n_val])
                held = data.subset(rows[val_idx]).construct()
                held.set_label(y[val_idx])
                valid = [held]
                callbacks = [lgb.early_stopping(c.early_stopping_rounds, verbose=False)]
                rows, y = rows[fit_idx], y[fit_idx]
            if lgb_data is not None or len(rows) != data.num_data():
                data = data.subset(rows).construct()
            data.set_label(y)  # on the constructed handle (a label set before is ignored)
            return lgb.train(self._lgb_params(), data, num_boost_round=c.n_trees,
                             valid_sets=valid, callbacks=callbacks)
        model = self._sklearn_model()
        with self._threads():
            model.fit(Z, y)
        return model

    def _predict_one(self, model, Z):
        if self.backend_ == "lightgbm":
            return model.predict(Z, num_threads=self.config.threads or 0)
        with self._threads():
            return model.predict(Z)

    def _resolve(self, n_rows: int) -> None:
        """With ``capacity = "rows"``, fix the capacity for ``n_rows`` probe rows (once: a
        refit after the cross-validation keeps the folds' settings)."""
        if self.config.capacity == "rows":
            self.capacity_ = capacity_for_rows(n_rows)
            self.config = dataclasses.replace(self.config, capacity="fixed", **self.capacity_)

    # -- the contract -----------------------------------------------------------------------
    def fit(self, X, y, F=None):
        self._resolve(len(y))
        self.backend_ = resolve_backend(self.config.backend)
        y = np.asarray(y, np.float64)
        self.base_ = self._base(X, y)
        if self.base_ is not None:
            y = y - self.base_.predict(X)
        self.models_ = [(self._train(self._inputs(X, F), y), self.base_)]
        return self

    def predict(self, X, F=None):
        Z = self._inputs(X, F)
        out = np.zeros(len(Z))
        for model, base in self.models_:
            out += self._predict_one(model, Z)
            if base is not None:
                out += base.predict(X)
        return clip(out / len(self.models_), self.scale)

    def cross_validate(self, X, y, F, folds):
        """K fold fits predicting their held-out fold. With LightGBM the rows are binned
        once for all folds; with ``final = "average"`` the fold models are kept as the
        blend (the caller then skips the refit)."""
        self._resolve(len(y))
        self.backend_ = resolve_backend(self.config.backend)
        y = np.asarray(y, np.float64)
        Z = self._inputs(X, F)
        data = self._lgb_dataset(Z) if self.backend_ == "lightgbm" else None
        K = int(folds.max()) + 1
        oof = np.empty(len(y))
        models = []
        for k in range(K):
            test = folds == k
            rows = np.flatnonzero(~test)
            base = self._base(X[rows], y[rows])
            target = y[rows] - (base.predict(X[rows]) if base is not None else 0.0)
            model = self._train(None if data is not None else Z[rows], target,
                                lgb_data=data, rows=rows)
            oof[test] = self._predict_one(model, Z[test])
            if base is not None:
                oof[test] += base.predict(X[test])
            if self.config.final == "average":
                models.append((model, base))
        if models:
            self.models_ = models
            self.base_ = None
        oof = clip(oof, self.scale)
        return CVResult(oof, rmse(oof, y), _fold_rmse(oof, y, folds),
                        {"backend": self.backend_, "final": self.config.final})

    def importances(self) -> np.ndarray | None:
        """Total split gain per feature over the trees of every model, normalised (None if
        the trees are unreadable)."""
        gain = None
        for model, _ in self.models_:
            g = self._gain(model)
            if g is None:
                return None
            gain = g if gain is None else gain + g
        total = gain.sum()
        return gain / total if total > 0 else gain

    def _gain(self, model) -> np.ndarray | None:
        if self.backend_ == "lightgbm":
            return np.asarray(model.feature_importance("gain"), np.float64)
        gain = np.zeros(model.n_features_in_)
        try:
            for trees in model._predictors:
                for tree in trees:
                    nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
                    np.add.at(gain, nodes["feature_idx"], nodes["gain"])
        except (AttributeError, KeyError, ValueError):  # a private layout that changed
            return None
        return gain

    def report(self, names, meta_names):
        out = {"backend": self.backend_, "final": self.config.final,
               "models": len(self.models_)}
        if getattr(self, "capacity_", None):
            out["capacity"] = dict(self.capacity_)
        imp = self.importances()
        if imp is None:
            return {**out, "importances": None}
        labels = list(names) + list(self.config.meta)
        return {**out, "importances": {n: float(v) for n, v in zip(labels, imp, strict=False)},
                "importance_kind": "split gain share"}
