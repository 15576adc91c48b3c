"""The Python API: ratings with raw ids in, estimators with keyword arguments, raw ids out.

This layer sits beside the CLI, on top of everything else; the models underneath keep their
contract (dense indices in :class:`prize.data.dataset.Ratings`, a frozen config)::

    import pandas as pd, prize

    ratings = prize.Ratings.from_pandas(df, user="user", item="item", rating="rating",
                                        time="timestamp")
    model = prize.SVDpp(n_factors=50, n_epochs=20, seed=0).fit(ratings)
    model.predict(["u1", "u2"], ["i9", "i3"])        # raw ids; unknown ones fall back
    model.recommend("u1", n=10)                      # a DataFrame of items and scores
    prize.cross_validate(prize.SVD(), ratings, folds=5, seed=0)
    prize.search(prize.SVD(), ratings, grid="mf", folds=3)   # the grids `prize sweep` reads

- :class:`RatingSet` (exported as ``prize.Ratings``) keeps the raw user and item ids, maps
  them to dense indices and back, and the rating scale (inferred, or given).
- Each estimator (:class:`SVD`, :class:`SVDpp`, …) starts from the shipped config its CLI
  family uses (``prize.SVD()`` trains what ``prize train mf`` trains; ``config="ml100k"``
  starts from another shipped file) and takes that config's fields as keyword arguments,
  checked by :func:`prize.config.build` exactly as ``--set`` is. ``get_params`` /
  ``set_params`` follow scikit-learn; ``repr`` shows what differs from the starting config.
- Calls are quiet; ``verbose=True`` shows a progress bar per epoch.
"""

from __future__ import annotations

import dataclasses
import time
import typing
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from prize.config import build, choose, fields_of, to_dict
from prize.data.dataset import Ratings as DenseRatings
from prize.data.dataset import Split
from prize.errors import ConfigError, DataError, NotFittedError, PrizeError
from prize.metrics import rmse


