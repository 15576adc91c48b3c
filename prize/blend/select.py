r"""Greedy forward selection of predictors (the "which 20 of our 800 predictors matter"
question every Prize team asked; Töscher, Jahrer & Bell 2009, Piotte & Chabbert 2009).

Start from no predictor; at each step add the predictor whose addition gives the lowest
K-fold CV RMSE; record that RMSE. The curve of CV RMSE against the number of predictors
is stored with the blend (``meta["selection"]``) for charts, and the blend is built on the
prefix where the curve is lowest.

By default (``select_by = "linear"``) candidates are scored by a ridge blend computed from
the fold Gram statistics (:mod:`prize.blend.ridge`): each candidate costs K small solves
at the current λ, and λ is re-chosen on the grid after each addition. The scores are
unclipped and not nested, and the choice of predictors is made on the same folds that
score it, so the curve is slightly optimistic; the final blend's CV RMSE is computed
afresh (nested) on the chosen set. ``select_by = "method"`` scores each candidate by a
full cross-validation of the blender itself (a GBDT: K fits per candidate per step).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from prize.blend.base import Blender, one_blas_thread
from prize.blend.ridge import Design, GramStats, LinearConfig, RidgeFit


def forward_select(blender: Blender, X: np.ndarray, y: np.ndarray, F: np.ndarray | None,
                   folds: np.ndarray, names: list[str], log: Callable[[str], None] | None = None
                   ) -> dict:
    """``{"by", "steps": [{"n", "added", "rmse", "best_rmse"}], "chosen", "best_n"}``."""
    with one_blas_thread():
        return _forward(blender, X, y, F, folds, names, log)


def _forward(blender, X, y, F, folds, names, log):
    cfg = blender.config
    P = X.shape[1]
    limit = cfg.max_predictors or P
    score = (_linear_scorer(cfg, X, y, folds) if cfg.select_by == "linear"
             else _method_scorer(blender, X, y, F, folds))
    chosen: list[int] = []
    steps = []
    best = np.inf
    while len(chosen) < min(limit, P):
        rest = [j for j in range(P) if j not in chosen]
        errs = [score(chosen + [j]) for j in rest]
        j = rest[int(np.argmin(errs))]
        chosen.append(j)
        err = score(chosen, final=True)
        best = min(best, err)
        steps.append({"n": len(chosen), "added": names[j], "rmse": float(err),
                      "best_rmse": float(best)})
        if log:
            log(f"  + {names[j]:<32} CV RMSE {err:.5f}")
    best_n = int(np.argmin([s["rmse"] for s in steps])) + 1
    return {"by": cfg.select_by, "steps": steps, "best_n": best_n,
            "chosen": [names[j] for j in chosen[:best_n]]}


def _linear_scorer(cfg, X, y, folds):
    lin = cfg if isinstance(cfg, LinearConfig) else LinearConfig()
    lams = lin.lambdas
    K = int(folds.max()) + 1
    shift = np.asarray(X[: min(len(X), 200_000)], np.float64).mean(axis=0)
    stats = GramStats.compute(Design(X, None, shift), y, folds, np.zeros(len(y), np.int64),
                              K, 1)
    N = float(stats.n.sum())
    state = {"lam": float(lams[len(lams) // 2])}

    def score(cols: list[int], final: bool = False) -> float:
        rf = RidgeFit(stats.cols(cols), lams)
        if final:  # re-choose lambda for the set just accepted
            lam, _ = rf.select(None)
            state["lam"] = lam
        lam = state["lam"]
        return float(np.sqrt(max(rf.cv_sse(lam, np.array([lam])), 0.0) / N))

    return score


def _method_scorer(blender, X, y, F, folds):
    def score(cols: list[int], final: bool = False) -> float:
        return blender.fresh().cross_validate(X[:, cols], y, F, folds).rmse

    return score
