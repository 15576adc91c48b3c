"""Benchmark the blenders at Netflix scale: 100 predictors × 1,408,395 probe rows.

The matrix is synthetic and held in memory: a latent score ``s``, stars
``clip(round(s + noise))``, and 100 predictors ``x_j = a_j + b_j s + e_j`` whose errors
share a common part (the predictors of a Prize blend correlate at 0.9 and more) and whose
quality varies; meta-features drawn like Netflix's (log-normal supports, bursty
frequencies, six years of dates). Goals on this 2-core machine: linear blend with 10-fold
CV (nested λ, drop losses, refit) within 1 minute, GBDT (BellKor's 200 trees × 20 leaves)
within 10 minutes. The peer is scikit-learn's RidgeCV (efficient leave-one-out λ
choice) followed by a 10-fold ``cross_val_predict`` of the chosen Ridge, the fastest way
scikit-learn offers to the same out-of-fold blend.

    python scripts/bench_blend.py                  # full size; GBDT extrapolated
    python scripts/bench_blend.py --gbdt-full      # the whole GBDT CV, for real
    python scripts/bench_blend.py --rows 200000 --skip-gbdt
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prize.blend.base import make_folds  # noqa: E402
from prize.blend.gbdt import (  # noqa: E402
    GBDTBlender,
    GBDTConfig,
    lightgbm_available,
    resolve_backend,
)
from prize.blend.ridge import LinearBlender, LinearConfig  # noqa: E402
from prize.metrics import rmse  # noqa: E402

GOALS = {"linear": 60.0, "gbdt": 600.0}
NETFLIX_PROBE = 1_408_395


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n: int, P: int, seed: int = 0):
    """(X float32 n×P, y float64, F float32 n×4): correlated noisy predictors of the truth."""
    rng = np.random.default_rng(seed)
    s = rng.normal(3.6, 0.85, n)
    y = np.clip(np.rint(s + rng.normal(0, 0.85, n)), 1, 5)
    common = rng.standard_normal(n).astype(np.float32)  # the error every predictor shares
    X = np.empty((n, P), np.float32)
    quality = np.linspace(0.25, 0.75, P)
    rng.shuffle(quality)
    for j in range(P):
        a, b = rng.normal(0, 0.1), rng.normal(1, 0.05)
        e = 0.8 * quality[j] * common + 0.6 * quality[j] * rng.standard_normal(n,
                                                                               np.float32)
        X[:, j] = np.clip(a + b * s + e, 1, 5)
    F = np.empty((n, 4), np.float32)
    F[:, 0] = np.log1p(np.exp(rng.normal(4.5, 1.2, n)))   # user support: median ~90
    F[:, 1] = np.log1p(np.exp(rng.normal(8.0, 1.5, n)))   # movie support
    F[:, 2] = np.log1p(rng.geometric(0.05, n))             # ratings that day
    F[:, 3] = rng.integers(11_000, 13_150, n)              # days since 1970
    return X, y, F


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=NETFLIX_PROBE)
    ap.add_argument("--predictors", type=int, default=100)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--skip-gbdt", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--gbdt-trees", type=int, default=20,
                    help="trees of the timed fold fit that is extrapolated to 200")
    ap.add_argument("--gbdt-full", action="store_true",
                    help="run the whole 10-fold GBDT blend instead of extrapolating")
    ap.add_argument("--backend", default="auto", choices=["auto", "sklearn", "lightgbm"])
    ap.add_argument("--final", default="average", choices=["refit", "average"])
    ap.add_argument("--threads", type=int, default=0, help="tree-builder threads (0: all)")
    ap.add_argument("--quantized", type=int, default=16,
                    help="LightGBM gradient quantization levels (0: exact gradients)")
    ap.add_argument("--accuracy-rows", type=int, default=0,
                    help="also compare the backends' accuracy on a matrix of this many rows")
    args = ap.parse_args(argv)
    n, P, K = args.rows, args.predictors, args.folds
    scale = n / NETFLIX_PROBE

    t = time.perf_counter()
    X, y, F = synthetic(n, P)
    print(f"synthetic matrix: {n:,} rows × {P} predictors ({X.nbytes / 2**20:.0f} MiB) in "
          f"{time.perf_counter() - t:.1f} s; best single RMSE "
          f"{min(rmse(X[:, j], y) for j in range(P)):.4f}; peak RSS {peak_mb():.0f} MiB")
    folds = make_folds(n, K, "random", 0)
    results = {}

    t = time.perf_counter()
    lin = LinearBlender(LinearConfig(n_folds=K))
    cv = lin.cross_validate(X, y, None, folds)
    t_cv = time.perf_counter() - t
    drop = lin.drop_loss([f"p{j}" for j in range(P)])
    t_lin = time.perf_counter() - t
    results["linear"] = t_lin
    print(f"linear (nested λ, {K}-fold CV, refit): {t_cv:.1f} s; + drop losses of {P} "
          f"predictors: {t_lin:.1f} s total; CV RMSE {cv.rmse:.5f}; "
          f"largest drop loss {max(drop.values()):.5f}; peak RSS {peak_mb():.0f} MiB")
    print(f"  goal {GOALS['linear'] * max(scale, 1e-9):.0f} s at this size: ratio "
          f"{t_lin / (GOALS['linear'] * scale):.2f} (below 1 meets it)")

    if not args.skip_peer:
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.model_selection import PredefinedSplit, cross_val_predict
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")  # as ours: see one_blas_thread
        t = time.perf_counter()
        Xd = np.asarray(X, np.float64)
        # sklearn's alpha is the total penalty: ours is per row
        alphas = LinearConfig().lambdas * n * (K - 1) / K
        alpha = RidgeCV(alphas=alphas).fit(Xd, y).alpha_
        oof = cross_val_predict(Ridge(alpha=alpha), Xd, y, cv=PredefinedSplit(folds))
        t_peer = time.perf_counter() - t
        print(f"peer: sklearn RidgeCV (leave-one-out λ) + {K}-fold cross_val_predict: "
              f"{t_peer:.1f} s, CV RMSE {rmse(np.clip(oof, 1, 5), y):.5f}; "
              f"ours/peer time ratio {t_cv / t_peer:.2f} (ours without drop losses); "
              f"peak RSS {peak_mb():.0f} MiB")
        limit.restore_original_limits()
        del Xd

    if not args.skip_gbdt:
        results["gbdt"] = bench_gbdt(args, X, y, F, folds, scale)
    print(f"peak RSS {peak_mb():.0f} MiB")


def gbdt_config(args, **kw) -> GBDTConfig:
    return GBDTConfig(n_folds=args.folds, backend=args.backend, final=args.final,
                      threads=args.threads, quantized_gradients=args.quantized, **kw)


def bench_gbdt(args, X, y, F, folds, scale) -> float:
    """The GBDT blend's 10-fold CV + final model: run for real (--gbdt-full), or timed on one
    fold with 1 and --gbdt-trees trees and extrapolated to 200 (the per-tree cost is flat
    over the iterations: the same histograms on the same rows)."""
    from dataclasses import replace

    K = args.folds
    cfg = gbdt_config(args)
    g = GBDTBlender(cfg)
    g.backend_ = resolve_backend(cfg.backend)
    label = (f"gbdt [{g.backend_}, final={cfg.final}, threads={cfg.threads}, "
             f"quantized={cfg.quantized_gradients}] "
             f"({cfg.n_trees} trees × {cfg.max_leaf_nodes} leaves, {K}-fold CV")
    if args.gbdt_full:
        t = time.perf_counter()
        cvg = g.cross_validate(X, y, F, folds)
        if not g.refit_in_cv:
            g.fit(X, y, F)
        t_g = time.perf_counter() - t
        print(f"{label} + final): {t_g:.1f} s, CV RMSE {cvg.rmse:.5f}; peak RSS "
              f"{peak_mb():.0f} MiB")
    else:
        train = np.flatnonzero(folds != 0)
        Z = g._inputs(X, F)
        t = time.perf_counter()
        data = g._lgb_dataset(Z) if g.backend_ == "lightgbm" else None
        t_bin = time.perf_counter() - t  # LightGBM: once per CV (sklearn: inside each fit)
        times = {}
        for trees in (1, args.gbdt_trees):
            g.config = replace(cfg, n_trees=trees)
            t = time.perf_counter()
            g._train(None if data is not None else Z[train], y[train], lgb_data=data,
                     rows=train)
            times[trees] = time.perf_counter() - t
        per_tree = (times[args.gbdt_trees] - times[1]) / (args.gbdt_trees - 1)
        setup = times[1] - per_tree
        fit = setup + cfg.n_trees * per_tree
        refit = 0.0 if cfg.final == "average" else (t_bin + fit * K / (K - 1))
        t_g = t_bin + K * fit + refit
        print(f"{label}): binning once {t_bin:.1f} s; one fold fit (90% of rows) of 1 tree "
              f"{times[1]:.1f} s, of {args.gbdt_trees} trees {times[args.gbdt_trees]:.1f} s "
              f"-> setup {setup:.1f} s + {per_tree:.2f} s per tree; peak RSS {peak_mb():.0f} MiB")
        print(f"  extrapolated: one {cfg.n_trees}-tree fit {fit:.0f} s; {K}-fold CV + "
              f"{'refit' if refit else 'fold average (no refit)'} {t_g:.0f} s "
              f"({t_g / 60:.1f} min); --gbdt-full runs it")
    goal = GOALS["gbdt"] * scale
    print(f"  goal {goal:.0f} s at this size: ratio {t_g / goal:.2f} (below 1 meets it)")
    if args.accuracy_rows:
        accuracy(args)
    return t_g


def accuracy(args) -> None:
    """Both backends and both finals on the same smaller matrix, full 200-tree CV: the
    faster configuration must not lose accuracy (CV RMSE, and RMSE on fresh rows)."""
    n = args.accuracy_rows
    X, y, F = synthetic(n + 50_000, args.predictors, seed=1)
    Xn, yn, Fn = X[n:], y[n:], F[n:]
    X, y, F = X[:n], y[:n], F[:n]
    folds = make_folds(n, args.folds, "random", 0)
    print(f"accuracy on {n:,} rows (CV) + 50,000 fresh rows:")
    for backend, final, quant in (("sklearn", "refit", 0), ("lightgbm", "refit", 0),
                                  ("lightgbm", "average", 0), ("lightgbm", "average", 16)):
        if backend == "lightgbm" and not lightgbm_available():
            continue
        t = time.perf_counter()
        g = GBDTBlender(GBDTConfig(n_folds=args.folds, backend=backend, final=final,
                                   threads=args.threads, quantized_gradients=quant))
        cv = g.cross_validate(X, y, F, folds)
        if not g.refit_in_cv:
            g.fit(X, y, F)
        fresh = rmse(g.predict(Xn, Fn), yn)
        print(f"  {backend:<8} final={final:<7} quantized={quant:<2}: CV RMSE {cv.rmse:.5f}, "
              f"fresh rows {fresh:.5f} ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
