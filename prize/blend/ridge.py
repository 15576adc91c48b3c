r"""Ridge blends from sufficient statistics: linear (global or binned) and FWLS.

Every ridge blend here is a least-squares problem in a design :math:`A = [1, D(x, m)]`
(an intercept plus design columns built from the predictions :math:`x` and the
meta-features :math:`m`). Its fit on any union of folds needs only the per-fold Gram
statistics

.. math:: G_k = A_k^T A_k, \qquad c_k = A_k^T y_k, \qquad s_k = y_k^T y_k, \qquad n_k,

so one pass over the probe rows gives every fold's fit and every held-out error:
training on all folds but :math:`k` uses :math:`G - G_k`, and the held-out squared error
of weights :math:`w` is :math:`s_k - 2 w^T c_k + w^T G_k w`. A grid of ridge penalties,
nested cross-validation, drop-one losses and forward selection all become small
(p × p) solves (Hastie, Tibshirani & Friedman 2009, §3.4; the Prize teams blended this
way: Töscher & Jahrer 2008, Koren 2009).

The ridge solution for a training set of :math:`N` rows and penalty :math:`\lambda`
(per row, so the grid does not depend on the size of probe) leaves the intercept free:

.. math:: (G + \lambda N E) w = c, \qquad E = \mathrm{diag}(0, 1, \dots, 1).

**Choice of λ.** ``lambda_selection = "nested"`` (default): the OOF predictions of fold
:math:`k` come from a λ chosen by an inner cross-validation over the other folds, so the
reported CV RMSE does not benefit from the choice of λ; the final refit's λ is chosen by
K-fold CV over all of probe. ``"grid"``: one λ chosen by K-fold CV and used for the OOF
predictions too (optimistic by the selection of one scalar among ``n_lambdas``, which on
a million rows is far below the fourth decimal).

**Binned** (``support_bins``): one blend per bin of user support (the user's number of
TRAIN ratings; the Prize teams blended per support bin because a predictor's accuracy
depends on how much it knows of the user). Bin weights shrink towards the global blend,

.. math:: w_b = \arg\min_w \|y_b - A_b w\|^2 + \lambda_b N_b \|E (w - w_g)\|^2,

so a small bin falls back to the global weights; :math:`\lambda_g` and each
:math:`\lambda_b` are chosen by (nested) cross-validation.

**FWLS** (Sill, Takács, Mackey & Lin 2009, "Feature-weighted linear stacking"): the
weight of each predictor is a linear function of the meta-features,

.. math:: \hat r = \sum_j \sum_l v_{jl}\, f_l(m)\, x_j + \sum_{l \ge 1} v_{0l} f_l(m),
          \qquad f_0 = 1,

a ridge regression over the products :math:`f_l x_j` (meta-features standardized). The
products with :math:`l \ge 1` are penalized :math:`\tau\lambda`, the predictions
:math:`\lambda`; :math:`\tau` is chosen with :math:`\lambda` by the same (nested) CV from
``interaction_penalties``, so on a probe set too small for the interactions the blend
falls back towards the linear one (a large :math:`\tau`) instead of overfitting them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prize.blend.base import BlendConfig, Blender, CVResult, _fold_rmse, clip, one_blas_thread
from prize.blend.features import META, standardize, support_of
from prize.metrics import rmse

_CHUNK = 1 << 15


@dataclass(frozen=True)
class LinearConfig(BlendConfig):
    """Ridge regression with an intercept over the predictions."""

    lambda_min: float = 1e-7
    # Smallest ridge penalty of the grid (per row: the loss is the mean squared error).
    lambda_max: float = 1.0
    # Largest ridge penalty of the grid.
    n_lambdas: int = 15
    # Grid points, log-spaced between lambda_min and lambda_max.
    lambda_selection: Literal["nested", "grid"] = "nested"
    # nested: each fold's OOF predictions use a lambda chosen without that fold; grid:
    # one lambda chosen by K-fold CV for all (see the module docstring).
    support_bins: tuple[int, ...] = ()
    # Edges of the user-support bins (TRAIN ratings of the user, e.g. [10, 30, 100, 300,
    # 1000]): one blend per bin, shrunk towards the global blend. Empty: one global blend.

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.lambda_min <= self.lambda_max or self.n_lambdas < 1:
            raise ValueError("need 0 < lambda_min <= lambda_max and n_lambdas >= 1")
        if list(self.support_bins) != sorted(set(self.support_bins)):
            raise ValueError("support_bins must be increasing")

    @property
    def lambdas(self) -> np.ndarray:
        return np.geomspace(self.lambda_min, self.lambda_max, self.n_lambdas)


@dataclass(frozen=True)
class FWLSConfig(LinearConfig):
    """Feature-weighted linear stacking: ridge over predictor × meta-feature products."""

    meta: tuple[str, ...] = META
    # Meta-features whose linear functions weight the predictors (a constant is always
    # added): any of user_support, movie_support, frequency, date.
    interaction_penalties: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    # τ: the interaction columns (prediction × meta-feature) are penalized τλ, the
    # predictions λ. With several, the (nested) CV chooses τ with λ; a large τ leaves
    # the linear blend (plus the meta-features' own terms).

    def __post_init__(self):
        super().__post_init__()
        if not self.interaction_penalties or min(self.interaction_penalties) <= 0:
            raise ValueError("interaction_penalties: give one or more positive values")
        unknown = [m for m in self.meta if m not in META]
        if unknown:
            raise ValueError(f"unknown meta-feature {unknown[0]!r}; known: {', '.join(META)}")


# ------------------------------------------------------------------ the statistics
class Design:
    """The design columns :math:`D(x, m)` of some rows (the intercept is added apart).

    ``groups[j]`` lists the design columns that belong to predictor ``j`` (dropped
    together for the drop-one losses and forward selection).
    """

    def __init__(self, X: np.ndarray, F: np.ndarray | None, shift: np.ndarray,
                 meta_cols: list[int] | None = None, meta_stats=None):
        self.X = X
        self.shift = np.asarray(shift, np.float64)
        self.meta_cols = meta_cols
        self.P = X.shape[1]
        if meta_cols is None:  # plain linear
            self.M = None
            self.n_cols = self.P
            self.groups = [[j] for j in range(self.P)]
        else:
            self.M, self.meta_stats = standardize(F[:, meta_cols], meta_stats)
            L = len(meta_cols) + 1
            self.n_cols = self.P * L + (L - 1)
            self.groups = [list(range(j * L, (j + 1) * L)) for j in range(self.P)]

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        x = np.asarray(self.X[idx], np.float64) - self.shift
        if self.M is None:
            return x
        m = self.M[idx]
        f = np.concatenate([np.ones((len(idx), 1)), m], axis=1)  # f_0 = 1
        prod = (x[:, :, None] * f[:, None, :]).reshape(len(idx), -1)
        return np.concatenate([prod, m], axis=1)


@dataclass
class GramStats:
    """Per (fold, bin) sufficient statistics of the centred design ``[1, D]`` and ``y``."""

    G: np.ndarray  # (K, B, p, p)
    c: np.ndarray  # (K, B, p)
    s: np.ndarray  # (K, B)
    n: np.ndarray  # (K, B)
    y_mean: float

    @classmethod
    def compute(cls, design: Design, y: np.ndarray, folds: np.ndarray, bins: np.ndarray,
                K: int, B: int) -> GramStats:
        p = design.n_cols + 1
        y_mean = float(np.mean(y, dtype=np.float64))
        yc = np.asarray(y, np.float64) - y_mean
        key = folds.astype(np.int64) * B + bins
        order = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order], np.arange(K * B + 1))
        G = np.zeros((K * B, p, p))
        c = np.zeros((K * B, p))
        s = np.zeros(K * B)
        n = np.zeros(K * B)
        A = np.empty((_CHUNK, p))
        for kb in range(K * B):
            for lo in range(bounds[kb], bounds[kb + 1], _CHUNK):
                idx = order[lo:min(lo + _CHUNK, bounds[kb + 1])]
                a = A[:len(idx)]
                a[:, 0] = 1.0
                a[:, 1:] = design(idx)
                G[kb] += a.T @ a  # numpy runs A^T A as a symmetric rank-k update
                c[kb] += a.T @ yc[idx]
                s[kb] += yc[idx] @ yc[idx]
                n[kb] += len(idx)
        return cls(G.reshape(K, B, p, p), c.reshape(K, B, p), s.reshape(K, B),
                   n.reshape(K, B), y_mean)

    @property
    def K(self) -> int:
        return self.G.shape[0]

    @property
    def B(self) -> int:
        return self.G.shape[1]

    def cols(self, keep: list[int]) -> GramStats:
        """The statistics of a design restricted to columns ``keep`` (0, the intercept,
        is always kept)."""
        k = np.asarray([0] + [c + 1 for c in keep])
        return GramStats(self.G[:, :, k][:, :, :, k], self.c[:, :, k], self.s, self.n,
                         self.y_mean)

    def train(self, exclude: tuple[int, ...]):
        """(G, c, n) per bin of all folds but ``exclude``."""
        keep = np.ones(self.K, bool)
        keep[list(exclude)] = False
        return self.G[keep].sum(0), self.c[keep].sum(0), self.n[keep].sum(0)

    def fold(self, k: int):
        return self.G[k], self.c[k], self.s[k], self.n[k]


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve of symmetric systems, with a least-squares fallback if singular."""
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        flat_A = A.reshape(-1, *A.shape[-2:])
        flat_b = b.reshape(-1, b.shape[-1])
        out = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(flat_A, flat_b,
                                                                            strict=True)])
        return out.reshape(b.shape)


