"""`prize blend`: the whole blending protocol on a dataset and its probe store.

1. Read the predictors' probe predictions (rows × predictors) and the probe truth.
2. Cross-validate the blender on probe (folds of :func:`prize.blend.base.make_folds`):
   the out-of-fold predictions and their RMSE, the blend's honest probe score.
3. Refit on all of probe and apply to the predictors' qualifying predictions.
4. Store the blend as a predictor (family ``blend``, model = method): probe array = the
   out-of-fold predictions, qualifying array = the refit's predictions, meta = the
   predictors, weights or importances, ``probe_rmse`` = the CV RMSE, quiz (and test) RMSE,
   and after ``--select forward`` the curve ``selection`` (one ``{"n", "added", "rmse",
   "best_rmse"}`` per step) with ``selection_info`` (``by``, ``best_n``, ``chosen``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prize.blend import BLENDERS
from prize.blend.features import META, meta_features
from prize.blend.select import forward_select
from prize.config import assemble, to_dict
from prize.data.dataset import Dataset
from prize.errors import ConfigError, DataError
from prize.metrics import rmse
from prize.probes import PredictorRecord, ProbeStore, check_name
from prize.progress import heartbeat
from prize.scoring import score_qualifying

FAMILY = "blend"


def make_blender(method: str | None, config: str | Path | None = None, overrides=(),
                 scale: tuple[float, float] = (1.0, 5.0)):
    """(blender, method, config path) from a method, a config file or name
    (``configs/blend/<name>.toml``) and ``--set`` pairs. The TOML may name its ``method``;
    without ``--method`` that one is used, else ``linear``."""
    if method is not None:
        BLENDERS.get_or_fail(method)
    asked = config is not None or method is not None
    method, cls, cfg, path = assemble(BLENDERS, FAMILY, config=config,
                                      default=(method or "linear") if asked else None,
                                      selector="method", choice=method, overrides=overrides)
    return cls(cfg, scale), method, path


def default_predictors(ds: Dataset, store: ProbeStore, exclude: str | None = None
                       ) -> tuple[list[str], list[str]]:
    """(every stored predictor except blends, those skipped as stale)."""
    names, stale = [], []
    for m in store.list(ds.name):
        if m.family == FAMILY or m.name == exclude:
            continue
        if m.dataset_fingerprint != ds.fingerprint:
            stale.append(m.name)
            continue
        names.append(m.name)
    return names, stale


def default_name(method: str, path: Path | None, select: str | None) -> str:
    stem = path.stem if path is not None and path.stem != method else ""
    name = f"blend-{stem or method}"
    return f"{name}-{select}" if select else name


def selection_curve(ds: Dataset, store: ProbeStore) -> dict | None:
    """Forward selection of every stored non-blend predictor, scored by the linear blend
    (10-fold CV on probe), computed but not stored: the curve a report draws when no
    blend was built with ``--select forward``. None without predictors or probe truth."""
    names, _ = default_predictors(ds, store)
    if not names:
        return None
    y = np.asarray(ds.truth("probe"), np.float64)
    if not len(y) or np.isnan(y).any():
        return None
    from prize.blend.base import make_folds

    blender, _, _ = make_blender("linear", None, (), ds.scale)
    cfg = blender.config
    X = store.matrix(ds, names, "probe")
    folds = make_folds(len(y), cfg.n_folds, "random", cfg.seed)
    return forward_select(blender, X, y, None, folds, names)


def blend_quiz(ds: Dataset, store: ProbeStore, names: list[str]) -> float | None:
    """Quiz RMSE of the linear blend of ``names`` (fitted on probe, applied to the stored
    qualifying predictions), computed but not stored: what a report checks a pair of
    predictors by. None where one is missing or the quiz truth is not known."""
    if not names or any(store.meta(ds.name, n) is None for n in names):
        return None
    y = np.asarray(ds.truth("probe"), np.float64)
    if not len(y) or np.isnan(y).any():
        return None
    blender, _, _ = make_blender("linear", None, (), ds.scale)
    F = meta_features(ds) if blender.uses_meta else {"probe": None, "qualifying": None}
    blender.fit(store.matrix(ds, names, "probe"), y, F["probe"])
    qual = blender.predict(store.matrix(ds, names, "qualifying"), F["qualifying"])
    return score_qualifying(ds, qual)["quiz"]


def run_blend(ds: Dataset, store: ProbeStore, method: str | None = "linear",
              predictors: list[str] | None = None, *, name: str | None = None,
              config: str | Path | None = None, overrides=(), select: str | None = None,
              log: Callable[[str], None] | None = None) -> dict:
    """Blend stored predictors of ``ds``; store the blend and return its record as JSON
    (the blend's report: predictors, weights or importances, CV and quiz RMSE, ...)."""
    t0 = time.perf_counter()
    blender, method, path = make_blender(method, config, overrides, ds.scale)
    cfg = blender.config
    name = check_name(name or default_name(method, path, select))
    stale: list[str] = []
    if predictors:
        names = list(dict.fromkeys(predictors))
        if name in names:
            raise ConfigError(f"the blend {name!r} cannot blend itself; give another --name")
    else:
        names, stale = default_predictors(ds, store, exclude=name)
    if not names:
        raise DataError(f"no predictors to blend for dataset {ds.name!r}",
                        fix=f"Train some first: prize train baseline --data {ds.name}")
    if select not in (None, "forward"):
        raise ConfigError(f"unknown selection {select!r}; expected forward")
    metas = {n: store.meta(ds.name, n) for n in names}
    X = store.matrix(ds, names, "probe")
    y = np.asarray(ds.truth("probe"), np.float64)
    if np.isnan(y).any():
        raise DataError(f"dataset {ds.name!r} lacks the truth of some probe rows")
    Xq = store.matrix(ds, names, "qualifying")
    F = meta_features(ds) if blender.uses_meta or select else {"probe": None,
                                                                "qualifying": None}
    users = np.asarray(ds.user[ds.rows_of("probe")]) if cfg.folds == "user" else None
    from prize.blend.base import make_folds

    folds = make_folds(len(y), cfg.n_folds, cfg.folds, cfg.seed, users)
    selection = None
    if select == "forward":
        if log:
            log(f"forward selection over {len(names)} predictors (by {cfg.select_by})")
        selection = forward_select(blender, X, y, F["probe"], folds, names, log)
        keep = [names.index(n) for n in selection["chosen"]]
        names = selection["chosen"]
        X, Xq = X[:, keep], Xq[:, keep]
    if log:
        log(f"{method}: {cfg.n_folds}-fold CV over {len(y):,} probe rows, "
            f"{len(names)} predictors")
    with heartbeat(f"{method} blend of {len(names)} predictors", enabled=log is not None):
        cv = blender.cross_validate(X, y, F["probe"], folds)
        if not getattr(blender, "refit_in_cv", False):
            blender.fit(X, y, F["probe"])
        qual = blender.predict(Xq, F["qualifying"])
    report = blender.report(names, list(META))
    if hasattr(blender, "drop_loss"):
        report["drop_loss"] = blender.drop_loss(names)
    singles = {n: rmse(X[:, j], y) for j, n in enumerate(names)}
    best = min(singles, key=singles.get)
    scores = score_qualifying(ds, qual)
    rounds = {n: metas[n].round if metas[n] is not None else None for n in names}
    extra = {
        "predictors": names,
        "input_rounds": rounds,
        "folds": {"by": cfg.folds, "n_folds": cfg.n_folds, "seed": cfg.seed},
        "cv_rmse": cv.rmse,
        "cv_rmse_folds": cv.fold_rmse,
        "cv": cv.info,
        "probe_rmse_kind": "out-of-fold (K-fold CV on probe)",
        "best_single": {"name": best, "probe_rmse": singles[best]},
        "gain": singles[best] - cv.rmse,
        "single_probe_rmse": singles,
        **report,
        "skipped_stale": stale,
    }
    if selection is not None:  # the curve (a list, as charts read it), then the rest
        extra["selection"] = selection["steps"]
        extra["selection_info"] = {k: v for k, v in selection.items() if k != "steps"}
    record = PredictorRecord(
        name=name, family=FAMILY, model=method, config=to_dict(cfg),
        round="final" if "final" in rounds.values() else "probe", probe_rmse=cv.rmse,
        quiz_rmse=scores["quiz"], test_rmse=scores["test"],
        seconds=time.perf_counter() - t0, extra=extra)
    written = store.write(ds, name, {"probe": cv.oof.astype(np.float32),
                                     "qualifying": np.asarray(qual, np.float32)}, record)
    return written.to_json()