# -- ratings with raw ids --------------------------------------------------------------------
def to_days(values) -> np.ndarray:
    """Days since 1970-01-01 (int32) of dates: datetime64 values, strings pandas parses, or
    numbers read as Unix timestamps in seconds (MovieLens' and most logs' format)."""
    s = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return (np.asarray(s, np.float64) // 86400).astype(np.int32)
    else:
        try:
            d = pd.to_datetime(s)
        except (ValueError, TypeError) as e:
            raise DataError(f"dates: cannot read {s.iloc[0]!r} as a date ({e})",
                            expected="datetime64 values, ISO dates, or Unix seconds") from None
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_convert("UTC").dt.tz_localize(None)
    days = d.to_numpy("datetime64[D]").astype(np.int64)
    return days.astype(np.int32)


class RatingSet:
    """Ratings with their raw ids: ``user_ids[dense.user[k]]`` is row k's user.

    ``dense`` is the internal struct every model takes (dense int32 indices, float32
    ratings, int32 days, ``n_users``, ``n_items``, ``scale``). ``has_time``: whether the
    rows carry real dates (time-aware models refuse ratings without them).
    """

    def __init__(self, dense: DenseRatings, user_ids, item_ids, *, has_time: bool,
                 name: str | None = None):
        self.dense = dense
        self.user_ids = pd.Index(user_ids)
        self.item_ids = pd.Index(item_ids)
        if len(self.user_ids) != dense.n_users or len(self.item_ids) != dense.n_items:
            raise ValueError("user_ids and item_ids must cover n_users and n_items")
        self.has_time = bool(has_time)
        self.name = name

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, user: str = "user", item: str = "item",
                    rating: str = "rating", time: str | None = None,
                    scale: tuple[float, float] | None = None) -> RatingSet:
        """Ratings from a DataFrame's columns; ids of any hashable type are kept as given.

        ``time``: a column of dates (datetime64, strings, or Unix seconds); without it the
        rows have no dates. ``scale``: (lowest, highest) rating, else the observed range.
        """
        for col in (user, item, rating) + ((time,) if time else ()):
            if col not in df.columns:
                raise DataError(f"no column {col!r} in the DataFrame",
                                expected=f"one of {', '.join(map(str, df.columns))}")
        r = pd.to_numeric(df[rating], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(r))
        if len(bad):
            raise DataError(f"column {rating!r}, row {df.index[bad[0]]!r}: "
                            f"{df[rating].iloc[bad[0]]!r} is not a rating", expected="a number")
        uc, uids = pd.factorize(df[user], sort=True)
        ic, iids = pd.factorize(df[item], sort=True)
        if (uc < 0).any() or (ic < 0).any():
            raise DataError("missing user or item ids (NaN) in the DataFrame",
                            fix="Drop those rows first")
        days = to_days(df[time]) if time else np.zeros(len(df), np.int32)
        if scale is None:
            scale = (float(r.min()), float(r.max())) if len(r) else (1.0, 5.0)
        else:
            scale = (float(scale[0]), float(scale[1]))
            out = np.flatnonzero((r < scale[0]) | (r > scale[1]))
            if len(out):
                raise DataError(f"column {rating!r}, row {df.index[out[0]]!r}: {r[out[0]]:g} "
                                f"lies outside the scale {scale[0]:g}..{scale[1]:g}")
        order = np.lexsort((days, uc))  # by (user, day), as every dataset is stored
        dense = DenseRatings(uc[order].astype(np.int32), ic[order].astype(np.int32),
                             r[order].astype(np.float32), days[order], len(uids), len(iids),
                             scale)
        return cls(dense, uids, iids, has_time=time is not None)

    def subset(self, rows) -> RatingSet:
        """The rows ``rows`` (indices into this set), with the same id maps."""
        d = self.dense
        rows = np.sort(np.asarray(rows, np.int64))
        sub = DenseRatings(d.user[rows], d.item[rows], d.rating[rows], d.day[rows],
                           d.n_users, d.n_items, d.scale)
        return RatingSet(sub, self.user_ids, self.item_ids, has_time=self.has_time,
                         name=self.name)

    def folds(self, k: int = 5, seed: int = 0):
        """(train, test) pairs of a shuffled k-fold split of the rows (every row is tested
        once)."""
        if not 2 <= k <= len(self):
            raise ConfigError(f"folds = {k}: expected 2 <= folds <= {len(self)} (the rows)")
        perm = np.random.default_rng(seed).permutation(len(self))
        parts = np.array_split(perm, k)
        for j in range(k):
            train = np.concatenate([p for i, p in enumerate(parts) if i != j])
            yield self.subset(train), self.subset(parts[j])

    def to_pandas(self) -> pd.DataFrame:
        d = self.dense
        out = pd.DataFrame({"user": self.user_ids[d.user], "item": self.item_ids[d.item],
                            "rating": d.rating})
        if self.has_time:
            out["date"] = np.asarray(d.day).astype("datetime64[D]")
        return out

    @property
    def scale(self) -> tuple[float, float]:
        return self.dense.scale

    def __len__(self) -> int:
        return len(self.dense)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return (f"Ratings({name}{len(self):,} ratings, {len(self.user_ids):,} users, "
                f"{len(self.item_ids):,} items, scale {self.scale[0]:g}..{self.scale[1]:g}"
                f"{', with dates' if self.has_time else ''})")


_ROWS = {"train": Split.TRAIN, "probe": Split.PROBE, "train+probe": Split.TRAIN | Split.PROBE}


def open_dataset(name: str, rows: str = "train+probe", home=None) -> RatingSet:
    """A stored dataset (``prize data import``) as a :class:`RatingSet` with its raw ids.

    ``rows``: ``"train"``, ``"probe"``, ``"train+probe"`` (default: every rating outside the
    qualifying set, as the final round fits), or ``"known"`` (every row whose rating is
    known, the quiz and test truth included)."""
    from prize.data.dataset import open_dataset as open_folder

    ds = open_folder(name, home)
    if rows == "known":
        idx = np.flatnonzero(~np.isnan(np.asarray(ds.rating)))
    elif rows in _ROWS:
        idx = ds.rows(_ROWS[rows])
    else:
        raise ConfigError(f"rows = {rows!r}: expected train, probe, train+probe or known")
    dense = ds.select(idx)
    has_time = bool(len(dense) and dense.day.max() > dense.day.min())
    return RatingSet(dense, ds.ids("user"), ds.ids("item"), has_time=has_time, name=ds.name)


# -- estimators ------------------------------------------------------------------------------
def _needs_time(family: str, cfg) -> bool:
    """Whether a model reads the rating dates (timeSVD++, the global effects' time effects,
    a kNN model on the global-effects baseline)."""
    if family == "timesvdpp":
        return True
    if hasattr(cfg, "n_effects"):
        return cfg.n_effects > 2
    return getattr(cfg, "baseline", None) == "global_effects"