def _pen(p: int, col_weight: np.ndarray | None = None) -> np.ndarray:
    """The penalty's diagonal: 0 on the intercept, 1 (or ``col_weight``) elsewhere."""
    E = np.ones(p) if col_weight is None else np.array(col_weight, np.float64)
    E[0] = 0.0
    return E


def solve_global(G, c, n, lams: np.ndarray, col_weight=None) -> np.ndarray:
    """Weights (L, p) of the global blend for each λ, from per-bin (G, c, n)."""
    Gg, cg, N = G.sum(0), c.sum(0), n.sum()
    E = _pen(len(cg), col_weight)
    A = Gg[None] + (np.asarray(lams)[:, None] * N * E)[:, :, None] * np.eye(len(cg))
    return _solve(A, np.broadcast_to(cg, (len(lams), len(cg))))


def solve_bin(Gb, cb, nb, w_g: np.ndarray, lams: np.ndarray, col_weight=None) -> np.ndarray:
    """Weights (L, p) of one bin, shrunk towards the global weights ``w_g``."""
    E = _pen(len(cb), col_weight)
    pen = np.asarray(lams)[:, None] * nb * E  # (L, p)
    A = Gb[None] + pen[:, :, None] * np.eye(len(cb))
    return _solve(A, cb[None] + pen * w_g[None])