class Estimator:
    """A model family's predictor behind keyword arguments and raw ids (see the module
    docstring). Subclasses set ``family``, ``model`` and ``base_config``."""

    family: ClassVar[str]
    model: ClassVar[str]
    base_config: ClassVar[str]

    def __init__(self, *, config: str | None = None, verbose: bool = False, **params):
        self.config_name = config
        self.verbose = verbose
        self._params = dict(params)
        self.config = self._build(self._params)

    # -- parameters (scikit-learn's protocol) -------------------------------------------
    @classmethod
    def _predictor_class(cls):
        from prize.models import family_module

        return family_module(cls.family).MODELS[cls.model]

    def _base(self) -> dict:
        """The starting config's values: the shipped file this estimator starts from."""
        _, _, values, _ = choose({self.model: self._predictor_class()}, self.family,
                                 config=self.config_name or self.base_config,
                                 choice=self.model)
        return values

    def _build(self, params: dict):
        cls = self._predictor_class()
        return build(cls.Config, {**self._base(), **params},
                     source=f"{type(self).__name__}(...)")

    def get_params(self, deep: bool = True) -> dict:
        """Every setting: ``config``, ``verbose`` and each field of the model's config."""
        return {"config": self.config_name, "verbose": self.verbose, **self._settings()}

    def _settings(self) -> dict:
        """The config's fields, the model's own first (as ``--help`` and errors list them)."""
        values = to_dict(self.config)
        return {k: values[k] for k in fields_of(type(self.config))}

    def set_params(self, **params) -> Estimator:
        """Change settings (checked as in the constructor); returns the estimator."""
        if "config" in params:
            self.config_name = params.pop("config")
        if "verbose" in params:
            self.verbose = bool(params.pop("verbose"))
        merged = {**self._params, **params}
        self.config = self._build(merged)
        self._params = merged
        return self

    def __repr__(self) -> str:
        base = to_dict(self._build({}))
        cfg = self._settings()
        shown = [f"config={self.config_name!r}"] if self.config_name else []
        shown += [f"{k}={v!r}" for k, v in cfg.items() if base[k] != v]
        if self.verbose:
            shown.append("verbose=True")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- fitting -------------------------------------------------------------------------
    def fit(self, ratings: RatingSet, *, probe: RatingSet | None = None) -> Estimator:
        """Learn from ``ratings``. ``probe`` (same ids) is scored after every epoch, and
        drives early stopping where the config asks for it."""
        if not isinstance(ratings, RatingSet):
            raise TypeError("fit() takes prize.Ratings: build it with "
                            "prize.Ratings.from_pandas(df, user=..., item=..., rating=...)")
        if _needs_time(self.family, self.config) and not ratings.has_time:
            raise ConfigError(
                f"{type(self).__name__} uses the date of every rating, and these ratings "
                "have none: give the date column, prize.Ratings.from_pandas(df, ..., "
                "time='timestamp'), or choose a model without time effects")
        model = self._predictor_class()(self.config)
        run = model.fit_epochs(ratings.dense, probe=self._aligned(probe, ratings))
        from prize.progress import bar as progress_bar

        bar = progress_bar(getattr(run, "n_epochs", None), type(self).__name__, "epochs",
                           enabled=self.verbose and hasattr(run, "n_epochs"))
        try:
            for r in run:
                post = {"train": f"{r.train_rmse:.4f}"}
                if r.probe_rmse is not None:
                    post["probe"] = f"{r.probe_rmse:.4f}"
                bar.set_postfix(post)
                bar.update(1)
        finally:
            bar.close()
        self._attach(model, ratings.user_ids, ratings.item_ids, ratings.dense)
        return self

    @staticmethod
    def _aligned(probe: RatingSet | None, ratings: RatingSet) -> DenseRatings | None:
        if probe is None:
            return None
        if not (probe.user_ids.equals(ratings.user_ids)
                and probe.item_ids.equals(ratings.item_ids)):
            raise DataError("probe ratings must share the training ratings' ids: take "
                            "both from one prize.Ratings with .subset() or .folds()")
        return probe.dense

    def _attach(self, model, user_ids, item_ids, train: DenseRatings | None,
                base: Estimator | None = None) -> None:
        self.model_ = model
        self.user_ids_ = pd.Index(user_ids)
        self.item_ids_ = pd.Index(item_ids)
        self.unknown_ = {"users": 0, "items": 0, "pairs": 0}
        self._train = train
        self._base_model = base  # residual models: the stored predictor they correct
        self._seen = None

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    # -- predicting ----------------------------------------------------------------------
    def predict(self, users, items=None, dates=None) -> np.ndarray:
        """float32 predictions for pairs of raw ids (or for the pairs of a prize.Ratings).

        Unknown users or items fall back to the baseline (biases, then the global mean);
        ``unknown_`` counts them for the last call: ``users``, ``items``, ``pairs``.
        """
        self._check_fitted()
        if isinstance(users, RatingSet):
            r = users
            u = self.user_ids_.get_indexer(r.user_ids[r.dense.user])
            i = self.item_ids_.get_indexer(r.item_ids[r.dense.item])
            days = np.asarray(r.dense.day) if r.has_time else None
        else:
            if items is None:
                raise TypeError("predict(users, items[, dates]): give the items")
            users, items = np.asarray(users), np.asarray(items)
            if users.shape != items.shape or users.ndim != 1:
                raise ValueError("users and items must be 1-d and of the same length")
            u = self.user_ids_.get_indexer(users)
            i = self.item_ids_.get_indexer(items)
            days = None if dates is None else to_days(dates)
        self.unknown_ = {"users": int(np.count_nonzero(u < 0)),
                         "items": int(np.count_nonzero(i < 0)),
                         "pairs": int(np.count_nonzero((u < 0) | (i < 0)))}
        return self._predict_index(u, i, days)

    def _predict_index(self, u, i, days) -> np.ndarray:
        if days is None:
            if _needs_time(self.family, self.config):
                raise ConfigError(f"{type(self).__name__} uses dates: give predict() the "
                                  "date of each pair (dates=...)")
            days = np.zeros(len(u), np.int32)
        pred = self.model_.predict(u, i, days)
        if self._base_model is not None:
            lo, hi = self._base_model.model_.scale_
            pred = np.clip(self._base_model._predict_index(u, i, days) + pred, lo, hi)
        return np.asarray(pred, np.float32)

    # -- recommending --------------------------------------------------------------------
    def _seen_csr(self):
        if self._seen is None:
            t = self._train
            if t is None:
                raise DataError("this model does not know its training ratings",
                                fix="Pass exclude_seen=False")
            from prize.ranking.holdout import user_items

            indptr, items = user_items(t, np.arange(len(self.user_ids_)))
            last = np.full(len(self.user_ids_), -1, np.int64)
            np.maximum.at(last, np.asarray(t.user, np.int64), np.asarray(t.day, np.int64))
            self._seen = (indptr, items, last)
        return self._seen

    def recommend(self, user, n: int = 10, exclude_seen: bool = True,
                  date=None) -> pd.DataFrame:
        """The ``n`` items with the highest predicted rating for one raw user id, as a
        DataFrame (``item``, ``score``), best first; items the user rated in training are
        left out unless ``exclude_seen=False``. Time-aware models predict at ``date``,
        by default the user's latest training date."""
        out = self.recommend_many([user], n=n, exclude_seen=exclude_seen, date=date)
        return out.drop(columns=["user", "rank"]).reset_index(drop=True)

    def recommend_many(self, users, n: int = 10, exclude_seen: bool = True,
                       date=None) -> pd.DataFrame:
        """:meth:`recommend` for many users at once: a DataFrame of ``user``, ``rank``
        (1 = best), ``item``, ``score``."""
        from prize.ranking.evaluate import top_n

        self._check_fitted()
        users = np.asarray(users)
        uidx = self.user_ids_.get_indexer(users)
        n_items = len(self.item_ids_)
        n = int(min(n, n_items))
        time_aware = _needs_time(self.family, self.config)
        need_csr = exclude_seen or (time_aware and date is None)
        indptr, seen, last = self._seen_csr() if need_csr else (None, None, None)
        fixed = None if date is None else int(to_days([date])[0])
        rows = []
        chunk = max(1, (1 << 21) // max(n_items, 1))
        all_items = np.arange(n_items, dtype=np.int64)
        for lo in range(0, len(users), chunk):
            ub = uidx[lo:lo + chunk]
            pu = np.repeat(ub.astype(np.int64), n_items)
            pi = np.tile(all_items, len(ub))
            if time_aware:
                if fixed is not None:
                    d = np.full(len(ub), fixed)
                else:
                    d = np.where(ub >= 0, last[np.maximum(ub, 0)], 0)
                    d = np.where(d < 0, last.max(), d)  # known, but no training rows
                days = np.repeat(d, n_items).astype(np.int32)
            else:
                days = np.zeros(len(pu), np.int32)
            score = self._predict_index(pu, pi, days).reshape(len(ub), n_items)
            if exclude_seen:
                for j, u in enumerate(ub):
                    if u >= 0:
                        score[j, seen[indptr[u]:indptr[u + 1]]] = -np.inf
            top, lengths = top_n(score, n)
            for j, k in enumerate(lengths):
                best = top[j, :k]
                rows.append(pd.DataFrame({"user": users[lo + j], "rank": np.arange(1, k + 1),
                                          "item": self.item_ids_[best],
                                          "score": score[j, best]}))
        if not rows:
            return pd.DataFrame(columns=["user", "rank", "item", "score"])
        return pd.concat(rows, ignore_index=True)


def _estimator(name: str, family: str, model: str, base_config: str, doc: str) -> type:
    cls = type(name, (Estimator,), {"family": family, "model": model,
                                    "base_config": base_config, "__doc__": doc,
                                    "__module__": __name__})
    return cls


#: Public estimator name -> (family, model, the shipped config it starts from, summary).
ESTIMATORS = {
    "GlobalMean": ("baseline", "global_mean", "global_mean", "r̂ = μ, the training mean."),
    "MovieMean": ("baseline", "movie_mean", "movie_mean", "The item's (shrunk) mean rating."),
    "UserMean": ("baseline", "user_mean", "user_mean", "The user's (shrunk) mean rating."),
    "Biases": ("baseline", "biases", "biases",
               "r̂ = μ + b_u + b_i by alternating least squares (Koren 2010 §2.1)."),
    "GlobalEffects": ("baseline", "global_effects", "global_effects",
                      "Bell & Koren's ten global effects, time effects included (needs "
                      "dates)."),
    "SVD": ("mf", "svd", "default", "Biased matrix factorization by SGD (Koren's SVD)."),
    "SVDpp": ("svdpp", "svdpp", "default", "SVD++: SVD plus who-rated-what (Koren 2008)."),
    "TimeSVDpp": ("timesvdpp", "timesvdpp", "default",
                  "timeSVD++: SVD++ with time-varying biases and factors (Koren 2009; needs "
                  "dates)."),
    "NSVD": ("nsvd", "nsvd", "default", "NSVD1: users only through the items they rated."),
    "RBM": ("rbm", "rbm", "default",
            "The conditional RBM of Salakhutdinov, Mnih & Hinton (2007), in torch."),
    "KNN": ("knn", "item", "item", "Item kNN on baseline residuals, shrunk correlations."),
    "KNNInterp": ("knn", "interp", "interp",
                  "Item kNN with jointly derived interpolation weights (Bell & Koren 2007)."),
    "KNNGlobal": ("knn", "global", "global",
                  "Koren's global neighbourhood model, learned by SGD (KDD 2008)."),
    "KNNIntegrated": ("knn", "integrated", "integrated",
                      "Koren's integrated model: global neighbourhood plus SVD++ (KDD 2008)."),
}

for _name, (_family, _model, _cfg, _doc) in ESTIMATORS.items():
    globals()[_name] = _estimator(_name, _family, _model, _cfg, _doc)

_BY_MODEL = {(f, m): globals()[n] for n, (f, m, _, _) in ESTIMATORS.items()}


def estimator_for(family: str, model: str) -> type[Estimator]:
    try:
        return _BY_MODEL[(family, model)]
    except KeyError:
        raise ConfigError(f"no estimator for family {family!r}, model {model!r}") from None


# -- model selection -------------------------------------------------------------------------
def _clone(model: Estimator, **params) -> Estimator:
    p = model.get_params()
    p.update(params)
    return type(model)(**p)


def cross_validate(model: Estimator, ratings: RatingSet, folds: int = 5,
                   seed: int = 0) -> pd.DataFrame:
    """k-fold cross-validation: one row per fold (``fold``, ``rmse``, ``mae``, ``n_train``,
    ``n_test``, ``fit_seconds``); each fold fits a fresh copy of ``model``."""
    rows = []
    for k, (train, test) in enumerate(ratings.folds(folds, seed), start=1):
        m = _clone(model)
        t0 = time.perf_counter()
        m.fit(train)
        seconds = time.perf_counter() - t0
        pred, truth = m.predict(test), test.dense.rating
        mae = float(np.mean(np.abs(np.asarray(pred, np.float64) - truth)))
        rows.append({"fold": k, "rmse": rmse(pred, truth), "mae": mae, "n_train": len(train),
                     "n_test": len(test), "fit_seconds": seconds})
    return pd.DataFrame(rows)


def search(model: Estimator, ratings: RatingSet, grid, *, folds: int = 3, seed: int = 0,
           random: int | None = None) -> pd.DataFrame:
    """A grid (or ``random``-draw) search by cross-validation, over a sweep file (a name in
    ``prize/configs/sweeps/`` or a path, as ``prize sweep --grid`` reads it) or a dict in
    its ``[grid]`` format (``{"n_factors": [20, 50], "reg": {"low": 0.01, "high": 0.1,
    "log": True, "num": 3}}``).

    Each trial is ``model`` with the trial's values set (the estimator's other settings
    stay); the DataFrame has one row per trial, best mean RMSE first: the swept keys,
    ``rmse`` (mean over folds), ``rmse_std``, ``mae``, ``fit_seconds``.
    """
    from prize.runs.sweep import Sweep, _param, load_sweep, trials

    if isinstance(grid, dict):
        cls = model._predictor_class().Config
        allowed, hints = fields_of(cls), typing.get_type_hints(cls)
        params = {}
        for key, spec in grid.items():
            if key not in allowed:
                raise ConfigError(f"grid key {key!r}: not a setting of {type(model).__name__}; "
                                  f"allowed keys: {', '.join(allowed)}")
            # Integer ranges as load_sweep reads them: by the field's type.
            params[key] = _param(f"grid {key}", spec, hints[key] in (int, int | None))
        sweep = Sweep(Path("<grid>"), "search", model.family,
                      model.config_name or model.base_config, params,
                      model=model.model, base=to_dict(model.config))
    else:
        sweep = load_sweep(grid, model.family)
        if sweep.model != model.model:
            raise ConfigError(f"{sweep.path}: a sweep of {sweep.model!r}, not "
                              f"{type(model).__name__}")
        sweep = dataclasses.replace(sweep, config=model.config_name or model.base_config,
                                    base=to_dict(model.config))
    rows = []
    for t in trials(sweep, random=random, seed=seed):
        cv = cross_validate(_clone(model, **t.values), ratings, folds=folds, seed=seed)
        rows.append({**t.values, "rmse": cv.rmse.mean(), "rmse_std": cv.rmse.std(ddof=0),
                     "mae": cv.mae.mean(), "fit_seconds": cv.fit_seconds.sum()})
    return pd.DataFrame(rows).sort_values("rmse", kind="stable").reset_index(drop=True)


# -- models kept by `prize train` --------------------------------------------------------------
def load_model(dataset: str, name: str, home=None) -> Estimator:
    """The fitted model that ``prize train`` kept for predictor ``name`` of a stored
    dataset, ready to ``predict`` and ``recommend`` on the dataset's raw ids.

    Refused (:class:`prize.errors.DataError`) when the predictor was trained on another
    version of the dataset, or kept no model (``--no-save-model``, or over the size limit).
    """
    from prize.data.dataset import open_dataset as open_folder
    from prize.models import persist
    from prize.paths import home as prize_home
    from prize.probes import ProbeStore

    ds = open_folder(dataset, home)
    store = ProbeStore(prize_home(home) / "probes")
    path = store.model_path(ds, name)
    model, header = persist.load(path)
    if header.get("dataset_fingerprint") != ds.fingerprint:
        raise DataError(f"the model file of {name!r} was fitted on another version of "
                        f"dataset {ds.name!r}", path=str(path),
                        fix=f"Retrain it: prize train {model.family} --data {ds.name} "
                            f"--name {name}")
    record = store.meta(ds.name, name)
    base = load_model(dataset, record.residuals_of, home) if record.residuals_of else None
    est = estimator_for(model.family, model.name)(**to_dict(model.config))
    flags = Split.TRAIN | Split.PROBE if record.round == "final" else Split.TRAIN
    est._attach(model, ds.ids("user"), ds.ids("item"), _LazyTrain(ds, flags), base=base)
    return est


class _LazyTrain:
    """A stored dataset's training rows, read only when :meth:`Estimator.recommend` needs
    them (to leave out what each user has rated)."""

    def __init__(self, ds, flags):
        self._ds, self._flags, self._r = ds, flags, None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._r is None:
            self._r = self._ds.ratings(self._flags)
        return getattr(self._r, name)


__all__ = ["RatingSet", "Estimator", "open_dataset", "cross_validate", "search", "load_model",
           "to_days", "estimator_for", "ESTIMATORS", *ESTIMATORS, "PrizeError"]