def sse(G, c, s, W: np.ndarray) -> np.ndarray:
    """Held-out squared errors of weights W (L, p): s - 2 w^T c + w^T G w."""
    return s - 2.0 * W @ c + np.einsum("lp,pq,lq->l", W, G, W)


class RidgeFit:
    """λ selection, fits and predictions from :class:`GramStats`.

    ``col_weight`` (p,) scales the penalty of each column (the intercept's is always 0):
    FWLS penalizes its interaction columns τ times harder than the predictions.
    """

    def __init__(self, stats: GramStats, lams: np.ndarray, col_weight=None):
        self.st = stats
        self.lams = lams
        self.col_weight = col_weight
        self.tau: float | None = None  # FWLS's interaction penalty, when it has one
        self.cv_error_ = np.inf  # the inner CV's squared error at the last select()

    def cols(self, keep: list[int]) -> RidgeFit:
        """The same fit restricted to design columns ``keep`` (see GramStats.cols)."""
        w = None if self.col_weight is None else \
            np.asarray(self.col_weight)[[0] + [c + 1 for c in keep]]
        out = RidgeFit(self.st.cols(keep), self.lams, w)
        out.tau = self.tau
        return out

    def select(self, outer: int | None) -> tuple[float, np.ndarray]:
        """(λ_g, λ_b per bin) minimising the CV error over the folds other than ``outer``
        (that error, summed over the inner folds and bins, is left in ``cv_error_``)."""
        st, lams = self.st, self.lams
        inner = [j for j in range(st.K) if j != outer]
        base = () if outer is None else (outer,)
        err = np.zeros(len(lams))
        for j in inner:
            G, c, n = st.train(base + (j,))
            Gt, ct, s, _ = st.fold(j)
            err += sse(Gt.sum(0), ct.sum(0), s.sum(),
                       solve_global(G, c, n, lams, self.col_weight))
        lam_g = float(lams[int(np.argmin(err))])
        self.cv_error_ = float(err.min())
        if st.B == 1:
            return lam_g, np.array([lam_g])
        err_b = np.zeros((st.B, len(lams)))
        for j in inner:
            G, c, n = st.train(base + (j,))
            Gt, ct, s, _ = st.fold(j)
            w_g = solve_global(G, c, n, [lam_g], self.col_weight)[0]
            for b in range(st.B):
                err_b[b] += sse(Gt[b], ct[b], s[b],
                                solve_bin(G[b], c[b], n[b], w_g, lams, self.col_weight))
        self.cv_error_ = float(err_b.min(axis=1).sum())
        return lam_g, lams[np.argmin(err_b, axis=1)]

    def fit(self, exclude: tuple[int, ...], lam_g: float, lam_b: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
        """(w_g (p,), W (B, p)) fitted on all folds but ``exclude``."""
        G, c, n = self.st.train(exclude)
        w_g = solve_global(G, c, n, [lam_g], self.col_weight)[0]
        if self.st.B == 1:
            return w_g, w_g[None]
        W = np.stack([solve_bin(G[b], c[b], n[b], w_g, [lam_b[b]], self.col_weight)[0]
                      for b in range(self.st.B)])
        return w_g, W

    def cv_sse(self, lam_g: float, lam_b: np.ndarray) -> float:
        """Total held-out squared error of K-fold CV at fixed penalties (no nesting)."""
        total = 0.0
        for k in range(self.st.K):
            _, W = self.fit((k,), lam_g, lam_b)
            Gt, ct, s, _ = self.st.fold(k)
            total += float(sum(sse(Gt[b], ct[b], s[b], W[b:b + 1])[0]
                               for b in range(self.st.B)))
        return total


def predict_rows(design: Design, idx: np.ndarray, W: np.ndarray, bins: np.ndarray,
                 y_mean: float) -> np.ndarray:
    """y_mean + [1, D] w_{bin(row)} for the rows ``idx``."""
    out = np.empty(len(idx))
    for lo in range(0, len(idx), _CHUNK):
        sl = idx[lo:lo + _CHUNK]
        a = design(sl)
        w = W[bins[sl]]
        out[lo:lo + len(sl)] = y_mean + w[:, 0] + np.einsum("np,np->n", a, w[:, 1:])
    return out


def support_bin(F: np.ndarray | None, edges: tuple[int, ...], n: int) -> np.ndarray:
    if not edges:
        return np.zeros(n, np.int64)
    return np.searchsorted(np.asarray(edges, np.float64), support_of(F), side="right")


# ------------------------------------------------------------------ the blenders
class LinearBlender(Blender):
    """Ridge regression over the predictions, global or per user-support bin.

    ``report`` gives each predictor's weight (in stars per star of prediction), the
    intercept, the chosen λ, and the *drop loss*: the K-fold CV RMSE (at the chosen λ,
    unclipped) of the blend without that predictor minus that of the full blend, the
    RMSE the blend would lose without it.
    """

    name = "linear"
    Config = LinearConfig
    refit_in_cv = True  # cross_validate leaves the refit on all of probe behind

    def _design(self, X, F, fitting: bool) -> Design:
        if fitting:
            self.shift_ = np.asarray(X[: min(len(X), 200_000)], np.float64).mean(axis=0)
        return Design(X, F, self.shift_)

    @property
    def uses_meta(self) -> bool:  # support bins read the user support
        return bool(self.config.support_bins)

    def _bins(self, F, n):
        return support_bin(F, self.config.support_bins, n)

    def _stats(self, X, y, F, folds):
        cfg = self.config
        design = self._design(X, F, fitting=True)
        bins = self._bins(F, len(y))
        K = int(folds.max()) + 1
        B = len(cfg.support_bins) + 1
        stats = GramStats.compute(design, y, folds, bins, K, B)
        return design, bins, stats

    def fit(self, X, y, F=None):
        with one_blas_thread():
            return self._fit(X, y, F)

    def _ridges(self, stats: GramStats) -> list[RidgeFit]:
        """The candidate fits whose penalties the CV chooses among (one: λ alone)."""
        return [RidgeFit(stats, self.config.lambdas)]

    @staticmethod
    def _choose(fits: list[RidgeFit], outer: int | None):
        """(fit, λ_g, λ_b) of the smallest CV error over the folds other than ``outer``."""
        picks = [(rf, *rf.select(outer)) for rf in fits]
        return min(picks, key=lambda t: t[0].cv_error_) if len(picks) > 1 else picks[0]

    def _fit(self, X, y, F):
        folds = np.arange(len(y)) % self.config.n_folds
        self.design_, bins, self.stats_ = self._stats(X, y, F, folds)
        self.rf_, self.lam_g_, self.lam_b_ = self._choose(self._ridges(self.stats_), None)
        self.w_g_, self.W_ = self.rf_.fit((), self.lam_g_, self.lam_b_)
        self.y_mean_ = self.stats_.y_mean
        return self

    def predict(self, X, F=None):
        with one_blas_thread():
            return self._predict(X, F)

    def _predict(self, X, F):
        design = self._design(X, F, fitting=False)
        bins = self._bins(F, len(X))
        return clip(predict_rows(design, np.arange(len(X)), self.W_, bins, self.y_mean_),
                    self.scale)

    def cross_validate(self, X, y, F, folds) -> CVResult:
        """Nested (or grid) CV from the fold statistics, then the refit on all of probe."""
        with one_blas_thread():
            return self._cross_validate(X, y, F, folds)

    def _cross_validate(self, X, y, F, folds) -> CVResult:
        cfg = self.config
        design, bins, stats = self._stats(X, y, F, folds)
        fits = self._ridges(stats)
        rf, lam_g, lam_b = self._choose(fits, None)
        oof = np.empty(len(y))
        chosen, taus = [], []
        for k in range(stats.K):
            rk, *lk = self._choose(fits, k) if cfg.lambda_selection == "nested" else \
                (rf, lam_g, lam_b)
            chosen.append(lk[0])
            taus.append(rk.tau)
            _, W = rk.fit((k,), *lk)
            idx = np.flatnonzero(folds == k)
            oof[idx] = predict_rows(design, idx, W, bins, stats.y_mean)
        oof = clip(oof, self.scale)
        # the refit on all of probe, for qualifying
        self.design_, self.stats_, self.shift_ = design, stats, design.shift
        self.lam_g_, self.lam_b_ = lam_g, lam_b
        self.w_g_, self.W_ = rf.fit((), lam_g, lam_b)
        self.y_mean_ = stats.y_mean
        self.rf_ = rf
        info = {"lambda": lam_g, "lambda_bins": [float(v) for v in lam_b],
                "lambda_per_fold": chosen}
        if len(fits) > 1:
            info["interaction_penalty"] = rf.tau
            info["interaction_penalty_per_fold"] = taus
        return CVResult(oof, rmse(oof, y), _fold_rmse(oof, y, folds), info)

    def drop_loss(self, names: list[str]) -> dict[str, float]:
        """CV RMSE without each predictor minus CV RMSE with all (unclipped, no nesting)."""
        with one_blas_thread():
            return self._drop_loss(names)

    def _drop_loss(self, names: list[str]) -> dict[str, float]:
        st, groups = self.stats_, self.design_.groups
        N = float(st.n.sum())
        full = np.sqrt(self.rf_.cv_sse(self.lam_g_, self.lam_b_) / N)
        out = {}
        all_cols = [c for g in groups for c in g]
        for j, name in enumerate(names):
            drop = set(groups[j])
            keep = [c for c in all_cols if c not in drop] + self._always()
            rf = self.rf_.cols(keep)
            out[name] = float(np.sqrt(rf.cv_sse(self.lam_g_, self.lam_b_) / N) - full)
        return out

    def _always(self) -> list[int]:
        return []

    def report(self, names, meta_names):
        w = self.w_g_
        out = {"intercept": float(self.y_mean_ + w[0] - w[1:self.design_.P + 1]
                                  @ self.shift_),
               "weights": {n: float(w[1 + j]) for j, n in enumerate(names)},
               "lambda": self.lam_g_}
        if self.stats_.B > 1:
            edges = self.config.support_bins
            labels = [f"<{edges[0]}"] + [f"{a}-{b - 1}" for a, b in zip(edges, edges[1:],
                                                                        strict=False)]
            labels.append(f">={edges[-1]}")
            out["bins"] = [
                {"support": lab, "rows": int(self.stats_.n[:, b].sum()),
                 "lambda": float(self.lam_b_[b]),
                 "weights": {n: float(self.W_[b, 1 + j]) for j, n in enumerate(names)}}
                for b, lab in enumerate(labels)]
        return out


class FWLSBlender(LinearBlender):
    """Feature-weighted linear stacking (Sill et al. 2009) as a ridge regression.

    ``report`` gives, for each predictor, its weight as a function of the standardized
    meta-features: ``{"const": v_j0, "user_support": v_j1, ...}``.
    """

    name = "fwls"
    Config = FWLSConfig
    uses_meta = True

    def _design(self, X, F, fitting: bool) -> Design:
        cols = [META.index(m) for m in self.config.meta]
        if fitting:
            self.shift_ = np.asarray(X[: min(len(X), 200_000)], np.float64).mean(axis=0)
            d = Design(X, F, self.shift_, cols)
            self.meta_stats_ = d.meta_stats
            return d
        return Design(X, F, self.shift_, cols, self.meta_stats_)

    def _always(self) -> list[int]:
        d = self.design_
        return list(range(d.P * (len(d.meta_cols) + 1), d.n_cols))

    def _ridges(self, stats: GramStats) -> list[RidgeFit]:
        L = len(self.config.meta) + 1
        P = (stats.G.shape[-1] - 1 - (L - 1)) // L
        fits = []
        for tau in self.config.interaction_penalties:
            w = np.ones(stats.G.shape[-1])
            for l in range(1, L):  # the product of each prediction with meta-feature l
                w[1 + np.arange(P) * L + l] = tau
            rf = RidgeFit(stats, self.config.lambdas, w)
            rf.tau = float(tau)
            fits.append(rf)
        return fits

    def report(self, names, meta_names):
        w = self.w_g_[1:]
        L = len(self.config.meta) + 1
        labels = ["const", *self.config.meta]
        return {"lambda": self.lam_g_, "interaction_penalty": self.rf_.tau,
                "weights": {n: {lab: float(w[j * L + l]) for l, lab in enumerate(labels)}
                            for j, n in enumerate(names)},
                "meta_only": {m: float(w[len(names) * L + l])
                              for l, m in enumerate(self.config.meta)}}
